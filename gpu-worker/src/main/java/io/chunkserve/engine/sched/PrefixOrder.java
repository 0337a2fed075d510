package io.chunkserve.engine.sched;

import java.util.Comparator;
import java.util.List;
import java.util.function.ToIntFunction;

/**
 * The cache-aware order of a pass: longest matched prefix first (LPM), with two guards.
 *
 * <h2>FCFS fallback</h2>
 * Above {@code maxWaiting} waiting requests the pass skips the prefix matching and sorts by
 * arrival instead, as SGLang does above 128 (its {@code _determine_active_policy}): refreshing
 * every match is O(waiting × prompt chunks) per step, and a long queue is exactly when the engine
 * thread can least afford it. Note that SGLang's fallback keeps the previous order (its FCFS is a
 * no-op); ours is true arrival order. The price is locality while the queue is long; raise the
 * threshold when the engine has CPU headroom.
 *
 * <h2>Aging (DLPM)</h2>
 * LPM can starve a cache-cold request behind a steady stream of cache-hot ones of the same
 * tenant: DLPM's deficits only arbitrate between tenants. A request's {@link QueuedRequest#age()}
 * counts the younger requests of its own tenant admitted ahead of it; once it reaches
 * {@code agingLimit} the request is <em>promoted</em>: promoted requests sort before all others,
 * among themselves by arrival. So fewer than {@code agingLimit} plus one pass's admissions of
 * its tenant overtake it, and after that it is the next of its tenant to be tried (older promoted
 * ones first); other tenants are not
 * harmed, since deficits still decide whether a tenant's request is tried at all. Counting
 * overtakes rather than waiting time means a request that waits only because memory is full or its
 * tenant has no credit never ages, so aging does not quietly turn LPM into FCFS under load.
 */
final class PrefixOrder {
    private static final Comparator<QueuedRequest> BY_ARRIVAL =
            Comparator.comparingLong(QueuedRequest::arrivalSeq).thenComparingLong(QueuedRequest::id);

    private final ToIntFunction<QueuedRequest> matcher;
    private final int maxWaiting;
    private final Comparator<QueuedRequest> lpm;

    /** {@code agingLimit} = {@link Integer#MAX_VALUE} disables aging (pure LPM). */
    PrefixOrder(ToIntFunction<QueuedRequest> matcher, int maxWaiting, int agingLimit) {
        this.matcher = matcher;
        this.maxWaiting = maxWaiting;
        this.lpm = (a, b) -> {
            boolean pa = a.age >= agingLimit, pb = b.age >= agingLimit;
            if (pa != pb) return pa ? -1 : 1;
            if (!pa && a.cachedTokens() != b.cachedTokens()) return Integer.compare(b.cachedTokens(), a.cachedTokens());
            return BY_ARRIVAL.compare(a, b);
        };
    }

    /** Sorts {@code waiting} for this pass; returns false when it fell back to arrival order. */
    boolean sort(List<QueuedRequest> waiting) {
        if (waiting.size() > maxWaiting) {
            byArrival(waiting);
            return false;
        }
        for (int i = 0, n = waiting.size(); i < n; i++) {
            QueuedRequest r = waiting.get(i);
            r.setCachedTokens(matcher.applyAsInt(r));
        }
        waiting.sort(lpm);
        return true;
    }

    /** Arrival order (ties by id); usually nearly sorted already, which TimSort handles in O(n). */
    static void byArrival(List<QueuedRequest> waiting) { waiting.sort(BY_ARRIVAL); }
}
