package io.chunkserve.runtime.cuda;

import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;

/**
 * The decode-sized GEMM of model.cu ({@code cs_gemm_skinny_*}): y (T, n) fp32 (+)= x (T, k) · Wᵀ with W (n, k) and
 * x bf16, T ≤ 128, k a multiple of 64. Streams each weight byte once through a cp.async pipeline into tensor
 * cores; when the row blocks alone cannot fill the GPU, k is split into slices whose partial sums are added
 * atomically ({@code splitk=atomic}, the default: in arrival order, so such shapes' fp32 sums are not bitwise
 * reproducible run to run, ~1e-7 relative) or in slice order (session 19,
 * {@code -Dchunkserve.cuda.gemmOptions=vec:splitk=ordered}: each block stores its partial tile, then
 * {@code cs_splitk_reduce} adds the slices in slice order — the same bits every run, at a cost). Kernel
 * variants differ in rows a warp (16·mt), warps a block and pipeline stages; for 32 < T ≤ 64 the wide ones
 * (several 16-row tiles a warp: x's shared-memory reads per weight byte fall as 1/mt). Chosen over cuBLAS for the
 * shapes where CudaGemmBench measured it faster (BENCHMARKS.md). On sm_90 and newer it launches as a programmatic
 * dependent of the kernel before it (its first weight stages load while that kernel finishes); on the legacy
 * default stream.
 *
 * <p>Session 6 ({@link Options}, {@code -Dchunkserve.cuda.gemmOptions=vec|direct}, switchable at run time for A/B):
 * {@code vec} (the default) stages the y = / y += / atomic epilogue through shared memory and writes (token, 4 rows)
 * pieces: 16-byte stores and, for split-k, 16-byte {@code red.global.add.v4.f32} (sm_90) instead of one 4-byte
 * atomic an element; {@code direct}: the per-fragment epilogue of sessions 2-5.
 */
public final class SkinnyGemm {
    /**
     * One compiled variant: cs_gemm_skinny_{name}, nt tokens, mt 16-row tiles a warp, warps a block, stages; wg: the
     * tensor-core step as warpgroup MMAs (sm_90a; 1 KiB more shared memory for the tiles' 1 KiB alignment).
     */
    record Variant(String name, int nt, int mt, int warps, int stages, boolean wg) {
        Variant(String name, int nt, int mt, int warps, int stages) { this(name, nt, mt, warps, stages, false); }
        int rows() { return 16 * mt * warps; }
        int threads() { return 32 * warps; }
        int smem() { return stages * (rows() + nt) * 64 * 2 + (wg ? 1024 : 0); }
    }

