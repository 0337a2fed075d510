package io.chunkserve.service;

import io.chunkserve.engine.WorkerConfig;
import io.chunkserve.kv.KvLayout;
import io.chunkserve.service.config.ConfigException;
import io.chunkserve.service.config.ConfigLoader;
import io.chunkserve.service.config.Setting;
import io.chunkserve.service.health.GracefulShutdown;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.EnumMap;
import java.util.Locale;
import java.util.Map;

/**
 * {@code chunkserve serve}: loads the model (or starts the synthetic engine) and serves until
 * SIGTERM / Ctrl-C, then drains. Settings come from a config file, {@code CHUNKSERVE_*}
 * environment variables and these flags, flags winning (see {@link ConfigLoader}); the resolved
 * values are printed at start-up. A bad value prints one line and exits 2.
 */
@Command(name = "serve", sortOptions = false, usageHelpAutoWidth = true,
        description = {"Start the server (default: the bundled random-weight demo model).",
                "Each setting is also a config-file key (kv_bytes) and an environment variable (CHUNKSERVE_KV_BYTES);",
                "precedence: flags > environment > config file > defaults."},
        footer = {"", "Sizes: 512MiB, 2GiB, 1.5GB or bytes. Durations: 30s, 500ms, 2m. Exit status 2: a bad setting."})
public final class ServeCommand implements java.util.concurrent.Callable<Integer> {
    static final String DEMO_MODEL = "fixtures/tiny-llama3";

    @Option(names = "--config", paramLabel = "FILE", description = "config file, YAML or JSON, flat 'key: value' (env CHUNKSERVE_CONFIG)")
    Path config;

    @Option(names = "--model", paramLabel = "DIR", description = "Hugging Face model directory (default: the bundled demo model)")
    String model;

    @Option(names = "--host", paramLabel = "ADDR", description = "listen address (default 0.0.0.0)")
    String host;

    @Option(names = "--port", paramLabel = "PORT", description = "HTTP port: OpenAI API, WebSocket, /metrics, /health, /ready; 0 = any free (default 8080)")
    String port;

    @Option(names = "--grpc-port", paramLabel = "PORT", description = "gRPC port; 0 = any free, -1 = off (default 50051)")
    String grpcPort;

    @Option(names = "--chunk-size", paramLabel = "TOKENS", description = "KV chunk size: 16, 32, 64 or 128 (default 64)")
    String chunkSize;

    @Option(names = "--kv-bytes", paramLabel = "SIZE", description = "KV cache pool size, e.g. 512MiB, 2GiB (default 256MiB)")
    String kvBytes;

    @Option(names = "--kv-dtype", paramLabel = "TYPE", description = "KV element type: auto (default: f32 for an f32 checkpoint, else bf16), f32, f16 or bf16")
    String kvDtype;

    @Option(names = "--device", paramLabel = "DEV", description = "where the model runs: cpu, cuda or auto (default cpu)")
    String device;

    @Option(names = "--threads", paramLabel = "N", description = "CPU compute threads (default: the number of cores)")
    String threads;

    @Option(names = "--scheduler", paramLabel = "POLICY", description = "local scheduling policy: dlpm, vtc, lpm or fcfs (default dlpm)")
    String scheduler;

    @Option(names = "--quantum", paramLabel = "N", description = "DLPM quantum Q_u in cost units (prompt token 1, output token 2)")
    String quantum;

    @Option(names = "--max-running-seqs", paramLabel = "N", description = "sequences decoded together in one step (default 64)")
    String maxRunningSeqs;

    @Option(names = "--max-batch-tokens", paramLabel = "N", description = "tokens one forward step may process (default 1024)")
    String maxBatchTokens;

    @Option(names = "--max-waiting-requests", paramLabel = "N", description = "admission: queued requests, all tenants (default 1024)")
    String maxWaitingRequests;

    @Option(names = "--max-waiting-tokens", paramLabel = "N", description = "admission: queued prompt tokens, all tenants (default 1048576)")
    String maxWaitingTokens;

    @Option(names = "--max-waiting-requests-per-tenant", paramLabel = "N", description = "admission: queued requests per tenant (default 256)")
    String maxWaitingRequestsPerTenant;

