package io.chunkserve.runtime.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.chunkserve.model.DType;
import io.chunkserve.model.Weight;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The benchmark switches of {@link CpuTuning} change how a one-token matmul is split, never what
 * it computes: a weight large enough for the tail ranges (≥ 8 MiB) gives the double-precision
 * reference with every tail fraction on 2 and 3 threads, and the same values as without a tail.
 */
class CpuTuningTest {
    @BeforeAll
    static void setUp() { CpuKernelsTest.setUp(); }

    @AfterAll
    static void tearDown() {
        CpuTuning.set("tail", "-1");
        CpuKernelsTest.tearDown();
    }

    @Test
    void tailFractionChangesTheSplitNotTheResult() {
        SplittableRandom rnd = new SplittableRandom(11);
        Weight w = CpuKernelsTest.randomWeight(rnd, DType.BF16, 8192 + 48, 576, 2, false); // 9.5 MB, odd skew
        float[] x = CpuKernelsTest.randomFloats(rnd, 576);
        double[][] ref = CpuKernelsTest.reference(w, x, 1);
        CpuTuning.set("help", "false"); // the tail ranges are the split without helping
        for (CpuKernels k : new CpuKernels[] {CpuKernelsTest.kernels[1], CpuKernelsTest.kernels[2]}) {
            float[] base = null;
            for (String tail : new String[] {"0", "200", "500", "900"}) {
                CpuTuning.set("tail", tail);
                float[] out = new float[w.rows()];
                java.util.Arrays.fill(out, Float.NaN);
                k.matmul(w, x, 1, out);
                for (int r = 0; r < w.rows(); r++) {
                    double err = Math.abs(out[r] - ref[0][r]);
                    assertTrue(err <= CpuKernelsTest.TOL * ref[1][r] + 1e-6,
                            "row " + r + " tail " + tail + " on " + k.threads() + " threads: " + out[r] + " vs " + ref[0][r]);
                    // each row is computed by the same code whichever task holds it (up to JIT-tier rounding, see BENCHMARKS.md)
                    if (base != null) assertEquals(base[r], out[r], 1e-6 * ref[1][r] + 1e-30, "row " + r + " tail " + tail);
                }
                if (base == null) base = out;
            }
        }
        CpuTuning.set("tail", "-1");
        CpuTuning.set("help", "true");
    }

    /**
     * The adaptive split (RowBalance) moves the boundary between the threads' ranges of a one-token matmul without a
     * tail (< 8 MiB); each row is still computed by one task with the same code: the same values with equal ranges,
     * task 0 fixed at 35 %, 50 %, 65 %, and the measured split, for the plain, residual and gate/up dispatches.
     */
    @Test
    void adaptiveSplitChangesTheSplitNotTheResult() {
        SplittableRandom rnd = new SplittableRandom(12);
        int rows = 1536 + 48, cols = 576;
        Weight w = CpuKernelsTest.randomWeight(rnd, DType.BF16, rows, cols, 2, false); // 1.8 MB: no tail
        Weight up = CpuKernelsTest.randomWeight(rnd, DType.BF16, rows, cols, 6, false);
        float[] x = CpuKernelsTest.randomFloats(rnd, cols);
        float[] res0 = CpuKernelsTest.randomFloats(rnd, rows);
        double[][] ref = CpuKernelsTest.reference(w, x, 1);
        try {
            CpuTuning.set("help", "false"); // the adaptive split is the split without helping
            for (CpuKernels k : new CpuKernels[] {CpuKernelsTest.kernels[1], CpuKernelsTest.kernels[2]}) {
                float[][] base = null;
                for (String v : new String[] {"off", "350", "500", "650", "measured", "measured"}) {
                    CpuTuning.set("balance", String.valueOf(!v.equals("off")));
                    CpuTuning.set("balancefix", v.startsWith("m") || v.equals("off") ? "-1" : v);
                    // measured: a few dispatches first, so that the split has moved off the even one (if the threads differ)
                    for (int i = 0; v.startsWith("m") && i < 50; i++) k.matmul(w, x, 1, new float[rows]);
                    float[] out = new float[rows], o2 = new float[rows], res = res0.clone(), g = new float[rows], u = new float[rows];
                    java.util.Arrays.fill(out, Float.NaN);
                    k.matmul(w, x, 1, out);
                    k.matmulAdd(w, x, 1, o2, res);
                    k.gateUpSilu(w, up, x, 1, g, u);
                    for (int r = 0; r < rows; r++) {
                        double err = Math.abs(out[r] - ref[0][r]);
                        assertTrue(err <= CpuKernelsTest.TOL * ref[1][r] + 1e-6,
                                "row " + r + " split " + v + " on " + k.threads() + " threads: " + out[r] + " vs " + ref[0][r]);
                    }
                    float[][] all = {out, o2, res, g};
                    if (base == null) {
                        base = all;
                        continue;
                    }
                    for (int a = 0; a < all.length; a++) {
                        for (int r = 0; r < rows; r++) {
                            // the same code for every row whichever task holds it (up to JIT-tier rounding, see BENCHMARKS.md)
                            double scale = 1e-6 * (Math.abs(base[a][r]) + ref[1][r]) + 1e-30;
                            assertEquals(base[a][r], all[a][r], scale, "output " + a + " row " + r + " split " + v + " on " + k.threads() + " threads");
                        }
                    }
                }
            }
        } finally {
            CpuTuning.set("balance", "true");
            CpuTuning.set("balancefix", "-1");
            CpuTuning.set("help", "true");
        }
    }

