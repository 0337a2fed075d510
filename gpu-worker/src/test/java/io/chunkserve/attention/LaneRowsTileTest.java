package io.chunkserve.attention;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The rows tile's online softmax against a float64 reference over chunks whose scores grow,
 * shrink and jump by more than {@link LaneRowsTile#TAU} (log2 units) from chunk to chunk, so that
 * both the lazy update (scores within TAU of the running max: m kept, no rescale) and the exact
 * one (a new max) run, for some rows of a block and not others.
 */
class LaneRowsTileTest {
    @ParameterizedTest
    @ValueSource(ints = {16, 5, 12, 33})
    void growingAndShrinkingScoresMatchFloat64(int rows) {
        int dim = 64, c = 64;
        double[] chunkScale = {1, 3, 0.25, 6, 1, 8, 0.5, 10}; // scores ∝ scale: maxima jump well past TAU and fall back
        Random rnd = new Random(rows);
        int n = chunkScale.length;
        float[][] kt = new float[n][dim * c + VectorMath.V], vt = new float[n][c * dim];
        for (int i = 0; i < n; i++) {
            for (int d = 0; d < dim; d++) for (int t = 0; t < c; t++) kt[i][d * c + t] = (float) (rnd.nextGaussian() * chunkScale[i]);
            for (int x = 0; x < c * dim; x++) vt[i][x] = (float) rnd.nextGaussian();
        }
        float[] q = new float[rows * dim];
        for (int r = 0; r < rows; r++) {
            double sign = r % 3 == 0 ? -1 : 1; // some rows see the large chunks' scores as very negative instead
            for (int d = 0; d < dim; d++) q[r * dim + d] = (float) (sign * Math.abs(rnd.nextGaussian()) * (r % 2 == 0 ? 1 : 0.1));
        }
        // keys of the large chunks lean positive, so that sign decides whether a row's max jumps
        for (int i = 0; i < n; i++) for (int x = 0; x < dim * c; x++) kt[i][x] = (float) Math.abs(kt[i][x]);
        float scale = (float) (VectorMath.LOG2E / Math.sqrt(dim));
        LaneRowsTile tile = new LaneRowsTile();
        tile.begin(rows, dim, c);
        for (int r = 0; r < rows; r++) tile.setQuery(r, q, r * dim, scale, Integer.MAX_VALUE);
        for (int i = 0; i < n; i++) tile.accumulate(kt[i], vt[i], c, i * c);
        float[] got = new float[rows * dim];
        for (int r = 0; r < rows; r++) tile.finish(r, got, r * dim);
        double worst = 0, maxJump = 0;
        for (int r = 0; r < rows; r++) {
            double[] s = new double[n * c];
            double mx = Double.NEGATIVE_INFINITY, prevMax = Double.NEGATIVE_INFINITY;
            for (int i = 0; i < n; i++) {
                double cm = Double.NEGATIVE_INFINITY;
                for (int t = 0; t < c; t++) {
                    double a = 0;
                    for (int d = 0; d < dim; d++) a += (double) (q[r * dim + d] * scale) * kt[i][d * c + t];
                    s[i * c + t] = a;
                    cm = Math.max(cm, a);
                }
                if (i > 0) maxJump = Math.max(maxJump, cm - prevMax);
                prevMax = Math.max(prevMax, cm);
                mx = Math.max(mx, cm);
            }
            double sum = 0;
            double[] o = new double[dim];
            for (int i = 0; i < n; i++) {
                for (int t = 0; t < c; t++) {
                    double p = Math.pow(2, s[i * c + t] - mx);
                    sum += p;
                    for (int d = 0; d < dim; d++) o[d] += p * vt[i][t * dim + d];
                }
            }
            for (int d = 0; d < dim; d++) worst = Math.max(worst, Math.abs(o[d] / sum - got[r * dim + d]));
        }
        assertTrue(maxJump > 2 * LaneRowsTile.TAU, "the data must make some row's max jump past TAU: " + maxJump);
        // scores reach ~75 (log2 units) here, so fp32 rounding of the scores alone gives ~1e-5 (the exact
        // update everywhere, -Dchunkserve.attention.lazySoftmax=false, measured the same 1.2e-5 at 33 rows);
        // a wrong factor in either update would be off by O(1)
        assertTrue(worst <= 3e-5, "max abs error " + worst + " (rows " + rows + ")");
    }

    /**
     * The constant-stride kernels (head dim 64, 64-token chunks, 8-lane vectors: {@link LaneRowsTile#C64}) sum in the
     * same order as the general ones, so the two give identical outputs; chunks of 64, 48 (still the constant-stride
     * kernels) and 40 tokens (the general ones), and a row count with a padded group.
     */
    @ParameterizedTest
    @ValueSource(ints = {16, 7})
    void constantStrideKernelsEqualTheGeneralOnes(int rows) {
        int dim = 64, c = 64;
        int[] tokens = {64, 48, 64, 40};
        Random rnd = new Random(100 + rows);
        float[][] kt = new float[tokens.length][dim * c + VectorMath.V], vt = new float[tokens.length][c * dim];
        for (int i = 0; i < tokens.length; i++) {
            for (int x = 0; x < dim * c; x++) kt[i][x] = (float) rnd.nextGaussian();
            for (int x = 0; x < c * dim; x++) vt[i][x] = (float) rnd.nextGaussian();
        }
        float[] q = new float[rows * dim];
        for (int x = 0; x < q.length; x++) q[x] = (float) rnd.nextGaussian();
        float[][] out = new float[2][rows * dim];
        boolean before = LaneRowsTile.C64;
        try {
            for (int v = 0; v < 2; v++) {
                LaneRowsTile.C64 = v == 0;
                LaneRowsTile tile = new LaneRowsTile();
                tile.begin(rows, dim, c);
                for (int r = 0; r < rows; r++) tile.setQuery(r, q, r * dim, 0.18f, Integer.MAX_VALUE);
                for (int i = 0, pos = 0; i < tokens.length; pos += tokens[i++]) tile.accumulate(kt[i], vt[i], tokens[i], pos);
                for (int r = 0; r < rows; r++) tile.finish(r, out[v], r * dim);
            }
        } finally {
            LaneRowsTile.C64 = before;
        }
        assertArrayEquals(out[1], out[0]);
    }
}
