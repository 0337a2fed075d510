package io.chunkserve.runtime.cuda;

import io.chunkserve.kernels.KernelImages;
import io.chunkserve.kv.KvLayout;
import io.chunkserve.model.DType;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;

import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuModuleUnload;

/**
 * Two-phase decode attention on the GPU over a {@link DeviceKvCache} (kernels in
 * {@code kernels/src/main/cuda/attention.cu}): per step, {@link #prepare} takes the batch's chunk tables and
 * lengths, rebuilds and uploads the {@link CudaPlan} only when its structure changed (otherwise only the lengths
 * move), and {@link #decode} launches, on the default stream and asynchronously, the partials kernel
 * (chunk-first and sequence-first items in one grid; rows of a sequence that one item holds are written out
 * directly) and, when some sequence is split over several items, the log-sum-exp merge (on sm_90 and newer a
 * programmatic dependent launch: it is scheduled while the partials' last wave runs and waits for them on the device).
 * {@link #directWrites(boolean) directWrites(false)} sends every row through a partial record and the merge (the
 * earlier path, kept for comparisons and checks). With the f64 kernels, items of ≤ 16 rows run one a warp, 4 a
 * block ({@link CudaPlan}'s warp items; {@code -Dchunkserve.cuda.warpItems=auto|always|off}, default auto);
 * {@code -Dchunkserve.cuda.privateSplit=off|auto|N} (default off) lets the plan cut private lists into several.
 *
 * <p>Queries and outputs are device arrays (B, qHeads, headDim) in the cache's dtype (fp16 or bf16); query
 * head h reads KV head h / (qHeads / kvHeads); scale 1/sqrt(headDim). One instance per engine thread.
 */
public final class CudaAttention implements AutoCloseable {
    static final int THREADS = 128;   // the merge's block, and the partials' except the 8-warp kernels
    /**
     * Partials kernel variants (attention.cu's CS_PARTIALS_ALL; stages and stage tokens must match the kernels):
     * {@code v0} the session-3 kernel (64-token stages, 3 of them), {@code f64} the same with the cheaper tile
     * loads and the skipped rescale, {@code t32} 32-token stages (d128: 3 stages, 3 blocks an SM; d64: 4 stages,
     * 4 blocks an SM) with both. {@code -Dchunkserve.cuda.attnVariant=v0|f64|f64z|f64w8|f64w8p|t32} overrides the default (A/B).
     * Default f64: through the engine at B = 64 on an H200 it took 0.37–0.39 ms off the 8B step against v0 and
     * t32 ran as fast as it there (the extra resident blocks bought nothing more), 1B was 1–2 % better with f64.
     * {@code f64w8} (session 10): the block items of head dim 64 on 8 warps (see DEFAULT_VARIANT's comment); {@code f64w8p}
     * (session 10, A/B only): f64w8 with each warp item on two warps, on every plan (112 KiB of shared memory a block).
     * {@code f64w8h} (session 22): f64w8 with the 64-row block items' Q·Kᵀ and P·V on Hopper's warpgroup MMAs (bf16 on
     * compute capability 9.0; elsewhere the f64w8 code), 1 KiB more shared memory a block.
     */
    // f64z (session 9): f64 with the online softmax's 2^x as ex2.approx.ftz (BENCHMARKS.md issue 7, session 9: −0.015 ms a
    // step at 8B B = 64, −0.002 at 1B; same checks as f64)
    // f64w8 (session 10): at head dim 64 the f64z kernel in blocks of 8 warps (two warps a 16-row slice of a block item,
    // each half of every tile's tokens, their states combined in shared memory; warp blocks still run 4 warp items);
    // at head dim 128 it is the f64z kernel (no 8-warp instance: 241 registers a thread there). Its plans: W8_PRIVATE_SPLIT.
    // Default since session 10: 1B B = 64 GPU ms a step 1.531 / 1.537 vs 1.570 / 1.575 with f64z (two calls, 4 + 3 rounds
    // alternated in one process), B = 32 1.370 vs 1.425; 8B unchanged (the same kernel and plan)
    // f64w8h (session 22): f64w8 with the 64-row block items' tile math on warpgroup MMAs (attention.cu, partials_body's
    // WG). Default since session 22: Nsight Compute at 1B B = 64 (one partials launch, two calls) 24.1 / 23.9 µs vs 25.8 /
    // 25.8 with f64w8, 3 % fewer instructions; through the engine 0–1 % of the step (GPU ms a step 1.417–1.434 vs
    // 1.427–1.439, alternated in one process, two calls); same checks (CudaAttentionCheck incl. --large, CudaModelCheck,
    // memcheck). On other GPUs and for fp16 KV its code is f64w8's.
    static final String DEFAULT_VARIANT = "f64w8h";
    /**
     * Checks only ({@code -Dchunkserve.cuda.w8Always=true}): the 8-warp kernels on every plan, also where the plan keeps
     * private lists whole (which run the f64z kernel otherwise, W8_PRIVATE_SPLIT), so that a check's small batches reach them.
     */
    private static final boolean W8_ALWAYS = Boolean.getBoolean("chunkserve.cuda.w8Always");