    static final Variant[] VARIANTS = {
            new Variant("t16", 16, 1, 4, 4), new Variant("t32", 32, 1, 4, 4), new Variant("t64", 64, 1, 4, 4),
            new Variant("t128", 128, 1, 4, 4),
            new Variant("t64_m2w4s4", 64, 2, 4, 4), new Variant("t64_m2w4s3", 64, 2, 4, 3), new Variant("t64_m4w4s4", 64, 4, 4, 4),
            new Variant("t64_m2w8s4", 64, 2, 8, 4), new Variant("t32_m2w4s4", 32, 2, 4, 4), new Variant("t64_m2w7s4", 64, 2, 7, 4),
            // session 7: 64-row blocks, 6 stages (the 1B fused gate|up)
            new Variant("t64_m1w4s6", 64, 1, 4, 6),
            // session 21: warpgroup MMAs (64-row warpgroups, x read once a warpgroup)
            new Variant("t64_wg1s4", 64, 1, 4, 4, true), new Variant("t64_wg1s6", 64, 1, 4, 6, true),
            new Variant("t64_wg1s8", 64, 1, 4, 8, true), new Variant("t64_wg2s4", 64, 1, 8, 4, true),
            new Variant("t64_wg2s6", 64, 1, 8, 6, true), new Variant("t64_wg3s4", 64, 1, 12, 4, true),
            new Variant("t64_wg4s4", 64, 1, 16, 4, true), new Variant("t64_wg1s5d", 64, 1, 4, 5, true),
            new Variant("t64_wg2s5d", 64, 1, 8, 5, true),
            // the same for 16 < T ≤ 32 and 64 < T ≤ 128
            new Variant("t32_wg1s4", 32, 1, 4, 4, true), new Variant("t32_wg1s6", 32, 1, 4, 6, true),
            new Variant("t32_wg2s4", 32, 1, 8, 4, true), new Variant("t128_wg1s4", 128, 1, 4, 4, true),
            new Variant("t128_wg2s3", 128, 1, 8, 3, true), new Variant("t128_wg2s4", 128, 1, 8, 4, true),
            new Variant("t128_wg1s6", 128, 1, 4, 6, true),
            // and T ≤ 8, 8 < T ≤ 16 (the t8 ones have no mma.sync fallback: compute capability 9.0 only)
            new Variant("t8_wg1s8", 8, 1, 4, 8, true), new Variant("t8_wg1s12", 8, 1, 4, 12, true),
            new Variant("t8_wg2s6", 8, 1, 8, 6, true), new Variant("t16_wg1s6", 16, 1, 4, 6, true),
            new Variant("t16_wg1s8", 16, 1, 4, 8, true), new Variant("t16_wg2s6", 16, 1, 8, 6, true)};
    private static final int T16 = 0, T32 = 1, T64 = 2, T128 = 3, W7 = 9, GU64 = 10;
    // the warpgroup variants the policy names (indices into VARIANTS)
    static final int WG1S6 = variantIndex("t64_wg1s6"), WG2S4 = variantIndex("t64_wg2s4"), WG2S6 = variantIndex("t64_wg2s6"),
            WG4S4 = variantIndex("t64_wg4s4"), WG2S5D = variantIndex("t64_wg2s5d"), T32_WG1S4 = variantIndex("t32_wg1s4"),
            T32_WG1S6 = variantIndex("t32_wg1s6"), T32_WG2S4 = variantIndex("t32_wg2s4"), T128_WG1S4 = variantIndex("t128_wg1s4"),
            T128_WG2S3 = variantIndex("t128_wg2s3"), T128_WG2S4 = variantIndex("t128_wg2s4"), T128_WG1S6 = variantIndex("t128_wg1s6"),
            T8_WG1S8 = variantIndex("t8_wg1s8"), T8_WG1S12 = variantIndex("t8_wg1s12"), T8_WG2S6 = variantIndex("t8_wg2s6"),
            T16_WG1S6 = variantIndex("t16_wg1s6"), T16_WG1S8 = variantIndex("t16_wg1s8"), T16_WG2S6 = variantIndex("t16_wg2s6");
    /** Tokens of each warpgroup class: 0 = 16 < T ≤ 32, 1 = 32 < T ≤ 64, 2 = 64 < T ≤ 128, 3 = 8 < T ≤ 16, 4 = T ≤ 8. */
    static final int[] WG_NT = {32, 64, 128, 16, 8};
    /** The fused gate|up's warpgroup candidates per class, in order of preference on a tie (see {@link #wgGateUp}). */
    private static final int[][] WG_GATE_UP = {{T32_WG1S6, T32_WG1S4, T32_WG2S4}, {WG1S6, WG2S6, WG2S4, WG4S4},
            {T128_WG1S4, T128_WG1S6, T128_WG2S3, T128_WG2S4}, {T16_WG1S6, T16_WG1S8, T16_WG2S6}, {T8_WG1S8, T8_WG1S12, T8_WG2S6}};
    /** Per class: the split-k GEMMs' variant for "small" matrices ({@link #wideShape}), for the others and LM heads. */
    private static final int[] WG_SMALL = {T32_WG1S6, WG2S5D, T128_WG1S4, T16_WG1S8, T8_WG1S12},
            WG_OTHER = {T32_WG1S6, WG2S4, T128_WG1S4, T16_WG1S8, T8_WG1S12};
    /**
     * Token classes the warpgroup variants serve by default (bit i = class i of {@link #WG_NT}): T ≤ 8, 16, 32, 64
     * (session 21, the step on the H200 against session 20's kernels: B = 1 1B −14 %, 8B −4 %; B = 16 −16 % / −9 %; B = 32
     * −12 % / −5.5 %; B = 64 −10 % / −5 %); not 64 < T ≤ 128, where cuBLAS stays (B = 128: 1B level, 8B 10 % faster than
     * t128_wg*; {@code wg=on} turns it on for A/B).
     */
    static final int DEFAULT_WG_CLASSES = 1 | 2 | 8 | 16;

