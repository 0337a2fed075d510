package io.chunkserve.service.metrics;

import io.chunkserve.engine.EngineStats;
import io.chunkserve.engine.sched.SchedulerStats;
import io.chunkserve.engine.sched.TenantStats;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import java.util.function.ToDoubleFunction;
import java.util.logging.Logger;

/**
 * Per-tenant series, labelled {@code tenant}, registered the first time a tenant shows up in an
 * engine snapshot and read from the latest snapshot at each scrape:
 * <ul>
 * <li>{@code chunkserve_tenant_waiting_requests} — the tenant's queue depth</li>
 * <li>{@code chunkserve_tenant_running_requests}</li>
 * <li>{@code chunkserve_tenant_service_total} — service received in cost units (w_e·computed prompt
 *     tokens + w_q·output tokens), the quantity the fair scheduler equalizes</li>
 * <li>{@code chunkserve_tenant_credit} — the policy's fairness state (DLPM deficit, VTC counter)</li>
 * <li>{@code chunkserve_tenant_prompt_computed_tokens_total}, {@code chunkserve_tenant_prompt_cached_tokens_total},
 *     {@code chunkserve_tenant_output_tokens_total}</li>
 * </ul>
 * Tenants come from API keys or the request's {@code user} field, so their number is bounded here:
 * past {@link #MAX_TENANTS} new tenants share the label {@value #OVERFLOW} in request counters and
 * get no per-tenant gauges (one warning is logged).
 */
final class TenantMeters {
    private static final Logger LOG = Logger.getLogger(TenantMeters.class.getName());
    /** Enough for every real deployment's key file; bounds the series a stream of random {@code user} values can create. */
    static final int MAX_TENANTS = 1000;
    static final String OVERFLOW = "_other";

    private final MeterRegistry registry;
    private final Supplier<EngineStats> engine;
    private final Set<String> known = ConcurrentHashMap.newKeySet();
    private volatile boolean warned;

    TenantMeters(MeterRegistry registry, Supplier<EngineStats> engine) {
        this.registry = registry;
        this.engine = engine;
    }

    /** Registers series for tenants seen for the first time in {@code s}. */
    void refresh(EngineStats s) {
        if (s.perTenant() != null) s.perTenant().keySet().forEach(this::register);
        if (s.scheduler() != null) s.scheduler().tenants().keySet().forEach(this::register);
    }

    /** The label for {@code tenant} in request counters: itself, "unknown", or the overflow label. */
    String label(String tenant) {
        if (tenant == null || tenant.isEmpty()) return "unknown";
        if (known.contains(tenant)) return tenant;
        return register(tenant) ? tenant : OVERFLOW;
    }

    private boolean register(String t) {
        if (known.contains(t)) return true;
        synchronized (this) {
            if (known.contains(t)) return true;
            if (known.size() >= MAX_TENANTS) {
                if (!warned) {
                    warned = true;
                    LOG.warning("more than " + MAX_TENANTS + " tenants: further tenants are counted as '" + OVERFLOW + "' in metrics");
                }
                return false;
            }
            known.add(t);
        }
        gauge("chunkserve_tenant_waiting_requests", "Requests of the tenant queued in the engine (its queue depth)", t, s -> counts(s, t)[0]);
        gauge("chunkserve_tenant_running_requests", "Requests of the tenant in the running batch", t, s -> counts(s, t)[1]);
        gauge("chunkserve_tenant_credit", "Scheduler fairness state of the tenant (DLPM deficit, VTC counter; 0 for LPM/FCFS)", t,
                s -> tenant(s, t) == null ? 0 : tenant(s, t).credit());
        counter("chunkserve_tenant_service", "Service the tenant received, cost units: w_e*computed prompt tokens + w_q*output tokens", t,
                s -> tenant(s, t) == null ? 0 : tenant(s, t).service());
        counter("chunkserve_tenant_prompt_computed_tokens", "Prompt tokens of the tenant computed on admission (not from cache)", t,
                s -> tenant(s, t) == null ? 0 : tenant(s, t).extendTokens());
        counter("chunkserve_tenant_prompt_cached_tokens", "Prompt tokens of the tenant served from the prefix cache", t,
                s -> tenant(s, t) == null ? 0 : tenant(s, t).cachedTokens());
        counter("chunkserve_tenant_output_tokens", "Output tokens generated for the tenant", t,
                s -> tenant(s, t) == null ? 0 : tenant(s, t).outputTokens());
        return true;
    }

    private void gauge(String name, String help, String tenant, ToDoubleFunction<EngineStats> f) {
        Gauge.builder(name, engine, e -> f.applyAsDouble(orEmpty(e.get()))).tag("tenant", tenant).description(help).strongReference(true).register(registry);
    }

    private void counter(String name, String help, String tenant, ToDoubleFunction<EngineStats> f) {
        FunctionCounter.builder(name, engine, e -> f.applyAsDouble(orEmpty(e.get()))).tag("tenant", tenant).description(help).register(registry);
    }

    private static final EngineStats EMPTY = new EngineStats(0, 0, java.util.Map.of(), null, null);
    private static final int[] ZERO = {0, 0};

    private static EngineStats orEmpty(EngineStats s) { return s == null ? EMPTY : s; }

    private static int[] counts(EngineStats s, String t) {
        int[] c = s.perTenant() == null ? null : s.perTenant().get(t);
        return c == null ? ZERO : c;
    }

    private static TenantStats tenant(EngineStats s, String t) {
        SchedulerStats sch = s.scheduler();
        return sch == null ? null : sch.tenants().get(t);
    }
}