    private final CudaDevice device;
    private final DeviceKvCache kv;
    private final KvLayout layout;
    private final int qHeads, groupSize, smemBytes, blocksPerSm, planBlocksPerSm, partialsThreads;
    private final String variant;
    private final CUmodule module;
    private final CUfunction partials, merge, append, fill, readAll;
    private final long hPartials;
    // [0] = hPartials; [1], [2]: the loads-only / math-only instances, [3]: the other of f64 / f64z (bf16 f64 / f64z only),
    // [4]: the other of f64z / f64w8 (f64z / f64w8, both dtypes; f64w8p / f64w8h: f64z), [5]: f64w8 (f64w8p / f64w8h only),
    // else 0;
    // threadsDiag / smemDiag: their block sizes and dynamic shared memory
    // [6]: the timeline twin (_tl) of hPartials, [7]: of [4] (bf16 f64z / f64w8h only); [8], [9]: f64w8h's timeline
    // instances with the K/V loads alone / the tile math alone (bf16 f64w8h only)
    private final long[] hPartialsDiag = new long[10];
    private final int[] threadsDiag = new int[10];
    private final int[] smemDiag = new int[10];
    private final TimelineCapture tl = new TimelineCapture();   // diagnostics: the launch run with the timeline twins
    private int partialsDiag;
    private final long[] hMerges = new long[MERGE_VARIANTS.size()];
    private int mergeVariant;
    private final long[] hMergeTl = new long[MERGE_VARIANTS.size()];   // timeline twins ("pre", "prel"; bf16 only; 0: none)
    private final Launcher launcher = new Launcher();
    private int forcedTilesPerPiece;
    private int warpItems;   // CudaPlan.WARP_*
    private int privateSplit;   // CudaPlan.SPLIT_* or a forced piece count ≥ 2
    private boolean direct = true, prefetchPlan = true, dependentMerge;
    private boolean planDirect, planMerge;   // the plan has rows to write directly; some sequence is split

    private CudaPlan plan;
    private long planUploads;
    // plan arrays on the device, one buffer (items | chunk ids | row sequences | sequence info | merge entries,
    // each section 16-byte aligned), grown as needed
    private DeviceBuffer dPlan, dLens;
    private int offChunkIds, offRowSeqs, offSeqInfo, offMergeEnt, planLines;   // int offsets of the sections
    private DeviceBuffer dPartO;    // (records, headDim) fp32 unnormalised partial outputs
    private DeviceBuffer dPartML;   // (records, 2) fp32 (m in log2 units, l)

