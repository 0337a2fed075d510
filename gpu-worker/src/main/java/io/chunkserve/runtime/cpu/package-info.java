/**
 * CPU forward-pass kernels on the Vector API ({@code jdk.incubator.vector}).
 *
 * <h2>Entry points</h2>
 * {@link io.chunkserve.runtime.cpu.CpuKernels}: {@code matmul}, {@code matmulMany} (several
 * weights sharing one input, one dispatch), {@code forRange} (the persistent thread pool), and the
 * static {@code rmsnorm}, {@code siluMul}, {@code add}, {@code dot}, {@code axpy}, {@code row}.
 * Call {@code warmUp()} once at model load: until C2 has compiled them, Vector-API kernels run
 * interpreted, about 100× slower. {@link io.chunkserve.runtime.cpu.MemoryBandwidth} measures the
 * DRAM read roofline; {@link io.chunkserve.runtime.cpu.KernelBench} prints matmul throughput
 * against it.
 *
 * <h2>Matmul paths</h2>
 * out (T, rows) = x (T, cols) · Wᵀ, W in its stored dtype (F32, F16, BF16, little-endian, any
 * alignment). Work is split by row blocks of W (about 4 tasks per thread, claimed dynamically).
 * <ul>
 *   <li>T = 1: 4 rows at a time, widened in registers (bf16: sign-extend, shift left 16; f16: an
 *       exact bit trick; f32: direct), fp32 FMA. Memory-bound for bf16 and f32. One row range per
 *       thread, read as four long streams; a thread done with its range takes the far half of what
 *       another has not claimed ({@link io.chunkserve.runtime.cpu.GemvJob}).</li>
 *   <li>2 ≤ T ≤ 24 with 32 vector registers; with 16 (AVX2) T ≤ 6 on rows under 2048 weights, T ≤ 12 on longer
 *       ones (session 15 measured the packed GEMM ahead beyond: {@code CpuTuning.directMaxT(int)};
 *       {@code chunkserve.cpu.directMaxT} fixes one bound for all): the same in-register widening with a
 *       4 × 4 (rows × tokens) register block (4 × 2 with 16 registers), blocked over 16384 columns (whole rows in
 *       practice: long streams for the prefetcher; 2048-column blocks measured 25% slower) and
 *       64 tokens.</li>
 *   <li>larger T: {@link io.chunkserve.runtime.cpu.Gemm}, a packed GEMM in broadcast form
 *       (8 rows × 32 tokens of accumulators, no horizontal reductions); x is transposed into
 *       token tiles once per call on all threads, W is widened once per 128 tokens.</li>
 * </ul>
 *
 * <h2>Tunables (system properties, read once)</h2>
 * {@code chunkserve.cpu.vectorBits} (128/256/512; default: the preferred species, 512 on
 * AVX-512 machines, where it measured about 2× faster than 256 on compute-bound shapes),
 * {@code chunkserve.cpu.spinMicros} (worker spin before parking, 200),
 * {@code chunkserve.cpu.directMaxT} (by register file and row length, above), {@code chunkserve.cpu.direct.kc} (16384),
 * {@code chunkserve.cpu.direct.tb} (64), {@code chunkserve.cpu.gemm.kc} (256),
 * {@code chunkserve.cpu.gemm.kw} (8192), {@code chunkserve.cpu.gemm.wp} (131072 floats),
 * {@code chunkserve.cpu.gemm.tb} (128), {@code chunkserve.cpu.warmUpSeconds} (30),
 * {@code chunkserve.cpu.tasksPerThread} (4), {@code chunkserve.cpu.minTaskBytes} (32768).
 *
 * <h2>Notes for editing</h2>
 * Keep vector values inside one method: a helper returning a vector that C2 does not inline
 * boxes it (seen as a 3× slowdown). Keep kernels small enough for C1 (a 1400-byte micro-kernel
 * failed C1 compilation and stayed interpreted-slow for seconds). The per-dtype kernels in
 * {@code MatKernels} and the micro-kernels in {@code Gemm} were generated from one template
 * each: change all variants alike.
 */
package io.chunkserve.runtime.cpu;
