package io.chunkserve.runtime.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Lane sums and e^x whose bits do not depend on how HotSpot happens to run the code.
 *
 * <p>The Vector API's {@code reduceLanes(ADD)} and {@code lanewise(EXP)} round differently in the interpreter and C1
 * (lanes summed 0, 1, 2, … in order; {@link Math#exp} per lane) and in C2 (a pairwise tree; the SVML stub). C2
 * compiles a kernel in the background, and deoptimises and recompiles it at will, so a row computed while its kernel
 * is not (yet, or no longer) C2 code came out different in the last bits: the same decode step gave logits ~1e-6 to
 * 1.5e-4 apart within one process, and a seeded request could in principle pick another token (BENCHMARKS.md,
 * issue 2, "Bit-reproducibility"). Everything here is built from lane-wise IEEE operations, which every tier computes
 * exactly alike.
 *
 * <p>Lane sums add lane i + lane i ^ n/2, then ^ n/4, …, then lanes 0 and 1: C2's own {@code reduceLanes(ADD)} order
 * on x86, so what compiled code computed before is unchanged bit for bit. They and e^x are written out inside each
 * kernel from the constants here, not called: C2 stops inlining our methods into a method once it has grown big
 * ({@code NodeCountInliningCutoff}; {@code CompileCommand=inline} does not lift that, only the JDK's own
 * {@code @ForceInline} does), and a vector passed to a call that is not inlined is boxed, row after row. {@link
 * #sumLanes} and {@link #expVec} are the references the tests hold the written-out copies to.
 */
public final class Lanes {
    private Lanes() { }

    /** Lanes of {@code FloatVector.SPECIES_PREFERRED} (the attention tiles' and the sampler's species). */
    public static final int PL = FloatVector.SPECIES_PREFERRED.length();
    /**
     * The shuffles of a lane sum of a preferred-species vector v: {@code v = v.add(v.rearrange(PSUM1))}, then the same
     * with PSUM2 where PL ≥ 8 and PSUM3 where PL ≥ 16, then {@code v.lane(0) + v.lane(1)}: lane i + lane i ^ PL/2,
     * then ^ PL/4, …, i.e. C2's own {@code reduceLanes(ADD)} order, so compiled results are as before. The kernels'
     * species has its own ({@code Vec.SUM1..3}; the same unless {@code chunkserve.cpu.vectorBits} narrows it).
     */
    public static final VectorShuffle<Float> PSUM1 = xorShuffleVec(FloatVector.SPECIES_PREFERRED, PL / 2),
            PSUM2 = xorShuffleVec(FloatVector.SPECIES_PREFERRED, PL / 4), PSUM3 = xorShuffleVec(FloatVector.SPECIES_PREFERRED, PL / 8);

    /** lane i ↔ i ^ w (kept in range where w does not apply to s's lane count). */
    static VectorShuffle<Float> xorShuffleVec(VectorSpecies<Float> s, int w) {
        return VectorShuffle.fromOp(s, i -> (i ^ Math.max(w, 1)) & (s.length() - 1));
    }

    /** The lane sum's tree for any lane count (a power of two), in scalar code: the reference of the tests. */
    public static float sumLanes(FloatVector v) {
        float[] a = v.toArray();
        for (int w = a.length >> 1; w >= 1; w >>= 1) {
            for (int i = 0; i < w; i++) a[i] = a[i] + a[i + w];
        }
        return a[0];
    }

    /** Constants of {@link #expVec} (public: the copies written out in the kernels use them). */
    public static final float LOG2E = 1.4426950408889634f, LN2_HI = 0.693145751953125f, LN2_LO = 1.428606765330187e-06f;
    /** 1.5·2^23: x + M − M rounds x to an integer, whose bits then sit in the low mantissa bits of x + M. */
    public static final float ROUND_MAGIC = 12582912f;
    public static final int ROUND_MAGIC_BITS = 0x4b400000;
    /** Below this e^x is under fp32's smallest normal: 0 (no subnormal results). */
    public static final float EXP_MIN = -87.3f;
    /** Above this e^x overflows fp32: +∞. */
    public static final float EXP_MAX = 88.7f;
    /** Taylor coefficients of e^r, 1/k! for k = 2 .. 7 (those of r^0 and r^1 are 1). */
    public static final float E2 = 1f / 2, E3 = 1f / 6, E4 = 1f / 24, E5 = 1f / 120, E6 = 1f / 720, E7 = 1f / 5040;

    /**
     * e^x lane-wise, within 2 ulp of {@link Math#exp} for {@link #EXP_MIN} ≤ x ≤ {@link #EXP_MAX}; +∞ above, 0 below
     * (and for −∞), NaN for NaN. Cody–Waite reduction x = n·ln 2 + r (|r| ≤ ~0.35; n·LN2_HI is exact), e^r by its
     * degree-7 Taylor polynomial (truncation < 1e-8 relative), 2^n built in the exponent field in two factors (n = 128
     * does not fit one). The kernels that need e^x in a loop (SiLU, the sampler's softmax passes) write these four
     * statements out, operation for operation (a call left out of line by C2 would box the vector): {@code
     * LanesTest} holds each copy to this method bit for bit.
     */
    public static FloatVector expVec(FloatVector x) {
        FloatVector xc = x.max(EXP_MIN).min(EXP_MAX), t = xc.fma(LOG2E, ROUND_MAGIC), n = t.sub(ROUND_MAGIC), r = xc.sub(n.mul(LN2_HI)).sub(n.mul(LN2_LO));
        IntVector ni = t.reinterpretAsInts().sub(ROUND_MAGIC_BITS), h = ni.lanewise(VectorOperators.ASHR, 1);
        return r.fma(E7, E6).mul(r).add(E5).mul(r).add(E4).mul(r).add(E3).mul(r).add(E2).mul(r).add(1f).mul(r).add(1f)
                .mul(h.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats()).mul(ni.sub(h).add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats())
                .blend(Float.POSITIVE_INFINITY, x.compare(VectorOperators.GT, EXP_MAX)).blend(0f, x.compare(VectorOperators.LT, EXP_MIN));
    }
}