    /** @throws CudaUnavailableException when this build carries no kernels (built without nvcc) */
    public CudaAttention(CudaDevice device, DeviceKvCache kv, int qHeads) {
        this.device = device;
        this.kv = kv;
        this.layout = kv.layout();
        if (qHeads % layout.kvHeads() != 0) throw new IllegalArgumentException("qHeads " + qHeads + " not a multiple of kvHeads " + layout.kvHeads());
        this.qHeads = qHeads;
        this.groupSize = qHeads / layout.kvHeads();
        byte[] image = KernelImages.attention().orElseThrow(() ->
                new CudaUnavailableException("CUDA unavailable: this build carries no attention kernels (kernels module built without nvcc)"));
        device.makeCurrent();
        module = device.loadModule(image);
        String t = (layout.dtype() == DType.F16 ? "f16" : "bf16") + "_d" + layout.headDim();
        variant = System.getProperty("chunkserve.cuda.attnVariant", DEFAULT_VARIANT);
        int stages, stageTokens;
        switch (variant) {
            case "v0", "f64", "f64z", "f64w8", "f64w8p", "f64w8h", "f64w8hw" -> { stages = 3; stageTokens = 64; }
            case "t32" -> { stages = layout.headDim() >= 128 ? 3 : 4; stageTokens = 32; }
            default -> throw new IllegalArgumentException("chunkserve.cuda.attnVariant: unknown partials variant " + variant + " (v0, f64, f64z, f64w8, f64w8p, f64w8h, f64w8hw, t32)");
        }
        int d0 = layout.headDim();
        partials = CudaDevice.function(module, "cs_attn_partials_" + t + "_" + kernelOf(variant, d0));
        partialsThreads = threadsOf(variant, d0);
        merge = CudaDevice.function(module, "cs_attn_merge_" + t);
        append = CudaDevice.function(module, "cs_kv_append16");
        fill = CudaDevice.function(module, "cs_fill_random16");
        readAll = CudaDevice.function(module, "cs_read_all");
        hPartials = Launcher.handle(partials);
        hPartialsDiag[0] = hPartials;
        threadsDiag[0] = partialsThreads;
        smemDiag[0] = smemBytesFor(variant, d0, stages, stageTokens);
        if ((variant.equals("f64") || variant.equals("f64z")) && layout.dtype() == DType.BF16) {
            for (int i = 1; i <= 3; i++) diagSlot(i, t, i < 3 ? "f64d" + i : variant.equals("f64") ? "f64z" : "f64", "f64", stages, stageTokens);
        }
        if (variant.equals("f64z") || (variant.startsWith("f64w8") && !variant.equals("f64w8hw"))) {   // (f64w8hw's plans: 8 warp items a block)
            String[] others = variant.equals("f64z") ? new String[] {"f64w8"} : variant.equals("f64w8") ? new String[] {"f64z"} : new String[] {"f64z", "f64w8"};
            for (int i = 0; i < others.length; i++) diagSlot(4 + i, t, kernelOf(others[i], d0), others[i], stages, stageTokens);
        }
        if (layout.dtype() == DType.BF16 && (variant.equals("f64z") || variant.startsWith("f64w8h"))) {
            // diagnostics 6 - 9: the timeline twins of the default kernels (see timeline())
            String k = kernelOf(variant, d0);
            diagSlot(6, t, k + "tl", k, stages, stageTokens);
            if (variant.equals("f64w8h") && d0 == 64) {
                diagSlot(7, t, "f64ztl", "f64z", stages, stageTokens);
                diagSlot(8, t, "f64w8htld1", "f64w8h", stages, stageTokens);
                diagSlot(9, t, "f64w8htld2", "f64w8h", stages, stageTokens);
            }
        }
        for (int i = 0; i < hMerges.length; i++) {
            hMerges[i] = Launcher.handle(i == 0 ? merge : CudaDevice.function(module, "cs_attn_merge_" + t + "_" + MERGE_VARIANTS.get(i)));
        }
        for (int i = 1; i < hMergeTl.length && layout.dtype() == DType.BF16; i++) {   // after a captured partials launch, its merge too
            hMergeTl[i] = Launcher.handle(CudaDevice.function(module, "cs_attn_merge_" + t + "_" + MERGE_VARIANTS.get(i) + "_tl"));
        }
        mergeVariant(System.getProperty("chunkserve.cuda.mergeVariant", DEFAULT_MERGE));
        int d = layout.headDim();
        smemBytes = smemBytesFor(variant, d, stages, stageTokens);
        if (smemBytes > device.maxSharedPerBlockOptin()) {
            throw new CudaUnavailableException("CUDA unavailable: the attention kernel needs " + smemBytes + " B of shared memory per block, the device offers " + device.maxSharedPerBlockOptin());
        }
        CudaDevice.setDynamicShared(partials, smemBytes);
        blocksPerSm = Math.max(1, CudaDevice.blocksPerMultiprocessor(partials, partialsThreads, smemBytes));
        boolean eightWarps = partialsThreads > THREADS;
        // f64w8: plans as for the 4-warp kernel of the same shared memory (its one-wave rule's slots), see W8_PLAN
        if (eightWarps) {
            CUfunction four = CudaDevice.function(module, "cs_attn_partials_" + t + "_f64z");
            int fourSmem = smemBytesFor(d, stages, stageTokens);
            CudaDevice.setDynamicShared(four, fourSmem);
            planBlocksPerSm = Integer.getInteger("chunkserve.cuda.planBlocksPerSm", Math.max(1, CudaDevice.blocksPerMultiprocessor(four, THREADS, fourSmem)));
        } else {
            planBlocksPerSm = blocksPerSm;
        }
        // warp items (f64 kernels only): -Dchunkserve.cuda.warpItems=auto (default) | always (checks) | off (A/B)
        String wm = System.getProperty("chunkserve.cuda.warpItems", "auto");
        warpItems = switch (wm) {
            case "auto" -> CudaPlan.WARP_AUTO;
            case "always" -> CudaPlan.WARP_ALWAYS;
            case "off" -> CudaPlan.WARP_OFF;
            default -> throw new IllegalArgumentException("chunkserve.cuda.warpItems: " + wm + " (auto, always, off)");
        };
        if (!variant.startsWith("f64")) warpItems = CudaPlan.WARP_OFF;
        privateSplit = parsePrivateSplit(System.getProperty("chunkserve.cuda.privateSplit", eightWarps ? W8_PRIVATE_SPLIT : DEFAULT_PRIVATE_SPLIT));
        // -Dchunkserve.cuda.dependentMerge=false: plain merge launches (A/B through the engine)
        dependentMerge = device.computeCapability() >= 90 && Boolean.parseBoolean(System.getProperty("chunkserve.cuda.dependentMerge", "true"));
    }

