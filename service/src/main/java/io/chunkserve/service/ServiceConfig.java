package io.chunkserve.service;

import io.chunkserve.engine.WorkerConfig;

import java.nio.file.Path;
import java.time.Duration;

/**
 * The service's settings beside the worker's (model, KV cache, scheduler).
 *
 * @param host                       listen address
 * @param port                       HTTP port (OpenAI API, WebSocket, metrics, pages); 0 = any free port
 * @param grpcPort                   gRPC port; 0 = any free port, -1 = off
 * @param worker                     model / KV / scheduler / batching settings
 * @param maxBodyBytes               largest accepted request body
 * @param maxWaitingRequests         admission control: requests queued in the engine, all tenants
 * @param maxWaitingTokens           admission control: prompt tokens queued, all tenants
 * @param maxWaitingRequestsPerTenant admission control per tenant
 * @param maxWaitingTokensPerTenant  admission control per tenant
 * @param keysFile                   API keys file (null: no auth; tenant from the request's {@code user})
 * @param drainTimeout               on SIGTERM, how long in-flight requests may run before exit
 * @param synthetic                  frontend benchmark mode: no model, tokens at a fixed rate (tokens/s per stream), 0 = off
 */
public record ServiceConfig(String host, int port, int grpcPort, WorkerConfig worker, long maxBodyBytes,
                            int maxWaitingRequests, long maxWaitingTokens, int maxWaitingRequestsPerTenant,
                            long maxWaitingTokensPerTenant, Path keysFile, Duration drainTimeout, double synthetic) {

    /** Defaults for {@code worker} on the given ports (body 4 MiB, drain 30 s, synthetic off). */
    public static ServiceConfig defaults(WorkerConfig worker, String host, int port, int grpcPort) {
        return new ServiceConfig(host, port, grpcPort, worker, 4L << 20, 1024, 1L << 20, 256, 256L << 10, null,
                Duration.ofSeconds(30), 0);
    }

    public ServiceConfig withKeysFile(Path p) {
        return new ServiceConfig(host, port, grpcPort, worker, maxBodyBytes, maxWaitingRequests, maxWaitingTokens,
                maxWaitingRequestsPerTenant, maxWaitingTokensPerTenant, p, drainTimeout, synthetic);
    }

    public ServiceConfig withHost(String h) {
        return new ServiceConfig(h, port, grpcPort, worker, maxBodyBytes, maxWaitingRequests, maxWaitingTokens,
                maxWaitingRequestsPerTenant, maxWaitingTokensPerTenant, keysFile, drainTimeout, synthetic);
    }

    public ServiceConfig withPorts(int httpPort, int grpc) {
        return new ServiceConfig(host, httpPort, grpc, worker, maxBodyBytes, maxWaitingRequests, maxWaitingTokens,
                maxWaitingRequestsPerTenant, maxWaitingTokensPerTenant, keysFile, drainTimeout, synthetic);
    }

    public ServiceConfig withWorker(WorkerConfig w) {
        return new ServiceConfig(host, port, grpcPort, w, maxBodyBytes, maxWaitingRequests, maxWaitingTokens,
                maxWaitingRequestsPerTenant, maxWaitingTokensPerTenant, keysFile, drainTimeout, synthetic);
    }

    public ServiceConfig withDrainTimeout(Duration d) {
        return new ServiceConfig(host, port, grpcPort, worker, maxBodyBytes, maxWaitingRequests, maxWaitingTokens,
                maxWaitingRequestsPerTenant, maxWaitingTokensPerTenant, keysFile, d, synthetic);
    }

    /** Frontend benchmark mode: no model, {@code tokensPerSecond} per stream (0 = off). */
    public ServiceConfig withSynthetic(double tokensPerSecond) {
        return new ServiceConfig(host, port, grpcPort, worker, maxBodyBytes, maxWaitingRequests, maxWaitingTokens,
                maxWaitingRequestsPerTenant, maxWaitingTokensPerTenant, keysFile, drainTimeout, tokensPerSecond);
    }

    public ServiceConfig withLimits(long bodyBytes, int waitingRequests, long waitingTokens, int perTenantRequests, long perTenantTokens) {
        return new ServiceConfig(host, port, grpcPort, worker, bodyBytes, waitingRequests, waitingTokens, perTenantRequests,
                perTenantTokens, keysFile, drainTimeout, synthetic);
    }
}
