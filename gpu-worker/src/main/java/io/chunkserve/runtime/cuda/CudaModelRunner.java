package io.chunkserve.runtime.cuda;

import io.chunkserve.kernels.KernelImages;
import io.chunkserve.kv.ChunkPool;
import io.chunkserve.kv.KvLayout;
import io.chunkserve.model.DType;
import io.chunkserve.model.ModelConfig;
import io.chunkserve.runtime.ForwardBatch;
import io.chunkserve.runtime.ModelRunner;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUmodule;

import java.util.Arrays;

import static jcuda.driver.JCudaDriver.cuMemcpyDtoDAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuModuleUnload;

/**
 * The Llama-family forward pass on one CUDA device, with the CPU backend's semantics (chunked prefill, prefix
 * reuse through the chunk ids of {@link io.chunkserve.kv.PrefixCache}, forks through {@link ChunkPool.Mirror}):
 * the K/V live in device slabs indexed by the host pool's chunk ids; the host pool only keeps the bookkeeping.
 *
 * <p>Per step: the batch's sequences are reordered (single-token sequences first), their token ids, positions,
 * KV slots, attention work units and chunk tables go to the device in one copy; then embedding, and per layer
 * RMSNorm → fused q|k|v GEMM → epilogue (bias, q/k norm, RoPE, KV append) → attention → o GEMM accumulating
 * into the fp32 residual → RMSNorm → fused gate|up GEMM → SiLU·mul → down GEMM accumulating into the residual;
 * then the final norm and LM head for the sequences that want logits only, the argmax on the device for plain
 * greedy ones (their ids come back, not their logits) and the logits rows of the others. Attention: the
 * two-phase decode kernels ({@link CudaAttention}) for the single-token sequences when the KV type is 16-bit,
 * the head dim 64 or 128 and the precision bf16; the generic causal kernel (model.cu) for everything else.
 *
 * <p>Matrix multiplies: cuBLAS ({@link Cublas}, fp32 output, the residual add fused as beta = 1), or model.cu's skinny
 * tensor-core kernels for bf16 GEMMs of ≤ 64 tokens where they measured faster ({@link SkinnyGemm#prefers}); at
 * 32 < T ≤ 64 the gate|up GEMM also applies SiLU·mul in its epilogue (interleaved gate|up rows, no fp32 gate|up
 * buffer). Kernels launch through {@link Launcher} ({@code java.lang.foreign} into libcuda, nothing allocated per
 * launch); on sm_90 the model.cu kernels and the attention partials launch as programmatic dependents of the kernel
 * before them (each waits in {@code griddepcontrol.wait} before touching its data).
 *
 * <p>All work runs on the legacy default stream; one thread (the engine's) calls {@link #forward}.
 */
public final class CudaModelRunner implements ModelRunner, ChunkPool.Mirror {

    private final CudaDevice device;
    private final ModelConfig cfg;
    private final DeviceWeights w;
    private final ChunkPool pool;
    private final KvLayout layout;
    private final DeviceWeights.Precision precision;
    private final boolean ownsWeights;
    private final CUmodule module;
    private final long fEmbed, fNorm, fRope, fPost, fAttn, fSilu, fArgmax, fSample, fPenalize, fPenScatter, fLogprobs, fConvert;
    // rows drawn with temperature / top_k / top_p / min_p on the device (-Dchunkserve.cuda.deviceSampling=false: on the host)
    private final boolean deviceSampling = !"false".equals(System.getProperty("chunkserve.cuda.deviceSampling"));
    // penalties of the rows it picks applied on the device (cs_penalize; -Dchunkserve.cuda.devicePenalties=false: such rows on the host)
    private final boolean devicePenalties = !"false".equals(System.getProperty("chunkserve.cuda.devicePenalties"));
    private boolean penaltiesOn = true;
    private long penalizedRows;
    // the lists kept on the device across steps, only what changed uploaded (PenaltyArena; -Dchunkserve.cuda.residentPenalties=false:
    // every penalized row's whole list uploaded every step, as before)
    private volatile boolean residentPenalties = !"false".equals(System.getProperty("chunkserve.cuda.residentPenalties"));
    private final PenaltyArena penArena = new PenaltyArena(0);
    private DeviceBuffer penArenaBuf;
    private long inlineEntries;   // entries uploaded whole with the step's ints (not resident)
    // log-probabilities of the rows it picks reported from the device (cs_logprobs; -Dchunkserve.cuda.deviceLogprobs=false: such rows on the host)
    private final boolean deviceLogprobs = !"false".equals(System.getProperty("chunkserve.cuda.deviceLogprobs"));
    private boolean logprobsOn = true;
    private long logprobRows;
    private static final int LP_STRIDE = 2 + 2 * ForwardBatch.MAX_TOP_LOGPROBS;   // model.cu CS_LP_STRIDE
    /** The q/k/v epilogue with a head in registers (head dims 64 and 128; -Dchunkserve.cuda.postReg=false: the loop kernel). */
    private final boolean postReg;
    /** RMSNorm threads a block (-Dchunkserve.cuda.normThreads; 0: by the hidden size). */
    private final int normThreadsProp = Integer.getInteger("chunkserve.cuda.normThreads", 0);
    private final Launcher k = new Launcher();
    private final DeviceKvCache kvCache;          // when the two-phase kernels apply: its slabs are the KV
    private final DeviceBuffer[] kSlabs, vSlabs;
    private final CudaAttention twoPhase;         // null when it does not apply
    private final Cublas blas;
    private final SkinnyGemm skinny;              // bf16 GEMMs of ≤ 32 tokens (where it wins); null in the exact mode or when disabled
    private final DeviceBuffer invFreq;
    private final int qt;                         // query tokens per generic-attention unit
    private final int attnThreads;                // 64 rows × max(1, D/32) threads per row (model.cu AttnShape)
    private final float scaleLog2;
    private boolean useTwoPhase = true;
    // the model.cu kernels of a layer launch as programmatic dependents (sm_90+; -Dchunkserve.cuda.pdl=false: plain)
    private final boolean pdl;
    // -Dchunkserve.cuda.fuseSilu=false: the gate|up GEMM writes fp32 and the SiLU·mul kernel runs (A/B)
    private final boolean fuseSiluMul = !"false".equals(System.getProperty("chunkserve.cuda.fuseSilu"));
    private final boolean overlap = !"false".equals(System.getProperty("chunkserve.cuda.overlap"));
    /**
     * Diagnostics only (CudaServeBench --skip-ab): decode-only steps leave out the launches of the ops in this mask
     * ({@link #SKIP_NAMES}; their outputs keep stale values, so the tokens are garbage), to measure what each op adds
     * to the step in the dependent-launch chain, which events around each op overstate. 0 = compute everything.
     */
    private volatile int skipOps;
    /** The ops {@link #setSkipOps} can leave out, bit i = name i. */
    public static final java.util.List<String> SKIP_NAMES = java.util.List.of("attn", "post", "norm", "qkv", "o", "gu", "down", "head", "merge", "private");
    private Runnable pendingHostWork;             // the caller's host work of this step, until it ran
    private long hostWorkNs;                      // its time in this step (left out of the enqueue time)
    private double hostWorkMs = 0.3;              // its recent time (moving average; a first guess before any)
    // lowest GPU ms per layer seen in decode steps of the current batch size (a step whose host work ran early
    // may have left the device idle, which its ev0..ev1 time includes: the minimum does not feed on that)
    private double gpuMsPerLayer;
    private int gpuMsBatch;