    /**
     * Diagnostics slot {@code slot}: kernel cs_attn_partials_{t}_{name}, with the block size and dynamic shared memory of
     * partials variant {@code sizeOf}.
     */
    private void diagSlot(int slot, String t, String name, String sizeOf, int stages, int stageTokens) {
        int d = layout.headDim();
        CUfunction f = CudaDevice.function(module, "cs_attn_partials_" + t + "_" + name);
        smemDiag[slot] = smemBytesFor(sizeOf, d, stages, stageTokens);
        CudaDevice.setDynamicShared(f, smemDiag[slot]);
        hPartialsDiag[slot] = Launcher.handle(f);
        threadsDiag[slot] = threadsOf(sizeOf, d);
    }

    public KvLayout layout() { return layout; }

    public int qHeads() { return qHeads; }

    /** Warp item mode of the plans ({@link CudaPlan#WARP_OFF}, {@code WARP_AUTO}, {@code WARP_ALWAYS}). */
    public int warpItems() { return warpItems; }

    /** Sets the warp item mode (f64 kernels only; others stay off). Takes effect at the next rebuild. */
    public void warpItems(int mode) {
        warpItems = variant.startsWith("f64") ? mode : CudaPlan.WARP_OFF;
        plan = null;
    }

    /**
     * Default of {@code -Dchunkserve.cuda.privateSplit=auto|off|N}: whether the one-wave plan with warp items may
     * cut each sequence's private chunk list into several warp items ({@link CudaPlan.Shape#privateSplit()}).
     * Off: through the engine at B = 64 on an H200 (BENCHMARKS.md, issue 7, session 7 {@code s7-gattn}) auto cut
     * the 1B private lists in 2 (384 blocks, longest item 8 tiles instead of 12) and its profiled attention fell
     * ~0.01 ms, but the unprofiled step was 0.006 ms slower (1.589 vs 1.583 ms, 3 + 3 alternated runs); 8B equal.
     */
    static final String DEFAULT_PRIVATE_SPLIT = "off";

    /**
     * The plan of the 8-warp kernels (f64w8 at head dim 64): private lists split by the auto rule (default of
     * {@code -Dchunkserve.cuda.privateSplit} there), and the one-wave rule counting the slots of the 4-warp kernel with
     * the same shared memory (3 an SM at d64; the 8-warp blocks reside 2 an SM): at 1B B = 64 that is the session-7
     * split-auto plan (4 group pieces of 8 tiles, each private list in 2 warp items, 384 blocks), which ran faster with
     * 8-warp group items than the one-wave plans of their own occupancy (BENCHMARKS.md, issue 7, session 10). Plans
     * whose private lists stay whole run the f64z kernel (4 warps): there the 8-warp one measured slower (1B B = 64
     * with the session-5 plan +0.008 to +0.011 ms a step, B = 128 +0.01 to +0.05), beside split lists faster (B = 64
     * −0.037 to −0.039 ms, B = 32 −0.055).
     */
    static final String W8_PRIVATE_SPLIT = "auto";

    /** auto → {@link CudaPlan#SPLIT_AUTO}, off → {@link CudaPlan#SPLIT_OFF}, N ≥ 2 → N (forced pieces, checks). */
    public static int parsePrivateSplit(String s) {
        return switch (s) {
            case "auto" -> CudaPlan.SPLIT_AUTO;
            case "off" -> CudaPlan.SPLIT_OFF;
            default -> {
                int n;
                try {
                    n = Integer.parseInt(s);
                } catch (NumberFormatException e) {
                    n = -1;
                }
                if (n < 2) throw new IllegalArgumentException("chunkserve.cuda.privateSplit: " + s + " (auto, off, or a piece count >= 2)");
                yield n;
            }
        };
    }

    /** Private list split mode of the plans (see {@link #parsePrivateSplit}). */
    public int privateSplit() { return privateSplit; }

