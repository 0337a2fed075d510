package io.chunkserve.service.metrics;

import io.chunkserve.engine.EngineStats;
import io.chunkserve.kv.KvStats;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;

import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.IntSupplier;
import java.util.function.Supplier;

/**
 * The service's Prometheus metrics ({@code GET /metrics}), every name prefixed {@code chunkserve_}.
 *
 * <p>Engine state is read from {@link io.chunkserve.engine.Engine#snapshot()} (a volatile read of
 * the stats the engine thread publishes once per step) whenever Prometheus scrapes: nothing here
 * ever waits on the engine thread. Request latencies come from {@link RequestMetrics}, which the
 * front ends drive.
 *
 * <p>Engine gauges (the Gateway API Inference Extension's model-server protocol):
 * <ul>
 * <li>{@code chunkserve_waiting_requests} — TotalQueuedRequests: requests queued in the engine, not admitted</li>
 * <li>{@code chunkserve_running_requests} — TotalRunningRequests: requests admitted into the batch</li>
 * <li>{@code chunkserve_kv_cache_usage_ratio} — KVCacheUtilization, 0..1: chunks live sequences hold
 *     (cached, evictable chunks count as free)</li>
 * <li>{@code chunkserve_cache_config_info{chunk_size, num_chunks}} = 1 — BlockSize and NumGPUBlocks
 *     for the prefix-cache scorer</li>
 * </ul>
 * The same four are also exported under vLLM's names ({@code vllm:num_requests_waiting},
 * {@code vllm:num_requests_running}, {@code vllm:kv_cache_usage_perc},
 * {@code vllm:cache_config_info{block_size, num_gpu_blocks}}), the inference extension's defaults,
 * so an endpoint picker works without metric-name flags.
 *
 * <p>Also: {@code chunkserve_kv_cache_chunks{state}}, {@code chunkserve_prefix_cache_queried_tokens_total},
 * {@code chunkserve_prefix_cache_hit_tokens_total}, {@code chunkserve_kv_cache_evictions_total},
 * {@code chunkserve_inflight_requests}, {@code chunkserve_draining}; per tenant (see
 * {@link TenantMeters}); and histograms {@code chunkserve_time_to_first_token_seconds},
 * {@code chunkserve_inter_token_latency_seconds}, {@code chunkserve_e2e_request_latency_seconds},
 * counters {@code chunkserve_generation_tokens_total},
 * {@code chunkserve_requests_total{tenant, finish_reason}},
 * {@code chunkserve_requests_rejected_total{reason}}.
 */
public final class ServiceMetrics {
    /** TTFT buckets: a cache-hot short prompt on a GPU (~ms) to a cold long one behind a queue (minutes). */
    static final Duration[] TTFT_BUCKETS = seconds(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320, 640);
    /** Inter-token buckets: GPU decode steps (~5–50 ms) up to a CPU step of a big batch (seconds). */
    static final Duration[] ITL_BUCKETS = seconds(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5, 5, 10);
    /** End-to-end buckets: a one-token answer (10 ms) to long generations (20 minutes). */
    static final Duration[] E2E_BUCKETS = seconds(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 20, 30, 40, 60, 120, 300, 600, 1200);

    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final Supplier<EngineStats> engine;
    private final TenantMeters tenants;
    private final Timer ttft, itl, e2e;
    private final Counter generationTokens;

