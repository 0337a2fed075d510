package io.chunkserve.attention;

import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static io.chunkserve.attention.VectorMath.F;
import static io.chunkserve.attention.VectorMath.V;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The vector exp2 of the softmax against Math.exp in float64, over its whole input range. */
class VectorMathTest {
    /** Relative error bound of the fp32 result (polynomial 7.5e-8 plus a few fp32 roundings). */
    private static final double REL = 4e-7;

    private static float[] exp2(float[] x) {
        float[] y = new float[x.length];
        for (int i = 0; i < x.length; i += V) VectorMath.exp2Vec(FloatVector.fromArray(F, x, i)).intoArray(y, i);
        return y;
    }

    private static double relErr(float x, float got) {
        double want = Math.exp(x * Math.log(2.0));
        return Math.abs(got - want) / want;
    }

    @Test
    void withinBoundOverTheSoftmaxRange() {
        // every input the kernels pass: score − reference in [−126, TAU], densely, plus random points
        int n = 1 << 20;
        float[] x = new float[n];
        double lo = -126.0, hi = LaneRowsTile.TAU;
        for (int i = 0; i < n; i++) x[i] = (float) (lo + (hi - lo) * i / (n - 1));
        float[] y = exp2(x);
        double worst = 0;
        for (int i = 0; i < n; i++) worst = Math.max(worst, relErr(x[i], y[i]));
        Random r = new Random(7);
        float[] z = new float[n];
        for (int i = 0; i < n; i++) z[i] = -r.nextFloat() * 4f; // where the probabilities that matter live
        float[] w = exp2(z);
        for (int i = 0; i < n; i++) worst = Math.max(worst, relErr(z[i], w[i]));
        assertTrue(worst <= REL, "max relative error " + worst);
    }

    @Test
    void roundingBoundariesAndIntegers() {
        float[] x = new float[16 * V];
        int k = 0;
        for (int i = -7; i <= 8 && k < x.length; i++) {
            x[k++] = i;
            if (k < x.length) x[k++] = i + 0.5f;
            if (k < x.length) x[k++] = Math.nextDown(i + 0.5f);
            if (k < x.length) x[k++] = Math.nextUp(i - 0.5f);
        }
        float[] y = exp2(x);
        for (int i = 0; i < k; i++) assertTrue(relErr(x[i], y[i]) <= REL, "x=" + x[i] + " got " + y[i]);
        for (int i = -7; i <= 8; i++) assertEquals(Math.scalb(1f, i), exp2(filled((float) i))[0], Math.scalb(1f, i) * REL, "2^" + i);
    }

    @Test
    void farBelowGivesZeroAndNaNStaysNaN() {
        float[] x = {Float.NEGATIVE_INFINITY, -1e30f, -200f, -127f, -126.6f};
        for (float v : x) assertEquals(0f, exp2(filled(v))[0], "2^" + v);
        assertTrue(exp2(filled(-126f))[0] > 0f, "2^-126 is the smallest normal, not 0");
        assertTrue(Float.isNaN(exp2(filled(Float.NaN))[0]));
    }

    private static float[] filled(float v) {
        float[] a = new float[V];
        java.util.Arrays.fill(a, v);
        return a;
    }
}