    /** Sets the private list split mode ({@link CudaPlan#SPLIT_AUTO}, {@code SPLIT_OFF} or N ≥ 2). Takes effect at the next rebuild. */
    public void privateSplit(int mode) {
        if (mode < CudaPlan.SPLIT_AUTO) throw new IllegalArgumentException("private split " + mode);
        privateSplit = mode;
        plan = null;
    }

    /** Warp items a warp block of the kernel: 8 for f64w8hw's 8-warp kernels (every warp its own), else 4. */
    int warpsPerBlock() { return kernelOf(variant, layout.headDim()).equals("f64w8hw") ? 8 : 4; }

    /** The kernel name suffix of a partials variant at head dim d (f64w8 has 8-warp kernels at d = 64 only). */
    static String kernelOf(String variant, int d) {
        return variant.startsWith("f64w8") && d != 64 ? "f64z" : variant;
    }

    /** Threads a partials block of the variant at head dim d. */
    static int threadsOf(String variant, int d) {
        return kernelOf(variant, d).startsWith("f64w8") ? 2 * THREADS : THREADS;
    }

    /**
     * Dynamic shared memory of the variant's kernel: f64w8p's warp blocks hold 8 warps' query copies and stages; f64w8h
     * aligns its tiles to 1 KiB (the wgmma swizzle atoms) inside 1 KiB more.
     */
    static int smemBytesFor(String variant, int d, int stages, int stageTokens) {
        int base = smemBytesFor(d, stages, stageTokens);
        String k = kernelOf(variant, d);
        int eightItems = Math.max(base, 8 * (16 * d + stages * 2 * 16 * d) * 2);   // 8 warps' query copies and stages
        if (k.equals("f64w8h")) return base + 1024;
        if (k.equals("f64w8hw")) return eightItems + 1024;
        return k.equals("f64w8p") ? eightItems : base;
    }

    private static int smemBytesFor(int d, int stages, int stageTokens) {
        return (CudaPlan.ROWS * d + stages * 2 * stageTokens * d) * 2 + 2 * CudaPlan.ROWS * 4;   // + row sequences, items
    }

    /**
     * Diagnostics only (CudaServeBench --attn-ab …:diag): 0 = the partials kernel; 1 = its block items' K/V loads
     * without the tile math; 2 = the tile math without the K/V loads (bf16 f64/f64z only; outputs are garbage); 3 = the
     * other of f64 / f64z (an A/B arm with correct outputs: the softmax's 2^x as exp2f vs ex2.approx.ftz); 4 = the other of
     * f64z / f64w8 (an A/B arm with correct outputs: 4- vs 8-warp blocks; the plan stays the one built for the variant's
     * occupancy); 5 = f64w8 under f64w8p / f64w8h (the A/B arm of the warpgroup-MMA kernel); 6 = the kernel, and its
     * timeline instance for the launch {@link #armTimeline} picks ({@link #timeline}; bf16 f64z / f64w8h only); 8 / 9 =
     * as 6 with f64w8h's K/V loads alone / tile math alone in that launch (block and warp items; garbage outputs).
     */
    void partialsDiag(int mode) {
        if (mode < 0 || mode >= hPartialsDiag.length || hPartialsDiag[mode] == 0) throw new IllegalArgumentException("partials diagnostics " + mode + " not built for this kernel");
        partialsDiag = mode;
    }

    /** The partials kernel variant in use (v0, f64, f64z, f64w8, t32). */
    public String variant() { return variant; }

    /** Resident partials blocks per multiprocessor (occupancy). */
    public int blocksPerMultiprocessor() { return blocksPerSm; }

    /** Fixes the piece size (tiles) for experiments; 0 restores the cost model. Takes effect at the next rebuild. */
    public void forceTilesPerPiece(int tiles) {
        forcedTilesPerPiece = tiles;
        plan = null;
    }

    /**
     * true (the default): rows of a sequence that one work item holds are normalised and written by the partials
     * kernel, and the merge launch is left out when no sequence needs it; for a plan without such rows the
     * kernels run as with false (measured on an H200: the direct-write bookkeeping cost up to 13% there); false:
     * every row goes through a partial record and the merge (the earlier path, for comparisons and checks).
     */
    public void directWrites(boolean on) { direct = on; }

    public boolean directWrites() { return direct; }

    /**
     * Whether the merge is launched as a programmatic dependent of the partials kernel (default: on sm_90 and
     * newer, where the kernels carry the griddepcontrol instructions): its launch then overlaps the partials'
     * last wave instead of following their completion. false: a plain launch (comparisons).
     */
    public void dependentMerge(boolean on) { dependentMerge = on; }