    /**
     * The session-6 options (class comment): the epilogue, "direct" (per fragment) or "vec" (staged, 16-byte); session
     * 7 adds, for 32 < T ≤ 64, the variant of the fused gate|up GEMM ({@code gu=NAME}, -1: the size rule of
     * {@link #runSiluMul}), of the other GEMMs below the LM head ({@code res=NAME}: q|k|v, o, down; -1: the wide
     * default) and a cap on their k-slices ({@code slices=N}, 0: none): "vec:gu=t64_m1w4s6:res=t64:slices=8"; session
     * 19, how k-slices are summed ({@code splitk=atomic}, the default, or {@code ordered}: the same bits every run, at a
     * cost — BENCHMARKS.md issue 7, session 19; ordered needs vec); session 20, {@code splitk=auto} (the default): in
     * slice order for the GEMMs where that measured faster on the H200 (T ≤ 4 over matrices of n and k ≥ 4096: the 8B
     * shape's decode at B = 1, 2, 4 7.1 / 3.1 / 1.5 % faster a step; slower from B = 8), atomically elsewhere; session 21,
     * {@code head=NAME} (the LM head's variant for 32 < T ≤ 64) and {@code wg=on|off} (the warpgroup-MMA variants where
     * the device runs them, {@link #warpgroups}: on by default; off = session 20's choice, for A/B).
     */
    public record Options(boolean vec, int gu, int res, int maxSlices, boolean ordered, boolean auto, int head, int wg) {
        public Options(boolean vec) { this(vec, -1, -1, 0, false, false, -1, DEFAULT_WG_CLASSES); }

        public static Options parse(String spec) {
            String[] f = spec.split(":");
            if (!f[0].equals("direct") && !f[0].equals("vec")) throw new IllegalArgumentException("gemm options: direct or vec, not " + spec);
            int gu = -1, res = -1, head = -1, slices = 0;
            boolean ordered = false, auto = false;
            int wg = DEFAULT_WG_CLASSES;
            for (int i = 1; i < f.length; i++) {
                String[] kv = f[i].split("=", 2);
                if (kv.length != 2) throw new IllegalArgumentException("gemm options: KEY=VALUE after ':', not " + f[i]);
                switch (kv[0]) {
                    case "gu", "res", "head" -> {
                        int v = variantIndex(kv[1]);
                        if (v < 0 || (VARIANTS[v].nt() < 32 && !VARIANTS[v].wg())) throw new IllegalArgumentException("gemm options: no 32-, 64- or 128-token or warpgroup variant " + kv[1]);
                        if (kv[0].equals("gu")) gu = v;
                        else if (kv[0].equals("res")) res = v;
                        else head = v;
                    }
                    case "slices" -> slices = Integer.parseInt(kv[1]);
                    case "wg" -> wg = wgClasses(kv[1]);
                    case "splitk" -> {
                        if (!kv[1].equals("ordered") && !kv[1].equals("atomic") && !kv[1].equals("auto")) {
                            throw new IllegalArgumentException("gemm options: splitk=ordered, atomic or auto, not " + kv[1]);
                        }
                        if (!kv[1].equals("atomic") && !f[0].equals("vec")) throw new IllegalArgumentException("gemm options: splitk=" + kv[1] + " needs vec");
                        ordered = kv[1].equals("ordered");
                        auto = kv[1].equals("auto");
                    }
                    default -> throw new IllegalArgumentException("gemm options: gu, res, head, wg, slices or splitk, not " + kv[0]);
                }
            }
            return new Options(f[0].equals("vec"), gu, res, slices, ordered, auto, head, wg);
        }

        /** The kernel's flags argument (model.cu gemm_skinny). */
        int flags() { return vec ? 1 : 0; }

        /** "on" (every class), "off", or classes by their tokens joined by '+': "64", "32+64", "8+16+64" (see {@link #WG_NT}). */
        static int wgClasses(String v) {
            if (v.equals("on")) return 31;
            if (v.equals("off")) return 0;
            int m = 0;
            for (String c : v.split("\\+")) {
                int bit = -1;
                for (int i = 0; i < WG_NT.length; i++) if (String.valueOf(WG_NT[i]).equals(c)) bit = i;
                if (bit < 0) throw new IllegalArgumentException("gemm options: wg=on, off or token classes 8, 16, 32, 64, 128 joined by '+', not " + v);
                m |= 1 << bit;
            }
            return m;
        }

        static String wgName(int m) {
            if (m == 31) return "on";
            if (m == 0) return "off";
            StringBuilder b = new StringBuilder();
            for (int nt = 8; nt <= 128; nt *= 2)
                for (int i = 0; i < WG_NT.length; i++) if (WG_NT[i] == nt && (m & (1 << i)) != 0) b.append(b.length() > 0 ? "+" : "").append(nt);
            return b.toString();
        }

