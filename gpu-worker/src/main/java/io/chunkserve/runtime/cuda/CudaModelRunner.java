package io.chunkserve.runtime.cuda;

import io.chunkserve.kernels.KernelImages;
import io.chunkserve.kv.ChunkPool;
import io.chunkserve.kv.KvLayout;
import io.chunkserve.model.DType;
import io.chunkserve.model.ModelConfig;
import io.chunkserve.runtime.ForwardBatch;
import io.chunkserve.runtime.ModelRunner;
import jcuda.Pointer;
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
 * KV slots, attention work units and chunk tables go to the device in one copy ({@link StepInts}); {@link StepKernels}
 * queues the layers and the head (the argmax or draw on the device for greedy-marked rows: their ids come back, not
 * their logits); steps may be queued one ahead of their results ({@link #launch} / {@link #collect}), the engine's host
 * work runs once the device's backlog covers it ({@link StepTiming}). Penalties: {@link DevicePenalties}.
 *
 * <p>Matrix multiplies: cuBLAS ({@link Cublas}, fp32 output, the residual add fused as beta = 1), or model.cu's skinny
 * tensor-core kernels for bf16 GEMMs of ≤ 64 tokens where they measured faster ({@link SkinnyGemm#prefers}). Kernels
 * launch through {@link Launcher} ({@code java.lang.foreign} into libcuda, nothing allocated per launch); on sm_90 as
 * programmatic dependents of the kernel before them (each waits in {@code griddepcontrol.wait} first).
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
    // rows drawn with temperature / top_k / top_p / min_p on the device (-Dchunkserve.cuda.deviceSampling=false: on the host)
    private final boolean deviceSampling = !"false".equals(System.getProperty("chunkserve.cuda.deviceSampling"));
    // penalties of the rows it picks applied on the device (cs_penalize; -Dchunkserve.cuda.devicePenalties=false: such rows on the host)
    private final boolean devicePenalties = !"false".equals(System.getProperty("chunkserve.cuda.devicePenalties"));
    private boolean penaltiesOn = true;
    private final DevicePenalties penalties = new DevicePenalties();
    // log-probabilities of the rows it picks reported from the device (cs_logprobs; -Dchunkserve.cuda.deviceLogprobs=false: such rows on the host)
    private final boolean deviceLogprobs = !"false".equals(System.getProperty("chunkserve.cuda.deviceLogprobs"));
    private boolean logprobsOn = true;
    // logit_biases of the rows it picks added on the device (cs_bias; -Dchunkserve.cuda.deviceBias=false: such rows on the host)
    private final boolean deviceBias = !"false".equals(System.getProperty("chunkserve.cuda.deviceBias"));
    private boolean biasOn = true;
    private static final int LP_STRIDE = StepKernels.LP_STRIDE;
    private final DeviceKvCache kvCache;          // when the two-phase kernels apply: its slabs are the KV
    private final DeviceBuffer[] kSlabs, vSlabs;
    private final CudaAttention twoPhase;         // null when it does not apply
    private final Cublas blas;
    private final SkinnyGemm skinny;              // bf16 GEMMs of ≤ 32 tokens (where it wins); null in the exact mode or when disabled
    private final int qt;                         // query tokens per generic-attention unit
    private boolean useTwoPhase = true;
    private final StepKernels kernels;            // the step's launches and scratch
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
    private final StepTiming timing = new StepTiming();

    private DeviceBuffer dInts;                   // the step's ints (grown as needed)
    private int[] hostInts = new int[1024];
    private int[] idsHost = new int[16];
    private long steps;
    private boolean pipeline = !"false".equals(System.getProperty("chunkserve.cuda.pipeline"));
    private final PinnedStage stage = new PinnedStage(1 << 16);
    private final java.util.ArrayDeque<LaunchedStep> launched = new java.util.ArrayDeque<>();
    private long launches;
    private int[] prevGreedyIndex = new int[0];   // the last launched step's rows → index of their pick in its ids buffer
    // per step, three in rotation: collecting step n reads step n-1's end while step n+1 has recorded its own
    private final jcuda.driver.CUevent[] ev0 = events(3), ev1 = events(3), evDone = events(3);
    private int lastEv = -1;   // the event slot of the last launched step
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
        skinny = precision == DeviceWeights.Precision.BF16 && !"false".equals(System.getProperty("chunkserve.cuda.skinnyGemm"))
                ? new SkinnyGemm(module, device) : null;
        boolean pdl = device.computeCapability() >= 90 && !"false".equals(System.getProperty("chunkserve.cuda.pdl"));
        qt = Math.max(1, 64 / cfg.groupSize());
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
        kernels = new StepKernels(device, module, cfg, w, layout.dtype(), sp, kSlabs, vSlabs, tp, blas, skinny, penalties, ops, pdl);
        pool.setMirror(this);
    }

    private static jcuda.driver.CUevent[] events(int n) {
        jcuda.driver.CUevent[] e = new jcuda.driver.CUevent[n];
        for (int i = 0; i < n; i++) e[i] = CudaDevice.event();
        return e;
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

    /** Checks, benchmarks: the other rows' attention on tensor cores where it applies (the default), or in fp32; diag: see StepKernels. */
    public void setTensorCorePrefill(boolean on, int diag) { kernels.setTensorCorePrefill(on, diag); }

    /** The two-phase partials kernel variant and its resident blocks per multiprocessor, or "none". */
    public String attentionKernel() {
        return twoPhase == null ? "none" : twoPhase.variant() + ", " + twoPhase.blocksPerMultiprocessor() + " blocks an SM, warp items "
                + new String[] {"off", "auto", "always"}[twoPhase.warpItems()] + ", private split "
                + (twoPhase.privateSplit() == CudaPlan.SPLIT_AUTO ? "auto" : twoPhase.privateSplit() == CudaPlan.SPLIT_OFF ? "off" : String.valueOf(twoPhase.privateSplit()))
                + (twoPhase.plan() == null ? "" : " (last plan: " + twoPhase.plan() + ")");
    }

    /** The two-phase kernels' current plan (null when they do not apply or ran no step yet). */
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

    /** Diagnostics only: a partials instance ({@link CudaAttention#partialsDiag}) for decode-only steps; unbuilt ones refused. */
    void attentionPartialsDiag(int mode) {
        if (twoPhase != null) {
            twoPhase.partialsDiag(mode); // throws when that instance was not built
            twoPhase.partialsDiag(0);    // the step in progress keeps the kernel; enqueue picks the mode per step
        }
        partialsDiag = mode;
    }

    private volatile int partialsDiag;

    CudaAttention attention() { return twoPhase; }   // diagnostics (CudaAttention.timeline); null without two-phase kernels

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
    public long penalizedRows() { return kernels.penalizedRows(); }

    /**
     * Benchmarks (A/B), checks: whether penalized rows' lists stay on the device across steps (only the entries a step
     * changed go up) or go up whole every step. Set when no step is in flight.
     */
    public void setResidentPenalties(boolean on) { penalties.setResident(on); }

    /**
     * Penalty entries uploaded so far: {entries of resident lists (changes and first uploads), whole resident lists
     * uploaded, entries uploaded whole with a step's ints}; and the resident lists' arena: {live lists, arena entries,
     * free entries, free blocks}.
     */
    public long[] penaltyUploads() { return penalties.uploads(); }

    /**
     * Rows it picks that are marked for log-probabilities ({@link ForwardBatch#markLogprobs}) get them from the device
     * ({@code cs_logprobs}: the picked token's and the top 0-20, of the raw logits), K + 1 pairs a row instead of the row.
     */
    @Override
    public boolean logprobsOnDevice() { return deviceLogprobs && logprobsOn; }

    /** Benchmarks (A/B): whether the engine hands this runner its rows with log-probabilities (read when no step is in flight). */
    public void setDeviceLogprobs(boolean on) { logprobsOn = on; }

    /** Rows whose log-probabilities came from the device so far (checks). */
    public long logprobRows() { return kernels.logprobRows(); }

    /** Rows it picks that are marked with a logit_bias ({@link ForwardBatch#markBias}) get it added on the device ({@code cs_bias}). */
    @Override
    public boolean biasesOnDevice() { return deviceBias && biasOn; }

    /** Benchmarks (A/B): whether the engine hands this runner its biased rows (read when no step is in flight). */
    public void setDeviceBias(boolean on) { biasOn = on; }

    /** Rows whose logit_bias was added on the device so far (checks). */
    public long biasedRows() { return kernels.biasedRows(); }

    /** Benchmarks (A/B): whether the engine hands this runner its stochastic rows (read when no step is in flight). */
    public void setDeviceSampling(boolean on) { samplingOn = on; }

    /** Benchmarks (A/B): whether engines built on this runner from now on pipeline its steps. */
    public void setPipelining(boolean on) { pipeline = on; }

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
            LaunchedStep l = enqueue(b, pool, whileRunning);
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
        LaunchedStep l = launched.poll();
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

    /** After each queued layer of the step being enqueued (sp): the host work, once the device's backlog covers it. */
    private final java.util.function.IntConsumer layerQueued = this::afterLayer;

    private void afterLayer(int layers) {
        if (pendingHostWork != null && timing.backlogCoversHostWork(layers, sp.hostStart, sp.decodeOnly, sp.S)) runHostWork();
    }

    private void runHostWork() {
        Runnable r = pendingHostWork;
        pendingHostWork = null;
        long t = System.nanoTime();
        r.run();
        long ns = System.nanoTime() - t;
        hostWorkNs += ns;
        timing.hostWorkRan(ns);
    }

    /** Queues a step on the device (nothing waits for it) and returns what reading its results needs. */
    private LaunchedStep enqueue(ForwardBatch b, ChunkPool pool, Runnable whileRunning) {
        try {
            return enqueueStep(b, pool, whileRunning);
        } catch (RuntimeException | Error e) {
            penalties.forgetDevice();   // this step's list changes may not have reached the device: upload every list whole next time
            throw e;
        }
    }

    private final StepInts sp = new StepInts();

    private LaunchedStep enqueueStep(ForwardBatch b, ChunkPool pool, Runnable whileRunning) {
        if (pool != this.pool) throw new IllegalArgumentException("this runner serves the pool it was built with");
        pendingHostWork = whileRunning;
        hostWorkNs = 0;
        LaunchedStep st = new LaunchedStep();
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
        st.afterSameDecode = timing.afterSameDecode(b.isDecodeOnly(), S);
        if (ops.isOn() && st.ahead) {
            // the per-op marks are the last queued step's: read the one before first (profiling gives up the overlap)
            LaunchedStep p = launched.peekLast();
            jcuda.driver.JCudaDriver.cuEventSynchronize(evDone[p.ev]);
            ops.finishStep(p.b.isDecodeOnly());
            p.profiled = true;
        }
        device.makeCurrent();
        sp.plan(b, cfg, layout.chunkSize(), precision.bytes, qt, twoPhase != null && useTwoPhase, prevGreedyIndex,
                deviceSampling, devicePenalties, deviceLogprobs, deviceBias);
        penalties.place(b, sp, device);
        sp.fill(b, prevGreedyIndex, penalties.deltas(), this::ints);
        uploadStepInts(st);
        kernels.ensureScratch(b);
        long hostStart = System.nanoTime();
        prepNs = hostStart - entryNs;
        int p = st.parity;
        DeviceBuffer prevIds = kernels.ids(1 - p);
        int e = st.ev;
        CudaDevice.record(ev0[e]);
        ops.reset();
        ops.mark(OpProfile.C_EMBED);
        sp.hostStart = hostStart;
        sp.p = p;
        sp.prevIds = prevIds;
        sp.e = e;
        kernels.layers(b, skipOps, partialsDiag, layerQueued);
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
        st.biasSlot = sp.biasSlot;
        int nLp = sp.nLp;   // (no rows wanting logits: no picks nor log-probabilities either)
        if (nLog > 0) {
            kernels.head();
            for (int i = 0; i < nGreedy; i++) prevGreedyIndex[sp.logSeq[nLog - nGreedy + i]] = i;
            ops.mark(OpProfile.C_HEAD);   // the end mark
        }
        CudaDevice.record(ev1[e]);
        if (nGreedy > 0) st.idsHandle = stage.downloadAsync(kernels.ids(p).ptr(), nGreedy);
        if (nLp > 0) st.lpHandle = stage.downloadAsync(kernels.logprobs(p).ptr(), LP_STRIDE * nLp);
        CudaDevice.record(evDone[e]);
        st.hostNs = System.nanoTime() - hostStart - hostWorkNs;
        return st;
    }

    /** Uploads the step's ints (through the pinned stage of its parity) and points at their sections on the device. */
    private void uploadStepInts(LaunchedStep st) {
        int T = sp.T;
        dInts = DeviceBuffer.atLeast(dInts, 4L * sp.total);
        stage.begin(st.parity);
        stage.upload(dInts.ptr(), sp.in, sp.total);
        sp.dTok = dInts.at(0); sp.dPos = dInts.at(4L * T); sp.dChunk = dInts.at(8L * T); sp.dSlot = dInts.at(12L * T);
        sp.dUnits = dInts.at(4L * sp.oUnits); sp.dTables = dInts.at(4L * sp.oTables); sp.dRows = dInts.at(4L * sp.oRows); sp.dDraw = dInts.at(4L * sp.oDraw);
        sp.dPen = dInts.at(4L * sp.oPen); sp.dEnt = dInts.at(4L * sp.oEnt); sp.dLp = dInts.at(4L * sp.oLp); sp.dDelta = dInts.at(4L * sp.oDelta);
        sp.dBias = dInts.at(4L * sp.oBias); sp.dBiasEnt = dInts.at(4L * sp.oBiasEnt);
    }

    /** Waits for a queued step's results and completes its batch: the device's picks and the other logits rows. */
    private void finish(LaunchedStep st, float[] logits) {
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
                    kernels.restoreRaw(logits, st, nNeed + i, s, vocab);
                }
            }
            if (st.lpSeq != null) {
                int[] r = new int[LP_STRIDE * st.lpSeq.length];
                stage.readInts(st.lpHandle, r, r.length);
                StepKernels.setLogprobs(b, st.lpSeq, r);
            }
        }
        if (nNeed > 0) {
            long d0 = System.nanoTime();
            boolean contiguous = true;
            for (int i = 0; i < nNeed; i++) contiguous &= logSeq[i] == logSeq[0] + i;
            if (contiguous) {
                cuMemcpyDtoH(Pointer.to(logits).withByteOffset(4L * logSeq[0] * vocab), kernels.logits(p).ptr(), 4L * nNeed * vocab);
            } else {
                for (int i = 0; i < nNeed; i++) downloadRow(logits, logSeq[i], i, vocab, p);
            }
            if (b.isDecodeOnly()) timing.noteDownload(b.size(), (System.nanoTime() - d0) / 1e6);
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
    private void noteTiming(LaunchedStep st) {
        boolean decode = st.b.isDecodeOnly();
        if (!st.profiled) ops.finishStep(decode);
        if (!decode) return;
        double gpuMs = CudaDevice.elapsedMs(ev0[st.ev], ev1[st.ev]);
        double period = st.prevEv >= 0 && !st.profiled ? CudaDevice.elapsedMs(ev1[st.prevEv], ev1[st.ev]) : Double.NaN;
        timing.note(st.b.size(), cfg.numLayers(), gpuMs, period, st.ahead, st.afterSameDecode, prepNs, hostWorkNs, engineNs, st.hostNs);
    }

    /**
     * Decode-only steps of batch size B so far: {steps, mean GPU ms (first launch to last kernel, CUDA events),
     * mean host ms to enqueue the step, mean host ms of the runner's preparation before the first launch, mean ms
     * of the caller's host work run during the step, mean ms the caller spent between the previous step's return
     * and this one, mean ms from the end of the step before to this one's end when the step before was a decode of
     * the same size (the step's period on the device, idle between steps included), mean ms to download the
     * logits rows sampled on the host (NaN: none)}; null when there were none. Clears the record when {@code reset}.
     */
    public double[] decodeTiming(int B, boolean reset) { return timing.decodeTiming(B, reset); }

    private void downloadRow(float[] logits, int seq, int lgRow, int vocab, int parity) {
        cuMemcpyDtoH(Pointer.to(logits).withByteOffset(4L * seq * vocab), kernels.logits(parity).at(4L * lgRow * vocab), 4L * vocab);
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
        kernels.close();
        if (dInts != null) dInts.close();
        penalties.close();
        stage.close();
        cuModuleUnload(module);
        if (ownsWeights) w.close();
    }
}