    /**
     * @param engine   the latest engine snapshot (must be cheap and non-blocking; may return null or stats with null parts)
     * @param inFlight requests submitted to the engine and not finished (front-end view)
     * @param draining whether the server is draining
     */
    public ServiceMetrics(Supplier<EngineStats> engine, IntSupplier inFlight, BooleanSupplier draining) {
        this.engine = engine;
        this.tenants = new TenantMeters(registry, this::snapshot);
        Gauge.builder("chunkserve_waiting_requests", this, m -> m.snapshot().waiting())
                .description("Requests queued in the engine, not yet admitted (all tenants)").strongReference(true).register(registry);
        Gauge.builder("chunkserve_running_requests", this, m -> m.snapshot().running())
                .description("Requests admitted into the running batch (all tenants)").strongReference(true).register(registry);
        Gauge.builder("chunkserve_kv_cache_usage_ratio", this, m -> kv(m).map(KvStats::usageRatio).orElse(0.0))
                .description("Fraction of KV chunks held by live sequences, 0..1 (cached evictable chunks count as free)").strongReference(true).register(registry);
        for (String state : new String[]{"free", "cached", "referenced"}) {
            Gauge.builder("chunkserve_kv_cache_chunks", this, m -> kv(m).map(k -> (double) switch (state) {
                        case "free" -> k.freeChunks();
                        case "cached" -> k.cachedChunks();
                        default -> k.referencedChunks();
                    }).orElse(0.0))
                    .tags("state", state).description("KV chunks by state").strongReference(true).register(registry);
        }
        FunctionCounter.builder("chunkserve_prefix_cache_queried_tokens", this, m -> kv(m).map(k -> (double) k.queriedTokens()).orElse(0.0))
                .description("Prompt tokens looked up in the prefix cache").register(registry);
        FunctionCounter.builder("chunkserve_prefix_cache_hit_tokens", this, m -> kv(m).map(k -> (double) k.hitTokens()).orElse(0.0))
                .description("Prompt tokens whose KV came from the prefix cache").register(registry);
        FunctionCounter.builder("chunkserve_kv_cache_evictions", this, m -> kv(m).map(k -> (double) k.evictions()).orElse(0.0))
                .description("Cached KV chunks evicted to make room").register(registry);
        Gauge.builder("chunkserve_inflight_requests", inFlight, s -> s.getAsInt())
                .description("Requests submitted and not finished, queued or running (front-end view)").strongReference(true).register(registry);
        Gauge.builder("chunkserve_draining", draining, s -> s.getAsBoolean() ? 1 : 0)
                .description("1 while the server drains for shutdown (not ready)").strongReference(true).register(registry);
        ttft = histogram("chunkserve_time_to_first_token", "Time from request arrival to its first token", TTFT_BUCKETS);
        itl = histogram("chunkserve_inter_token_latency", "Time between consecutive token outputs of one request", ITL_BUCKETS);
        e2e = histogram("chunkserve_e2e_request_latency", "Time from request arrival to its end", E2E_BUCKETS);
        generationTokens = Counter.builder("chunkserve_generation_tokens").description("Tokens generated and delivered").register(registry);
    }

    /** A recorder for one request, its clock started now. */
    public RequestMetrics startRequest() { return new RequestMetrics(this, System.nanoTime()); }

    /** Counts a request refused before it reached the engine ({@code reason}: draining, queue_full, too_large, ...). */
    public void rejected(String reason) {
        registry.counter("chunkserve_requests_rejected", Tags.of("reason", reason == null ? "unknown" : reason)).increment();
    }

    /** The Prometheus text exposition (format 0.0.4) of every metric, engine gauges read now. */
    public String scrape() {
        EngineStats s = snapshot();
        tenants.refresh(s);
        return registry.scrape() + TextSeries.render(s);
    }

    /** The Micrometer registry, for callers that add their own meters. */
    public PrometheusMeterRegistry registry() { return registry; }

    // --- called by RequestMetrics ---

    void recordFirstToken(long nanos) { ttft.record(nanos, TimeUnit.NANOSECONDS); }

    void recordInterToken(long nanos) { itl.record(nanos, TimeUnit.NANOSECONDS); }

    void countTokens(int n) { generationTokens.increment(n); }

    void recordFinish(String tenant, String reason, long nanos) {
        e2e.record(nanos, TimeUnit.NANOSECONDS);
        registry.counter("chunkserve_requests", Tags.of("tenant", tenants.label(tenant),
                "finish_reason", reason == null ? "unknown" : reason.toLowerCase(Locale.ROOT))).increment();
    }

    // ---

    private static final EngineStats NONE = new EngineStats(0, 0, java.util.Map.of(), null, null);

    EngineStats snapshot() {
        EngineStats s = engine.get();
        return s == null ? NONE : s;
    }

    private static java.util.Optional<KvStats> kv(ServiceMetrics m) { return java.util.Optional.ofNullable(m.snapshot().kv()); }

    private Timer histogram(String name, String help, Duration[] buckets) {
        return Timer.builder(name).description(help).serviceLevelObjectives(buckets)
                .minimumExpectedValue(buckets[0]).maximumExpectedValue(buckets[buckets.length - 1]).register(registry);
    }

    private static Duration[] seconds(double... s) {
        Duration[] d = new Duration[s.length];
        for (int i = 0; i < s.length; i++) d[i] = Duration.ofNanos(Math.round(s[i] * 1e9));
        return d;
    }
}
