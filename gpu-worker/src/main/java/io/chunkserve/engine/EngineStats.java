package io.chunkserve.engine;

import io.chunkserve.kv.KvStats;

import java.util.Map;

/**
 * A snapshot of the engine for the service (metrics, health, admission control).
 *
 * @param waiting     requests queued, not admitted
 * @param running     requests admitted
 * @param perTenant   tenant → {waiting, running}
 * @param kv          KV cache counters
 * @param scheduler   per-tenant scheduler counters (service, deficit, ...)
 */
public record EngineStats(int waiting, int running, Map<String, int[]> perTenant, KvStats kv,
                          io.chunkserve.engine.sched.SchedulerStats scheduler) {
    static final EngineStats EMPTY = new EngineStats(0, 0, Map.of(), null, null);
}
