package io.chunkserve.runtime.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector operations whose result does not depend on how HotSpot runs the code. The Vector API's
 * {@code reduceLanes(ADD)} and {@code lanewise(EXP)} give different bits in the interpreter/C1
 * (lane-by-lane sum, {@link Math#exp}) and in C2 (pairwise tree, SVML stub); since C2 compiles
 * in the background and deoptimises at will, a forward pass using them is not bit-reproducible
 * (logits of one step differed by ~1e-6 from the same step repeated). These use lane-wise
 * operations only, which are IEEE-exact in every tier.
 */
public final class Lanes {
    private Lanes() { }

    private static final VectorSpecies<Float> P = FloatVector.SPECIES_PREFERRED;
    private static final int N = P.length();
    /** Lane i ← lane (i + k) mod N: constants, so that C2 emits one permute per step. */
    private static final VectorShuffle<Float> R1 = rotation(1), R2 = rotation(2), R4 = rotation(4), R8 = rotation(8);

    private static VectorShuffle<Float> rotation(int k) {
        int[] ix = new int[N];
        for (int i = 0; i < N; i++) ix[i] = (i + k) % N;
        return VectorShuffle.fromArray(P, ix, 0);
    }

    /**
     * Σ lanes of v in a fixed pairwise order (lane i + lane i + n/2, halving): the order C2's own
     * reduction uses on x86, so compiled results are unchanged. Written as a chain of methods
     * under C2's 35-byte inlining limit: the call sites sit outside the kernels' hot loops, and a
     * call that is not inlined boxes its vector (measured 2–5× slower decode).
     */
    public static float sum(FloatVector v) {
        return v.length() == N ? sumN(v) : sumAnyShape(v);
    }

    private static float sumN(FloatVector v) { return N >= 16 ? s8(v) : s4orLess(v); }

    private static float s4orLess(FloatVector v) { return N >= 8 ? s4(v) : N >= 4 ? s2(v) : s1(v); }

    private static float s8(FloatVector v) { return s4(v.add(v.rearrange(R8))); }

    private static float s4(FloatVector v) { return s2(v.add(v.rearrange(R4))); }

    private static float s2(FloatVector v) { return s1(v.add(v.rearrange(R2))); }

    private static float s1(FloatVector v) { return v.add(v.rearrange(R1)).lane(0); }

    /** {@link #sum} for a species other than the preferred one (the same order, on a copy). */
    private static float sumAnyShape(FloatVector v) {
        float[] a = v.toArray();
        for (int w = a.length >> 1; w >= 1; w >>= 1) {
            for (int i = 0; i < w; i++) a[i] = a[i] + a[i + w];
        }
        return a[0];
    }

    private static final float LOG2E = 1.4426950408889634f;
    private static final float LN2_HI = 0.693145751953125f, LN2_LO = 1.428606765330187e-06f;
    private static final float ROUND_MAGIC = 12582912f; // 1.5·2^23: x + M − M rounds x to an integer
    private static final int ROUND_MAGIC_BITS = Float.floatToRawIntBits(ROUND_MAGIC);

    /**
     * e^x lane-wise, within 2 ulp of {@link Math#exp} for |x| ≤ 87; +∞ above 88.7, 0 below −87.3
     * (no subnormal results). Cody–Waite reduction, degree-7 polynomial.
     */
    public static FloatVector exp(FloatVector x) {
        FloatVector xc = x.max(-87.3f).min(88.7f);
        FloatVector t = xc.fma(LOG2E, ROUND_MAGIC);
        FloatVector n = t.sub(ROUND_MAGIC);                       // round(x·log2 e)
        FloatVector r = n.fma(FloatVector.broadcast(x.species(), -LN2_HI), xc).add(n.mul(-LN2_LO));     // x − n·ln 2, |r| ≤ ~0.35
        FloatVector p = r.fma(1f / 5040, 1f / 720).fma(r, FloatVector.broadcast(x.species(), 1f / 120))
                .fma(r, FloatVector.broadcast(x.species(), 1f / 24)).fma(r, FloatVector.broadcast(x.species(), 1f / 6))
                .fma(r, FloatVector.broadcast(x.species(), 0.5f)).fma(r, FloatVector.broadcast(x.species(), 1f))
                .fma(r, FloatVector.broadcast(x.species(), 1f));
        // 2^n in two factors so that n = 128 (x near 88.7) does not overflow the exponent field
        IntVector ni = t.reinterpretAsInts().sub(ROUND_MAGIC_BITS);
        IntVector h = ni.lanewise(VectorOperators.ASHR, 1);
        FloatVector a = h.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        FloatVector b = ni.sub(h).add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        FloatVector e = p.mul(a).mul(b);
        return e.blend(Float.POSITIVE_INFINITY, x.compare(VectorOperators.GT, 88.7f))
                .blend(0f, x.compare(VectorOperators.LT, -87.3f));
    }
}
