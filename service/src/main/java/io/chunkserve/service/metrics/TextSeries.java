package io.chunkserve.service.metrics;

import io.chunkserve.engine.EngineStats;
import io.chunkserve.kv.KvStats;

/**
 * Series written straight into the exposition text because Micrometer's Prometheus naming would
 * change their names: {@code chunkserve_cache_config_info} (the {@code _info} suffix is stripped
 * from gauges) and the inference extension's default metric names, vLLM's, for the four series its
 * endpoint picker reads (colons become underscores). The aliases carry the same values as the
 * {@code chunkserve_} originals.
 */
final class TextSeries {
    private TextSeries() { }

    static String render(EngineStats s) {
        StringBuilder sb = new StringBuilder(1024);
        if (s.kv() != null) {
            sb.append("# HELP chunkserve_cache_config_info KV cache layout: chunk_size tokens per chunk, num_chunks in the pool (always 1)\n")
              .append("# TYPE chunkserve_cache_config_info gauge\n")
              .append("chunkserve_cache_config_info{chunk_size=\"").append(s.kv().chunkSize())
              .append("\",num_chunks=\"").append(s.kv().totalChunks()).append("\"} 1.0\n");
        }
        gauge(sb, "vllm:num_requests_waiting", "Alias of chunkserve_waiting_requests", s.waiting());
        gauge(sb, "vllm:num_requests_running", "Alias of chunkserve_running_requests", s.running());
        KvStats kv = s.kv();
        gauge(sb, "vllm:kv_cache_usage_perc", "Alias of chunkserve_kv_cache_usage_ratio (0..1)", kv == null ? 0 : kv.usageRatio());
        if (kv != null) {
            sb.append("# HELP vllm:cache_config_info Alias of chunkserve_cache_config_info\n")
              .append("# TYPE vllm:cache_config_info gauge\n")
              .append("vllm:cache_config_info{block_size=\"").append(kv.chunkSize())
              .append("\",num_gpu_blocks=\"").append(kv.totalChunks()).append("\"} 1.0\n");
        }
        return sb.toString();
    }

    private static void gauge(StringBuilder sb, String name, String help, double v) {
        sb.append("# HELP ").append(name).append(' ').append(help).append('\n')
          .append("# TYPE ").append(name).append(" gauge\n")
          .append(name).append(' ').append(v).append('\n');
    }
}
