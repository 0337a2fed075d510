package io.chunkserve.attention;

import io.chunkserve.model.DType;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Vector API building blocks shared by the attention tiles: the float species, a base-2
 * exponential accurate to ~1e-7 relative, and the widening copy of K/V rows from the pool's
 * dtype into fp32 scratch.
 *
 * <p>Methods named {@code …Vec} are force-inlined by every JVM we start
 * ({@code -XX:CompileCommand=inline,io.chunkserve.*::*Vec}, launcher and surefire): every method of ours that returns
 * a vector (C2 does not inline a callee it has already compiled into a big method, and a vector returned from a call
 * that is not inlined is boxed) and small vector loops that a kernel calls per row (a callee left out of line there
 * may keep running as C1 code, whose Vector API calls are not intrinsified). Either made the batch-1 attention
 * 2–45× slower for a whole process in some runs; {@code VectorHelperInliningTest} holds the first half of the rule.
 */
final class VectorMath {
    private VectorMath() { }

    /** The float species of every attention kernel (512-bit with AVX-512, 256-bit with AVX2). */
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    /** Float lanes per vector. */
    static final int V = F.length();
    /** Int species of the same shape as {@link #F}, for bit manipulation. */
    static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    /** Short species with as many lanes as {@link #F}: one half-precision load widens to one float vector. */
    static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
    /** Short species of {@link #F}'s shape (2·V lanes): one full-width half-precision load widens to two float vectors. */
    static final VectorSpecies<Short> S2 = VectorSpecies.of(short.class, F.vectorShape());

