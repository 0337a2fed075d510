package io.chunkserve.service.metrics;

import io.chunkserve.engine.EngineStats;
import io.chunkserve.kv.KvStats;

/**
 * The inference extension's default metric names (vLLM's) for the four series its endpoint picker
 * reads, written straight into the exposition text: Micrometer's naming convention would turn the
 * colons into underscores. Same values as the {@code chunkserve_} originals.
 */
final class VllmAliases {
    private VllmAliases() { }

    static String render(EngineStats s) {
        StringBuilder sb = new StringBuilder(640);
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
