package io.chunkserve.runtime.cpu;

import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector-API building blocks: the species (chosen once at class initialisation) and the
 * elementwise and dot-product kernels on fp32 arrays.
 *
 * <p>The float species is {@code FloatVector.SPECIES_PREFERRED} unless the system property
 * {@code chunkserve.cpu.vectorBits} (128, 256 or 512) asks for a narrower one.
 */
final class Vec {
    private Vec() { }

    static final VectorSpecies<Float> F = chooseSpecies();
    static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
    /** Shorts of a full-width vector: 2·L lanes, widened to ints in two parts. */
    static final VectorSpecies<Short> S2 = VectorSpecies.of(short.class, F.vectorShape());
    static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    /** Float lanes per vector. */
    static final int L = F.length();
    /** True when the hardware has 32 vector registers (AVX-512): allows the 4×4 register block. */
    static final boolean WIDE_REGISTER_FILE = FloatVector.SPECIES_PREFERRED.vectorBitSize() >= 512;

    /**
     * The shuffles of a lane sum that every JIT tier computes alike ({@link Lanes}): lane i ↔ i ^ L/2, i ^ L/4, i ^ L/8
     * (the last two used only where L ≥ 8, L ≥ 16). A kernel adds v and v rearranged by each, then lanes 0 and 1: C2's
     * own reduction order. Written out in each kernel (no helper call: C2 stops inlining our methods into a kernel
     * once it is big, and a vector passed to a call that is not inlined is boxed).
     */
    static final VectorShuffle<Float> SUM1 = Lanes.xorShuffleVec(F, L / 2), SUM2 = Lanes.xorShuffleVec(F, L / 4),
            SUM3 = Lanes.xorShuffleVec(F, L / 8);