    // scratch, grown as needed
    private DeviceBuffer dInts, x, hn, qkv, q16, att, att16, gu, act, cosT, sinT, lastN;
    private final DeviceBuffer[] lg = new DeviceBuffer[2], ids = new DeviceBuffer[2];   // per step parity
    private final DeviceBuffer[] penSaved = new DeviceBuffer[2];   // per parity: the raw logits cs_penalize replaced
    private final DeviceBuffer[] lpOut = new DeviceBuffer[2];      // per parity: cs_logprobs' results
    private int[] hostInts = new int[1024];
    private int[] idsHost = new int[16];
    private long steps;
    private boolean pipeline = !"false".equals(System.getProperty("chunkserve.cuda.pipeline"));
    private final PinnedStage stage = new PinnedStage(1 << 16);
    private final java.util.ArrayDeque<Launched> launched = new java.util.ArrayDeque<>();
    private long launches;
    private int[] prevGreedyIndex = new int[0];   // the last launched step's rows → index of their pick in its ids buffer
    // per step, three in rotation: collecting step n reads step n-1's end while step n+1 has recorded its own
    private final jcuda.driver.CUevent[] ev0 = events(3), ev1 = events(3), evDone = events(3);
    private int lastEv = -1;   // the event slot of the last launched step
    private int lastDecodeSize = -1;   // its batch size when it was decode-only
    // B → {steps, gpu ms, host enqueue ms, prep ms, host work ms, engine ms}
    private final java.util.Map<Integer, double[]> decodeTiming = new java.util.HashMap<>();
    private long entryNs, prepNs, lastReturnNs, engineNs;   // this step's entry, its prep before the first launch; the last return
    private final OpProfile ops = new OpProfile(); // benchmarks: per-op GPU time of decode steps

    /**
     * @param pool the engine's pool (usually {@link ChunkPool#indexOnly}); its layout's dtype is the device KV
     *             type (f32, f16 or bf16); this runner registers as its mirror
     * @param ownsWeights whether {@link #close()} frees {@code w}
     */
    public CudaModelRunner(CudaDevice device, ModelConfig cfg, DeviceWeights w, ChunkPool pool, boolean ownsWeights) {
        this.device = device;
        this.cfg = cfg;
        this.w = w;
        this.pool = pool;
        this.layout = pool.layout();
        this.precision = w.precision();
        this.ownsWeights = ownsWeights;
        int hd = cfg.headDim();
        if (hd != 16 && hd != 32 && hd != 64 && hd != 128) {
            throw new IllegalArgumentException("the CUDA backend supports head dims 16, 32, 64 and 128, not " + hd);
        }
        if (cfg.groupSize() > 64) throw new IllegalArgumentException("the CUDA backend supports up to 64 query heads per KV head");
        if (layout.layers() != cfg.numLayers() || layout.kvHeads() != cfg.numKvHeads() || layout.headDim() != hd) {
            throw new IllegalArgumentException("KV layout " + layout + " does not fit the model");
        }
        byte[] image = KernelImages.model().orElseThrow(() ->
                new CudaUnavailableException("CUDA unavailable: this build carries no model kernels (kernels module built without nvcc)"));
        device.makeCurrent();
        module = device.loadModule(image);
        String a = precision.suffix, kv = kvName(layout.dtype());
        fEmbed = Launcher.handle(CudaDevice.function(module, "cs_embed_" + a));
        fNorm = Launcher.handle(CudaDevice.function(module, "cs_rmsnorm_" + a));
        fRope = Launcher.handle(CudaDevice.function(module, "cs_rope_table"));
        postReg = (hd == 64 || hd == 128) && !"false".equals(System.getProperty("chunkserve.cuda.postReg"));
        fPost = Launcher.handle(CudaDevice.function(module, postReg ? "cs_qkv_post_reg_" + kv + "_d" + hd : "cs_qkv_post_" + kv));
        fAttn = Launcher.handle(CudaDevice.function(module, "cs_attn_prefill_" + kv + "_" + a + "_d" + hd));
        fSilu = Launcher.handle(CudaDevice.function(module, "cs_silu_mul_" + a));
        fArgmax = Launcher.handle(CudaDevice.function(module, "cs_argmax"));
        fSample = Launcher.handle(CudaDevice.function(module, "cs_sample"));
        fPenalize = Launcher.handle(CudaDevice.function(module, "cs_penalize"));
        fPenScatter = Launcher.handle(CudaDevice.function(module, "cs_pen_scatter"));
        fLogprobs = Launcher.handle(CudaDevice.function(module, "cs_logprobs"));
        fConvert = layout.dtype() == DType.F16 ? Launcher.handle(CudaDevice.function(module, "cs_convert_f16_bf16")) : 0;
        skinny = precision == DeviceWeights.Precision.BF16 && !"false".equals(System.getProperty("chunkserve.cuda.skinnyGemm"))
                ? new SkinnyGemm(module, device) : null;
        pdl = device.computeCapability() >= 90 && !"false".equals(System.getProperty("chunkserve.cuda.pdl"));
        qt = Math.max(1, 64 / cfg.groupSize());
        attnThreads = 64 * (hd >= 64 ? hd / 32 : 1);
        scaleLog2 = (float) (1.0 / Math.sqrt(hd) / Math.log(2.0));
        boolean eligible = precision == DeviceWeights.Precision.BF16 && layout.dtype() != DType.F32 && (hd == 64 || hd == 128)
                && KernelImages.attention().isPresent();
        DeviceKvCache cache = null;
        CudaAttention tp = null;
        int layers = cfg.numLayers();
        kSlabs = new DeviceBuffer[layers];
        vSlabs = new DeviceBuffer[layers];
        try {
            if (eligible) {
                cache = new DeviceKvCache(layout, pool.numChunks());
                tp = new CudaAttention(device, cache, cfg.numHeads());
                for (int l = 0; l < layers; l++) {
                    kSlabs[l] = cache.keys(l);
                    vSlabs[l] = cache.values(l);
                }
            } else {
                long slab = layout.chunkElements() * pool.numChunks() * layout.dtype().bytes();
                for (int l = 0; l < layers; l++) {
                    kSlabs[l] = DeviceBuffer.allocate(slab);
                    vSlabs[l] = DeviceBuffer.allocate(slab);
                }
            }
            blas = new Cublas();
        } catch (RuntimeException e) {
            if (tp != null) tp.close();
            if (cache != null) cache.close();
            else for (int l = 0; l < layers; l++) {
                if (kSlabs[l] != null) kSlabs[l].close();
                if (vSlabs[l] != null) vSlabs[l].close();
            }
            cuModuleUnload(module);
            throw e;
        }
        kvCache = cache;
        twoPhase = tp;
        // its previous kernel is the q/k/v epilogue, which triggers early (-Dchunkserve.cuda.dependentPartials=false: plain)
        if (tp != null) tp.dependentPartials(pdl && !"false".equals(System.getProperty("chunkserve.cuda.dependentPartials")));
        if (tp != null) tp.stageUploads(stage);
        if (tp != null) tp.profile(ops);
        invFreq = DeviceBuffer.allocate(4L * (hd / 2));
        invFreq.upload(cfg.rope().inverseFrequencies(hd));
        pool.setMirror(this);
    }

