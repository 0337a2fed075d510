package io.chunkserve.service.metrics;

import io.chunkserve.engine.EngineStats;
import io.chunkserve.engine.sched.SchedulerStats;
import io.chunkserve.engine.sched.TenantStats;
import io.chunkserve.kv.KvStats;
import io.chunkserve.sampling.FinishReason;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ServiceMetricsTest {
    private final AtomicReference<EngineStats> engine = new AtomicReference<>();
    private final ServiceMetrics metrics = new ServiceMetrics(engine::get, () -> 7, () -> false);

    private static EngineStats stats() {
        Map<String, TenantStats> tenants = new LinkedHashMap<>();
        tenants.put("alice", new TenantStats("alice", 1, 2, 1, 10, 8, 500, 300, 40, 580, -12.5));
        tenants.put("bob", new TenantStats("bob", 2, 1, 1, 3, 2, 100, 0, 10, 120, 4));
        KvStats kv = new KvStats(64, 128, 64, 32, 32, 2, 1000, 400, 5);
        return new EngineStats(3, 2, Map.of("alice", new int[]{2, 1}, "bob", new int[]{1, 1}), kv,
                new SchedulerStats("dlpm", 10, 0, tenants));
    }

    @Test
    void engineGaugesFollowTheLatestSnapshot() {
        engine.set(stats());
        String text = metrics.scrape();
        assertLine(text, "chunkserve_waiting_requests 3.0");
        assertLine(text, "chunkserve_running_requests 2.0");
        assertLine(text, "chunkserve_kv_cache_usage_ratio 0.25");
        assertLine(text, "chunkserve_kv_cache_chunks{state=\"cached\"} 32.0");
        assertLine(text, "chunkserve_prefix_cache_queried_tokens_total 1000.0");
        assertLine(text, "chunkserve_prefix_cache_hit_tokens_total 400.0");
        assertLine(text, "chunkserve_kv_cache_evictions_total 5.0");
        assertLine(text, "chunkserve_cache_config_info{chunk_size=\"64\",num_chunks=\"128\"} 1.0");
        assertLine(text, "chunkserve_inflight_requests 7.0");
        assertLine(text, "chunkserve_draining 0.0");
        assertLine(text, "chunkserve_tenant_waiting_requests{tenant=\"alice\"} 2.0");
        assertLine(text, "chunkserve_tenant_running_requests{tenant=\"bob\"} 1.0");
        assertLine(text, "chunkserve_tenant_service_total{tenant=\"alice\"} 580.0");
        assertLine(text, "chunkserve_tenant_credit{tenant=\"alice\"} -12.5");
        assertLine(text, "chunkserve_tenant_prompt_cached_tokens_total{tenant=\"alice\"} 300.0");
        assertLine(text, "chunkserve_tenant_output_tokens_total{tenant=\"bob\"} 10.0");
        // The inference extension's default (vLLM) names.
        assertLine(text, "vllm:num_requests_waiting 3.0");
        assertLine(text, "vllm:num_requests_running 2.0");
        assertLine(text, "vllm:kv_cache_usage_perc 0.25");
        assertLine(text, "vllm:cache_config_info{block_size=\"64\",num_gpu_blocks=\"128\"} 1.0");
        assertTrue(text.contains("# TYPE chunkserve_waiting_requests gauge"), text);
        assertTrue(text.contains("# TYPE chunkserve_prefix_cache_hit_tokens_total counter"), text);

        // Next step: alice's queue drained, bob gone.
        engine.set(new EngineStats(0, 1, Map.of("alice", new int[]{0, 1}), stats().kv(), stats().scheduler()));
        text = metrics.scrape();
        assertLine(text, "chunkserve_waiting_requests 0.0");
        assertLine(text, "chunkserve_tenant_waiting_requests{tenant=\"alice\"} 0.0");
        assertLine(text, "chunkserve_tenant_running_requests{tenant=\"bob\"} 0.0");
    }

    @Test
    void noSnapshotYetReadsAsZeroWithoutCacheInfo() {
        String text = metrics.scrape();
        assertLine(text, "chunkserve_waiting_requests 0.0");
        assertFalse(text.contains("cache_config_info"), text);
    }

    @Test
    void requestLatenciesLandInHistograms() throws InterruptedException {
        RequestMetrics m = metrics.startRequest();
        Thread.sleep(3);
        m.onToken(1);
        Thread.sleep(2);
        m.onToken(2);
        m.onToken();
        m.onFinish("alice", FinishReason.STOP);
        m.onFinish("alice", FinishReason.STOP); // counted once
        m.onToken(5);                            // after the end: ignored
        String text = metrics.scrape();
        assertLine(text, "chunkserve_time_to_first_token_seconds_count 1");
        assertLine(text, "chunkserve_inter_token_latency_seconds_count 2");
        assertLine(text, "chunkserve_e2e_request_latency_seconds_count 1");
        assertLine(text, "chunkserve_generation_tokens_total 4.0");
        assertLine(text, "chunkserve_requests_total{finish_reason=\"stop\",tenant=\"alice\"} 1.0");
        // TTFT >= 3 ms: not in the 1 ms or 2.5 ms buckets, in the 5 s one; buckets span ms..minutes.
        assertLine(text, "chunkserve_time_to_first_token_seconds_bucket{le=\"0.001\"} 0");
        assertLine(text, "chunkserve_time_to_first_token_seconds_bucket{le=\"5.0\"} 1");
        assertTrue(text.contains("chunkserve_time_to_first_token_seconds_bucket{le=\"640.0\"}"), text);
        assertTrue(text.contains("chunkserve_e2e_request_latency_seconds_bucket{le=\"1200.0\"}"), text);
        assertTrue(text.contains("chunkserve_inter_token_latency_seconds_bucket{le=\"5.0E-4\"}"), text);
    }

    @Test
    void recordersAreNullSafe() {
        RequestMetrics.NOOP.onFirstToken();
        RequestMetrics.NOOP.onToken(3);
        RequestMetrics.NOOP.onFinish(null, (String) null);
        RequestMetrics.NOOP.onFinish(null, (FinishReason) null);
        assertFalse(RequestMetrics.NOOP.enabled());
        assertFalse(RequestMetrics.start(null).enabled());
        RequestMetrics m = RequestMetrics.start(metrics);
        m.onFirstToken();
        m.onFinish(null, (String) null);
        metrics.rejected(null);
        metrics.rejected("draining");
        String text = metrics.scrape();
        assertLine(text, "chunkserve_requests_total{finish_reason=\"unknown\",tenant=\"unknown\"} 1.0");
        assertLine(text, "chunkserve_requests_rejected_total{reason=\"draining\"} 1.0");
        // A server whose engine supplier returns null still scrapes.
        assertTrue(new ServiceMetrics(() -> null, () -> 0, () -> true).scrape().contains("chunkserve_draining 1.0"));
    }

    @Test
    void tenantLabelsAreBounded() {
        for (int i = 0; i < TenantMeters.MAX_TENANTS + 5; i++) {
            RequestMetrics m = metrics.startRequest();
            m.onFinish("user-" + i, "length");
        }
        String text = metrics.scrape();
        assertLine(text, "chunkserve_requests_total{finish_reason=\"length\",tenant=\"_other\"} 5.0");
        assertEquals(TenantMeters.MAX_TENANTS, text.lines().filter(l -> l.startsWith("chunkserve_tenant_waiting_requests{")).count());
    }

    static void assertLine(String text, String line) {
        assertTrue(text.lines().anyMatch(l -> l.equals(line)), () -> "missing line '" + line + "' in:\n"
                + text.lines().filter(l -> l.startsWith(line.substring(0, Math.min(20, line.length())))).toList());
    }
}
