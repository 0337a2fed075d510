package io.chunkserve.attention;

import jdk.incubator.vector.FloatVector;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

import static io.chunkserve.attention.VectorMath.F;
import static io.chunkserve.attention.VectorMath.V;

/**
 * {@link OneTokenDecode}'s two kernels over an fp32 slab (scores with keys in lanes, 4 query rows × 4 token vectors a
 * pass; P·V with head dims in lanes, 4 rows × 4 dim vectors a pass); the bf16 copies are in {@link OneTokenBf16}.
 */
final class OneTokenF32 {
    private OneTokenF32() { }

    private static final int TV = OneTokenDecode.TV;

    /*
     * The kernels below load the slab with FloatVector.fromMemorySegment written out at each site (it is
     * force-inlined): a helper of our own, however small, is sometimes left out of line by C2, and the
     * vector it returns then has no exact class, so every FMA on it runs out of line, not intrinsified
     * (JFR: most of the bench's decode attention in FloatVector.lanewise / VectorSupport.ternaryOp).
     * For the same reason each dtype has its own copy of the two kernels: a load that may widen bf16 merges two
     * vector values. The bf16 copies are in {@link OneTokenBf16}.
     */
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    /**
     * Scores of tn tokens (K dim-major from element k0, row stride ks) for 4 query rows (qs rows
     * 0..3) into sc at i0 + row offsets 0, o1, o2, o3. Whole vectors of tokens: up to V − 1 lanes
     * past tn are written (garbage the next piece or the softmax padding overwrites).
     */
    static void scorePiece(float[] qs, int hd, MemorySegment ks, long k0, int stride, int tn,
                                   float[] sc, int i0, int o1, int o2, int o3) {
        int nv = (tn + V - 1) / V, j = 0;
        for (; j + TV <= nv; j += TV) {
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
            FloatVector c0 = a0, c1 = a0, c2 = a0, c3 = a0, d0 = a0, d1 = a0, d2 = a0, d3 = a0;
            long k = k0 + (long) j * V;
            for (int d = 0; d < hd; d++, k += stride) {
                FloatVector x0 = FloatVector.fromMemorySegment(F, ks, (k) << 2, LE), x1 = FloatVector.fromMemorySegment(F, ks, (k + V) << 2, LE);
                FloatVector x2 = FloatVector.fromMemorySegment(F, ks, (k + 2 * V) << 2, LE), x3 = FloatVector.fromMemorySegment(F, ks, (k + 3 * V) << 2, LE);
                FloatVector q0 = FloatVector.broadcast(F, qs[d]);
                a0 = x0.fma(q0, a0);
                a1 = x1.fma(q0, a1);
                a2 = x2.fma(q0, a2);
                a3 = x3.fma(q0, a3);
                FloatVector q1 = FloatVector.broadcast(F, qs[hd + d]);
                b0 = x0.fma(q1, b0);
                b1 = x1.fma(q1, b1);
                b2 = x2.fma(q1, b2);
                b3 = x3.fma(q1, b3);
                FloatVector q2 = FloatVector.broadcast(F, qs[2 * hd + d]);
                c0 = x0.fma(q2, c0);
                c1 = x1.fma(q2, c1);
                c2 = x2.fma(q2, c2);
                c3 = x3.fma(q2, c3);
                FloatVector q3 = FloatVector.broadcast(F, qs[3 * hd + d]);
                d0 = x0.fma(q3, d0);
                d1 = x1.fma(q3, d1);
                d2 = x2.fma(q3, d2);
                d3 = x3.fma(q3, d3);
            }
            int t = i0 + j * V;
            a0.intoArray(sc, t);
            a1.intoArray(sc, t + V);
            a2.intoArray(sc, t + 2 * V);
            a3.intoArray(sc, t + 3 * V);
            b0.intoArray(sc, o1 + t);
            b1.intoArray(sc, o1 + t + V);
            b2.intoArray(sc, o1 + t + 2 * V);
            b3.intoArray(sc, o1 + t + 3 * V);
            c0.intoArray(sc, o2 + t);
            c1.intoArray(sc, o2 + t + V);
            c2.intoArray(sc, o2 + t + 2 * V);
            c3.intoArray(sc, o2 + t + 3 * V);
            d0.intoArray(sc, o3 + t);
            d1.intoArray(sc, o3 + t + V);
            d2.intoArray(sc, o3 + t + 2 * V);
            d3.intoArray(sc, o3 + t + 3 * V);
        }
        for (; j < nv; j++) {
            FloatVector a = FloatVector.zero(F), b = a, cc = a, dd = a;
            long k = k0 + (long) j * V;
            for (int d = 0; d < hd; d++, k += stride) {
                FloatVector x = FloatVector.fromMemorySegment(F, ks, (k) << 2, LE);
                a = x.fma(FloatVector.broadcast(F, qs[d]), a);
                b = x.fma(FloatVector.broadcast(F, qs[hd + d]), b);
                cc = x.fma(FloatVector.broadcast(F, qs[2 * hd + d]), cc);
                dd = x.fma(FloatVector.broadcast(F, qs[3 * hd + d]), dd);
            }
            int t = i0 + j * V;
            a.intoArray(sc, t);
            b.intoArray(sc, o1 + t);
            cc.intoArray(sc, o2 + t);
            dd.intoArray(sc, o3 + t);
        }
    }