    static final float LOG2E = 1.4426950408889634f;
    private static final float LN2 = 0.6931471805599453f;
    /** 1.5·2^23: adding it rounds a float of magnitude < 2^22 to an integer held in the low mantissa bits. */
    private static final float ROUND_MAGIC = 12582912f;
    private static final int ROUND_MAGIC_BITS = Float.floatToRawIntBits(ROUND_MAGIC);
    // Taylor coefficients of 2^r = e^(r·ln2) on |r| ≤ 1/2; truncation error < 1.2e-8 at degree 7.
    private static final float C1 = LN2, C2 = C1 * LN2 / 2, C3 = C2 * LN2 / 3, C4 = C3 * LN2 / 4,
            C5 = C4 * LN2 / 5, C6 = C5 * LN2 / 6, C7 = C6 * LN2 / 7;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);

    /**
     * 2^x lane-wise for x ≤ 0 (our callers only pass score − max). Lanes below −126 (including
     * −∞ from masked scores) give exactly 0, so masked or padded lanes drop out of every sum.
     */
    static FloatVector exp2TaylorVec(FloatVector x) {
        FloatVector xc = x.max(-126f);
        FloatVector t = xc.add(ROUND_MAGIC);
        FloatVector n = t.sub(ROUND_MAGIC);               // round(x)
        FloatVector r = xc.sub(n);                        // in [-1/2, 1/2]
        IntVector ni = t.reinterpretAsInts().sub(ROUND_MAGIC_BITS);
        FloatVector pow2n = ni.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        FloatVector p = r.fma(C7, C6).fma(r, FloatVector.broadcast(F, C5)).fma(r, FloatVector.broadcast(F, C4)).fma(r, FloatVector.broadcast(F, C3))
                .fma(r, FloatVector.broadcast(F, C2)).fma(r, FloatVector.broadcast(F, C1)).fma(r, FloatVector.broadcast(F, 1f));
        return p.mul(pow2n).blend(0f, x.lt(-126f));
    }

    static final boolean EXP5 = Boolean.parseBoolean(System.getProperty("chunkserve.attention.exp5", "true"));

    /**
     * 2^x lane-wise for x ≤ 127: x = n + r with n = round(x), |r| ≤ 1/2; 2^r by a degree-5
     * minimax polynomial (relative error ≤ 7.5e-8 in exact arithmetic, about fp32's half ulp;
     * {@code VectorMathTest} bounds the fp32 result against Math.exp); 2^n built in the exponent
     * field. x is clamped at −127 first, where n = −127 gives an all-zero exponent field, i.e.
     * 2^n = +0: lanes below about −126.5 (including −∞ from masked scores) give exactly 0, so
     * masked or padded lanes drop out of every sum, with no compare and blend.
     */
    static FloatVector exp2Vec(FloatVector x) {
        FloatVector xc = x.max(-127f);
        FloatVector t = xc.add(ROUND_MAGIC);
        FloatVector n = t.sub(ROUND_MAGIC);               // round(x)
        FloatVector r = xc.sub(n);                        // in [-1/2, 1/2]
        FloatVector pow2n = t.reinterpretAsInts().add(127 - ROUND_MAGIC_BITS).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        FloatVector p = r.fma(P5, P4).fma(r, FloatVector.broadcast(F, P3)).fma(r, FloatVector.broadcast(F, P2))
                .fma(r, FloatVector.broadcast(F, P1)).fma(r, FloatVector.broadcast(F, P0));
        return p.mul(pow2n);
    }

    // minimax (relative error) fit of 2^r on [-1/2, 1/2], degree 5
    private static final float P0 = 1.0000001f, P1 = 0.69314694f, P2 = 0.2402212f, P3 = 0.055507131f,
            P4 = 0.0096755410f, P5 = 0.0013276470f;

    /** b[bo + i] = x·a[ao + i] + y·b[bo + i] for i < n. */
    static void axpby(float x, float[] a, int ao, float y, float[] b, int bo, int n) {
        int i = 0;
        for (int bound = n - n % V; i < bound; i += V) {
            FloatVector.fromArray(F, a, ao + i).mul(x).add(FloatVector.fromArray(F, b, bo + i).mul(y)).intoArray(b, bo + i);
        }
        for (; i < n; i++) b[bo + i] = x * a[ao + i] + y * b[bo + i];
    }

    /** b[bo + i] *= x for i < n. */
    static void scale(float x, float[] b, int bo, int n) {
        int i = 0;
        for (int bound = n - n % V; i < bound; i += V) FloatVector.fromArray(F, b, bo + i).mul(x).intoArray(b, bo + i);
        for (; i < n; i++) b[bo + i] *= x;
    }

    /** Scalar 2^x with the same conventions (x ≤ 0; below −126 gives 0). */
    static float exp2(float x) {
        return x < -126f ? 0f : (float) Math.exp(x * (double) LN2);
    }

    /**
     * dst[dstOff + i] = slab element (elemOff + i) widened to fp32, for i < count.
     *
     * @param slab    a layer's K or V slab in dtype {@code dt}, little-endian
     * @param elemOff element index of the first element (not bytes)
     */
    static void widen(MemorySegment slab, DType dt, long elemOff, int count, float[] dst, int dstOff) {
        int i = 0, bound = count - count % V;
        switch (dt) {
            case F32 -> {
                long b = elemOff * 4;
                for (; i < bound; i += V) FloatVector.fromMemorySegment(F, slab, b + 4L * i, LE).intoArray(dst, dstOff + i);
                for (; i < count; i++) dst[dstOff + i] = slab.get(F32, b + 4L * i);
            }
            case BF16 -> {
                long b = elemOff * 2;
                for (; i < bound; i += V) {
                    IntVector x = (IntVector) ShortVector.fromMemorySegment(S, slab, b + 2L * i, LE).convertShape(VectorOperators.S2I, I, 0);
                    x.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(dst, dstOff + i);
                }
                for (; i < count; i++) dst[dstOff + i] = DType.bf16ToFloat(slab.get(I16, b + 2L * i));
            }
            case F16 -> {
                long b = elemOff * 2;
                for (; i < bound; i += V) {
                    IntVector x = (IntVector) ShortVector.fromMemorySegment(S, slab, b + 2L * i, LE).convertShape(VectorOperators.S2I, I, 0);
                    halfToFloatVec(x).intoArray(dst, dstOff + i);
                }
                for (; i < count; i++) dst[dstOff + i] = Float.float16ToFloat(slab.get(I16, b + 2L * i));
            }
        }
    }

    /**
     * {@link #widen} of the same range of a K slab and a V slab in one loop: two concurrent
     * sequential streams keep the hardware prefetcher busy on both (measured ~21 GB/s on one core
     * against ~13 GB/s for K then V).
     */
    static void widenPair(MemorySegment ks, MemorySegment vs, DType dt, long elemOff, int count, float[] kDst, float[] vDst, int dstOff) {
        int i = 0, bound = count - count % V;
        switch (dt) {
            case F32 -> {
                long b = elemOff * 4;
                for (; i < bound; i += V) {
                    FloatVector.fromMemorySegment(F, ks, b + 4L * i, LE).intoArray(kDst, dstOff + i);
                    FloatVector.fromMemorySegment(F, vs, b + 4L * i, LE).intoArray(vDst, dstOff + i);
                }
            }
            case BF16 -> {
                long b = elemOff * 2;
                for (; i < bound; i += V) {
                    bf16ToFloatVec(ShortVector.fromMemorySegment(S, ks, b + 2L * i, LE)).intoArray(kDst, dstOff + i);
                    bf16ToFloatVec(ShortVector.fromMemorySegment(S, vs, b + 2L * i, LE)).intoArray(vDst, dstOff + i);
                }
            }
            case F16 -> {
                long b = elemOff * 2;
                for (; i < bound; i += V) {
                    halfToFloatVec(ShortVector.fromMemorySegment(S, ks, b + 2L * i, LE)).intoArray(kDst, dstOff + i);
                    halfToFloatVec(ShortVector.fromMemorySegment(S, vs, b + 2L * i, LE)).intoArray(vDst, dstOff + i);
                }
            }
        }
        if (i < count) {
            widen(ks, dt, elemOff + i, count - i, kDst, dstOff + i);
            widen(vs, dt, elemOff + i, count - i, vDst, dstOff + i);
        }
    }

    /** Codes of {@link #loadVec}: the pool dtype as a small int, cheap to test in inner loops. */
    static final int KIND_F32 = 0, KIND_BF16 = 1, KIND_F16 = 2;

    static int kind(DType dt) {
        return switch (dt) {
            case F32 -> KIND_F32;
            case BF16 -> KIND_BF16;
            case F16 -> KIND_F16;
        };
    }

    /** V elements from element {@code elem} of a slab of the given kind, widened to fp32 in registers. */
    static FloatVector loadVec(MemorySegment seg, int kind, long elem) {
        if (kind == KIND_F32) return FloatVector.fromMemorySegment(F, seg, elem << 2, LE);
        ShortVector h = ShortVector.fromMemorySegment(S, seg, elem << 1, LE);
        return kind == KIND_BF16 ? bf16ToFloatVec(h) : halfToFloatVec(h);
    }

    /** One element of a slab of the given kind, widened to fp32. */
    static float loadScalar(MemorySegment seg, int kind, long elem) {
        if (kind == KIND_F32) return seg.get(F32, elem << 2);
        short h = seg.get(I16, elem << 1);
        return kind == KIND_BF16 ? DType.bf16ToFloat(h) : Float.float16ToFloat(h);
    }

    private static FloatVector bf16ToFloatVec(ShortVector h) {
        return ((IntVector) h.convertShape(VectorOperators.S2I, I, 0)).lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    private static FloatVector halfToFloatVec(ShortVector h) {
        return halfToFloatVec((IntVector) h.convertShape(VectorOperators.S2I, I, 0));
    }

    /**
     * IEEE half → float for sign-extended 16-bit lanes. The exponent/mantissa field shifted into
     * float position and scaled by 2^112 is exact for normals and subnormals; infinities and NaNs
     * get an all-ones exponent instead.
     */
    private static FloatVector halfToFloatVec(IntVector h) {
        IntVector em = h.and(0x7fff).lanewise(VectorOperators.LSHL, 13);
        IntVector finite = em.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts();
        VectorMask<Integer> special = em.compare(VectorOperators.GE, 0x7c00 << 13);
        IntVector bits = finite.blend(em.or(0x7f800000), special);
        return bits.or(h.and(0x80000000)).reinterpretAsFloats();
    }
}
