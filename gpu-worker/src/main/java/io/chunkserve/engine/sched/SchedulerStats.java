package io.chunkserve.engine.sched;

import java.util.Map;

/**
 * A snapshot of a policy for metrics: per-tenant counters plus pass counts.
 *
 * @param policy       policy name ("dlpm", "vtc", "lpm", "fcfs")
 * @param passes       scheduling passes run
 * @param fcfsPasses   of those, cache-aware passes that fell back to FCFS order (long queue)
 * @param tenants      by tenant name, in order of first arrival
 */
public record SchedulerStats(String policy, long passes, long fcfsPasses, Map<String, TenantStats> tenants) {
    public SchedulerStats {
        tenants = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(tenants));
    }

    /** Largest minus smallest service among the tenants (cost units); 0 with fewer than two. */
    public long serviceSpread() {
        long lo = Long.MAX_VALUE, hi = Long.MIN_VALUE;
        for (TenantStats t : tenants.values()) {
            lo = Math.min(lo, t.service());
            hi = Math.max(hi, t.service());
        }
        return tenants.size() < 2 ? 0 : hi - lo;
    }
}