    private static jcuda.driver.CUevent[] events(int n) {
        jcuda.driver.CUevent[] e = new jcuda.driver.CUevent[n];
        for (int i = 0; i < n; i++) e[i] = CudaDevice.event();
        return e;
    }

    private static String kvName(DType d) {
        return switch (d) {
            case F32 -> "f32";
            case F16 -> "f16";
            case BF16 -> "bf16";
        };
    }

    @Override
    public ModelConfig config() { return cfg; }

    public DeviceWeights weights() { return w; }

    public CudaDevice device() { return device; }

    /** Whether bf16 GEMMs of up to 32 tokens may use model.cu's skinny kernel ({@link SkinnyGemm#prefers}; else cuBLAS). */
    public boolean skinnyGemm() { return skinny != null; }

    /** model.cu's skinny GEMMs (benchmarks: their options A/B in one process); null when not used. */
    SkinnyGemm skinny() { return skinny; }

    /** The GEMM policy in words (benchmark output). */
    public String gemmPolicy() { return skinny != null ? skinny.describe() : "cuBLAS"; }

    /** Diagnostics: the ops (bits of {@link #SKIP_NAMES}) that decode-only steps leave out; see the field. */
    public void setSkipOps(int mask) { skipOps = mask; }

    /** Whether the two-phase decode kernels serve single-token sequences (they apply: bf16, 16-bit KV, D 64/128). */
    public boolean twoPhaseActive() { return twoPhase != null && useTwoPhase; }

    /** Tests and benchmarks: route single-token sequences through the generic kernel instead. */
    public void setTwoPhase(boolean on) { useTwoPhase = on; }

    /** The two-phase kernels' current plan (null when they do not apply or ran no step yet). */
    /** The two-phase partials kernel variant and its resident blocks per multiprocessor, or "none". */
    public String attentionKernel() {
        return twoPhase == null ? "none" : twoPhase.variant() + ", " + twoPhase.blocksPerMultiprocessor() + " blocks an SM, warp items "
                + new String[] {"off", "auto", "always"}[twoPhase.warpItems()] + ", private split "
                + (twoPhase.privateSplit() == CudaPlan.SPLIT_AUTO ? "auto" : twoPhase.privateSplit() == CudaPlan.SPLIT_OFF ? "off" : String.valueOf(twoPhase.privateSplit()))
                + (twoPhase.plan() == null ? "" : " (last plan: " + twoPhase.plan() + ")");
    }

    public CudaPlan attentionPlan() { return twoPhase == null ? null : twoPhase.plan(); }

    /** Benchmarks: the two-phase plans' warp item mode ({@link CudaPlan#WARP_OFF}, {@code WARP_AUTO}, {@code WARP_ALWAYS}). */
    public void attentionWarpItems(int mode) {
        if (twoPhase != null) twoPhase.warpItems(mode);
    }

    /** The two-phase merge kernel ({@link CudaAttention#MERGE_VARIANTS}); benchmarks' A/B. */
    public void attentionMergeVariant(String name) {
        if (twoPhase != null) twoPhase.mergeVariant(name);
    }

    public String attentionMergeVariant() { return twoPhase == null ? "" : twoPhase.mergeVariant(); }

    /**
     * Diagnostics only: the two-phase partials' loads-only (1) or math-only (2) instance, or the other of f64 / f64z (3);
     * 0 = the kernel. Applied to decode-only steps (as {@link #setSkipOps}); an instance that was not built is refused here.
     */
    void attentionPartialsDiag(int mode) {
        if (twoPhase != null) {
            twoPhase.partialsDiag(mode); // throws when that instance was not built
            twoPhase.partialsDiag(0);    // the step in progress keeps the kernel; enqueue picks the mode per step
        }
        partialsDiag = mode;
    }

    private volatile int partialsDiag;

    /** Benchmarks: the two-phase plans' private list split ({@link CudaPlan#SPLIT_AUTO}, {@code SPLIT_OFF} or N ≥ 2). */
    public void attentionPrivateSplit(int mode) {
        if (twoPhase != null) twoPhase.privateSplit(mode);
    }

    /** The two-phase plans' private list split mode (−1 without two-phase kernels). */
    public int attentionPrivateSplit() { return twoPhase == null ? -1 : twoPhase.privateSplit(); }

    /** Benchmarks: fixes the two-phase plan's piece size (tiles; 0 = the cost model's choice). */
    public void forceAttentionTiles(int tiles) {
        if (twoPhase != null) twoPhase.forceTilesPerPiece(tiles);
    }

    /** Forward steps run. */
    public long steps() { return steps; }

    /** Device bytes of the KV slabs. */
    public long kvBytes() {
        long n = 0;
        for (int l = 0; l < kSlabs.length; l++) n += kSlabs[l].bytes() + vSlabs[l].bytes();
        return n;
    }

    @Override
    public void copyChunk(int src, int dst) {
        device.makeCurrent();
        long bytes = layout.chunkElements() * layout.dtype().bytes();
        for (int l = 0; l < kSlabs.length; l++) {
            cuMemcpyDtoDAsync(kSlabs[l].at(dst * bytes), kSlabs[l].at(src * bytes), bytes, null);
            cuMemcpyDtoDAsync(vSlabs[l].at(dst * bytes), vSlabs[l].at(src * bytes), bytes, null);
        }
    }

    private static DeviceBuffer ensure(DeviceBuffer b, long bytes) {
        if (b != null && b.bytes() >= bytes) return b;
        long size = Math.max(bytes, b == null ? 0 : b.bytes() * 3 / 2);
        if (b != null) b.close();
        return DeviceBuffer.allocate(size);
    }

