package io.chunkserve.service.config;

import io.chunkserve.engine.EngineConfig;
import io.chunkserve.engine.WorkerConfig;
import io.chunkserve.engine.sched.SchedulerConfig;
import io.chunkserve.model.DType;
import io.chunkserve.service.ServiceConfig;

import java.nio.file.Path;
import java.util.Locale;
import java.util.Set;
import java.util.function.BiFunction;
import java.util.function.Function;

/**
 * Every setting {@code chunkserve serve} takes, one name for all three sources: the config-file
 * key ({@code kv_bytes}; {@code kv-bytes} works too), the environment variable
 * ({@code CHUNKSERVE_KV_BYTES}) and the flag ({@code --kv-bytes}). Each knows how to parse its
 * text into a {@link ServiceConfig} and how to print the value back.
 */
public enum Setting {
    MODEL("model", "Hugging Face model directory (default: the bundled demo model)",
            (c, v) -> c.withWorker(worker(c.worker(), Path.of(v), c.worker().threads(), c.worker().kvDtype())),
            c -> String.valueOf(c.worker().modelDir())),
    HOST("host", "listen address", (c, v) -> c.withHost(v.trim()), ServiceConfig::host),
    PORT("port", "HTTP port: OpenAI API, WebSocket, /metrics, /health, /ready (0 = any free port)",
            (c, v) -> c.withPorts(intIn(v, 0, 65535), c.grpcPort()), c -> String.valueOf(c.port())),
    GRPC_PORT("grpc_port", "gRPC port (0 = any free port, -1 = off)",
            (c, v) -> c.withPorts(c.port(), intIn(v, -1, 65535)), c -> String.valueOf(c.grpcPort())),
    CHUNK_SIZE("chunk_size", "KV chunk size in tokens: 16, 32, 64 or 128",
            (c, v) -> c.withWorker(c.worker().withChunkSize(chunkSize(v))), c -> String.valueOf(c.worker().chunkSize())),
    KV_BYTES("kv_bytes", "KV cache pool size, e.g. 512MiB, 2GiB",
            (c, v) -> c.withWorker(c.worker().withKvBytes(positiveBytes(v))), c -> Units.formatBytes(c.worker().kvBytes())),
    KV_DTYPE("kv_dtype", "KV element type: auto (f32 for an f32 checkpoint, else bf16), f32, f16 or bf16",
            (c, v) -> c.withWorker(worker(c.worker(), c.worker().modelDir(), c.worker().threads(), kvDtype(v))),
            c -> c.worker().kvDtype() == null ? "auto" : c.worker().kvDtype().name().toLowerCase(Locale.ROOT)),
    DEVICE("device", "where the model runs: cpu, cuda (fails when there is no usable GPU) or auto",
            (c, v) -> c.withWorker(c.worker().withDevice(v)), c -> c.worker().device()),
    THREADS("threads", "CPU compute threads (default: the number of cores)",
            (c, v) -> c.withWorker(worker(c.worker(), c.worker().modelDir(), intIn(v, 1, 4096), c.worker().kvDtype())),
            c -> String.valueOf(c.worker().threads())),
    SCHEDULER("scheduler", "local scheduling policy: dlpm, vtc, lpm or fcfs",
            (c, v) -> c.withWorker(c.worker().withScheduler(policy(v), c.worker().quantum())), c -> c.worker().scheduler()),
    QUANTUM("quantum", "DLPM quantum Q_u in cost units (prompt tokens cost 1, output tokens 2)",
            (c, v) -> c.withWorker(c.worker().withScheduler(c.worker().scheduler(), longIn(v, 1, 1L << 40))),
            c -> String.valueOf((long) c.worker().quantum())),
    MAX_RUNNING_SEQS("max_running_seqs", "sequences decoded together in one step",
            (c, v) -> c.withWorker(c.worker().withEngine(engine(intIn(v, 1, 1 << 20), c.worker().engine().maxBatchTokens()))),
            c -> String.valueOf(c.worker().engine().maxRunningSequences())),
    MAX_BATCH_TOKENS("max_batch_tokens", "tokens one forward step may process (decodes + prefill chunks)",
            (c, v) -> c.withWorker(c.worker().withEngine(engine(c.worker().engine().maxRunningSequences(), intIn(v, 1, 1 << 24)))),
            c -> String.valueOf(c.worker().engine().maxBatchTokens())),
    MAX_WAITING_REQUESTS("max_waiting_requests", "admission: requests in flight (accepted, not finished) on all front ends, all tenants (over it: 429)",
            (c, v) -> c.withLimits(c.maxBodyBytes(), intIn(v, 1, Integer.MAX_VALUE), c.maxWaitingTokens(),
                    c.maxWaitingRequestsPerTenant(), c.maxWaitingTokensPerTenant()),
            c -> String.valueOf(c.maxWaitingRequests())),
    MAX_WAITING_TOKENS("max_waiting_tokens", "admission: prompt tokens of the requests in flight, all tenants",
            (c, v) -> c.withLimits(c.maxBodyBytes(), c.maxWaitingRequests(), longIn(v, 1, Long.MAX_VALUE),
                    c.maxWaitingRequestsPerTenant(), c.maxWaitingTokensPerTenant()),
            c -> String.valueOf(c.maxWaitingTokens())),
    MAX_WAITING_REQUESTS_PER_TENANT("max_waiting_requests_per_tenant", "admission: requests in flight per tenant",
            (c, v) -> c.withLimits(c.maxBodyBytes(), c.maxWaitingRequests(), c.maxWaitingTokens(),
                    intIn(v, 1, Integer.MAX_VALUE), c.maxWaitingTokensPerTenant()),
            c -> String.valueOf(c.maxWaitingRequestsPerTenant())),
    MAX_WAITING_TOKENS_PER_TENANT("max_waiting_tokens_per_tenant", "admission: prompt tokens in flight per tenant",
            (c, v) -> c.withLimits(c.maxBodyBytes(), c.maxWaitingRequests(), c.maxWaitingTokens(),
                    c.maxWaitingRequestsPerTenant(), longIn(v, 1, Long.MAX_VALUE)),
            c -> String.valueOf(c.maxWaitingTokensPerTenant())),
    MAX_BODY_BYTES("max_body_bytes", "largest accepted request body, e.g. 4MiB (over it: 413)",
            (c, v) -> c.withLimits(positiveBytes(v), c.maxWaitingRequests(), c.maxWaitingTokens(),
                    c.maxWaitingRequestsPerTenant(), c.maxWaitingTokensPerTenant()),
            c -> Units.formatBytes(c.maxBodyBytes())),
    KEYS_FILE("keys_file", "API keys file (unset: no auth, the tenant is the request's user field)",
            (c, v) -> c.withKeysFile(v.isBlank() ? null : Path.of(v.trim())),
            c -> c.keysFile() == null ? "(none: no auth)" : c.keysFile().toString()),
    DRAIN_TIMEOUT("drain_timeout", "on SIGTERM, how long in-flight requests may finish, e.g. 30s, 2m",
            (c, v) -> c.withDrainTimeout(Units.parseDuration(v)), c -> Units.formatDuration(c.drainTimeout())),
    SYNTHETIC("synthetic", "frontend benchmark mode: no model, RATE tokens/s per stream (0 = off)",
            (c, v) -> c.withSynthetic(rate(v)), c -> c.synthetic() == 0 ? "0 (off)" : String.valueOf(c.synthetic()));

