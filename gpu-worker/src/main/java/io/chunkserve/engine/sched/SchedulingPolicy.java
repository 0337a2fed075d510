package io.chunkserve.engine.sched;

import java.util.List;

/**
 * A local (per-worker) request scheduler, called by the engine loop on the engine thread, once
 * per step, without locks. Implementations: {@link DlpmPolicy} (default), {@link VtcPolicy},
 * {@link LpmPolicy}, {@link FcfsPolicy}; build one with {@link SchedulerConfig#create}.
 *
 * <h2>The engine's calls</h2>
 * <pre>
 *   submit:      r = new QueuedRequest(...); policy.onArrival(r); waiting.add(r)
 *   each step:   policy.schedule(waiting, admission)      // admission.tryAdmit starts requests
 *                run the forward; r.addOutputTokens(k) for each sampled request
 *                policy.onStep(running)
 *                finished:  running.remove(r); policy.onFinish(r)
 *   preemption:  running.remove(r); policy.onPreempt(r); waiting.add(r)
 *   abort:       waiting/running.remove(r); policy.onAbort(r)
 * </pre>
 * The policy decides which waiting requests to try and in what order, and charges tenants as it
 * goes (so one tenant cannot fill a batch on credit it no longer has); the engine decides whether
 * each one fits ({@link Admission}). Misuse (a request finished twice, a phase skipped) throws
 * {@link IllegalStateException}.
 */
public interface SchedulingPolicy {
    /** Short name as accepted by {@link SchedulerConfig}: "dlpm", "vtc", "lpm" or "fcfs". */
    String name();

    /** A new request joined the engine's waiting list. */
    void onArrival(QueuedRequest request);

    /**
     * One scheduling pass: tries waiting requests in the policy's order through
     * {@code admission} until one is not admitted or the policy has nothing left to try.
     *
     * @param waiting the engine's waiting list (mutable, random access). The policy may reorder it;
     *                on return it holds exactly the requests not admitted. The engine must not touch
     *                it during the pass.
     * @return the number of requests admitted
     */
    int schedule(List<QueuedRequest> waiting, Admission admission);

    /**
     * After a step: charges each of {@code running} for the output tokens added since it was last
     * charged (w_q per token). Requests with nothing new cost nothing, so the whole running set may
     * be passed.
     */
    void onStep(List<QueuedRequest> running);

    /** A running request gave its KV back and is waiting again; its prompt is not charged twice. */
    void onPreempt(QueuedRequest request);

    /** A running request finished; uncharged output is charged now. */
    void onFinish(QueuedRequest request);

    /** A waiting or running request was cancelled; uncharged output is charged now. */
    void onAbort(QueuedRequest request);

    /** Per-tenant counters and the policy's credit state, for metrics. */
    SchedulerStats stats();
}