        @Override public String toString() {
            return (vec ? "vec" : "direct") + (gu >= 0 ? ":gu=" + VARIANTS[gu].name() : "") + (res >= 0 ? ":res=" + VARIANTS[res].name() : "")
                    + (head >= 0 ? ":head=" + VARIANTS[head].name() : "")
                    + (maxSlices > 0 ? ":slices=" + maxSlices : "") + (ordered ? ":splitk=ordered" : "") + (auto ? ":splitk=auto" : "")
                    + (wg == DEFAULT_WG_CLASSES ? "" : ":wg=" + wgName(wg));
        }
    }

    /** Measured by CudaServeBench --gemm-ab on the H200 (BENCHMARKS.md, issue 7, sessions 6 and 20). */
    static final String DEFAULT_OPTIONS = "vec:splitk=auto";
    /** splitk=auto: the most tokens a GEMM summed in slice order has (session 20: faster at T = 1, 2, 4; slower at 8, 16). */
    static final int AUTO_MAX_T = 4;
    private volatile Options options = Options.parse(System.getProperty("chunkserve.cuda.gemmOptions", DEFAULT_OPTIONS));

    /** The session-6 options in force. */
    public Options options() { return options; }

    /** Replaces the session-6 options (benchmarks: A/B in one process). */
    public void configure(Options o) { options = o; }

    private final long[] fns = new long[VARIANTS.length];
    private final long reduce;   // cs_splitk_reduce (splitk=ordered)
    private final int[] occupancy = new int[VARIANTS.length];   // resident blocks per SM
    private final int sms;
    private final Launcher l = new Launcher();
    private final CUmodule module;
    private final long[] fnsTl = new long[VARIANTS.length];   // timeline twins (model.cu TL; 0: none)
    private boolean tlArmed;   // armTimeline: the next run of a variant with a twin runs the twin
    private int tlBlocks;      // blocks of the launch that ran a twin (0: none yet)
    private final boolean pdl;
    private final boolean wgmma;
    /** the variant and target blocks (× SMs) for 32 < T ≤ 64; wide == -1: cuBLAS there (unless forced) */
    private final int wide;
    private final int wideTarget;

    public SkinnyGemm(CUmodule module, CudaDevice device) {
        this.module = module;
        for (int i = 0; i < VARIANTS.length; i++) {
            CUfunction f = CudaDevice.function(module, "cs_gemm_skinny_" + VARIANTS[i].name());
            CudaDevice.setDynamicShared(f, VARIANTS[i].smem());
            fns[i] = Launcher.handle(f);
            occupancy[i] = Math.max(1, CudaDevice.blocksPerMultiprocessor(f, VARIANTS[i].threads(), VARIANTS[i].smem()));
        }
        for (int i : new int[] {WG2S5D, WG2S4}) {   // the o projection's variants at 1B / 8B: their timeline twins (diagnostics)
            CUfunction f = CudaDevice.function(module, "cs_gemm_skinny_" + VARIANTS[i].name() + "_tl");
            CudaDevice.setDynamicShared(f, VARIANTS[i].smem());
            fnsTl[i] = Launcher.handle(f);
        }
        reduce = Launcher.handle(CudaDevice.function(module, "cs_splitk_reduce"));
        sms = device.multiprocessors();
        // the warpgroup variants' sm_90a code runs on compute capability 9.0 only (elsewhere they would run their mma.sync
        // fallback, never measured): -Dchunkserve.cuda.wgmma=false keeps session 20's variants there too
        wgmma = device.computeCapability() == 90 && !"false".equals(System.getProperty("chunkserve.cuda.wgmma"));
        pdl = device.computeCapability() >= 90 && !"false".equals(System.getProperty("chunkserve.cuda.pdl"));
        String w = System.getProperty("chunkserve.cuda.skinnyWide", DEFAULT_WIDE);
        wide = variantIndex(w);
        wideTarget = Integer.getInteger("chunkserve.cuda.skinnyWideWaves", DEFAULT_WIDE_WAVES);
        widePolicy = System.getProperty("chunkserve.cuda.widePolicy", DEFAULT_WIDE_POLICY);
        if (!widePolicy.equals("all") && !widePolicy.equals("small")) throw new IllegalArgumentException("chunkserve.cuda.widePolicy: all or small, not " + widePolicy);
    }

    /** 32 < T ≤ 64: "all" shapes through the wide variant, or the "small" ones only (see {@link #wideShape}). */
    private final String widePolicy;
    static final String DEFAULT_WIDE_POLICY = "all";

    /**
     * Whether the shape goes through the wide variant under the "small" policy: weight matrices of ≤ 16 Mi
     * elements with n < 4096 (1B qkv, o, down), where cuBLAS's fixed cost per call dominates, and LM heads (n ≥ 64 Ki).
     */
    static boolean wideShape(int n, int k) {
        return (n < 4096 && (long) n * k <= (16L << 20)) || n >= 65536;
    }

