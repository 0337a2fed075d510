package io.chunkserve.engine.sched;

import java.util.List;

/**
 * Virtual Token Counter (Sheng et al., "Fairness in Serving Large Language Models", OSDI 2024):
 * the fairness baseline, without prefix awareness.
 *
 * <pre>
 * on arrival of r (tenant u) when u has nothing waiting:
 *     c_u := max(c_u, min{ c_v : v has waiting requests })   or, if nobody waits,
 *     c_u := max(c_u, counter of the last tenant whose queue emptied)
 * pass:  repeat: among tenants with waiting requests take the one with the smallest counter
 *        (ties: oldest head), try the head of its FIFO; not admitted: stop (no skipping);
 *        admitted: c_u += w_e·prompt / weight_u   (whole prompt: VTC ignores the cache)
 * after each step: c_u += w_q / weight_u per output token
 * </pre>
 * The lift stops a tenant that was idle from banking service while it was away.
 */
public final class VtcPolicy extends TenantAccountingPolicy {
    private double lastLeftCounter;
    private int[] next = new int[64]; // per pass: next index of the same tenant in the waiting list, -1 at the tail

    VtcPolicy(SchedulerConfig config) { super(config); }

    @Override
    public String name() { return "vtc"; }

    @Override
    void beforeArrival(TenantAccount acc, boolean isNew) {
        if (acc.waiting > 0) return;
        double lift = Double.NaN;
        for (TenantAccount a : accounts.values()) {
            if (a.waiting > 0 && !(a.counter >= lift)) lift = a.counter; // NaN compare: first backlogged wins
        }
        if (Double.isNaN(lift)) lift = lastLeftCounter;
        acc.counter = Math.max(acc.counter, lift);
    }

    @Override
    void chargeAdmission(TenantAccount acc, QueuedRequest r) {
        acc.counter += (double) inputWeight * r.promptTokens() / acc.weight;
    }

    @Override
    void chargeOutput(TenantAccount acc, int tokens) { acc.counter += (double) outputWeight * tokens / acc.weight; }

    @Override
    void leftQueue(TenantAccount acc) { lastLeftCounter = acc.counter; }

    @Override
    double credit(TenantAccount acc) { return acc.counter; }

    @Override
    public int schedule(List<QueuedRequest> waiting, Admission admission) {
        passes++;
        PrefixOrder.byArrival(waiting);
        int n = waiting.size();
        if (next.length < n) next = new int[Math.max(n, next.length * 2)];
        for (TenantAccount a : accounts.values()) a.passHead = a.passTail = -1;
        for (int i = 0; i < n; i++) {
            TenantAccount a = waitingAccount(waiting.get(i));
            next[i] = -1;
            if (a.passHead < 0) a.passHead = i;
            else next[a.passTail] = i;
            a.passTail = i;
        }
        int admitted = 0;
        while (true) {
            TenantAccount best = null;
            for (TenantAccount a : accounts.values()) {
                if (a.passHead < 0) continue;
                if (best == null || a.counter < best.counter || (a.counter == best.counter && a.passHead < best.passHead)) {
                    best = a;
                }
            }
            if (best == null) break;
            QueuedRequest r = waiting.get(best.passHead);
            if (!admission.tryAdmit(r).admitted()) break;
            admitted(r);
            admitted++;
            best.passHead = next[best.passHead];
        }
        endPass(waiting, admitted);
        return admitted;
    }
}