    static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE);
    static final ValueLayout.OfShort I16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);

    private static VectorSpecies<Float> chooseSpecies() {
        VectorSpecies<Float> pref = FloatVector.SPECIES_PREFERRED;
        String p = System.getProperty("chunkserve.cpu.vectorBits");
        if (p != null) {
            int bits = Integer.parseInt(p.trim());
            if (bits >= 128 && bits < pref.vectorBitSize()) {
                return VectorSpecies.of(float.class, VectorShape.forBitSize(bits));
            }
        }
        // below 128 bits the half-width short species would not exist; the JDK never prefers that
        return pref.vectorBitSize() >= 128 ? pref : FloatVector.SPECIES_128;
    }

    // ---------------------------------------------------------------- elementwise (fp32 arrays)

    static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, s3 = s0;
        int i = 0;
        for (int ub = n - 4 * L; i <= ub; i += 4 * L) {
            s0 = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), s0);
            s1 = FloatVector.fromArray(F, a, aOff + i + L).fma(FloatVector.fromArray(F, b, bOff + i + L), s1);
            s2 = FloatVector.fromArray(F, a, aOff + i + 2 * L).fma(FloatVector.fromArray(F, b, bOff + i + 2 * L), s2);
            s3 = FloatVector.fromArray(F, a, aOff + i + 3 * L).fma(FloatVector.fromArray(F, b, bOff + i + 3 * L), s3);
        }
        for (int ub = n - L; i <= ub; i += L) {
            s0 = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), s0);
        }
        FloatVector q = s0.add(s1).add(s2.add(s3));
        q = q.add(q.rearrange(SUM1));
        if (L >= 8) q = q.add(q.rearrange(SUM2));
        if (L >= 16) q = q.add(q.rearrange(SUM3));
        float s = q.lane(0) + q.lane(1);   // a fixed tree (Lanes): the same bits in every JIT tier
        for (; i < n; i++) s = Math.fma(a[aOff + i], b[bOff + i], s);
        return s;
    }

    /** y[yOff + i] += a · x[xOff + i]. */
    static void axpy(float a, float[] x, int xOff, float[] y, int yOff, int n) {
        int i = 0;
        FloatVector av = FloatVector.broadcast(F, a);
        for (int ub = n - L; i <= ub; i += L) {
            FloatVector.fromArray(F, x, xOff + i).fma(av, FloatVector.fromArray(F, y, yOff + i)).intoArray(y, yOff + i);
        }
        for (; i < n; i++) y[yOff + i] = Math.fma(a, x[xOff + i], y[yOff + i]);
    }

    /** Σ x[off + i]² in fp32 with several vector accumulators. */
    static float sumSquares(float[] x, int off, int n) {
        FloatVector s0 = FloatVector.zero(F), s1 = s0;
        int i = 0;
        for (int ub = n - 2 * L; i <= ub; i += 2 * L) {
            FloatVector a = FloatVector.fromArray(F, x, off + i), b = FloatVector.fromArray(F, x, off + i + L);
            s0 = a.fma(a, s0);
            s1 = b.fma(b, s1);
        }
        for (int ub = n - L; i <= ub; i += L) {
            FloatVector a = FloatVector.fromArray(F, x, off + i);
            s0 = a.fma(a, s0);
        }
        FloatVector q = s0.add(s1);
        q = q.add(q.rearrange(SUM1));
        if (L >= 8) q = q.add(q.rearrange(SUM2));
        if (L >= 16) q = q.add(q.rearrange(SUM3));
        float s = q.lane(0) + q.lane(1);   // a fixed tree (Lanes): the same bits in every JIT tier
        for (; i < n; i++) s = Math.fma(x[off + i], x[off + i], s);
        return s;
    }

    /** out[o + i] = x[o + i] · inv · gamma[i]. */
    static void scaleMul(float[] out, float[] x, int o, float inv, float[] gamma, int n) {
        int i = 0;
        for (int ub = n - L; i <= ub; i += L) {
            FloatVector.fromArray(F, x, o + i).mul(inv).mul(FloatVector.fromArray(F, gamma, i)).intoArray(out, o + i);
        }
        for (; i < n; i++) out[o + i] = x[o + i] * inv * gamma[i];
    }

    static void siluMul(float[] gate, float[] up, int n) {
        siluMul(gate, up, 0, n);
    }

    /** gate[i] = silu(gate[i]) · up[i] for i in [off, off + n) (as {@link #siluMulTo}). */
    static void siluMul(float[] gate, float[] up, int off, int n) { siluMulTo(gate, gate, up, off, n); }

    /**
     * dst[i] = silu(g[i]) · u[i] for i in [off, off + n), every element through the same masked vector code, so an
     * element's value does not depend on where a range starts or ends. e^−g is {@link Lanes#expVec} written out (the
     * same bits in every JIT tier; no call C2 could leave out of line).
     */
    static void siluMulTo(float[] dst, float[] g, float[] u, int off, int n) {
        for (int i = off, end = off + n; i < end; i += L) {
            VectorMask<Float> m = F.indexInRange(i, end);
            FloatVector gv = FloatVector.fromArray(F, g, i, m), x = gv.neg();
            FloatVector xc = x.max(Lanes.EXP_MIN).min(Lanes.EXP_MAX), t = xc.fma(Lanes.LOG2E, Lanes.ROUND_MAGIC), k = t.sub(Lanes.ROUND_MAGIC), r = xc.sub(k.mul(Lanes.LN2_HI)).sub(k.mul(Lanes.LN2_LO));
            IntVector ni = t.reinterpretAsInts().sub(Lanes.ROUND_MAGIC_BITS), h = ni.lanewise(VectorOperators.ASHR, 1);
            FloatVector e = r.fma(Lanes.E7, Lanes.E6).mul(r).add(Lanes.E5).mul(r).add(Lanes.E4).mul(r).add(Lanes.E3).mul(r).add(Lanes.E2).mul(r).add(1f).mul(r).add(1f)
                    .mul(h.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats()).mul(ni.sub(h).add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats())
                    .blend(Float.POSITIVE_INFINITY, x.compare(VectorOperators.GT, Lanes.EXP_MAX)).blend(0f, x.compare(VectorOperators.LT, Lanes.EXP_MIN));
            gv.div(e.add(1f)).mul(FloatVector.fromArray(F, u, i, m)).intoArray(dst, i, m);
        }
    }

    static void add(float[] a, float[] b, int n) {
        add(a, b, 0, n);
    }

    /** a[i] += b[i] for i in [off, off + n). */
    static void add(float[] a, float[] b, int off, int n) {
        int i = off, end = off + n;
        for (int ub = end - L; i <= ub; i += L) {
            FloatVector.fromArray(F, a, i).add(FloatVector.fromArray(F, b, i)).intoArray(a, i);
        }
        for (; i < end; i++) a[i] += b[i];
    }

}