    private int[] ints(int n) {
        if (hostInts.length < n) hostInts = new int[Math.max(n, hostInts.length * 2)];
        return hostInts;
    }

    @Override
    public void forward(ForwardBatch b, ChunkPool pool, float[] logits) {
        forward(b, pool, logits, null);
    }

    /** Whether the engine's host work runs while a step computes (default true; -Dchunkserve.cuda.overlap=false: before it). */
    @Override
    public boolean overlapsHostWork() { return overlap; }

    /** Steps are queued one ahead of their results (-Dchunkserve.cuda.pipeline=false: each step waits for the one before). */
    @Override
    public boolean pipelines() { return pipeline; }

    /** Rows marked for a draw are drawn on the device ({@code cs_sample}; {@link io.chunkserve.sampling.SamplingReference}). */
    @Override
    public boolean samplesOnDevice() { return deviceSampling && samplingOn; }

    private boolean samplingOn = true;

    /**
     * Rows it picks that are marked with penalties ({@link ForwardBatch#markPenalties}) are penalized on the device
     * ({@code cs_penalize}, {@link io.chunkserve.sampling.PenaltyList}) before their argmax or draw.
     */
    @Override
    public boolean penalizesOnDevice() { return devicePenalties && penaltiesOn; }

    /** Benchmarks (A/B): whether the engine hands this runner its penalized rows (read when no step is in flight). */
    public void setDevicePenalties(boolean on) { penaltiesOn = on; }

    /** Rows penalized on the device so far (checks). */
    public long penalizedRows() { return penalizedRows; }

    /**
     * Benchmarks (A/B), checks: whether penalized rows' lists stay on the device across steps (only the entries a step
     * changed go up) or go up whole every step. Set when no step is in flight.
     */
    public void setResidentPenalties(boolean on) { residentPenalties = on; }

    /**
     * Penalty entries uploaded so far: {entries of resident lists (changes and first uploads), whole resident lists
     * uploaded, entries uploaded whole with a step's ints}; and the resident lists' arena: {live lists, arena entries,
     * free entries, free blocks}.
     */
    public long[] penaltyUploads() {
        return new long[] {penArena.uploadedEntries(), penArena.fullUploads(), inlineEntries,
                penArena.liveSlots(), penArena.capacity(), penArena.freeEntries(), penArena.freeBlocks()};
    }

    /**
     * Rows it picks that are marked for log-probabilities ({@link ForwardBatch#markLogprobs}) get them from the device
     * ({@code cs_logprobs}: the picked token's and the top 0-20, of the raw logits), K + 1 pairs a row instead of the row.
     */
    @Override
    public boolean logprobsOnDevice() { return deviceLogprobs && logprobsOn; }

    /** Benchmarks (A/B): whether the engine hands this runner its rows with log-probabilities (read when no step is in flight). */
    public void setDeviceLogprobs(boolean on) { logprobsOn = on; }

    /** Rows whose log-probabilities came from the device so far (checks). */
    public long logprobRows() { return logprobRows; }

    /** Benchmarks (A/B): whether the engine hands this runner its stochastic rows (read when no step is in flight). */
    public void setDeviceSampling(boolean on) { samplingOn = on; }

    /** Benchmarks (A/B): whether engines built on this runner from now on pipeline its steps. */
    public void setPipelining(boolean on) { pipeline = on; }

    /** A step queued on the device whose results were not read yet. */
    private static final class Launched {
        ForwardBatch b;
        int parity, ev, prevEv, nLog, nGreedy, nNeed;
        int[] logSeq, penSlot, lpSeq;
        long hostNs, idsHandle, lpHandle;
        boolean ahead, profiled, empty, afterSameDecode;   // afterSameDecode: the step before was a decode-only one of this size
    }

    /**
     * Runs {@code whileRunning} (when not null) once the queued part of the step is estimated to keep the device
     * busy for as long as the host work took last time (GPU ms per layer of the last decode step × layers queued −
     * host time since the first launch), else after the last launch; always before waiting for the results.
     */
    @Override
    public void forward(ForwardBatch b, ChunkPool pool, float[] logits, Runnable whileRunning) {
        if (!launched.isEmpty()) throw new IllegalStateException("forward with launched steps not collected");
        entryNs = System.nanoTime();
        engineNs = lastReturnNs == 0 ? 0 : entryNs - lastReturnNs;
        try {
            Launched l = enqueue(b, pool, whileRunning);
            if (pendingHostWork != null) runHostWork();
            finish(l, logits);
        } finally {
            if (pendingHostWork != null) runHostWork();   // an early return or a failure: still exactly once
            lastReturnNs = System.nanoTime();
        }
    }

    @Override
    public void launch(ForwardBatch b, ChunkPool pool) {
        if (launched.size() >= 2) throw new IllegalStateException("two steps are launched already");
        entryNs = System.nanoTime();
        engineNs = lastReturnNs == 0 ? 0 : entryNs - lastReturnNs;
        launched.add(enqueue(b, pool, null));
    }

    @Override
    public void collect(ForwardBatch b, float[] logits) {
        Launched l = launched.poll();
        if (l == null || l.b != b) throw new IllegalStateException("collect of a step that is not the oldest launched");
        try {
            finish(l, logits);
        } finally {
            lastReturnNs = System.nanoTime();
        }
    }

    @Override
    public void abandon() {
        launched.clear();
        device.makeCurrent();
        device.synchronize();
    }

    private void runHostWork() {
        Runnable r = pendingHostWork;
        pendingHostWork = null;
        long t = System.nanoTime();
        r.run();
        long ns = System.nanoTime() - t;
        hostWorkNs += ns;
        hostWorkMs = hostWorkMs <= 0 ? ns / 1e6 : 0.7 * hostWorkMs + 0.3 * ns / 1e6;
    }

    /** After layersQueued layers are queued: whether the device's backlog covers the host work. */
    private boolean backlogCoversHostWork(int layersQueued, long firstLaunchNs, ForwardBatch b) {
        if (gpuMsPerLayer <= 0 || hostWorkMs <= 0 || !b.isDecodeOnly() || b.size() != gpuMsBatch) return false;
        double backlogMs = layersQueued * gpuMsPerLayer - (System.nanoTime() - firstLaunchNs) / 1e6;
        return backlogMs >= hostWorkMs + 0.02;
    }

    /** Queues a step on the device (nothing waits for it) and returns what reading its results needs. */
    private Launched enqueue(ForwardBatch b, ChunkPool pool, Runnable whileRunning) {
        try {
            return enqueueStep(b, pool, whileRunning);
        } catch (RuntimeException | Error e) {
            penArena.clear();   // this step's list changes may not have reached the device: upload every list whole next time
            throw e;
        }
    }

    private final StepInts sp = new StepInts();