    /** Measured by CudaGemmBench on the H200 (BENCHMARKS.md, issue 7, session 4). */
    static final String DEFAULT_WIDE = "t64_m2w4s4";
    static final int DEFAULT_WIDE_WAVES = 1;

    /** The index of a variant by name, -1 for "off" / unknown. */
    static int variantIndex(String name) {
        for (int i = 0; i < VARIANTS.length; i++) if (VARIANTS[i].name().equals(name)) return i;
        return -1;
    }

    /** The GEMM policy in words (benchmark output). */
    public String describe() {
        if (wgClass(64) >= 0 || wgClass(32) >= 0) {
            return "warpgroup-MMA skinny kernels for T in classes " + Options.wgName(options.wg()) + " (T<=8 / 16 / 32 / 64 / 128; at T=64 "
                    + VARIANTS[variantFor(64, 2048, 2048)].name() + " for small matrices, " + VARIANTS[variantFor(64, 4096, 4096)].name()
                    + " for the others, gate|up with SiLU·mul fused " + VARIANTS[wgGateUp(64, 16384)].name() + " at n=16384, "
                    + VARIANTS[wgGateUp(64, 28672)].name() + " at n=28672), else cuBLAS"
                    + (pdl ? "; dependent launches" : "") + "; epilogue options " + options;
        }
        return "skinny kernels for T<=32 where they win" + (wide >= 0 ? ", " + VARIANTS[wide].name() + " for 32<T<=64 ("
                + widePolicy + " shapes; gate|up with SiLU·mul fused)" : "") + ", else cuBLAS" + (pdl ? "; dependent launches" : "")
                + "; epilogue options " + options;
    }

    /** Whether launches go as programmatic dependents (sm_90+, unless -Dchunkserve.cuda.pdl=false). */
    public boolean dependentLaunch() { return pdl; }

    /** Whether this kernel can compute the shape (T ≤ 128, k a multiple of 64). */
    public static boolean fits(int T, int k) { return T >= 1 && T <= 128 && k % 64 == 0 && k > 0; }

    /**
     * Whether it should, by CudaGemmBench on the H200: at T ≤ 32 (kernels/bench/2026-11-28-h200-model/run5/gemm.log)
     * it matches or beats cuBLAS when each block streams ≥ 8 k-tiles (8B o −9%, gate_up −9% at T=16, 1B down −5%,
     * LM heads −1 to −5%), with fewer tiles a block's pipeline barely fills (1B qkv: +50%); at 32 < T ≤ 64 the wide
     * variant (session 4, s4-* logs); at T > 64 cuBLAS.
     */
    public boolean prefers(int T, int n, int k) {
        if (!fits(T, k)) return false;
        if (forced) return true;
        if (wgClass(T) >= 0) return true;
        if (T <= 32) return tilesPerSlice(T16, 3, n, k) >= 8;
        return T <= 64 && wide >= 0 && T <= VARIANTS[wide].nt() && (widePolicy.equals("all") || wideShape(n, k));
    }

    /** Tests: {@code -Dchunkserve.cuda.skinnyGemm=force} sends every shape it can compute through it. */
    private final boolean forced = "force".equals(System.getProperty("chunkserve.cuda.skinnyGemm"));

    /**
     * k-tiles a slice. The sessions-2-3 kernels (one row tile a warp): about target × SMs blocks (rounded up). The
     * wide ones: at most target waves of resident blocks (occupancy × SMs), as many as fit: a second, partly filled
     * wave of a memory-bound kernel costs nearly as much as the first (measured: 8B down at 1.09 waves 48 µs, at
     * 0.97 waves 38 µs).
     */
    private int tilesPerSlice(int v, int target, int n, int k) {
        int rowBlocks = (n + VARIANTS[v].rows() - 1) / VARIANTS[v].rows(), kTiles = k / 64;
        int slices = VARIANTS[v].mt() == 1 && v < 4
                ? (target * sms + rowBlocks - 1) / rowBlocks
                : target * occupancy[v] * sms / rowBlocks;
        if (options.maxSlices() > 0 && v >= 4) slices = Math.min(slices, options.maxSlices());
        slices = Math.max(1, Math.min(kTiles, slices));
        return (kTiles + slices - 1) / slices;
    }

    private int variantFor(int T) {
        return T <= 16 ? T16 : T <= 32 ? T32 : T <= 64 && wide >= 0 && T <= VARIANTS[wide].nt() ? wide : T <= 64 ? 2 : T128;
    }

