package io.chunkserve.attention;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

import static io.chunkserve.attention.VectorMath.F;
import static io.chunkserve.attention.VectorMath.I;
import static io.chunkserve.attention.VectorMath.S;
import static io.chunkserve.attention.VectorMath.S2;
import static io.chunkserve.attention.VectorMath.V;
import static jdk.incubator.vector.VectorOperators.LSHL;
import static jdk.incubator.vector.VectorOperators.S2I;

/**
 * The bf16 copies of {@link OneTokenDecode}'s two kernels (scores with keys in lanes, P·V with head dims in lanes):
 * the same loops and register blocks, each full-width load of 2·V bf16 widened to two float vectors in registers
 * (zero-extend, shift left 16, reinterpret), as the bf16 weight kernels do. Written out per dtype on purpose: a load
 * helper that may widen merges two vector values and C2 then leaves the FMAs out of line (see OneTokenDecode).
 * Element offsets are in slab elements; bytes are offsets · 2.
 */
final class OneTokenBf16 {
    private OneTokenBf16() { }

    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final int TV = OneTokenDecode.TV;

    /** {@link OneTokenDecode}'s {@code scorePiece} (4 query rows × whole vectors of tokens, K dim-major) over a bf16 slab. */
    static void scorePiece(float[] qs, int hd, MemorySegment ks, long k0, int stride, int tn,
                           float[] sc, int i0, int o1, int o2, int o3) {
        int nv = (tn + V - 1) / V, j = 0;
        for (; j + TV <= nv; j += TV) {
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
            FloatVector c0 = a0, c1 = a0, c2 = a0, c3 = a0, d0 = a0, d1 = a0, d2 = a0, d3 = a0;
            long k = k0 + (long) j * V;
            for (int d = 0; d < hd; d++, k += stride) {
                ShortVector h0 = ShortVector.fromMemorySegment(S2, ks, (k) << 1, LE), h1 = ShortVector.fromMemorySegment(S2, ks, (k + 2 * V) << 1, LE);
                FloatVector x0 = ((IntVector) h0.convertShape(S2I, I, 0)).lanewise(LSHL, 16).reinterpretAsFloats();
                FloatVector x1 = ((IntVector) h0.convertShape(S2I, I, 1)).lanewise(LSHL, 16).reinterpretAsFloats();
                FloatVector x2 = ((IntVector) h1.convertShape(S2I, I, 0)).lanewise(LSHL, 16).reinterpretAsFloats();
                FloatVector x3 = ((IntVector) h1.convertShape(S2I, I, 1)).lanewise(LSHL, 16).reinterpretAsFloats();
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
        scoreTail(qs, hd, ks, k0, stride, j, nv, sc, i0, o1, o2, o3);
    }

    /** Token vectors j0 .. nv−1 of a score piece, one vector of V tokens at a time, in token order. */
    static void scoreTail(float[] qs, int hd, MemorySegment ks, long k0, int stride, int j0, int nv,
                                  float[] sc, int i0, int o1, int o2, int o3) {
        for (int j = j0; j < nv; j++) {
            FloatVector a = FloatVector.zero(F), b = a, cc = a, dd = a;
            long k = k0 + (long) j * V;
            for (int d = 0; d < hd; d++, k += stride) {
                FloatVector x = ((IntVector) ShortVector.fromMemorySegment(S, ks, (k) << 1, LE).convertShape(S2I, I, 0)).lanewise(LSHL, 16)
                        .reinterpretAsFloats();
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

    /** {@link OneTokenDecode}'s {@code pvPiece} (o rows += p · V over tn tokens, 4 dim vectors from d0) over a bf16 slab. */
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
            ShortVector h0 = ShortVector.fromMemorySegment(S2, vs, (v) << 1, LE), h1 = ShortVector.fromMemorySegment(S2, vs, (v + 2 * V) << 1, LE);
            FloatVector x0 = ((IntVector) h0.convertShape(S2I, I, 0)).lanewise(LSHL, 16).reinterpretAsFloats();
            FloatVector x1 = ((IntVector) h0.convertShape(S2I, I, 1)).lanewise(LSHL, 16).reinterpretAsFloats();
            FloatVector x2 = ((IntVector) h1.convertShape(S2I, I, 0)).lanewise(LSHL, 16).reinterpretAsFloats();
            FloatVector x3 = ((IntVector) h1.convertShape(S2I, I, 1)).lanewise(LSHL, 16).reinterpretAsFloats();
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

    // ---- paired kernels (OneTokenDecode.pairs: 256-bit vectors, 16 registers) ----
    // 2·V bf16 loaded as V ints: h << 16 is the even element of each pair, h & 0xFFFF0000 the odd one, both exact fp32,
    // with two ALU operations and no cross-lane widening (a full-width short vector widened in two parts costs a
    // cross-lane extract per vector on AVX2). Scores: 4 rows × 2·V tokens per pass (8 accumulators: even and odd tokens
    // of each row), each block's scores stored even tokens first (token t of a piece below {@link #pairedFull} at
    // (t & −2V) + (t & 1)·V + (t mod 2V) / 2, the rest at t). P·V: 4 rows × 2·V dims per pass,
    // the output rows kept even dims first per 2·V block until {@link #unpairRows}.

    static final IntVector HIGH = IntVector.broadcast(I, 0xFFFF_0000);

    /** Tokens of a piece scored as paired blocks (the rest in token order). */
    static int pairedFull(int tn) { return tn - tn % (2 * V); }

    /**
     * {@link #scorePiece} in paired blocks of 2·V tokens (even tokens first); the last tn % (2·V) tokens in order. The 4
     * rows' queries come interleaved (qi[4·d + r] = row r's dim d; qs, rows of hd, for the tail vectors): the four
     * broadcasts of a dim share one index at constant displacements (session 16: with four row offsets C2 kept them in
     * stack slots and reloaded them every iteration; attention a step 2.5–10.6 % faster, larger with more heads).
     */
    static void scorePiecePaired(float[] qi, float[] qs, int hd, MemorySegment ks, long k0, int stride, int tn,
                                  float[] sc, int i0, int o1, int o2, int o3) {
        int full = pairedFull(tn);
        for (int j = 0; j < full; j += 2 * V) {
            FloatVector a0 = FloatVector.zero(F), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, d0 = a0, d1 = a0;
            long k = k0 + j;
            for (int d = 0; d < hd; d++, k += stride) {
                IntVector h = IntVector.fromMemorySegment(I, ks, k << 1, LE);
                FloatVector ev = h.lanewise(LSHL, 16).reinterpretAsFloats(), od = h.and(HIGH).reinterpretAsFloats();
                int qd = 4 * d;
                FloatVector q = FloatVector.broadcast(F, qi[qd]);
                a0 = ev.fma(q, a0);
                a1 = od.fma(q, a1);
                q = FloatVector.broadcast(F, qi[qd + 1]);
                b0 = ev.fma(q, b0);
                b1 = od.fma(q, b1);
                q = FloatVector.broadcast(F, qi[qd + 2]);
                c0 = ev.fma(q, c0);
                c1 = od.fma(q, c1);
                q = FloatVector.broadcast(F, qi[qd + 3]);
                d0 = ev.fma(q, d0);
                d1 = od.fma(q, d1);
            }
            int t = i0 + j;
            a0.intoArray(sc, t);
            a1.intoArray(sc, t + V);
            b0.intoArray(sc, o1 + t);
            b1.intoArray(sc, o1 + t + V);
            c0.intoArray(sc, o2 + t);
            c1.intoArray(sc, o2 + t + V);
            d0.intoArray(sc, o3 + t);
            d1.intoArray(sc, o3 + t + V);
        }
        scoreTail(qs, hd, ks, k0, stride, full / V, (tn + V - 1) / V, sc, i0, o1, o2, o3);
    }

    /**
     * {@link #pvPiece} for the 2·V dims from d0 (v0 = token 0's element d0), the probabilities of a piece scored by {@link
     * #scorePiecePaired}, the 4 rows' interleaved (pi[4·i + r] = row r's score-buffer entry i: one index for the four
     * broadcasts of a token, as for the queries there); o's rows hold those dims even ones first.
     */
    static void pvPiecePaired(float[] pi, int i0, int tn, MemorySegment vs, long v0, int hd, float[] o, int d0) {
        int o1 = hd + d0, o2 = 2 * hd + d0, o3 = 3 * hd + d0, full = pairedFull(tn);
        FloatVector a0 = FloatVector.fromArray(F, o, d0), a1 = FloatVector.fromArray(F, o, d0 + V);
        FloatVector b0 = FloatVector.fromArray(F, o, o1), b1 = FloatVector.fromArray(F, o, o1 + V);
        FloatVector c0 = FloatVector.fromArray(F, o, o2), c1 = FloatVector.fromArray(F, o, o2 + V);
        FloatVector e0 = FloatVector.fromArray(F, o, o3), e1 = FloatVector.fromArray(F, o, o3 + V);
        for (int b = 0; b < full; b += 2 * V) {
            long v = v0 + (long) b * hd;
            for (int j = 0, i = 4 * (i0 + b); j < V; j++, i += 4, v += 2L * hd) {
                IntVector h = IntVector.fromMemorySegment(I, vs, v << 1, LE);
                FloatVector ev = h.lanewise(LSHL, 16).reinterpretAsFloats(), od = h.and(HIGH).reinterpretAsFloats(), p;
                p = FloatVector.broadcast(F, pi[i]);
                a0 = ev.fma(p, a0);
                a1 = od.fma(p, a1);
                p = FloatVector.broadcast(F, pi[i + 1]);
                b0 = ev.fma(p, b0);
                b1 = od.fma(p, b1);
                p = FloatVector.broadcast(F, pi[i + 2]);
                c0 = ev.fma(p, c0);
                c1 = od.fma(p, c1);
                p = FloatVector.broadcast(F, pi[i + 3]);
                e0 = ev.fma(p, e0);
                e1 = od.fma(p, e1);
                h = IntVector.fromMemorySegment(I, vs, (v + hd) << 1, LE);
                ev = h.lanewise(LSHL, 16).reinterpretAsFloats();
                od = h.and(HIGH).reinterpretAsFloats();
                p = FloatVector.broadcast(F, pi[i + 4 * V]);
                a0 = ev.fma(p, a0);
                a1 = od.fma(p, a1);
                p = FloatVector.broadcast(F, pi[i + 4 * V + 1]);
                b0 = ev.fma(p, b0);
                b1 = od.fma(p, b1);
                p = FloatVector.broadcast(F, pi[i + 4 * V + 2]);
                c0 = ev.fma(p, c0);
                c1 = od.fma(p, c1);
                p = FloatVector.broadcast(F, pi[i + 4 * V + 3]);
                e0 = ev.fma(p, e0);
                e1 = od.fma(p, e1);
            }
        }
        for (int t = full; t < tn; t++) {
            int i = 4 * (i0 + t);
            IntVector h = IntVector.fromMemorySegment(I, vs, (v0 + (long) t * hd) << 1, LE);
            FloatVector ev = h.lanewise(LSHL, 16).reinterpretAsFloats(), od = h.and(HIGH).reinterpretAsFloats(), p;
            p = FloatVector.broadcast(F, pi[i]);
            a0 = ev.fma(p, a0);
            a1 = od.fma(p, a1);
            p = FloatVector.broadcast(F, pi[i + 1]);
            b0 = ev.fma(p, b0);
            b1 = od.fma(p, b1);
            p = FloatVector.broadcast(F, pi[i + 2]);
            c0 = ev.fma(p, c0);
            c1 = od.fma(p, c1);
            p = FloatVector.broadcast(F, pi[i + 3]);
            e0 = ev.fma(p, e0);
            e1 = od.fma(p, e1);
        }
        a0.intoArray(o, d0);
        a1.intoArray(o, d0 + V);
        b0.intoArray(o, o1);
        b1.intoArray(o, o1 + V);
        c0.intoArray(o, o2);
        c1.intoArray(o, o2 + V);
        e0.intoArray(o, o3);
        e1.intoArray(o, o3 + V);
    }

    /** Rows 0 .. rows−1 of o (hd each, kept even dims first per 2·V block by {@link #pvPiecePaired}) back in dim order. */
    static void unpairRows(float[] o, int rows, int hd, float[] tmp) {
        for (int r = 0; r < rows; r++) {
            int base = r * hd;
            System.arraycopy(o, base, tmp, 0, hd);
            for (int b = 0; b < hd; b += 2 * V) {
                for (int j = 0; j < V; j++) {
                    o[base + b + 2 * j] = tmp[b + j];
                    o[base + b + 2 * j + 1] = tmp[b + V + j];
                }
            }
        }
    }
}
