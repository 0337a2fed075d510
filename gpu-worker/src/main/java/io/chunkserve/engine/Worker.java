package io.chunkserve.engine;

import io.chunkserve.kv.ChunkPool;
import io.chunkserve.kv.KvLayout;
import io.chunkserve.kv.PrefixCache;
import io.chunkserve.model.Model;
import io.chunkserve.model.ModelConfig;
import io.chunkserve.runtime.ModelRunner;
import io.chunkserve.runtime.cpu.CpuKernels;
import io.chunkserve.runtime.cuda.CudaDevice;
import io.chunkserve.runtime.cuda.CudaModelRunner;
import io.chunkserve.runtime.cuda.CudaUnavailableException;
import io.chunkserve.runtime.cuda.DeviceWeights;
import io.chunkserve.runtime.cpu.CpuModelRunner;
import io.chunkserve.tokenizer.ChatTemplate;
import io.chunkserve.tokenizer.Tokenizer;

import java.util.Optional;
import java.util.function.UnaryOperator;

/**
 * Everything one model replica needs, wired together: the model, its tokenizer and chat
 * template, the CPU kernels, the KV pool and prefix cache, and the engine thread over them.
 */
public final class Worker implements AutoCloseable {
    private final WorkerConfig config;
    private final Model model;
    private final Tokenizer tokenizer;
    private final ChatTemplate chatTemplate; // may be null: the model has none
    private final CpuKernels kernels;      // null on the GPU
    private final ChunkPool pool;
    private final ModelRunner runner;
    private final CudaDevice device;       // null on the CPU
    private final Engine engine;

    private Worker(WorkerConfig config, Model model, Tokenizer tokenizer, ChatTemplate chatTemplate, CpuKernels kernels,
                   ChunkPool pool, ModelRunner runner, CudaDevice device, Engine engine) {
        this.config = config;
        this.model = model;
        this.tokenizer = tokenizer;
        this.chatTemplate = chatTemplate;
        this.kernels = kernels;
        this.pool = pool;
        this.runner = runner;
        this.device = device;
        this.engine = engine;
    }

    /** Loads the model and starts the engine; throws ModelLoadException / IllegalArgumentException with one clear line. */
    public static Worker start(WorkerConfig cfg) { return start(cfg, UnaryOperator.identity()); }

    /**
     * As {@link #start(WorkerConfig)}, with the scheduler's other parameters (lpm_max_waiting,
     * aging_limit, weights) set by {@code tune} on top of the policy and quantum {@code cfg} names.
     * For benchmarks; servers configure the scheduler through {@code cfg} alone.
     */
    public static Worker start(WorkerConfig cfg, UnaryOperator<io.chunkserve.engine.sched.SchedulerConfig> tune) {
        Model model = Model.load(cfg.modelDir());
        Tokenizer tok = null;
        CpuKernels kernels = null;
        ChunkPool pool = null;
        CudaDevice device = null;
        ModelRunner runner = null;
        try {
            tok = Tokenizer.load(cfg.modelDir());
            ChatTemplate tpl = ChatTemplate.find(cfg.modelDir()).orElse(null);
            ModelConfig mc = model.config();
            KvLayout layout = new KvLayout(mc.numLayers(), mc.numKvHeads(), mc.headDim(), cfg.chunkSize(),
                    cfg.kvDtypeFor(model.weights().embed().dtype()));
            device = openDevice(cfg.device());
            if (device != null) {
                pool = ChunkPool.indexOnly(layout, cfg.kvBytes());
                DeviceWeights.Precision p = DeviceWeights.Precision.forCheckpoint(model.weights().embed().dtype());
                String forced = System.getProperty("chunkserve.cuda.precision");
                if (forced != null) p = DeviceWeights.Precision.valueOf(forced.trim().toUpperCase(java.util.Locale.ROOT));
                runner = new CudaModelRunner(device, mc, DeviceWeights.upload(mc, model.weights(), p), pool, true);
            } else {
                kernels = new CpuKernels(cfg.threads());
                kernels.warmUp(); // JIT-compile the kernels now, not on the first requests
                pool = ChunkPool.ofBytes(layout, cfg.kvBytes());
                runner = new CpuModelRunner(mc, model.cpuWeights(), kernels);
            }
            PrefixCache cache = new PrefixCache(pool);
            Engine engine = new Engine(runner, cache, tok, cfg.engine(),
                    tune.apply(io.chunkserve.engine.sched.SchedulerConfig.of(cfg.scheduler()).withQuantum((long) cfg.quantum())));
            return new Worker(cfg, model, tok, tpl, kernels, pool, runner, device, engine);
        } catch (RuntimeException e) {
            if (runner != null) runner.close();
            if (device != null) device.close();
            if (pool != null) pool.close();
            if (kernels != null) kernels.close();
            if (tok != null) tok.close();
            model.close();
            throw e;
        }
    }

    /**
     * The device for "cuda" (or {@link io.chunkserve.runtime.cuda.CudaUnavailableException}, one line) and for
     * "auto" when CUDA and the kernels are there; null for the CPU.
     */
    private static CudaDevice openDevice(String device) {
        if (device.equals("cpu")) return null;
        boolean kernels = io.chunkserve.kernels.KernelImages.model().isPresent();
        if (device.equals("cuda")) {
            if (!kernels) throw new CudaUnavailableException("CUDA unavailable: this build carries no model kernels (built without nvcc)");
            return CudaDevice.open();
        }
        if (!kernels) return null;
        CudaDevice.Probe p = CudaDevice.tryOpen();
        return p.available() ? p.device() : null;
    }

    public WorkerConfig config() { return config; }

    /** The model runner (CPU or CUDA). */
    public ModelRunner runner() { return runner; }

    public Model model() { return model; }

    public Tokenizer tokenizer() { return tokenizer; }

    public Optional<ChatTemplate> chatTemplate() { return Optional.ofNullable(chatTemplate); }

    public Engine engine() { return engine; }

    /** The KV cache's layout: its element type is the configured one, or the checkpoint's by {@link WorkerConfig#autoKvDtype}. */
    public KvLayout kvLayout() { return pool.layout(); }

    /** Chunks in the KV pool. */
    public int kvChunks() { return pool.numChunks(); }

    @Override
    public void close() {
        engine.close();
        runner.close();
        if (device != null) device.close();
        pool.close();
        if (kernels != null) kernels.close();
        tokenizer.close();
        model.close();
    }
}