    private int targetFor(int v) { return v == wide || v >= 4 ? wideTarget : 3; }

    /**
     * The variant of a GEMM of this shape. With warpgroup MMAs for T's token class ({@link #wgClass}): the options' res
     * variant below the LM head (head: the LM head's) when it is of that class, else the class's t*_wg variant for
     * "small" matrices ({@link #wideShape}: at T ≤ 64 t64_wg2s5d, the 1B shape's q|k|v, o, down) or for the others and LM
     * heads (t64_wg2s4) (session 21, CudaGemmBench --opts and the step on the H200: BENCHMARKS.md issue 7). Otherwise
     * variantFor(T), for 32 < T ≤ 64 the options' res / head variant when the wide variant is on.
     */
    private int variantFor(int T, int n, int k) {
        int c = wgClass(T);
        int r = n < 65536 ? options.res() : options.head();
        if (c >= 0) {
            int o = ofTokens(r, WG_NT[c]);
            return o >= 0 ? o : n < 65536 && wideShape(n, k) ? WG_SMALL[c] : WG_OTHER[c];
        }
        int v = variantFor(T);
        if (v != wide || T <= 32) return v;
        int o = ofTokens(r, 64);
        return o >= 0 ? o : v;
    }

    /** An options' variant (gu / res / head) where it serves nt-token GEMMs (each applies to its own token class), else -1. */
    private static int ofTokens(int v, int nt) { return v >= 0 && VARIANTS[v].nt() == nt ? v : -1; }

    /**
     * T's token class for the warpgroup variants ({@link #WG_NT}: 0: 16 < T ≤ 32, 1: 32 < T ≤ 64, 2: 64 < T ≤ 128, 3: 8 < T ≤ 16,
     * 4: T ≤ 8) when they serve it —
     * compute capability 9.0 (their sm_90a code) and the class in the options' wg — else -1.
     */
    int wgClass(int T) {
        int c = T < 1 || T > 128 ? -1 : T <= 8 ? 4 : T <= 16 ? 3 : T <= 32 ? 0 : T <= 64 ? 1 : 2;
        return c >= 0 && wgmma && (options.wg() & (1 << c)) != 0 ? c : -1;
    }

    /**
     * The fused gate|up's warpgroup variant for T's class: of the class's candidates ({@link #WG_GATE_UP}) the one
     * whose blocks fill the largest part of one wave (blocks ≤ resident blocks × SMs; ties: the earlier); none in one
     * wave: the class's last-but-one (t64_wg2s4 at T ≤ 64). Measured (session 21): 1B (n = 16,384) t64_wg1s6, 256 blocks
     * at 2 an SM, 20.8 µs vs 26.0 for session 7's t64_m1w4s6; 8B (n = 28,672) t64_wg2s4, 224 blocks, the step's gate|up
     * 2.17 vs 2.37 ms.
     */
    int wgGateUp(int T, int n) { return wgGateUp(Math.max(0, wgClass(T)), n, occupancy, sms); }

    /** {@link #wgGateUp(int, int)} for class c with the variants' resident blocks per SM (by variant index) and the SM count given. */
    static int wgGateUp(int c, int n, int[] occupancy, int sms) {
        int[] cand = WG_GATE_UP[c];
        int best = cand[cand.length - 2];
        double bestFill = 0;
        for (int v : cand) {
            int blocks = (n + VARIANTS[v].rows() - 1) / VARIANTS[v].rows();
            double fill = (double) blocks / ((long) occupancy[v] * sms);
            if (fill <= 1 && fill > bestFill + 1e-9) {
                best = v;
                bestFill = fill;
            }
        }
        return best;
    }

    /** Whether {@link #run} with accumulate == false needs y zeroed first (the k-slices add into it atomically). */
    public boolean splitsK(int T, int n, int k) {
        int v = variantFor(T, n, k);
        return tilesPerSlice(v, targetFor(v), n, k) < k / 64 && !ordered(T, n, k);
    }

    /**
     * Whether k-slices of this GEMM are summed in slice order: splitk=ordered, or splitk=auto at T ≤ 4 with n, k ≥ 4096
     * (the staged epilogue's 4-row pieces need n % 4 == 0).
     */
    private boolean ordered(int T, int n, int k) {
        Options o = options;
        return o.vec() && n % 4 == 0 && (o.ordered() || (o.auto() && autoOrders(T, n, k)));
    }

