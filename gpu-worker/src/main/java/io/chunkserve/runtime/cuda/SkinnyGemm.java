package io.chunkserve.runtime.cuda;

import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;

/**
 * The decode-sized GEMM of model.cu ({@code cs_gemm_skinny_t16/32/64/128}): y (T, n) fp32 (+)= x (T, k) · Wᵀ
 * with W (n, k) and x bf16, T ≤ 128, k a multiple of 64. Streams each weight byte once through a 4-stage
 * cp.async pipeline into tensor cores; when the n/64 row blocks alone cannot fill the GPU, k is split into
 * slices whose partial sums are added atomically (so the fp32 sums of such shapes are not bitwise
 * reproducible run to run, ~1e-7 relative). Chosen over cuBLAS for these shapes by CudaGemmBench's
 * measurement (BENCHMARKS.md). Launches on the legacy default stream.
 */
public final class SkinnyGemm {
    static final int[] NTS = {16, 32, 64, 128};
    private final long[] fns = new long[NTS.length];
    private final int targetBlocks;
    private final Launcher l = new Launcher();

    public SkinnyGemm(CUmodule module, CudaDevice device) {
        for (int i = 0; i < NTS.length; i++) {
            CUfunction f = CudaDevice.function(module, "cs_gemm_skinny_t" + NTS[i]);
            CudaDevice.setDynamicShared(f, smem(NTS[i]));
            fns[i] = Launcher.handle(f);
        }
        targetBlocks = 3 * device.multiprocessors();
    }

    static int smem(int nt) { return 4 * (64 + nt) * 64 * 2; }

    /** Whether this kernel can compute the shape (T ≤ 128, k a multiple of 64). */
    public static boolean fits(int T, int k) { return T >= 1 && T <= 128 && k % 64 == 0 && k > 0; }

    /**
     * Whether it should, by CudaGemmBench on the H200 (kernels/bench/2026-11-28-h200-model/run5/gemm.log): at
     * T ≤ 32 it matches or beats cuBLAS when each block streams ≥ 8 k-tiles (8B o −9%, gate_up −9% at T=16, 1B down
     * −5%, LM heads −1 to −5%); with fewer tiles a block's pipeline barely fills (1B qkv: +50%), and at T ≥ 64
     * the per-warp tensor work and shared-memory reads of x make it 1.3–1.7× slower than cuBLAS.
     */
    public boolean prefers(int T, int n, int k) {
        return fits(T, k) && (forced || (T <= 32 && tilesPerSlice(n, k) >= 8));
    }

    /** Tests: {@code -Dchunkserve.cuda.skinnyGemm=force} sends every shape it can compute through it. */
    private final boolean forced = "force".equals(System.getProperty("chunkserve.cuda.skinnyGemm"));

    private int tilesPerSlice(int n, int k) {
        int rowBlocks = (n + 63) / 64, kTiles = k / 64;
        int slices = Math.max(1, Math.min(kTiles, (targetBlocks + rowBlocks - 1) / rowBlocks));
        return (kTiles + slices - 1) / slices;
    }

    /** y (+)= x · Wᵀ (device addresses); see the class comment. */
    public void run(long w, long x, long y, int T, int n, int k, boolean accumulate) {
        if (!fits(T, k)) throw new IllegalArgumentException("skinny GEMM needs T <= 128 and k % 64 == 0: T=" + T + ", k=" + k);
        int idx = T <= 16 ? 0 : T <= 32 ? 1 : T <= 64 ? 2 : 3;
        int rowBlocks = (n + 63) / 64, kTiles = k / 64;
        int slices = Math.max(1, Math.min(kTiles, (targetBlocks + rowBlocks - 1) / rowBlocks));
        int perSlice = (kTiles + slices - 1) / slices;
        slices = (kTiles + perSlice - 1) / perSlice;
        int mode = slices == 1 ? (accumulate ? 1 : 0) : 2;
        if (mode == 2 && !accumulate) {
            zero(y, (long) T * n);
        }
        l.begin().i64(w).i64(x).i64(y).i32(T).i32(n).i32(k).i32(perSlice * 64).i32(mode)
                .launch(fns[idx], rowBlocks, slices, 128, smem(NTS[idx]));
    }

    private static final java.lang.invoke.MethodHandle MEMSET;
    static {
        java.lang.foreign.Linker linker = java.lang.foreign.Linker.nativeLinker();
        java.lang.foreign.SymbolLookup cuda = java.lang.foreign.SymbolLookup.libraryLookup("libcuda.so.1", java.lang.foreign.Arena.global());
        // CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned int ui, size_t n, CUstream s)
        MEMSET = linker.downcallHandle(cuda.findOrThrow("cuMemsetD32Async"), java.lang.foreign.FunctionDescriptor.of(
                java.lang.foreign.ValueLayout.JAVA_INT, java.lang.foreign.ValueLayout.JAVA_LONG, java.lang.foreign.ValueLayout.JAVA_INT,
                java.lang.foreign.ValueLayout.JAVA_LONG, java.lang.foreign.ValueLayout.JAVA_LONG));
    }

    private static void zero(long y, long words) {
        int st;
        try {
            st = (int) MEMSET.invokeExact(y, 0, words, 0L);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        if (st != 0) throw new IllegalStateException("cuMemsetD32Async failed with CUresult " + st);
    }
}
