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
 * The benchmark switches of {@link CpuTuning} change how a one-token matmul is split, never what it computes: with
 * helping on and off, and with the smallest stolen remainder at 1, 4 and 64 row-steps, a weight large enough for many
 * steps per thread gives the double-precision reference on 2 and 3 threads, and the same values in every setting, for
 * the plain, residual and gate/up dispatches.
 */
class CpuTuningTest {
    @BeforeAll
    static void setUp() { CpuKernelsTest.setUp(); }

    @AfterAll
    static void tearDown() {
        CpuTuning.set("help", "true");
        CpuTuning.set("steal", "-1");
        CpuKernelsTest.tearDown();
    }

    @Test
    void switchesChangeTheSplitNotTheResult() {
        SplittableRandom rnd = new SplittableRandom(12);
        int rows = 1536 + 48 + 5, cols = 576;
        Weight w = CpuKernelsTest.randomWeight(rnd, DType.BF16, rows, cols, 2, false);
        Weight up = CpuKernelsTest.randomWeight(rnd, DType.BF16, rows, cols, 6, false);
        float[] x = CpuKernelsTest.randomFloats(rnd, cols);
        float[] res0 = CpuKernelsTest.randomFloats(rnd, rows);
        double[][] ref = CpuKernelsTest.reference(w, x, 1);
        try {
            for (CpuKernels k : new CpuKernels[] {CpuKernelsTest.kernels[1], CpuKernelsTest.kernels[2]}) {
                float[][] base = null;
                for (String v : new String[] {"off", "1", "4", "64"}) {
                    CpuTuning.set("help", String.valueOf(!v.equals("off")));
                    CpuTuning.set("steal", v.equals("off") ? "-1" : v);
                    float[] out = new float[rows], o2 = new float[rows], res = res0.clone(), g = new float[rows], u = new float[rows];
                    java.util.Arrays.fill(out, Float.NaN);
                    k.matmul(w, x, 1, out);
                    k.matmulAdd(w, x, 1, o2, res);
                    k.gateUpSilu(w, up, x, 1, g, u);
                    for (int r = 0; r < rows; r++) {
                        double err = Math.abs(out[r] - ref[0][r]);
                        assertTrue(err <= CpuKernelsTest.TOL * ref[1][r] + 1e-6,
                                "row " + r + " setting " + v + " on " + k.threads() + " threads: " + out[r] + " vs " + ref[0][r]);
                    }
                    float[][] all = {out, o2, res, g};
                    if (base == null) {
                        base = all;
                        continue;
                    }
                    for (int a = 0; a < all.length; a++) {
                        for (int r = 0; r < rows; r++) {
                            // the same code for every row whichever task computes it (up to JIT-tier rounding, see BENCHMARKS.md)
                            double scale = 1e-6 * (Math.abs(base[a][r]) + ref[1][r]) + 1e-30;
                            assertEquals(base[a][r], all[a][r], scale, "output " + a + " row " + r + " setting " + v + " on " + k.threads() + " threads");
                        }
                    }
                }
            }
        } finally {
            CpuTuning.set("help", "true");
            CpuTuning.set("steal", "-1");
        }
    }