    /** splitk=auto's rule: the shapes whose k-slices it sums in slice order (T ≤ 4, n and k ≥ 4096). */
    static boolean autoOrders(int T, int n, int k) { return T <= AUTO_MAX_T && n >= 4096 && k >= 4096; }

    /** The ordered split-k's partial tiles (floats, slice-major). Grown, never shrunk; a replaced buffer is freed at
     * {@link #close} only (a kernel queued before may still read it). */
    private DeviceBuffer ws;
    private final java.util.List<DeviceBuffer> retired = new java.util.ArrayList<>();

    private long workspace(long floats) {
        if (ws == null || ws.bytes() < 4 * floats) {
            if (ws != null) retired.add(ws);
            ws = DeviceBuffer.allocate(Math.max(4 * floats, 4L << 20));
        }
        return Cublas.address(ws.ptr());
    }

    /** Frees the ordered split-k's workspace (after the device finished every GEMM). */
    public void close() {
        for (DeviceBuffer b : retired) b.close();
        retired.clear();
        if (ws != null) ws.close();
        ws = null;
    }

    /** y (+)= x · Wᵀ (device addresses); see the class comment. */
    public void run(long w, long x, long y, int T, int n, int k, boolean accumulate) {
        run(w, x, y, T, n, k, accumulate, false);
    }

    /** As {@link #run(long, long, long, int, int, int, boolean)}; yZeroed: the caller zeroed y (split-k, no accumulate). */
    public void run(long w, long x, long y, int T, int n, int k, boolean accumulate, boolean yZeroed) {
        int v = variantFor(T, n, k);
        run(v, targetFor(v), pdl, w, x, y, T, n, k, accumulate, yZeroed);
    }

    /**
     * Whether {@link #runSiluMul} serves this gate|up shape (n = 2·I rows interleaved as DeviceWeights lays them
     * out): 32 < T ≤ 64 with the wide variant on.
     */
    public boolean fusesSiluMul(int T, int n, int k) {
        if (fits(T, k) && wgClass(T) >= 0 && n % 16 == 0) return true;
        return fits(T, k) && T > 32 && T <= 64 && wide >= 0 && T <= VARIANTS[wide].nt() && n % 16 == 0;
    }

    /**
     * act (T, n/2) bf16 = SiLU(gate)·up of x · Wᵀ, W the interleaved gate|up rows (n = 2·I): the GEMM's epilogue
     * (mode 3, one k-slice) replaces the fp32 gate|up output and the SiLU·mul kernel. 224-row blocks when they
     * make one full wave, else the wide variant when its row blocks fill every SM, else 64-row blocks: with 6
     * stages when they fit one wave of its 2 blocks an SM (session 7: 1B gate|up alone 29.8 → 25.7 µs, the step
     * −0.03 ms), else with 4 (8B: 128 blocks of 224 rows; 1B: 256 of 64, 6 stages). The options' gu variant
     * overrides the rule (A/B).
     */
    public void runSiluMul(long w, long x, long act, int T, int n, int k) {
        if (!fusesSiluMul(T, n, k)) throw new IllegalArgumentException("no fused SiLU·mul GEMM for T=" + T + ", n=" + n + ", k=" + k);
        // 224-row blocks when they make one full wave of 1 block an SM (8B: 128 blocks, 65.3 µs vs 69.1 with 128 rows)
        int v7 = W7, b7 = (n + VARIANTS[W7].rows() - 1) / VARIANTS[W7].rows();
        int b64 = (n + VARIANTS[GU64].rows() - 1) / VARIANTS[GU64].rows();
        int c = wgClass(T);
        int g = ofTokens(options.gu(), c >= 0 ? WG_NT[c] : 64);
        int v = g >= 0 ? g : c >= 0 ? wgGateUp(T, n) : b7 * 100 >= 95 * sms && b7 <= occupancy[v7] * sms ? v7
                : (n + VARIANTS[wide].rows() - 1) / VARIANTS[wide].rows() >= sms ? wide
                : b64 <= occupancy[GU64] * sms ? GU64 : T64;
        Variant var = VARIANTS[v];
        l.begin().i64(w).i64(x).i64(act).i32(T).i32(n).i32(k).i32(k).i32(3).i32(0).i64(0L);
        int rowBlocks = (n + var.rows() - 1) / var.rows();
        if (pdl) l.launchDependent(fns[v], rowBlocks, 1, var.threads(), var.smem());
        else l.launch(fns[v], rowBlocks, 1, var.threads(), var.smem());
    }

