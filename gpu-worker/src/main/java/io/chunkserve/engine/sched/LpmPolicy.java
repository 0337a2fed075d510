package io.chunkserve.engine.sched;

import java.util.List;
import java.util.function.ToIntFunction;

/**
 * Longest Prefix Match (SGLang's cache-aware default): waiting requests by matched prefix,
 * longest first, tried until one does not fit; falls back to arrival order for long queues
 * ({@link PrefixOrder}). No fairness and no aging: the locality baseline DLPM is measured against.
 */
public final class LpmPolicy extends TenantAccountingPolicy {
    private final PrefixOrder order;

    LpmPolicy(SchedulerConfig config, ToIntFunction<QueuedRequest> prefixMatcher) {
        super(config);
        this.order = new PrefixOrder(prefixMatcher, config.lpmMaxWaiting(), Integer.MAX_VALUE);
    }

    @Override
    public String name() { return "lpm"; }

    @Override
    public int schedule(List<QueuedRequest> waiting, Admission admission) {
        passes++;
        if (!order.sort(waiting)) fcfsPasses++;
        return admitInOrder(this, waiting, admission);
    }

    /** Tries {@code waiting} in its current order until one is not admitted; ends the pass. */
    static int admitInOrder(TenantAccountingPolicy p, List<QueuedRequest> waiting, Admission admission) {
        int admitted = 0;
        for (int i = 0, n = waiting.size(); i < n; i++) {
            QueuedRequest r = waiting.get(i);
            p.waitingAccount(r);
            if (!admission.tryAdmit(r).admitted()) break;
            p.admitted(r);
            admitted++;
        }
        p.endPass(waiting, admitted);
        return admitted;
    }
}