    private Launched enqueueStep(ForwardBatch b, ChunkPool pool, Runnable whileRunning) {
        if (pool != this.pool) throw new IllegalArgumentException("this runner serves the pool it was built with");
        pendingHostWork = whileRunning;
        hostWorkNs = 0;
        Launched st = new Launched();
        st.b = b;
        st.ahead = !launched.isEmpty();
        int S = b.size();
        if (S == 0) {
            st.empty = true;
            return st;
        }
        if (b.hasPreviousTokens() && !st.ahead) throw new IllegalStateException("previous-step tokens with no step on the device");
        st.parity = (int) (launches & 1);
        st.ev = (int) (launches++ % 3);
        st.prevEv = lastEv;
        lastEv = st.ev;
        st.afterSameDecode = b.isDecodeOnly() && lastDecodeSize == S;
        lastDecodeSize = b.isDecodeOnly() ? S : -1;
        if (ops.isOn() && st.ahead) {
            // the per-op marks are the last queued step's: read the one before first (profiling gives up the overlap)
            Launched p = launched.peekLast();
            jcuda.driver.JCudaDriver.cuEventSynchronize(evDone[p.ev]);
            ops.finishStep(p.b.isDecodeOnly());
            p.profiled = true;
        }
        device.makeCurrent();
        sp.plan(b, cfg, layout.chunkSize(), precision.bytes, qt, twoPhase != null && useTwoPhase, prevGreedyIndex,
                deviceSampling, devicePenalties, deviceLogprobs);
        placePenaltyLists(b);
        sp.fill(b, prevGreedyIndex, penArena.deltas(), this::ints);
        uploadStepInts(st);
        ensureScratch(b);
        long hostStart = System.nanoTime();
        prepNs = hostStart - entryNs;
        int p = st.parity;
        DeviceBuffer prevIds = ids[1 - p];
        int e = st.ev;
        CudaDevice.record(ev0[e]);
        ops.reset();
        ops.mark(OpProfile.C_EMBED);
        sp.hostStart = hostStart;
        sp.p = p;
        sp.prevIds = prevIds;
        sp.e = e;
        launchLayers(b);
        int nLog = sp.nLog, nGreedy = sp.nGreedy;
        steps++;
        ops.mark(OpProfile.C_HEAD);
        // this step's rows → index of their pick, for a step queued behind it (addFromPrevious)
        if (prevGreedyIndex.length < S) prevGreedyIndex = new int[Math.max(S, 2 * prevGreedyIndex.length)];
        Arrays.fill(prevGreedyIndex, -1);
        st.nLog = nLog;
        st.nGreedy = nGreedy;
        st.nNeed = nLog - nGreedy;
        st.logSeq = sp.logSeq;
        st.penSlot = sp.penSlot;
        st.lpSeq = sp.lpSeq;
        if (nLog == 0) {
            CudaDevice.record(ev1[e]);
            CudaDevice.record(evDone[e]);
            st.hostNs = System.nanoTime() - hostStart - hostWorkNs;
            return st;
        }
        launchHead(st);
        return st;
    }

    /** Resident penalty lists: places each penalized row's list in the arena (growing its device copy), or counts inline entries. */
    private void placePenaltyLists(ForwardBatch b) {
        int S = sp.S, nPen = sp.nPen, nEnt = sp.nEnt;
        // resident penalty lists: each penalized row's list placed in the arena, the entries its device copy lacks queued
        boolean resident = nPen > 0 && residentPenalties;
        int[] penFirst = null;
        int nDelta = 0, nEntInline = resident ? 0 : nEnt;
        if (resident) {
            penFirst = new int[S];
            penArena.beginStep();
            for (int s = 0; s < S; s++) {
                if (!b.wantsLogits(s) || !b.isGreedy(s) || !b.isPenalized(s)) continue;
                Object key = b.penaltyKey(s);
                // (a row marked without a key: a list of its own for this step, uploaded whole)
                penFirst[s] = key != null
                        ? penArena.place(key, b.penaltyIds(s), b.penaltyCounts(s), b.penaltyEntries(s), b.penaltyRecords(s), b.penaltyLastEntry(s))
                        : penArena.place(new Object(), b.penaltyIds(s), b.penaltyCounts(s), b.penaltyEntries(s), 0, -1);
            }
            penArena.endStep();
            nDelta = penArena.deltaCount();
            long need = 8L * Math.max(1, penArena.capacity());
            if (penArenaBuf == null || penArenaBuf.bytes() < need) {   // grown at its end: positions stay, the old entries copied
                DeviceBuffer nb = DeviceBuffer.allocate(need);
                if (penArenaBuf != null) {
                    cuMemcpyDtoDAsync(nb.ptr(), penArenaBuf.ptr(), penArenaBuf.bytes(), null);
                    device.synchronize();
                    penArenaBuf.close();
                }
                penArenaBuf = nb;
            }
        } else {
            inlineEntries += nEnt;
        }
        sp.resident = resident;
        sp.penFirst = penFirst;
        sp.nDelta = nDelta;
        sp.nEntInline = nEntInline;
    }

    /** Uploads the step's ints (through the pinned stage of its parity) and points at their sections on the device. */
    private void uploadStepInts(Launched st) {
        int T = sp.T, total = sp.total;
        int oUnits = sp.oUnits, oTables = sp.oTables, oRows = sp.oRows, oDraw = sp.oDraw, oPen = sp.oPen, oEnt = sp.oEnt, oLp = sp.oLp, oDelta = sp.oDelta;
        int[] in = sp.in;
        dInts = ensure(dInts, 4L * total);
        stage.begin(st.parity);
        stage.upload(dInts.ptr(), in, total);
        CUdeviceptr dTok = dInts.at(0), dPos = dInts.at(4L * T), dChunk = dInts.at(8L * T), dSlot = dInts.at(12L * T);
        CUdeviceptr dUnits = dInts.at(4L * oUnits), dTables = dInts.at(4L * oTables), dRows = dInts.at(4L * oRows), dDraw = dInts.at(4L * oDraw);
        CUdeviceptr dPen = dInts.at(4L * oPen), dEnt = dInts.at(4L * oEnt), dLp = dInts.at(4L * oLp), dDelta = dInts.at(4L * oDelta);
        sp.dTok = dTok; sp.dPos = dPos; sp.dChunk = dChunk; sp.dSlot = dSlot;
        sp.dUnits = dUnits; sp.dTables = dTables; sp.dRows = dRows; sp.dDraw = dDraw;
        sp.dPen = dPen; sp.dEnt = dEnt; sp.dLp = dLp; sp.dDelta = dDelta;
    }