    /** The measured shares: equal speeds stay even; a thread 2× slower per row gets less (clamped to 35 %); the worker's late start counts. */
    @Test
    void balanceFollowsTheMeasuredSpeeds() {
        RowBalance b = new RowBalance();
        RowBalance.Kind k = b.kind(GemvJob.RESIDUAL, 1600, 576, 2);
        assertEquals(k, b.kind(GemvJob.RESIDUAL, 1600, 576, 2));
        long[] t = new long[32];
        // equal rates, no latency: stays at the even split
        feed(k, t, 100, 10, 1000, 10);
        assertEquals(800, k.cut[1]);
        // task 1 takes 1.25x as long per row: task 0 should get 1.25 / 2.25 = 55.6 % -> 889 rows, on 16-row steps
        feed(k, t, 200, 100, 1000, 125);
        assertEquals(1600 * 1.25 / 2.25, k.cut[1], 16);
        // task 1 2x slower and starting late: clamped to 65 %
        feed(k, t, 200, 100, 5000, 200);
        assertEquals(1040, k.cut[1]);
        assertEquals(1600, k.cut[2]);
        // a task that did not run in this dispatch (stale times before t0) changes nothing
        int[] before = k.cut;
        RowBalance.update(k, before, t, t, 1_000_000);
        assertEquals(before, k.cut);
    }

    /**
     * Feeds {@code rounds} dispatches' task times to k: task 0 starts at 1000 ns and takes perRow0 ns a row of its
     * range, task 1 starts at start1 and takes perRow1 ns a row (the ranges as k's cut stands each round).
     */
    private static void feed(RowBalance.Kind k, long[] t, int rounds, long perRow0, long start1, long perRow1) {
        for (int i = 0; i < rounds; i++) {
            int[] c = k.cut;
            long r0 = c[1], r1 = c[2] - c[1];
            t[0] = 1000; t[1] = 1000 + perRow0 * r0; t[16] = start1; t[17] = start1 + perRow1 * r1;
            RowBalance.update(k, c, t, t, 1000);
        }
    }

    @Test
    void unknownSwitchIsAnError() {
        assertThrows(IllegalArgumentException.class, () -> CpuTuning.set("nope", "1"));
        assertThrows(IllegalArgumentException.class, () -> CpuTuning.get("nope"));
        assertEquals("true", CpuTuning.get("touch"));
    }
}