    @Option(names = "--max-waiting-tokens-per-tenant", paramLabel = "N", description = "admission: queued prompt tokens per tenant (default 262144)")
    String maxWaitingTokensPerTenant;

    @Option(names = "--max-body-bytes", paramLabel = "SIZE", description = "largest request body, e.g. 4MiB (default 4MiB)")
    String maxBodyBytes;

    @Option(names = "--keys-file", paramLabel = "FILE", description = "API keys file (default: none, no auth; the tenant is the request's user)")
    String keysFile;

    @Option(names = "--drain-timeout", paramLabel = "DURATION", description = "on SIGTERM, how long in-flight requests may finish (default 30s)")
    String drainTimeout;

    @Option(names = "--synthetic", paramLabel = "RATE", description = "frontend benchmark: no model, RATE tokens/s per stream (default 0 = off)")
    String synthetic;

    @Override
    public Integer call() throws Exception {
        ConfigLoader.Resolved resolved;
        try {
            resolved = ConfigLoader.load(defaults(), System.getenv(), flags(), config);
        } catch (ConfigException e) {
            System.err.println("chunkserve: " + e.getMessage());
            return 2;
        }
        resolved.warnings().forEach(System.err::println);
        System.out.println(resolved.describe());
        ServiceConfig cfg = resolved.config();
        Server server = Server.start(cfg);
        io.vertx.core.Vertx vx = server.context().vertx();
        System.err.println("chunkserve: network transport " + Server.transportName(vx)
                + (vx.isNativeTransportEnabled() ? "" : " (" + vx.unavailableNativeTransportCause() + ")") + ", " + Server.httpInstances() + " HTTP event loops");
        if (server.worker() != null) {
            KvLayout kv = server.worker().kvLayout();
            System.err.printf("chunkserve: KV cache %s, %d chunks of %d tokens (%d tokens)%n", kv.dtype().name().toLowerCase(Locale.ROOT),
                    server.worker().kvChunks(), kv.chunkSize(), (long) server.worker().kvChunks() * kv.chunkSize());
        }
        System.out.printf("chunkserve: serving %s on http://%s:%d%n", server.context().bridge().modelName(), cfg.host(), server.port());
        System.out.flush();
        GracefulShutdown.install(server, cfg.drainTimeout()).awaitStopped();
        return 0;
    }

    /** The built-in defaults: the demo model, ports 8080 / 50051 (the Kubernetes manifests' tests check against them). */
    public static ServiceConfig defaults() {
        return ServiceConfig.defaults(WorkerConfig.defaults(Defaults.home().resolve(DEMO_MODEL)), "0.0.0.0", 8080, 50051);
    }

    /** The flags given, by setting. */
    Map<Setting, String> flags() {
        Map<Setting, String> m = new EnumMap<>(Setting.class);
        put(m, Setting.MODEL, model);
        put(m, Setting.HOST, host);
        put(m, Setting.PORT, port);
        put(m, Setting.GRPC_PORT, grpcPort);
        put(m, Setting.CHUNK_SIZE, chunkSize);
        put(m, Setting.KV_BYTES, kvBytes);
        put(m, Setting.KV_DTYPE, kvDtype);
        put(m, Setting.DEVICE, device);
        put(m, Setting.THREADS, threads);
        put(m, Setting.SCHEDULER, scheduler);
        put(m, Setting.QUANTUM, quantum);
        put(m, Setting.MAX_RUNNING_SEQS, maxRunningSeqs);
        put(m, Setting.MAX_BATCH_TOKENS, maxBatchTokens);
        put(m, Setting.MAX_WAITING_REQUESTS, maxWaitingRequests);
        put(m, Setting.MAX_WAITING_TOKENS, maxWaitingTokens);
        put(m, Setting.MAX_WAITING_REQUESTS_PER_TENANT, maxWaitingRequestsPerTenant);
        put(m, Setting.MAX_WAITING_TOKENS_PER_TENANT, maxWaitingTokensPerTenant);
        put(m, Setting.MAX_BODY_BYTES, maxBodyBytes);
        put(m, Setting.KEYS_FILE, keysFile);
        put(m, Setting.DRAIN_TIMEOUT, drainTimeout);
        put(m, Setting.SYNTHETIC, synthetic);
        return m;
    }

    private static void put(Map<Setting, String> m, Setting s, String v) {
        if (v != null) m.put(s, v);
    }
}
