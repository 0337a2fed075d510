package io.chunkserve.engine.sched;

import java.util.List;
import java.util.function.ToIntFunction;

/**
 * Deficit Longest Prefix Match (Cao et al., "Locality-aware Fair Scheduling in LLM Serving"): LPM
 * order for locality, deficit round robin across tenants for fairness. The default policy.
 *
 * <pre>
 * on arrival of r (tenant i):  if i is new or idle (nothing waiting or running): q_i := 0
 * refill():  if some tenant with waiting requests has q &gt; 0: return
 *            for every tenant j with q_j &le; 0: q_j += Q_u · weight_j
 * pass:      order waiting by matched prefix, longest first ({@link PrefixOrder})
 *            for r in order:
 *              if q_tenant(r) &le; 0: refill()
 *              if q_tenant(r) &gt; 0: try r — not admitted (memory full, batch full, no tokens
 *                                   left): stop; admitted: q_tenant(r) −= w_e·(prompt − cached)
 *              else skip r (it keeps its place)
 * after each step: q_i −= w_q per output token of i's running requests
 * </pre>
 *
 * Admissions are charged during the pass, so a tenant with a little credit gets one request in,
 * not a whole batch. Deficits stay in (−U, Q_u] with U = w_e·L_input + w_q·M (M = KV capacity in
 * tokens), and over any interval in which tenants f and g both have waiting requests,
 * |W_f − W_g| &lt; 2(U + Q_u): every refill in such an interval finds both at q &le; 0 and refills
 * both. With weights (refill Q_u·w) deficits stay in (−U, Q_u·w] and
 * |W_f/w_f − W_g/w_g| &lt; U/w_f + U/w_g + 2·Q_u. Larger Q_u: longer runs of one tenant's
 * cache-hot requests, more throughput, coarser fairness.
 *
 * <p>A preempted request is not charged again for its prompt when re-admitted (the engine chose to
 * recompute it), but it still needs its tenant to have credit. Aging within a tenant and the FCFS
 * fallback for long queues are described in {@link PrefixOrder}.
 */
public final class DlpmPolicy extends TenantAccountingPolicy {
    private final long quantum;
    private final PrefixOrder order;
    private long refills;

    DlpmPolicy(SchedulerConfig config, ToIntFunction<QueuedRequest> prefixMatcher) {
        super(config);
        this.quantum = config.quantum();
        this.order = new PrefixOrder(prefixMatcher, config.lpmMaxWaiting(), config.agingLimit());
    }

    @Override
    public String name() { return "dlpm"; }

    /** Refills done so far (each gives every tenant at or below zero one quantum). */
    public long refills() { return refills; }

    @Override
    void beforeArrival(TenantAccount acc, boolean isNew) {
        if (isNew || acc.idle()) acc.deficit = 0;
    }

    @Override
    void chargeAdmission(TenantAccount acc, QueuedRequest r) { acc.deficit -= (long) inputWeight * r.uncachedTokens(); }

    @Override
    void chargeOutput(TenantAccount acc, int tokens) { acc.deficit -= (long) outputWeight * tokens; }

    @Override
    double credit(TenantAccount acc) { return acc.deficit; }

    @Override
    public int schedule(List<QueuedRequest> waiting, Admission admission) {
        passes++;
        if (!order.sort(waiting)) fcfsPasses++;
        int admitted = 0;
        for (int i = 0, n = waiting.size(); i < n; i++) {
            QueuedRequest r = waiting.get(i);
            TenantAccount acc = waitingAccount(r);
            if (acc.deficit <= 0) refill();
            if (acc.deficit <= 0) continue; // skipped: keeps its place for the next pass
            if (!admission.tryAdmit(r).admitted()) break;
            admitted(r);
            admitted++;
        }
        endPass(waiting, admitted);
        return admitted;
    }

    private void refill() {
        for (TenantAccount a : accounts.values()) if (a.waiting > 0 && a.deficit > 0) return;
        for (TenantAccount a : accounts.values()) if (a.deficit <= 0) a.deficit += quantum * a.weight;
        refills++;
    }
}