    /**
     * Diagnostics only: {@code on} — the next {@link #run} launch, if its variant has a timeline twin (the 1B / 8B o
     * projection's t64_wg2s5d / t64_wg2s4), runs the twin ({@link #timeline} then returns its blocks); off — no launch
     * will.
     */
    void armTimeline(boolean on) { tlArmed = on; }

    /**
     * Diagnostics only: the timeline the armed launch recorded (waits for the device; empty when none ran): per block
     * six values as {@link CudaAttention#timeline}'s (model.cu cs_gemm_tl; info smid | 2 &lt;&lt; 9 | row block &lt;&lt; 16 |
     * k-slice &lt;&lt; 32). Read once.
     */
    long[] timeline() {
        long[] r = AttnTimeline.read(module, "cs_gemm_tl", tlBlocks);
        tlBlocks = 0;
        return r;
    }

    /** Resident blocks per SM of variant v. */
    int occupancy(int v) { return occupancy[v]; }

    /** Benchmarks: a given variant (index into VARIANTS) with target × SMs blocks (wide variants: target waves). */
    void run(int v, int target, boolean dependent, long w, long x, long y, int T, int n, int k, boolean accumulate, boolean yZeroed) {
        Variant var = VARIANTS[v];
        if (!fits(T, k) || T > var.nt()) throw new IllegalArgumentException("skinny GEMM " + var.name() + " needs T <= " + var.nt() + " and k % 64 == 0: T=" + T + ", k=" + k);
        if (var.wg() && var.nt() < 16 && !wgmma) throw new IllegalStateException("skinny GEMM " + var.name() + " runs on compute capability 9.0 only");
        int rowBlocks = (n + var.rows() - 1) / var.rows(), kTiles = k / 64;
        int perSlice = tilesPerSlice(v, target, n, k);
        int slices = (kTiles + perSlice - 1) / perSlice;
        int mode = slices == 1 ? (accumulate ? 1 : 0) : ordered(T, n, k) ? 4 : 2;
        boolean memset = mode == 2 && !accumulate && !yZeroed;
        if (memset) zero(y, (long) T * n);
        long wsa = mode == 4 ? workspace((long) slices * rowBlocks * var.nt() * var.rows()) : 0L;
        l.begin().i64(w).i64(x).i64(y).i32(T).i32(n).i32(k).i32(perSlice * 64).i32(mode).i32(options.flags()).i64(wsa);
        long f = fns[v];
        if (tlArmed) {   // diagnostics: this launch with a timeline, when its variant has a twin
            tlArmed = false;
            if (fnsTl[v] != 0) {
                f = fnsTl[v];
                tlBlocks = rowBlocks * slices;
            }
        }
        if (dependent && !memset) l.launchDependent(f, rowBlocks, slices, var.threads(), var.smem());
        else l.launch(f, rowBlocks, slices, var.threads(), var.smem());
        if (mode == 4) {
            // the slices' partial tiles summed in slice order into y (= or +=), one thread a (token, 4 rows) piece
            l.begin().i64(wsa).i64(y).i32(T).i32(n).i32(slices).i32(var.rows()).i32(var.nt()).i32(rowBlocks).i32(accumulate ? 1 : 0);
            int pieces = T * (n / 4);
            if (dependent) l.launchDependent(reduce, (pieces + 255) / 256, 1, 256, 0);
            else l.launch(reduce, (pieces + 255) / 256, 1, 256, 0);
        }
    }

    /** cuMemsetD32Async, bound on first use (the class itself loads without libcuda: its options parse anywhere). */
    private static final class Memset {
        static final java.lang.invoke.MethodHandle H;
        static {
            java.lang.foreign.Linker linker = java.lang.foreign.Linker.nativeLinker();
            java.lang.foreign.SymbolLookup cuda = java.lang.foreign.SymbolLookup.libraryLookup("libcuda.so.1", java.lang.foreign.Arena.global());
            // CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned int ui, size_t n, CUstream s)
            H = linker.downcallHandle(cuda.findOrThrow("cuMemsetD32Async"), java.lang.foreign.FunctionDescriptor.of(
                    java.lang.foreign.ValueLayout.JAVA_INT, java.lang.foreign.ValueLayout.JAVA_LONG, java.lang.foreign.ValueLayout.JAVA_INT,
                    java.lang.foreign.ValueLayout.JAVA_LONG, java.lang.foreign.ValueLayout.JAVA_LONG));
        }
    }

    private static void zero(long y, long words) {
        int st;
        try {
            st = (int) Memset.H.invokeExact(y, 0, words, 0L);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        if (st != 0) throw new IllegalStateException("cuMemsetD32Async failed with CUresult " + st);
    }
}
