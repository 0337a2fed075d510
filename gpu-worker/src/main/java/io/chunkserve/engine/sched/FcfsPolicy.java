package io.chunkserve.engine.sched;

import java.util.List;

/**
 * First come, first served: waiting requests in arrival order (a preempted request keeps its
 * original place), tried until one does not fit. Neither cache-aware nor fair.
 */
public final class FcfsPolicy extends TenantAccountingPolicy {
    FcfsPolicy(SchedulerConfig config) { super(config); }

    @Override
    public String name() { return "fcfs"; }

    @Override
    public int schedule(List<QueuedRequest> waiting, Admission admission) {
        passes++;
        PrefixOrder.byArrival(waiting);
        return LpmPolicy.admitInOrder(this, waiting, admission);
    }
}