    private final String key;
    private final String description;
    private final BiFunction<ServiceConfig, String, ServiceConfig> apply;
    private final Function<ServiceConfig, String> show;

    Setting(String key, String description, BiFunction<ServiceConfig, String, ServiceConfig> apply, Function<ServiceConfig, String> show) {
        this.key = key;
        this.description = description;
        this.apply = apply;
        this.show = show;
    }

    /** The config-file key, e.g. {@code kv_bytes}. */
    public String key() { return key; }

    /** The environment variable, e.g. {@code CHUNKSERVE_KV_BYTES}. */
    public String env() { return "CHUNKSERVE_" + key.toUpperCase(Locale.ROOT); }

    /** The flag, e.g. {@code --kv-bytes}. */
    public String flag() { return "--" + key.replace('_', '-'); }

    public String description() { return description; }

    /** {@code cfg} with this setting parsed from {@code text}; IllegalArgumentException when it is invalid. */
    public ServiceConfig apply(ServiceConfig cfg, String text) { return apply.apply(cfg, text); }

    /** The value in {@code cfg}, as the start-up block prints it. */
    public String show(ServiceConfig cfg) { return show.apply(cfg); }

    /** The setting for a config-file key ({@code kv_bytes} or {@code kv-bytes}), or null. */
    public static Setting byKey(String key) {
        String k = key.trim().toLowerCase(Locale.ROOT).replace('-', '_');
        for (Setting s : values()) if (s.key.equals(k)) return s;
        return null;
    }

    /** Every config-file key, in declaration order. */
    public static java.util.List<String> keys() {
        return java.util.Arrays.stream(values()).map(Setting::key).toList();
    }

    // --- parsers: each throws IllegalArgumentException saying what a good value looks like ---

    private static final Set<Integer> CHUNK_SIZES = Set.of(16, 32, 64, 128);

    static long longIn(String v, long lo, long hi) {
        long x;
        try {
            x = Long.parseLong(v.trim().replace("_", ""));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + v + "' is not an integer");
        }
        if (x < lo || x > hi) throw new IllegalArgumentException(x + " is out of range " + lo + ".." + hi);
        return x;
    }

    static int intIn(String v, int lo, int hi) { return (int) longIn(v, lo, hi); }

    private static int chunkSize(String v) {
        int c = intIn(v, 1, 1 << 16);
        if (!CHUNK_SIZES.contains(c)) throw new IllegalArgumentException(c + " is not one of 16, 32, 64, 128");
        return c;
    }

    private static long positiveBytes(String v) {
        long b = Units.parseBytes(v);
        if (b < 1) throw new IllegalArgumentException("must be > 0");
        return b;
    }

    private static String policy(String v) {
        String p = v.trim().toLowerCase(Locale.ROOT);
        if (!SchedulerConfig.POLICIES.contains(p)) {
            throw new IllegalArgumentException("'" + v + "' is not one of " + String.join(", ", SchedulerConfig.POLICIES));
        }
        return p;
    }

    private static double rate(String v) {
        double r;
        try {
            r = Double.parseDouble(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + v + "' is not a number (tokens per second per stream)");
        }
        if (!(r >= 0 && r <= 100_000)) throw new IllegalArgumentException(v.trim() + " is out of range 0..100000");
        return r;
    }

    private static EngineConfig engine(int maxRunning, int maxBatchTokens) {
        return new EngineConfig(maxRunning, maxBatchTokens);
    }

    /** "auto" → null (the worker picks by the checkpoint), else a dtype name. */
    private static DType kvDtype(String v) {
        String s = v.trim();
        return s.equalsIgnoreCase("auto") ? null : DType.parse(s);
    }

    private static WorkerConfig worker(WorkerConfig w, Path modelDir, int threads, DType dtype) {
        return new WorkerConfig(modelDir, threads, w.chunkSize(), w.kvBytes(), dtype, w.engine(), w.scheduler(), w.quantum(), w.device());
    }
}