    public boolean dependentMerge() { return dependentMerge; }

    private boolean dependentPartials;

    /**
     * Whether the partials kernel is launched as a programmatic dependent of the kernel before it (sm_90+ only;
     * default off): it reads its plan first and waits in {@code griddepcontrol.wait} before loading queries and
     * K/V. For a caller whose previous kernel wrote them (the model runner's q/k/v epilogue, which triggers early).
     */
    public void dependentPartials(boolean on) { dependentPartials = on && device.computeCapability() >= 90; }

    private boolean skipMerge;
    private OpProfile profile;

    /** Benchmarks: the runner's op profile, which then times the merge launch as its own category. */
    void profile(OpProfile p) { profile = p; }

    /**
     * Diagnostics only (CudaServeBench --skip-ab merge): leave the merge launch out (the split sequences' outputs
     * then keep stale values), to measure what the merge adds to the step.
     */
    void skipMerge(boolean on) { skipMerge = on; }

    private boolean skipPrivate;

    /** Diagnostics only (CudaServeBench --skip-ab private): the partials launched with their block items only (warp items left out). */
    void skipPrivate(boolean on) { skipPrivate = on; }

    /** Benchmarks: whether the grid prefetches the plan arrays into L2 (default true). */
    void prefetchPlan(boolean on) { prefetchPlan = on; }

    private PinnedStage stage;

    /** How many times a plan was built and uploaded. */
    public long planUploads() { return planUploads; }

    /** The current plan (after {@link #prepare}). */
    public CudaPlan plan() { return plan; }

    /**
     * Readies a decode step: rebuilds and uploads the plan only when the batch's structure changed (or the
     * sharing mode), always uploads the lengths (B ints).
     *
     * @return true when the plan was rebuilt
     */
    public boolean prepare(int[][] tables, int[] lengths, boolean sharing) {
        device.makeCurrent();
        boolean rebuild = plan == null || plan.sharing() != sharing || !plan.sameStructure(tables, lengths);
        if (rebuild) {
            CudaPlan.Shape shape = new CudaPlan.Shape(layout.kvHeads(), groupSize, layout.headDim(), layout.chunkSize(),
                    device.multiprocessors(), planBlocksPerSm, forcedTilesPerPiece, warpItems, privateSplit, warpsPerBlock());
            plan = CudaPlan.build(tables, lengths, sharing, shape);
            int[][] sections = {plan.items, plan.chunkIds, plan.rowSeqs, plan.seqInfo, plan.mergeEnt};
            int[] offsets = new int[sections.length];
            int total = 0;
            for (int i = 0; i < sections.length; i++) {
                offsets[i] = total;
                total += (sections[i].length + 3) & ~3;
            }
            int[] packed = new int[total];
            for (int i = 0; i < sections.length; i++) System.arraycopy(sections[i], 0, packed, offsets[i], sections[i].length);
            dPlan = upload(dPlan, packed);
            offChunkIds = offsets[1];
            offRowSeqs = offsets[2];
            offSeqInfo = offsets[3];
            offMergeEnt = offsets[4];
            planLines = (int) ((4L * total + 127) / 128);
            planDirect = plan.hasDirectRows();
            planMerge = plan.needsMerge();

            dPartO = DeviceBuffer.atLeast(dPartO, (long) plan.records() * layout.headDim() * 4);
            dPartML = DeviceBuffer.atLeast(dPartML, (long) plan.records() * 8);
            planUploads++;
        } else {
            plan.updateLengths(lengths);
        }
        dLens = upload(dLens, lengths);
        return rebuild;
    }

    private DeviceBuffer upload(DeviceBuffer b, int[] a) {
        DeviceBuffer r = DeviceBuffer.atLeast(b, 4L * a.length);
        if (stage != null) stage.upload(r.ptr(), a, a.length);
        else r.upload(a);
        return r;
    }

    /**
     * Makes {@link #prepare} queue its uploads from {@code s} (page-locked, asynchronous; the caller begins its
     * steps on it) instead of plain copies that wait for the device: for a caller that queues steps back to back.
     */
    void stageUploads(PinnedStage s) { stage = s; }

    /**
     * The merge kernels: plain = its merge entries read after the dependency wait (session 8); pre = the first 4
     * entries (plan data, not written by the partials) read before the wait (−0.003 to −0.005 ms a step at 1B B = 64,
     * BENCHMARKS.md issue 7 session 9); prel = pre with the first 4 records' loads issued together before their
     * arithmetic (the default since session 24: the merge's work after its wait 2.5–3.0 → 1.8–1.9 µs a layer, the step
     * −0.026 ms at 1B B = 64, −0.009 at 8B; the same arithmetic in the same order).
     */
    public static final java.util.List<String> MERGE_VARIANTS = java.util.List.of("plain", "pre", "prel");
    public static final String DEFAULT_MERGE = "prel";

