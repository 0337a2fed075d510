package io.chunkserve.attention;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.MemorySegment;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The dims tile's whole-row kernels for one fp32 row of head dim 64 ({@link LaneDimsTile#WHOLE_ROWS}) against its
 * general kernels (the same sums in the same order: identical outputs) and against a float64 reference, over full and
 * partly filled 64-token chunks read in place from a slab-like segment (K dim-major, V row-major).
 */
class LaneDimsTileTest {
    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3})  // 1: the single-row kernels; 2, 3: the pair and triple ones beside them
    void wholeRowKernelsEqualTheGeneralOnesAndTheReference(int rows) {
        int dim = 64, c = 64;
        int[] tokens = {64, 64, 37, 64};
        Random rnd = new Random(7 + rows);
        int n = tokens.length;
        float[] k = new float[n * dim * c + VectorMath.V], v = new float[n * c * dim];
        for (int i = 0; i < k.length; i++) k[i] = (float) rnd.nextGaussian();
        for (int i = 0; i < v.length; i++) v[i] = (float) rnd.nextGaussian();
        float[] q = new float[rows * dim];
        for (int i = 0; i < q.length; i++) q[i] = (float) rnd.nextGaussian();
        MemorySegment ks = MemorySegment.ofArray(k), vs = MemorySegment.ofArray(v);
        float scale = (float) (VectorMath.LOG2E / Math.sqrt(dim));
        float[][] out = new float[2][rows * dim];
        boolean before = LaneDimsTile.WHOLE_ROWS;
        try {
            for (int w = 0; w < 2; w++) {
                LaneDimsTile.WHOLE_ROWS = w == 0;
                LaneDimsTile tile = new LaneDimsTile();
                tile.begin(rows, dim, c);
                for (int r = 0; r < rows; r++) tile.setQuery(r, q, r * dim, scale, Integer.MAX_VALUE);
                for (int i = 0, pos = 0; i < n; pos += tokens[i++]) {
                    tile.accumulateInPlace(ks, (long) i * dim * c, c, vs, (long) i * c * dim, VectorMath.KIND_F32, tokens[i], pos);
                }
                for (int r = 0; r < rows; r++) tile.finish(r, out[w], r * dim);
            }
        } finally {
            LaneDimsTile.WHOLE_ROWS = before;
        }
        assertArrayEquals(out[1], out[0]);
        double worst = 0;
        for (int r = 0; r < rows; r++) {
            double mx = Double.NEGATIVE_INFINITY;
            double[] s = new double[n * c];
            for (int i = 0; i < n; i++) {
                for (int t = 0; t < tokens[i]; t++) {
                    double a = 0;
                    for (int d = 0; d < dim; d++) a += (double) (q[r * dim + d] * scale) * k[i * dim * c + d * c + t];
                    s[i * c + t] = a;
                    mx = Math.max(mx, a);
                }
            }
            double sum = 0;
            double[] o = new double[dim];
            for (int i = 0; i < n; i++) {
                for (int t = 0; t < tokens[i]; t++) {
                    double p = Math.pow(2, s[i * c + t] - mx);
                    sum += p;
                    for (int d = 0; d < dim; d++) o[d] += p * v[i * c * dim + t * dim + d];
                }
            }
            for (int d = 0; d < dim; d++) worst = Math.max(worst, Math.abs(o[d] / sum - out[0][r * dim + d]));
        }
        assertTrue(worst < 1e-5, "max abs error " + worst);
    }
}