    /**
     * The bf16 kernels on paired x (default) and widening shorts (bf16pairs=false) both give the reference on every
     * one-token dispatch (plain, residual, gate/up, the single-thread gemv) and for 7 tokens (the register-block kernels,
     * dispatched and alone), for column counts with and without a scalar tail.
     */
    @Test
    void bf16KernelsAgreeWithTheReferenceEitherWay() {
        SplittableRandom rnd = new SplittableRandom(13);
        try {
            for (int cols : new int[] {576, 64 + 5, 3 * Vec.L + 1, 2 * Vec.L}) {
                int rows = 211;
                Weight w = CpuKernelsTest.randomWeight(rnd, DType.BF16, rows, cols, 2, false);
                Weight up = CpuKernelsTest.randomWeight(rnd, DType.BF16, rows, cols, 6, false);
                float[] x = CpuKernelsTest.randomFloats(rnd, cols);
                float[] res0 = CpuKernelsTest.randomFloats(rnd, rows);
                double[][] ref = CpuKernelsTest.reference(w, x, 1);
                double[][] refUp = CpuKernelsTest.reference(up, x, 1);
                for (String pairs : new String[] {"true", "false"}) {
                    CpuTuning.set("bf16pairs", pairs);
                    for (CpuKernels k : new CpuKernels[] {CpuKernelsTest.kernels[1], CpuKernelsTest.kernels[2]}) {
                        float[] out = new float[rows], o2 = new float[rows], res = res0.clone(), g = new float[rows], u = new float[rows], one = new float[rows];
                        k.matmul(w, x, 1, out);
                        k.matmulAdd(w, x, 1, o2, res);
                        k.gateUpSilu(w, up, x, 1, g, u);
                        MatKernels.matmulRows(w, x, 1, one, 0, rows);
                        // a few tokens: the direct (register-block) kernels, from the dispatch and alone
                        int T = 7;
                        float[] xs = CpuKernelsTest.randomFloats(new SplittableRandom(cols), T * cols), outT = new float[T * rows], aloneT = new float[T * rows];
                        double[][] refT = CpuKernelsTest.reference(w, xs, T);
                        k.matmul(w, xs, T, outT);
                        MatKernels.matmulRows(w, xs, T, aloneT, 0, rows);
                        for (int i = 0; i < T * rows; i++) {
                            double tolT = CpuKernelsTest.TOL * refT[1][i] + 1e-6;
                            assertTrue(Math.abs(outT[i] - refT[0][i]) <= tolT, "T=" + T + " element " + i + " cols " + cols + " pairs " + pairs);
                            assertTrue(Math.abs(aloneT[i] - refT[0][i]) <= tolT, "T=" + T + " alone, element " + i + " cols " + cols + " pairs " + pairs);
                        }
                        for (int r = 0; r < rows; r++) {
                            String at = "row " + r + " cols " + cols + " pairs " + pairs + " on " + k.threads() + " threads";
                            double tol = CpuKernelsTest.TOL * ref[1][r] + 1e-6;
                            assertTrue(Math.abs(out[r] - ref[0][r]) <= tol, "matmul " + at + ": " + out[r] + " vs " + ref[0][r]);
                            assertTrue(Math.abs(one[r] - ref[0][r]) <= tol, "gemv " + at + ": " + one[r] + " vs " + ref[0][r]);
                            assertTrue(Math.abs(res[r] - (res0[r] + ref[0][r])) <= tol + 1e-6 * Math.abs(res0[r]), "residual " + at);
                            assertTrue(Math.abs(u[r] - refUp[0][r]) <= CpuKernelsTest.TOL * refUp[1][r] + 1e-6, "up " + at);
                            double silu = ref[0][r] / (1 + Math.exp(-ref[0][r])) * refUp[0][r];
                            assertEquals(silu, g[r], 1e-4 * (Math.abs(silu) + ref[1][r] * (Math.abs(refUp[0][r]) + refUp[1][r])) + 1e-5, "gate " + at);
                        }
                    }
                }
            }
        } finally {
            CpuTuning.set("bf16pairs", "true");
        }
    }

    /** The paired layout: per block of 2·L columns the even ones, then the odd ones; the columns after the last block as they are. */
    @Test
    void pairedLayout() {
        int L = Vec.L, cols = 4 * L + 3;
        float[] x = new float[cols + 2];
        for (int i = 0; i < x.length; i++) x[i] = i;
        float[] xp = new float[cols];
        Bf16Kernels.pair(x, 2, cols, xp, 0);
        for (int b = 0; b < 4 * L; b += 2 * L) {
            for (int j = 0; j < L; j++) {
                assertEquals(2 + b + 2 * j, xp[b + j]);
                assertEquals(2 + b + 2 * j + 1, xp[b + L + j]);
            }
        }
        for (int c = 4 * L; c < cols; c++) assertEquals(2 + c, xp[c]);
    }

    @Test
    void unknownSwitchIsAnError() {
        assertThrows(IllegalArgumentException.class, () -> CpuTuning.set("nope", "1"));
        assertThrows(IllegalArgumentException.class, () -> CpuTuning.get("nope"));
        assertEquals("true", CpuTuning.get("touch"));
        assertEquals("true", CpuTuning.get("help"));
    }
}
