package io.chunkserve.engine;

import io.chunkserve.engine.sched.AdmitOutcome;
import io.chunkserve.engine.sched.QueuedRequest;
import io.chunkserve.engine.sched.SchedulingPolicy;
import io.chunkserve.kv.KvSequence;
import io.chunkserve.kv.PrefixCache;

import java.util.ArrayList;
import java.util.List;

/**
 * KV admission over the {@link Engine}'s request lists (the same list objects, engine thread only): a waiting
 * request gets KV for its remaining prompt and a batch slot, or an outcome saying why not; the siblings of an n &gt; 1
 * request fork from its first choice's KV; and when a decode needs room, the most recently admitted request is
 * preempted back to the front of the waiting list.
 */
final class Admission {
    private final PrefixCache cache;
    private final EngineConfig cfg;
    private final SchedulingPolicy scheduler;
    private final List<QueuedRequest> waiting;
    private final List<RequestState> running;
    private final List<QueuedRequest> runningQueued;

    Admission(PrefixCache cache, EngineConfig cfg, SchedulingPolicy scheduler, List<QueuedRequest> waiting, List<RequestState> running,
              List<QueuedRequest> runningQueued) {
        this.cache = cache;
        this.cfg = cfg;
        this.scheduler = scheduler;
        this.waiting = waiting;
        this.running = running;
        this.runningQueued = runningQueued;
    }

    /** Runs the scheduler's admission of one waiting request: KV for its remaining prompt, a batch slot. */
    AdmitOutcome tryAdmit(RequestState s) {
        int runningSeqs = 0;
        for (RequestState r : running) runningSeqs += r.activeChoices();
        if (runningSeqs + s.activeChoices() > cfg.maxRunningSequences() && !running.isEmpty()) return AdmitOutcome.BATCH_FULL;
        List<Choice> opened = new ArrayList<>();
        boolean fresh = s.fresh();
        for (Choice c : s.choices) {
            if (c.finished() || (fresh && c.index > 0)) continue; // siblings of a fresh request fork from choice 0
            KvSequence kv = cache.open(c.allTokens(), s.request.cacheSalt());
            c.kv = kv;
            opened.add(c);
            if (!cache.reserve(kv, c.size - kv.length())) {
                for (Choice o : opened) {
                    cache.release(o.kv);
                    o.kv = null;
                }
                return AdmitOutcome.NO_KV_MEMORY;
            }
            if (s.cachedTokens < 0 && c.index == 0) s.cachedTokens = kv.cachedTokens();
        }
        s.queued.setCachedTokens(Math.max(0, s.cachedTokens));
        running.add(s);
        runningQueued.add(s.queued);
        return AdmitOutcome.ADMITTED;
    }

    /** Siblings whose fork failed for lack of memory open on their own (their prompt prefix is cached by now). */
    void openForks() {
        for (RequestState s : running) {
            if (s.fresh()) continue;
            for (Choice c : s.choices) {
                if (c.kv != null || c.finished()) continue;
                KvSequence kv = cache.open(c.allTokens(), s.request.cacheSalt());
                if (cache.reserve(kv, c.size - kv.length())) c.kv = kv;
                else cache.release(kv);
            }
        }
    }

    /** The siblings of a fresh request's choice 0 share its prompt's KV (copy on write at the tail). */
    void forkSiblings(RequestState s) {
        Choice first = s.choices[0];
        for (Choice c : s.choices) {
            if (c.index == 0 || c.kv != null) continue;
            c.kv = cache.fork(first.kv);
        }
    }

    /**
     * Frees KV by preempting the most recently admitted running request (its chunks are released,
     * full ones stay cached, and it is recomputed later). Returns false if nothing but
     * {@code needy} itself could be preempted and it was.
     */
    boolean preemptOne(RequestState needy) {
        RequestState victim = running.get(running.size() - 1);
        for (Choice c : victim.choices) {
            if (c.kv != null) {
                cache.release(c.kv);
                c.kv = null;
            }
        }
        running.remove(victim);
        runningQueued.remove(victim.queued);
        scheduler.onPreempt(victim.queued);
        waiting.add(0, victim.queued);
        // The victim is the last running request, so none of its sequences is in this step's batch yet.
        return victim != needy;
    }
}