    /** Picks the merge kernel ({@link #MERGE_VARIANTS}; -Dchunkserve.cuda.mergeVariant). */
    public void mergeVariant(String name) {
        int i = MERGE_VARIANTS.indexOf(name);
        if (i < 0) throw new IllegalArgumentException("chunkserve.cuda.mergeVariant: " + name + " " + MERGE_VARIANTS);
        mergeVariant = i;
    }

    public String mergeVariant() { return MERGE_VARIANTS.get(mergeVariant); }

    /** Launches one layer's decode attention for the prepared plan (asynchronous, default stream). */
    public void decode(int layer, CUdeviceptr q, CUdeviceptr out) {
        if (plan == null) throw new IllegalStateException("prepare() first");
        int hkv = layout.kvHeads(), d = layout.headDim();
        boolean directNow = direct && planDirect;
        float scaleLog2 = (float) (1.0 / Math.sqrt(d) / Math.log(2.0));
        // through java.lang.foreign (Launcher): JCuda's launch cost ~18 µs of host time each, 2 a layer
        launcher.begin().ptr(kv.keys(layer).ptr()).ptr(kv.values(layer).ptr()).ptr(q).ptr(dPlan.ptr())
                .i32(offChunkIds).i32(offRowSeqs).i32(offSeqInfo).i32(prefetchPlan ? planLines : 0)
                .ptr(dLens.ptr()).ptr(dPartO.ptr()).ptr(dPartML.ptr()).ptr(out)
                .i32(hkv).i32(groupSize).i32(Integer.numberOfTrailingZeros(layout.chunkSize())).f32(scaleLog2).i32(directNow ? 1 : 0)
                .i32(plan.warpStart()).i32(plan.itemCount());
        int blocks = skipPrivate && plan.warpStart() > 0 ? plan.warpStart() * hkv : plan.blockCount();
        boolean tlMode = partialsDiag == 6 || partialsDiag >= 8;
        boolean capture = tlMode && tl.captureNow(plan.batchSize());
        int diag = tlMode && !capture ? 0 : partialsDiag;
        long hp = hPartialsDiag[diag];
        int threads = threadsDiag[diag], smem = smemDiag[diag];
        if ((diag == 0 || diag == 6) && !W8_ALWAYS && (variant.equals("f64w8") || variant.equals("f64w8h")) && partialsThreads > THREADS && plan.privatePieces() == 1) {
            // f64w8 / f64w8h: the 8-warp kernel only beside split private lists; other plans run the f64z kernel (W8_PRIVATE_SPLIT)
            int slot = diag == 6 ? 7 : 4;
            hp = hPartialsDiag[slot];
            threads = threadsDiag[slot];
            smem = smemDiag[slot];
        }
        if (capture) tl.capturedPartials(blocks);
        if (dependentPartials) launcher.launchDependent(hp, blocks, 1, threads, smem);
        else launcher.launch(hp, blocks, 1, threads, smem);
        if ((directNow && !planMerge) || skipMerge) return;
        if (profile != null) profile.mark(OpProfile.C_MERGE);
        int batch = plan.batchSize(), perBlock = THREADS / (d / 4);
        launcher.begin().ptr(dPartO.ptr()).ptr(dPartML.ptr()).ptr(dPlan.ptr()).i32(offSeqInfo).i32(offMergeEnt).ptr(out)
                .i32(batch).i32(qHeads).i32(groupSize).i32(directNow ? 1 : 0);
        int grid = (batch * qHeads + perBlock - 1) / perBlock;
        long hMerge = hMerges[mergeVariant];
        if (capture && hMergeTl[mergeVariant] != 0) {   // diagnostics: its merge too
            hMerge = hMergeTl[mergeVariant];
            tl.capturedMerge(grid);
        }
        if (dependentMerge) {
            launcher.launchDependent(hMerge, grid, 1, THREADS, 0);
        } else {
            launcher.launch(hMerge, grid, 1, THREADS, 0);
        }
    }

