package io.chunkserve.runtime.cpu;

import jdk.incubator.vector.FloatVector;

/**
 * Measures the machine's fp32 fused-multiply-add throughput with the Vector API: the compute roofline beside
 * {@link MemoryBandwidth}'s memory one. Attention over a shared prefix reads each K/V byte once for many query rows, so
 * on a machine with few cores and a fast bus its time is bounded by arithmetic, not bytes; a benchmark that sets a
 * kernel against a bytes floor only should also say what the arithmetic alone costs at this rate.
 *
 * <p>Counted in lane-FMAs (one lane of a vector FMA: 2 flops). Each thread of the {@link Parallel} runs {@value #CHAINS}
 * independent FMA chains on preferred-width vectors (enough to cover the FMA latency on two pipes), nothing loaded or
 * stored in the loop; the figure is the best of {@value #PASSES} passes of ~{@value #PASS_MS} ms, after the loop is
 * JIT-compiled.
 */
public final class FmaPeak {
    private FmaPeak() { }

    public static final int CHAINS = 12, PASSES = 8, PASS_MS = 20;
    private static volatile float sink;

    /** Lane-FMAs per second on all threads of p (each thread one task): the best of {@value #PASSES} passes. */
    public static double measureFmasPerSecond(Parallel p) {
        int threads = Math.max(1, p.threads());
        // compile burst() (C2 needs ~10^4 calls) before anything is timed
        float s = 0;
        for (int i = 0; i < 20_000; i++) s += burst(256, i);
        // size a pass to ~PASS_MS on one thread at the rate of a short calibration call
        int probe = 1 << 18;
        long t0 = System.nanoTime();
        s += burst(probe, 1);
        double perIter = Math.max(1e-3, (System.nanoTime() - t0) / (double) probe);
        final int iters = (int) Math.min(1 << 30, Math.max(1 << 16, PASS_MS * 1e6 / perIter));
        final float[] out = new float[threads * 16];
        double best = 0;
        for (int pass = 0; pass < PASSES; pass++) {
            long a = System.nanoTime();
            p.forRange(threads, t -> out[16 * t] += burst(iters, t));
            long dt = System.nanoTime() - a;
            best = Math.max(best, (double) iters * CHAINS * Vec.L * threads * 1e9 / dt);
        }
        for (float v : out) s += v;
        sink = s;
        return best;
    }

    /** iters × {@value #CHAINS} vector FMAs in independent chains; returns their sum (so nothing is dead). */
    static float burst(int iters, float seed) {
        FloatVector a0 = FloatVector.broadcast(Vec.F, seed), a1 = a0.add(1), a2 = a0.add(2), a3 = a0.add(3), a4 = a0.add(4),
                a5 = a0.add(5), a6 = a0.add(6), a7 = a0.add(7), a8 = a0.add(8), a9 = a0.add(9), a10 = a0.add(10), a11 = a0.add(11);
        FloatVector m = FloatVector.broadcast(Vec.F, 0.999999f), c = FloatVector.broadcast(Vec.F, 1e-7f);
        for (int i = 0; i < iters; i++) {
            a0 = a0.fma(m, c); a1 = a1.fma(m, c); a2 = a2.fma(m, c); a3 = a3.fma(m, c); a4 = a4.fma(m, c); a5 = a5.fma(m, c);
            a6 = a6.fma(m, c); a7 = a7.fma(m, c); a8 = a8.fma(m, c); a9 = a9.fma(m, c); a10 = a10.fma(m, c); a11 = a11.fma(m, c);
        }
        return a0.add(a1).add(a2).add(a3).add(a4).add(a5).add(a6).add(a7).add(a8).add(a9).add(a10).add(a11)
                .reduceLanes(jdk.incubator.vector.VectorOperators.ADD);
    }
}
