package io.chunkserve.engine.sched;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What every policy shares: tenant accounts, the request life cycle (NEW → WAITING ⇄ RUNNING →
 * FINISHED / ABORTED) with checks against engine misuse, service counters, and the end of a pass
 * (aging, removing admitted requests). Subclasses choose the order and keep their credit through
 * the hooks.
 */
abstract class TenantAccountingPolicy implements SchedulingPolicy {
    final SchedulerConfig config;
    final int inputWeight;   // w_e
    final int outputWeight;  // w_q
    final Map<String, TenantAccount> accounts = new LinkedHashMap<>();
    long passes, fcfsPasses;

    TenantAccountingPolicy(SchedulerConfig config) {
        this.config = config;
        this.inputWeight = config.inputWeight();
        this.outputWeight = config.outputWeight();
    }

    // ---- hooks ----------------------------------------------------------------------------

    /** Before {@code acc} counts the arriving request; {@code isNew} on the tenant's first request. */
    void beforeArrival(TenantAccount acc, boolean isNew) { }

    /** A request was admitted for the first time; charge its prompt. */
    void chargeAdmission(TenantAccount acc, QueuedRequest r) { }

    /** {@code tokens} more output tokens of a request of {@code acc} were generated. */
    void chargeOutput(TenantAccount acc, int tokens) { }

    /** {@code acc}'s last waiting request left the queue (admitted or aborted). */
    void leftQueue(TenantAccount acc) { }

    /** The credit reported in stats. */
    double credit(TenantAccount acc) { return 0; }

    // ---- life cycle -----------------------------------------------------------------------

    @Override
    public final void onArrival(QueuedRequest r) {
        expect(r, QueuedRequest.Phase.NEW, "onArrival");
        TenantAccount acc = accounts.get(r.tenant());
        boolean isNew = acc == null;
        if (isNew) {
            acc = new TenantAccount(r.tenant(), config.weightOf(r.tenant()));
            accounts.put(r.tenant(), acc);
        }
        beforeArrival(acc, isNew);
        r.account = acc;
        r.phase = QueuedRequest.Phase.WAITING;
        r.age = 0;
        acc.waiting++;
    }

    @Override
    public final void onStep(List<QueuedRequest> running) {
        for (int i = 0, n = running.size(); i < n; i++) {
            QueuedRequest r = running.get(i);
            expect(r, QueuedRequest.Phase.RUNNING, "onStep");
            chargeNewOutput(r);
        }
    }

    @Override
    public final void onPreempt(QueuedRequest r) {
        expect(r, QueuedRequest.Phase.RUNNING, "onPreempt");
        chargeNewOutput(r);
        TenantAccount acc = r.account;
        acc.running--;
        acc.waiting++;
        acc.preempted++;
        r.phase = QueuedRequest.Phase.WAITING;
    }

    @Override
    public final void onFinish(QueuedRequest r) {
        expect(r, QueuedRequest.Phase.RUNNING, "onFinish");
        chargeNewOutput(r);
        r.account.running--;
        r.account.finished++;
        r.phase = QueuedRequest.Phase.FINISHED;
    }

    @Override
    public final void onAbort(QueuedRequest r) {
        TenantAccount acc = r.account;
        if (r.phase == QueuedRequest.Phase.WAITING) {
            acc.waiting--;
            if (acc.waiting == 0) leftQueue(acc);
        } else if (r.phase == QueuedRequest.Phase.RUNNING) {
            chargeNewOutput(r);
            acc.running--;
        } else {
            throw new IllegalStateException("onAbort of " + r + ": neither waiting nor running");
        }
        acc.aborted++;
        r.phase = QueuedRequest.Phase.ABORTED;
    }

    // ---- pass helpers ---------------------------------------------------------------------

    /** The account of a request found in the waiting list, checking it is really waiting here. */
    final TenantAccount waitingAccount(QueuedRequest r) {
        if (r.phase != QueuedRequest.Phase.WAITING || accounts.get(r.tenant()) != r.account) {
            throw new IllegalStateException(r + " is in the waiting list but not waiting in this policy"
                    + " (missing onArrival/onPreempt, or not removed after admission?)");
        }
        return r.account;
    }

    /** Books an admission the engine just accepted: phase, counts, and (first time only) the prompt's cost. */
    final void admitted(QueuedRequest r) {
        TenantAccount acc = r.account;
        r.phase = QueuedRequest.Phase.RUNNING;
        acc.waiting--;
        acc.running++;
        acc.admitted++;
        acc.notePassAdmit(r.arrivalSeq());
        if (!r.inputCharged) {
            r.inputCharged = true;
            acc.extendTokens += r.uncachedTokens();
            acc.cachedTokens += r.cachedTokens();
            chargeAdmission(acc, r);
        }
        if (acc.waiting == 0) leftQueue(acc);
    }

    /**
     * Ends a pass: ages each still-waiting request by the younger requests of its own tenant
     * admitted in this pass (see {@link PrefixOrder} for what age does), and removes the admitted
     * requests from {@code waiting}, keeping the order of the rest.
     */
    final void endPass(List<QueuedRequest> waiting, int admittedCount) {
        if (admittedCount == 0) return;
        int kept = 0;
        for (int i = 0, n = waiting.size(); i < n; i++) {
            QueuedRequest r = waiting.get(i);
            if (r.phase != QueuedRequest.Phase.WAITING) continue;
            TenantAccount acc = r.account;
            if (acc.passAdmitCount > 0) r.age += acc.passAdmitsAfter(r.arrivalSeq());
            waiting.set(kept++, r);
        }
        waiting.subList(kept, waiting.size()).clear();
        for (TenantAccount acc : accounts.values()) acc.passAdmitCount = 0;
    }

    private void chargeNewOutput(QueuedRequest r) {
        int delta = r.outputTokens() - r.chargedOutput;
        if (delta <= 0) return;
        r.chargedOutput = r.outputTokens();
        r.account.outputTokens += delta;
        chargeOutput(r.account, delta);
    }

    private static void expect(QueuedRequest r, QueuedRequest.Phase phase, String call) {
        if (r.phase != phase) throw new IllegalStateException(call + " of " + r + ": expected phase " + phase);
    }

    // ---- stats ----------------------------------------------------------------------------

    @Override
    public final SchedulerStats stats() {
        Map<String, TenantStats> out = new LinkedHashMap<>();
        for (TenantAccount a : accounts.values()) {
            out.put(a.tenant, new TenantStats(a.tenant, a.weight, a.waiting, a.running, a.admitted, a.finished,
                    a.extendTokens, a.cachedTokens, a.outputTokens, a.service(inputWeight, outputWeight), credit(a)));
        }
        return new SchedulerStats(name(), passes, fcfsPasses, out);
    }

    @Override
    public String toString() { return name() + "[" + config + "]"; }
}
