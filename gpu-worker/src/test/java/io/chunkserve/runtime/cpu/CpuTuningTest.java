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
    }

    @Test
    void unknownSwitchIsAnError() {
        assertThrows(IllegalArgumentException.class, () -> CpuTuning.set("nope", "1"));
        assertThrows(IllegalArgumentException.class, () -> CpuTuning.get("nope"));
        assertEquals("true", CpuTuning.get("touch"));
    }
}