    /**
     * o[r, d0 .. d0+4V) += Σ_{t &lt; tn} p_r[i0 + t] · v[t, d0 .. d0+4V) for the 4 rows (p rows at sc offsets
     * 0, p1, p2, p3; o rows r·hd), V rows row-major from element v0 (stride hd).
     */
    static void pvPiece(float[] sc, int i0, int p1, int p2, int p3, int tn, MemorySegment vs, long v0, int hd,
                                float[] o, int d0) {
        int o1 = hd + d0, o2 = 2 * hd + d0, o3 = 3 * hd + d0;
        FloatVector a0 = FloatVector.fromArray(F, o, d0), a1 = FloatVector.fromArray(F, o, d0 + V);
        FloatVector a2 = FloatVector.fromArray(F, o, d0 + 2 * V), a3 = FloatVector.fromArray(F, o, d0 + 3 * V);
        FloatVector b0 = FloatVector.fromArray(F, o, o1), b1 = FloatVector.fromArray(F, o, o1 + V);
        FloatVector b2 = FloatVector.fromArray(F, o, o1 + 2 * V), b3 = FloatVector.fromArray(F, o, o1 + 3 * V);
        FloatVector c0 = FloatVector.fromArray(F, o, o2), c1 = FloatVector.fromArray(F, o, o2 + V);
        FloatVector c2 = FloatVector.fromArray(F, o, o2 + 2 * V), c3 = FloatVector.fromArray(F, o, o2 + 3 * V);
        FloatVector e0 = FloatVector.fromArray(F, o, o3), e1 = FloatVector.fromArray(F, o, o3 + V);
        FloatVector e2 = FloatVector.fromArray(F, o, o3 + 2 * V), e3 = FloatVector.fromArray(F, o, o3 + 3 * V);
        long v = v0;
        for (int t = 0; t < tn; t++, v += hd) {
            FloatVector x0 = FloatVector.fromMemorySegment(F, vs, (v) << 2, LE), x1 = FloatVector.fromMemorySegment(F, vs, (v + V) << 2, LE);
            FloatVector x2 = FloatVector.fromMemorySegment(F, vs, (v + 2 * V) << 2, LE), x3 = FloatVector.fromMemorySegment(F, vs, (v + 3 * V) << 2, LE);
            int i = i0 + t;
            FloatVector p = FloatVector.broadcast(F, sc[i]);
            a0 = x0.fma(p, a0);
            a1 = x1.fma(p, a1);
            a2 = x2.fma(p, a2);
            a3 = x3.fma(p, a3);
            p = FloatVector.broadcast(F, sc[p1 + i]);
            b0 = x0.fma(p, b0);
            b1 = x1.fma(p, b1);
            b2 = x2.fma(p, b2);
            b3 = x3.fma(p, b3);
            p = FloatVector.broadcast(F, sc[p2 + i]);
            c0 = x0.fma(p, c0);
            c1 = x1.fma(p, c1);
            c2 = x2.fma(p, c2);
            c3 = x3.fma(p, c3);
            p = FloatVector.broadcast(F, sc[p3 + i]);
            e0 = x0.fma(p, e0);
            e1 = x1.fma(p, e1);
            e2 = x2.fma(p, e2);
            e3 = x3.fma(p, e3);
        }
        a0.intoArray(o, d0);
        a1.intoArray(o, d0 + V);
        a2.intoArray(o, d0 + 2 * V);
        a3.intoArray(o, d0 + 3 * V);
        b0.intoArray(o, o1);
        b1.intoArray(o, o1 + V);
        b2.intoArray(o, o1 + 2 * V);
        b3.intoArray(o, o1 + 3 * V);
        c0.intoArray(o, o2);
        c1.intoArray(o, o2 + V);
        c2.intoArray(o, o2 + 2 * V);
        c3.intoArray(o, o2 + 3 * V);
        e0.intoArray(o, o3);
        e1.intoArray(o, o3 + V);
        e2.intoArray(o, o3 + 2 * V);
        e3.intoArray(o, o3 + 3 * V);
    }
}
