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

    @Test
    void unknownSwitchIsAnError() {
        assertThrows(IllegalArgumentException.class, () -> CpuTuning.set("nope", "1"));
        assertThrows(IllegalArgumentException.class, () -> CpuTuning.get("nope"));
        assertEquals("true", CpuTuning.get("touch"));
        assertEquals("true", CpuTuning.get("help"));
    }
}