    /** Sizes the step's scratch buffers and, when the two-phase kernels apply, prepares their plan for the decode rows. */
    private void ensureScratch(ForwardBatch b) {
        int T = sp.T, h = sp.h, qDim = sp.qDim, kvDim = sp.kvDim, inter = sp.inter, half = sp.half, A = sp.A, nDec = sp.nDec;
        boolean tp = sp.tp;
        // 3. scratch
        x = ensure(x, 4L * T * h);
        hn = ensure(hn, (long) A * T * Math.max(h, Math.max(qDim, inter)));
        qkv = ensure(qkv, 4L * T * (qDim + 2 * kvDim));
        att = ensure(att, (long) A * T * qDim);
        gu = ensure(gu, 8L * T * inter);
        act = ensure(act, (long) A * T * inter);
        cosT = ensure(cosT, 4L * T * half);
        sinT = ensure(sinT, 4L * T * half);
        if (tp) {
            q16 = ensure(q16, 2L * nDec * qDim);
            if (fConvert != 0) att16 = ensure(att16, 2L * nDec * qDim);
            int[][] tables = new int[nDec][];
            int[] lengths = new int[nDec];
            for (int i = 0; i < nDec; i++) {
                tables[i] = b.chunkTable(sp.order[i]);
                lengths[i] = b.startPosition(sp.order[i]) + 1;
            }
            twoPhase.prepare(tables, lengths, true);
        }
    }

    /** Queues the embedding, the RoPE tables and every decoder layer (running the host work once the backlog covers it). */
    private void launchLayers(ForwardBatch b) {
        int T = sp.T, logC = sp.logC, h = sp.h, qDim = sp.qDim, kvDim = sp.kvDim, inter = sp.inter;
        int hq = sp.hq, hkv = sp.hkv, hd = sp.hd, half = sp.half, nDec = sp.nDec, units = sp.units;
        boolean tp = sp.tp;
        CUdeviceptr dTok = sp.dTok, dPos = sp.dPos, dChunk = sp.dChunk, dSlot = sp.dSlot, dUnits = sp.dUnits, dTables = sp.dTables;
        DeviceBuffer prevIds = sp.prevIds;
        long hostStart = sp.hostStart;
        // 4. embedding and RoPE tables
        k.begin().ptr(w.embed()).ptr(dTok).ptr(prevIds).ptr(x).i32(h).launch(fEmbed, T, 1, 256, 0);
        k.begin().ptr(dPos).ptr(invFreq).ptr(cosT).ptr(sinT).i32(T).i32(half)
                .launch(fRope, Math.max(1, Math.min((T * half + 255) / 256, 4096)), 1, 256, 0);
        float eps = cfg.rmsNormEps();
        int normThreads = normThreadsProp > 0 ? normThreadsProp : h >= 4096 ? 1024 : h >= 1024 ? 512 : h >= 256 ? 256 : 64;
        long wqkvN = qDim + 2L * kvDim;
        long siluN = (long) T * inter;
        int postBlocksY = (hq + 2 * hkv + 7) / 8;   // one warp per head, 8 warps a block
        // SiLU·mul in the gate|up GEMM's epilogue (bf16, interleaved gate|up rows, the wide skinny kernel's T range)
        boolean fuseSilu = fuseSiluMul && skinny != null && w.gateUpInterleaved() && skinny.fusesSiluMul(T, 2 * inter, h);
        int siluBlocks = (int) Math.min((siluN / 4 + 255) / 256 + 1, 8L * device.multiprocessors() * 8);   // (4 elements a thread when inter % 4 == 0)
        final int skip = b.isDecodeOnly() ? skipOps : 0;   // diagnostics only (setSkipOps)
        if (twoPhase != null) twoPhase.skipMerge((skip & 256) != 0);   // "merge": the partials alone
        if (twoPhase != null) twoPhase.skipPrivate((skip & 512) != 0);   // "private": the partials' block items alone
        if (twoPhase != null) twoPhase.partialsDiag(b.isDecodeOnly() ? partialsDiag : 0);
        sp.eps = eps;
        sp.normThreads = normThreads;
        sp.skip = skip;
        // 5. layers
        for (int l = 0; l < cfg.numLayers(); l++) {
            DeviceWeights.Layer L = w.layer(l);
            ops.mark(OpProfile.C_NORM);
            boolean zq = zeroFirst(T, (int) wqkvN, h);
            k.begin().ptr(x).ptr((Pointer) null).ptr(L.attnNorm()).ptr(hn).i32(h).f32(eps).ptr(zq ? qkv : null).i32(zq ? (int) (T * wqkvN) : 0);
            if ((skip & 4) == 0) launch(fNorm, T, 1, normThreads);
            ops.mark(OpProfile.C_QKV);
            if ((skip & 8) == 0) gemm(L.wqkv(), hn, qkv, T, (int) wqkvN, h, false, zq);
            ops.mark(OpProfile.C_POST);
            if ((skip & 2) == 0) {
                k.begin().ptr(qkv).ptr(L.bias()).ptr(L.qNorm()).ptr(L.kNorm()).ptr(cosT).ptr(sinT).ptr(kSlabs[l]).ptr(vSlabs[l])
                        .ptr(dChunk).ptr(dSlot).ptr(tp ? q16 : null).i32(tp ? nDec : 0).i32(hq).i32(hkv).i32(hd).i32(logC).f32(eps);
                launch(fPost, T, postBlocksY, 256);
            }
            ops.mark(OpProfile.C_ATTN);
            if (tp && (skip & 1) == 0) {
                if (fConvert == 0) {
                    twoPhase.decode(l, q16.ptr(), att.ptr());
                } else {
                    twoPhase.decode(l, q16.ptr(), att16.ptr());
                    long n = (long) nDec * qDim;
                    k.begin().ptr(att16).ptr(att).i64(n).launch(fConvert, (int) Math.min((n + 255) / 256, 4096), 1, 256, 0);
                }
            }
            if (units > 0) {
                k.begin().ptr(qkv).ptr(kSlabs[l]).ptr(vSlabs[l]).ptr(dUnits).ptr(dTables).ptr(att).i32(hq).i32(hkv).i32(logC)
                        .f32(scaleLog2).launch(fAttn, units, hkv, attnThreads, 0);
            }
            ops.mark(OpProfile.C_O);
            if ((skip & 16) == 0) gemm(L.wo(), att, x, T, h, qDim, true, false);
            ops.mark(OpProfile.C_NORM);
            boolean zg = !fuseSilu && zeroFirst(T, 2 * inter, h);
            k.begin().ptr(x).ptr((Pointer) null).ptr(L.mlpNorm()).ptr(hn).i32(h).f32(eps).ptr(zg ? gu : null).i32(zg ? T * 2 * inter : 0);
            if ((skip & 4) == 0) launch(fNorm, T, 1, normThreads);
            ops.mark(OpProfile.C_GU);
            if ((skip & 32) != 0) {
                // diagnostics: gate|up (and SiLU·mul) left out
            } else if (fuseSilu) {
                skinny.runSiluMul(Cublas.address(L.wgu().ptr()), Cublas.address(hn.ptr()), Cublas.address(act.ptr()), T, 2 * inter, h);
            } else {
                gemm(L.wgu(), hn, gu, T, 2 * inter, h, false, zg);
                ops.mark(OpProfile.C_SILU);
                k.begin().ptr(gu).ptr(act).i64(siluN).i32(inter).i32(w.gateUpInterleaved() ? 1 : 0);
                launch(fSilu, siluBlocks, 1, 256);
            }
            ops.mark(OpProfile.C_DOWN);
            if ((skip & 64) == 0) gemm(L.wdown(), act, x, T, h, inter, true, false);
            if (pendingHostWork != null && l + 1 < cfg.numLayers() && backlogCoversHostWork(l + 1, hostStart, b)) runHostWork();
        }
    }