    /**
     * Writes n new tokens' K and V (device arrays (n, kvHeads, headDim)) into layer's slabs at (chunk[t], slot[t])
     * (device int arrays). Asynchronous, default stream.
     */
    public void append(int layer, CUdeviceptr kNew, CUdeviceptr vNew, CUdeviceptr chunk, CUdeviceptr slot, int n) {
        if (n == 0) return;
        long pieces = (long) n * layout.kvHeads() * (layout.headDim() / 8);
        int blocks = (int) Math.min((pieces + 255) / 256, 65535);
        Pointer p = Pointer.to(Pointer.to(kv.keys(layer).ptr()), Pointer.to(kv.values(layer).ptr()), Pointer.to(kNew), Pointer.to(vNew),
                Pointer.to(chunk), Pointer.to(slot), Pointer.to(new int[] {n}), Pointer.to(new int[] {layout.kvHeads()}),
                Pointer.to(new int[] {Integer.numberOfTrailingZeros(layout.chunkSize())}), Pointer.to(new int[] {layout.headDim()}));
        cuLaunchKernel(append, blocks, 1, 1, 256, 1, 1, 0, null, p, null);
    }

    /** Fills {@code elements} 16-bit values at {@code ptr} with uniform [-1, 1) values of the cache's dtype. */
    public void fillRandom(CUdeviceptr ptr, long elements, int seed) {
        int blocks = (int) Math.min((elements + 255) / 256, 8L * device.multiprocessors() * 16);
        Pointer p = Pointer.to(Pointer.to(ptr), Pointer.to(new long[] {elements}), Pointer.to(new int[] {seed}),
                Pointer.to(new int[] {layout.dtype() == DType.BF16 ? 1 : 0}));
        cuLaunchKernel(fill, Math.max(blocks, 1), 1, 1, 256, 1, 1, 0, null, p, null);
    }

    /**
     * Reads every byte of {@code buf} (asynchronously): benchmarks flush L2 with it before a timed launch. Reads
     * leave clean lines behind; a memset would leave dirty ones whose write-back lands inside the timed region.
     */
    public void readAll(DeviceBuffer buf) {
        int blocks = 4 * device.multiprocessors() * 8;
        Pointer p = Pointer.to(Pointer.to(buf.ptr()), Pointer.to(new long[] {buf.bytes() / 16}), Pointer.to(buf.ptr()));
        cuLaunchKernel(readAll, blocks, 1, 1, 256, 1, 1, 0, null, p, null);
    }

    /** Launches one block of 32 threads that reads the first 16 bytes of {@code buf} (benchmarks: the launch floor). */
    void readOne(DeviceBuffer buf) {
        Pointer p = Pointer.to(Pointer.to(buf.ptr()), Pointer.to(new long[] {1}), Pointer.to(buf.ptr()));
        cuLaunchKernel(readAll, 1, 1, 1, 32, 1, 1, 0, null, p, null);
    }

    /**
     * Diagnostics only (with {@code partialsDiag(6)}): the next launch whose plan holds ≥ minBatch sequences, after
     * {@code skip} such launches, runs the timeline instance; {@link #timeline} then returns what it recorded.
     */
    void armTimeline(int minBatch, int skip) { tl.arm(minBatch, skip); }

    /** Diagnostics only: whether the launch just queued was the captured one (then false until the next capture). */
    boolean takeCaptured() { return tl.takeCaptured(); }

    /**
     * Diagnostics only: the timeline of the launch {@link #armTimeline} captured (waits for the device; empty when none
     * was): per block b, 6 values at [6b ..] — globaltimer ns at the block's start and after its dependency wait, the
     * latest end of its warps, clock64 after the wait and at the end, and smid | warp block &lt;&lt; 8 | rows &lt;&lt; 16 |
     * item tokens &lt;&lt; 32 (attention.cu, DIAG 3); then, when a "pre" / "prel" merge ran after it, the merge launch's
     * blocks as records of the same form (cs_merge_tl; info smid | 1 &lt;&lt; 9). Read once.
     */
    long[] timeline() {
        device.makeCurrent();
        return tl.read(module);
    }


    /** Fills the partial buffers with NaN, so that a record the merge reads but no block wrote shows (tests). */
    public void poisonScratch() {
        if (dPartO != null) dPartO.fill32(0x7fc00000);
        if (dPartML != null) dPartML.fill32(0x7fc00000);
    }

    /** Device bytes of the plan and partial buffers. */
    public long scratchBytes() {
        long n = 0;
        for (DeviceBuffer b : new DeviceBuffer[] {dPlan, dLens, dPartO, dPartML}) {
            if (b != null) n += b.bytes();
        }
        return n;
    }

    @Override
    public void close() {
        for (DeviceBuffer b : new DeviceBuffer[] {dPlan, dLens, dPartO, dPartML}) {
            if (b != null) b.close();
        }
        cuModuleUnload(module);
    }
}