    /** Queues the final norm and LM head for the rows that want logits, the penalties, the device's picks and log-probabilities, and their downloads. */
    private void launchHead(Launched st) {
        int h = sp.h, vocab = sp.vocab, A = sp.A, nLog = sp.nLog, nGreedy = sp.nGreedy, nDraw = sp.nDraw, nPen = sp.nPen, nEnt = sp.nEnt;
        int nLp = sp.nLp, nDelta = sp.nDelta, p = sp.p, e = sp.e, normThreads = sp.normThreads, skip = sp.skip;
        boolean resident = sp.resident;
        float eps = sp.eps;
        int[] logSeq = sp.logSeq;
        long hostStart = sp.hostStart;
        DeviceBuffer prevIds = sp.prevIds;
        CUdeviceptr dRows = sp.dRows, dDraw = sp.dDraw, dPen = sp.dPen, dEnt = sp.dEnt, dLp = sp.dLp, dDelta = sp.dDelta;
        // 6. final norm and LM head for the rows that want logits; greedy ones picked on the device
        lastN = ensure(lastN, (long) A * nLog * h);
        lg[p] = ensure(lg[p], 4L * nLog * vocab);
        k.begin().ptr(x).ptr(dRows).ptr(w.norm()).ptr(lastN).i32(h).f32(eps).ptr((Pointer) null).i32(0);
        if ((skip & 128) == 0) {   // diagnostics: the final norm and LM head left out (the argmax reads stale logits)
            launch(fNorm, nLog, 1, normThreads);
            gemm(w.lmHead(), lastN, lg[p], nLog, vocab, h, false, false);
        }
        int nNeed = nLog - nGreedy;
        if (nGreedy > 0) {
            ids[p] = ensure(ids[p], 4L * nGreedy);
            if (nPen > 0) {
                penSaved[p] = ensure(penSaved[p], 8L * (nEnt + nPen));
                if (nDelta > 0) k.begin().ptr(penArenaBuf).ptr(dDelta).i32(nDelta).launch(fPenScatter, (nDelta + 255) / 256, 1, 256, 0);
                k.begin().ptr(lg[p]).i32(vocab).ptr(dPen).ptr(resident ? penArenaBuf.ptr() : dEnt).ptr(prevIds).ptr(penSaved[p]).launch(fPenalize, nPen, 1, 256, 0);
                penalizedRows += nPen;
            }
            int nArg = nGreedy - nDraw;
            if (nArg > 0) k.begin().ptr(lg[p].at(4L * nNeed * vocab)).i32(vocab).ptr(ids[p]).launch(fArgmax, nArg, 1, 1024, 0);
            if (nDraw > 0) k.begin().ptr(lg[p]).i32(vocab).ptr(dDraw).ptr(ids[p].at(4L * nArg)).launch(fSample, nDraw, 1, 512, 0);
            if (nLp > 0) {
                lpOut[p] = ensure(lpOut[p], 4L * LP_STRIDE * nLp);
                k.begin().ptr(lg[p]).i32(vocab).ptr(dLp).ptr(ids[p]).ptr(nPen > 0 ? penSaved[p] : null).ptr(lpOut[p]).launch(fLogprobs, nLp, 1, 512, 0);
                logprobRows += nLp;
            }
            for (int i = 0; i < nGreedy; i++) prevGreedyIndex[logSeq[nNeed + i]] = i;
        }
        ops.mark(OpProfile.C_HEAD);   // the end mark
        CudaDevice.record(ev1[e]);
        if (nGreedy > 0) st.idsHandle = stage.downloadAsync(ids[p].ptr(), nGreedy);
        if (nLp > 0) st.lpHandle = stage.downloadAsync(lpOut[p].ptr(), LP_STRIDE * nLp);
        CudaDevice.record(evDone[e]);
        st.hostNs = System.nanoTime() - hostStart - hostWorkNs;
    }

    /** Waits for a queued step's results and completes its batch: the device's picks and the other logits rows. */
    private void finish(Launched st, float[] logits) {
        if (st.empty) return;
        ForwardBatch b = st.b;
        int p = st.parity, nGreedy = st.nGreedy, nNeed = st.nNeed, vocab = cfg.vocabSize();
        int[] logSeq = st.logSeq;
        jcuda.driver.JCudaDriver.cuEventSynchronize(evDone[st.ev]);
        noteTiming(st);
        if (nGreedy > 0) {
            if (idsHost.length < nGreedy) idsHost = new int[Math.max(nGreedy, 2 * idsHost.length)];
            stage.readInts(st.idsHandle, idsHost, nGreedy);
            for (int i = 0; i < nGreedy; i++) {
                int s = logSeq[nNeed + i];
                if (idsHost[i] >= 0) b.setSampled(s, idsHost[i]);
                else {
                    downloadRow(logits, s, nNeed + i, vocab, p);   // a non-finite logit: the host sampler decides
                    if (st.penSlot != null && st.penSlot[nNeed + i] >= 0) restoreRaw(logits, s, st.penSlot[nNeed + i], b.penaltyEntries(s), vocab, p);
                }
            }
            if (st.lpSeq != null) {
                int n = st.lpSeq.length;
                int[] r = new int[LP_STRIDE * n];
                stage.readInts(st.lpHandle, r, r.length);
                for (int q = 0; q < n; q++) {
                    int s = st.lpSeq[q], o = LP_STRIDE * q;
                    if (b.sampled(s) < 0) continue;   // no pick: the host sampler decides, log-probabilities included
                    int kk = r[o + 1];
                    int[] top = new int[kk];
                    float[] lps = new float[kk];
                    for (int j = 0; j < kk; j++) {
                        top[j] = r[o + 2 + 2 * j];
                        lps[j] = Float.intBitsToFloat(r[o + 3 + 2 * j]);
                    }
                    b.setSampled(s, new io.chunkserve.sampling.SampledToken(b.sampled(s), Float.intBitsToFloat(r[o]), top, lps));
                }
            }
        }
        if (nNeed > 0) {
            long d0 = System.nanoTime();
            boolean contiguous = true;
            for (int i = 0; i < nNeed; i++) contiguous &= logSeq[i] == logSeq[0] + i;
            if (contiguous) {
                cuMemcpyDtoH(Pointer.to(logits).withByteOffset(4L * logSeq[0] * vocab), lg[p].ptr(), 4L * nNeed * vocab);
            } else {
                for (int i = 0; i < nNeed; i++) downloadRow(logits, logSeq[i], i, vocab, p);
            }
            if (b.isDecodeOnly()) {
                double[] t = decodeTiming.get(b.size());
                if (t != null) {
                    t[8]++;
                    t[9] += (System.nanoTime() - d0) / 1e6;
                }
            }
        }
    }

    /** Benchmarks: time every op category of decode steps with CUDA events (adds ~300 event records a step). */
    public void setProfile(boolean on) { ops.enable(on); }

    /** Mean GPU ms per profiled decode step of each op category, and the step count. */
    public java.util.Map<String, Double> profile() { return ops.means(); }

    /**
     * After a step's events completed: its GPU time, for decode-only steps. For a step queued behind another, the
     * time from the previous step's end when that is shorter (its first launch waited for the device).
     */
    private void noteTiming(Launched st) {
        boolean decode = st.b.isDecodeOnly();
        if (!st.profiled) ops.finishStep(decode);
        if (!decode) return;
        double[] t = decodeTiming.computeIfAbsent(st.b.size(), k -> new double[10]);
        double gpuMs = CudaDevice.elapsedMs(ev0[st.ev], ev1[st.ev]);
        double period = st.prevEv >= 0 && !st.profiled ? CudaDevice.elapsedMs(ev1[st.prevEv], ev1[st.ev]) : Double.NaN;
        if (st.ahead && period < gpuMs) gpuMs = period;
        if (st.afterSameDecode && period > 0) {
            // device time from the end of the step before, a decode of the same size: the step's period on the
            // device, idle gaps between steps included
            t[6]++;
            t[7] += period;
        }
        double per = gpuMs / cfg.numLayers();
        if (st.b.size() != gpuMsBatch || per < gpuMsPerLayer) gpuMsPerLayer = per;
        gpuMsBatch = st.b.size();
        t[0]++;
        t[1] += gpuMs;
        t[3] += prepNs / 1e6;
        t[4] += hostWorkNs / 1e6;
        t[5] += engineNs / 1e6;
        t[2] += st.hostNs / 1e6;
    }

    /**
     * Decode-only steps of batch size B so far: {steps, mean GPU ms (first launch to last kernel, CUDA events),
     * mean host ms to enqueue the step, mean host ms of the runner's preparation before the first launch, mean ms
     * of the caller's host work run during the step, mean ms the caller spent between the previous step's return
     * and this one, mean ms from the end of the step before to this one's end when the step before was a decode of
     * the same size (the step's period on the device, idle between steps included), mean ms to download the
     * logits rows sampled on the host (NaN: none)}; null when there were none. Clears the record when {@code reset}.
     */
    public double[] decodeTiming(int B, boolean reset) {
        double[] t = decodeTiming.get(B);
        if (reset) decodeTiming.clear();
        return t == null ? null : new double[] {t[0], t[1] / t[0], t[2] / t[0], t[3] / t[0], t[4] / t[0], t[5] / t[0],
                t[6] == 0 ? Double.NaN : t[7] / t[6], t[8] == 0 ? Double.NaN : t[9] / t[8]};
    }

    /** Undoes cs_penalize on a downloaded row: its saved (id, raw bits) pairs, n + 1 from slot {@code slot}. */
    private void restoreRaw(float[] logits, int seq, int slot, int n, int vocab, int parity) {
        int[] pairs = new int[2 * (n + 1)];
        cuMemcpyDtoH(Pointer.to(pairs), penSaved[parity].at(8L * slot), 8L * (n + 1));
        for (int j = 0; j <= n; j++) {
            int id = pairs[2 * j];
            if (id >= 0 && id < vocab) logits[seq * vocab + id] = Float.intBitsToFloat(pairs[2 * j + 1]);
        }
    }

    private void downloadRow(float[] logits, int seq, int lgRow, int vocab, int parity) {
        cuMemcpyDtoH(Pointer.to(logits).withByteOffset(4L * seq * vocab), lg[parity].at(4L * lgRow * vocab), 4L * vocab);
    }

    /**
     * Launches the kernel whose arguments {@link #k} holds: as a programmatic dependent of the kernel before it
     * where that is on (sm_90+; the model.cu kernels wait for it in {@code pdl_wait} first), else plainly.
     */
    private void launch(long f, int gx, int gy, int threads) {
        if (pdl) k.launchDependent(f, gx, gy, threads, 0);
        else k.launch(f, gx, gy, threads, 0);
    }

    /** Whether the GEMM y = x·Wᵀ of this shape adds k-slices atomically into y, which must be zeroed first. */
    private boolean zeroFirst(int T, int n, int k) {
        return skinny != null && skinny.prefers(T, n, k) && skinny.splitsK(T, n, k);
    }

    /** y (T, n) fp32 = x (T, k) · Wᵀ (+ y when accumulate), in the precision's types; yZeroed: see zeroFirst. */
    private void gemm(DeviceBuffer wm, DeviceBuffer xin, DeviceBuffer y, int T, int n, int k, boolean accumulate, boolean yZeroed) {
        if (skinny != null && skinny.prefers(T, n, k)) {
            skinny.run(Cublas.address(wm.ptr()), Cublas.address(xin.ptr()), Cublas.address(y.ptr()), T, n, k, accumulate, yZeroed);
            return;
        }
        blas.linear(Cublas.address(wm.ptr()), precision.cudaType, Cublas.address(xin.ptr()), precision.cudaType,
                Cublas.address(y.ptr()), T, n, k, accumulate);
    }


    @Override
    public void close() {
        device.makeCurrent();
        device.synchronize();
        pool.setMirror(null);
        blas.close();
        if (twoPhase != null) twoPhase.close();
        if (kvCache != null) kvCache.close();
        else for (int l = 0; l < kSlabs.length; l++) {
            kSlabs[l].close();
            vSlabs[l].close();
        }
        for (DeviceBuffer d : new DeviceBuffer[] {dInts, x, hn, qkv, q16, att, att16, gu, act, cosT, sinT, lastN, lg[0], lg[1], ids[0], ids[1], penSaved[0], penSaved[1], lpOut[0], lpOut[1], invFreq, penArenaBuf}) {
            if (d != null) d.close();
        }
        penArena.clear();
        stage.close();
        cuModuleUnload(module);
        if (ownsWeights) w.close();
    }
}
