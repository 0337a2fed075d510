package io.chunkserve.attention;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

import static io.chunkserve.attention.OneTokenBf16.HIGH;
import static io.chunkserve.attention.OneTokenBf16.pairedFull;
import static io.chunkserve.attention.OneTokenBf16.scoreTail;
import static io.chunkserve.attention.VectorMath.F;
import static io.chunkserve.attention.VectorMath.I;
import static io.chunkserve.attention.VectorMath.V;
import static jdk.incubator.vector.VectorOperators.LSHL;

/**
 * {@link OneTokenBf16}'s paired kernels for groups narrower than its 4 rows: 3 rows (SmolLM2's 9/3 heads, the last 3 of a
 * 7-row group), 2 rows (Qwen3-0.6B's 16/8) and 1 row (multi-head models), each keeping 6–8 accumulators busy (the 2- and
 * 1-row ones by taking two or four paired blocks of tokens, or of dims, a pass) instead of spending FMAs on padded rows
 * (session 16, BENCHMARKS.md). Same paired layouts (the score order, interleaved queries and probabilities, o's rows even
 * dims first per block) and the same sums in the same order as the 4-row kernels for the rows they compute. Written out
 * per width on purpose (see {@link OneTokenDecode}: C2 keeps each monomorphic loop in registers).
 */
final class OneTokenNarrow {
    private OneTokenNarrow() { }

    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    /**
     * {@link OneTokenBf16#scorePiecePaired} for a group of 3 query rows (GQA with 3 query heads a KV head, SmolLM2's, or the last
     * 3 of a larger group): 6 accumulators, no padded fourth row (a quarter of the 4-row kernel's FMAs). Row 3's scores
     * are not written (its offset o3 is the junk row: the tail vectors write it).
     */
    static void scorePiecePaired3(float[] qi, float[] qs, int hd, MemorySegment ks, long k0, int stride, int tn,
                                  float[] sc, int i0, int o1, int o2, int o3) {
        int full = pairedFull(tn);
        for (int j = 0; j < full; j += 2 * V) {
            FloatVector a0 = FloatVector.zero(F), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0;
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
            }
            int t = i0 + j;
            a0.intoArray(sc, t);
            a1.intoArray(sc, t + V);
            b0.intoArray(sc, o1 + t);
            b1.intoArray(sc, o1 + t + V);
            c0.intoArray(sc, o2 + t);
            c1.intoArray(sc, o2 + t + V);
        }
        scoreTail(qs, hd, ks, k0, stride, full / V, (tn + V - 1) / V, sc, i0, o1, o2, o3);
    }

    /** {@link OneTokenBf16#pvPiecePaired} for a group of 3 query rows (see {@link #scorePiecePaired3}): o's rows 0..2 only. */
    static void pvPiecePaired3(float[] pi, int i0, int tn, MemorySegment vs, long v0, int hd, float[] o, int d0) {
        int o1 = hd + d0, o2 = 2 * hd + d0, full = pairedFull(tn);
        FloatVector a0 = FloatVector.fromArray(F, o, d0), a1 = FloatVector.fromArray(F, o, d0 + V);
        FloatVector b0 = FloatVector.fromArray(F, o, o1), b1 = FloatVector.fromArray(F, o, o1 + V);
        FloatVector c0 = FloatVector.fromArray(F, o, o2), c1 = FloatVector.fromArray(F, o, o2 + V);
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
        }
        a0.intoArray(o, d0);
        a1.intoArray(o, d0 + V);
        b0.intoArray(o, o1);
        b1.intoArray(o, o1 + V);
        c0.intoArray(o, o2);
        c1.intoArray(o, o2 + V);
    }

    /**
     * {@link OneTokenBf16#scorePiecePaired} for a group of 2 query rows (GQA with 2 query heads a KV head, Qwen3-0.6B's and -1.7B's, or
     * the last 2 of a 6-row group): two paired blocks (4·V tokens) a pass, so 8 accumulators as in the 4-row kernel, no
     * padded rows (half of the 4-row kernel's FMAs). Rows 2 and 3's scores are not written (their offsets are the junk
     * row: the tail vectors write it).
     */
    static void scorePiecePaired2(float[] qi, float[] qs, int hd, MemorySegment ks, long k0, int stride, int tn,
                                  float[] sc, int i0, int o1, int o2, int o3) {
        int full = pairedFull(tn), j = 0;
        for (; j + 4 * V <= full; j += 4 * V) {
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
            long k = k0 + j;
            for (int d = 0; d < hd; d++, k += stride) {
                IntVector h = IntVector.fromMemorySegment(I, ks, k << 1, LE), g = IntVector.fromMemorySegment(I, ks, (k + 2 * V) << 1, LE);
                FloatVector ev = h.lanewise(LSHL, 16).reinterpretAsFloats(), od = h.and(HIGH).reinterpretAsFloats();
                FloatVector ew = g.lanewise(LSHL, 16).reinterpretAsFloats(), ow = g.and(HIGH).reinterpretAsFloats();
                int qd = 4 * d;
                FloatVector q = FloatVector.broadcast(F, qi[qd]);
                a0 = ev.fma(q, a0);
                a1 = od.fma(q, a1);
                a2 = ew.fma(q, a2);
                a3 = ow.fma(q, a3);
                q = FloatVector.broadcast(F, qi[qd + 1]);
                b0 = ev.fma(q, b0);
                b1 = od.fma(q, b1);
                b2 = ew.fma(q, b2);
                b3 = ow.fma(q, b3);
            }
            int t = i0 + j;
            a0.intoArray(sc, t);
            a1.intoArray(sc, t + V);
            a2.intoArray(sc, t + 2 * V);
            a3.intoArray(sc, t + 3 * V);
            b0.intoArray(sc, o1 + t);
            b1.intoArray(sc, o1 + t + V);
            b2.intoArray(sc, o1 + t + 2 * V);
            b3.intoArray(sc, o1 + t + 3 * V);
        }
        if (j < full) { // one paired block left
            FloatVector a0 = FloatVector.zero(F), a1 = a0, b0 = a0, b1 = a0;
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
            }
            int t = i0 + j;
            a0.intoArray(sc, t);
            a1.intoArray(sc, t + V);
            b0.intoArray(sc, o1 + t);
            b1.intoArray(sc, o1 + t + V);
        }
        scoreTail(qs, hd, ks, k0, stride, full / V, (tn + V - 1) / V, sc, i0, o1, o2, o3);
    }

    /**
     * {@link OneTokenBf16#pvPiecePaired} for a group of 2 query rows (see {@link #scorePiecePaired2}) over the 4·V dims from d0 (two
     * paired dim blocks, 8 accumulators): o's rows 0 and 1 only, each dim block even dims first as there.
     */
    static void pvPiecePaired2(float[] pi, int i0, int tn, MemorySegment vs, long v0, int hd, float[] o, int d0) {
        int o1 = hd + d0, full = pairedFull(tn);
        FloatVector a0 = FloatVector.fromArray(F, o, d0), a1 = FloatVector.fromArray(F, o, d0 + V);
        FloatVector a2 = FloatVector.fromArray(F, o, d0 + 2 * V), a3 = FloatVector.fromArray(F, o, d0 + 3 * V);
        FloatVector b0 = FloatVector.fromArray(F, o, o1), b1 = FloatVector.fromArray(F, o, o1 + V);
        FloatVector b2 = FloatVector.fromArray(F, o, o1 + 2 * V), b3 = FloatVector.fromArray(F, o, o1 + 3 * V);
        for (int b = 0; b < full; b += 2 * V) {
            long v = v0 + (long) b * hd;
            // tokens two at a time: the even one's probability at score index i, the odd one's at i + V (the paired order)
            for (int m = 0, i = 4 * (i0 + b); m < V; m++, i += 4, v += 2L * hd) {
                IntVector h = IntVector.fromMemorySegment(I, vs, v << 1, LE), g = IntVector.fromMemorySegment(I, vs, (v + 2 * V) << 1, LE);
                FloatVector ev = h.lanewise(LSHL, 16).reinterpretAsFloats(), od = h.and(HIGH).reinterpretAsFloats();
                FloatVector ew = g.lanewise(LSHL, 16).reinterpretAsFloats(), ow = g.and(HIGH).reinterpretAsFloats();
                FloatVector p = FloatVector.broadcast(F, pi[i]);
                a0 = ev.fma(p, a0);
                a1 = od.fma(p, a1);
                a2 = ew.fma(p, a2);
                a3 = ow.fma(p, a3);
                p = FloatVector.broadcast(F, pi[i + 1]);
                b0 = ev.fma(p, b0);
                b1 = od.fma(p, b1);
                b2 = ew.fma(p, b2);
                b3 = ow.fma(p, b3);
                h = IntVector.fromMemorySegment(I, vs, (v + hd) << 1, LE);
                g = IntVector.fromMemorySegment(I, vs, (v + hd + 2 * V) << 1, LE);
                ev = h.lanewise(LSHL, 16).reinterpretAsFloats();
                od = h.and(HIGH).reinterpretAsFloats();
                ew = g.lanewise(LSHL, 16).reinterpretAsFloats();
                ow = g.and(HIGH).reinterpretAsFloats();
                p = FloatVector.broadcast(F, pi[i + 4 * V]);
                a0 = ev.fma(p, a0);
                a1 = od.fma(p, a1);
                a2 = ew.fma(p, a2);
                a3 = ow.fma(p, a3);
                p = FloatVector.broadcast(F, pi[i + 4 * V + 1]);
                b0 = ev.fma(p, b0);
                b1 = od.fma(p, b1);
                b2 = ew.fma(p, b2);
                b3 = ow.fma(p, b3);
            }
        }
        for (int t = full; t < tn; t++) {
            int i = 4 * (i0 + t);
            long v = v0 + (long) t * hd;
            IntVector h = IntVector.fromMemorySegment(I, vs, v << 1, LE), g = IntVector.fromMemorySegment(I, vs, (v + 2 * V) << 1, LE);
            FloatVector ev = h.lanewise(LSHL, 16).reinterpretAsFloats(), od = h.and(HIGH).reinterpretAsFloats();
            FloatVector ew = g.lanewise(LSHL, 16).reinterpretAsFloats(), ow = g.and(HIGH).reinterpretAsFloats();
            FloatVector p = FloatVector.broadcast(F, pi[i]);
            a0 = ev.fma(p, a0);
            a1 = od.fma(p, a1);
            a2 = ew.fma(p, a2);
            a3 = ow.fma(p, a3);
            p = FloatVector.broadcast(F, pi[i + 1]);
            b0 = ev.fma(p, b0);
            b1 = od.fma(p, b1);
            b2 = ew.fma(p, b2);
            b3 = ow.fma(p, b3);
        }
        a0.intoArray(o, d0);
        a1.intoArray(o, d0 + V);
        a2.intoArray(o, d0 + 2 * V);
        a3.intoArray(o, d0 + 3 * V);
        b0.intoArray(o, o1);
        b1.intoArray(o, o1 + V);
        b2.intoArray(o, o1 + 2 * V);
        b3.intoArray(o, o1 + 3 * V);
    }

    /**
     * {@link OneTokenBf16#scorePiecePaired} for one query row (multi-head models: one query head a KV head): four paired blocks (8·V
     * tokens) a pass into 8 accumulators, where the 4-row kernels spent three quarters of their FMAs on padded rows.
     * Rows 1..3's scores are not written (their offsets are the junk row: the tail vectors write it).
     */
    static void scorePiecePaired1(float[] qi, float[] qs, int hd, MemorySegment ks, long k0, int stride, int tn,
                                  float[] sc, int i0, int o1, int o2, int o3) {
        int full = pairedFull(tn), j = 0;
        for (; j + 8 * V <= full; j += 8 * V) {
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
            long k = k0 + j;
            for (int d = 0; d < hd; d++, k += stride) {
                FloatVector q = FloatVector.broadcast(F, qi[4 * d]);
                IntVector h = IntVector.fromMemorySegment(I, ks, k << 1, LE);
                a0 = h.lanewise(LSHL, 16).reinterpretAsFloats().fma(q, a0);
                a1 = h.and(HIGH).reinterpretAsFloats().fma(q, a1);
                h = IntVector.fromMemorySegment(I, ks, (k + 2 * V) << 1, LE);
                a2 = h.lanewise(LSHL, 16).reinterpretAsFloats().fma(q, a2);
                a3 = h.and(HIGH).reinterpretAsFloats().fma(q, a3);
                h = IntVector.fromMemorySegment(I, ks, (k + 4 * V) << 1, LE);
                a4 = h.lanewise(LSHL, 16).reinterpretAsFloats().fma(q, a4);
                a5 = h.and(HIGH).reinterpretAsFloats().fma(q, a5);
                h = IntVector.fromMemorySegment(I, ks, (k + 6 * V) << 1, LE);
                a6 = h.lanewise(LSHL, 16).reinterpretAsFloats().fma(q, a6);
                a7 = h.and(HIGH).reinterpretAsFloats().fma(q, a7);
            }
            int t = i0 + j;
            a0.intoArray(sc, t);
            a1.intoArray(sc, t + V);
            a2.intoArray(sc, t + 2 * V);
            a3.intoArray(sc, t + 3 * V);
            a4.intoArray(sc, t + 4 * V);
            a5.intoArray(sc, t + 5 * V);
            a6.intoArray(sc, t + 6 * V);
            a7.intoArray(sc, t + 7 * V);
        }
        for (; j < full; j += 2 * V) { // paired blocks left (pieces shorter than 8·V tokens)
            FloatVector a0 = FloatVector.zero(F), a1 = a0;
            long k = k0 + j;
            for (int d = 0; d < hd; d++, k += stride) {
                FloatVector q = FloatVector.broadcast(F, qi[4 * d]);
                IntVector h = IntVector.fromMemorySegment(I, ks, k << 1, LE);
                a0 = h.lanewise(LSHL, 16).reinterpretAsFloats().fma(q, a0);
                a1 = h.and(HIGH).reinterpretAsFloats().fma(q, a1);
            }
            int t = i0 + j;
            a0.intoArray(sc, t);
            a1.intoArray(sc, t + V);
        }
        scoreTail(qs, hd, ks, k0, stride, full / V, (tn + V - 1) / V, sc, i0, o1, o2, o3);
    }

    /**
     * {@link OneTokenBf16#pvPiecePaired} for one query row (see {@link #scorePiecePaired1}) over the 8·V dims from d0 (four paired dim
     * blocks, 8 accumulators): o's row 0 only, each dim block even dims first as there.
     */
    static void pvPiecePaired1(float[] pi, int i0, int tn, MemorySegment vs, long v0, int hd, float[] o, int d0) {
        int full = pairedFull(tn);
        FloatVector a0 = FloatVector.fromArray(F, o, d0), a1 = FloatVector.fromArray(F, o, d0 + V);
        FloatVector a2 = FloatVector.fromArray(F, o, d0 + 2 * V), a3 = FloatVector.fromArray(F, o, d0 + 3 * V);
        FloatVector a4 = FloatVector.fromArray(F, o, d0 + 4 * V), a5 = FloatVector.fromArray(F, o, d0 + 5 * V);
        FloatVector a6 = FloatVector.fromArray(F, o, d0 + 6 * V), a7 = FloatVector.fromArray(F, o, d0 + 7 * V);
        for (int b = 0; b < full; b += 2 * V) {
            long v = v0 + (long) b * hd;
            // tokens two at a time: the even one's probability at score index i, the odd one's at i + V (the paired order)
            for (int m = 0, i = 4 * (i0 + b); m < V; m++, i += 4, v += 2L * hd) {
                for (int u = 0; u < 2; u++) {
                    long w = v + u * hd;
                    FloatVector p = FloatVector.broadcast(F, pi[i + u * 4 * V]);
                    IntVector h = IntVector.fromMemorySegment(I, vs, w << 1, LE);
                    a0 = h.lanewise(LSHL, 16).reinterpretAsFloats().fma(p, a0);
                    a1 = h.and(HIGH).reinterpretAsFloats().fma(p, a1);
                    h = IntVector.fromMemorySegment(I, vs, (w + 2 * V) << 1, LE);
                    a2 = h.lanewise(LSHL, 16).reinterpretAsFloats().fma(p, a2);
                    a3 = h.and(HIGH).reinterpretAsFloats().fma(p, a3);
                    h = IntVector.fromMemorySegment(I, vs, (w + 4 * V) << 1, LE);
                    a4 = h.lanewise(LSHL, 16).reinterpretAsFloats().fma(p, a4);
                    a5 = h.and(HIGH).reinterpretAsFloats().fma(p, a5);
                    h = IntVector.fromMemorySegment(I, vs, (w + 6 * V) << 1, LE);
                    a6 = h.lanewise(LSHL, 16).reinterpretAsFloats().fma(p, a6);
                    a7 = h.and(HIGH).reinterpretAsFloats().fma(p, a7);
                }
            }
        }
        for (int t = full; t < tn; t++) {
            long w = v0 + (long) t * hd;
            FloatVector p = FloatVector.broadcast(F, pi[4 * (i0 + t)]);
            IntVector h = IntVector.fromMemorySegment(I, vs, w << 1, LE);
            a0 = h.lanewise(LSHL, 16).reinterpretAsFloats().fma(p, a0);
            a1 = h.and(HIGH).reinterpretAsFloats().fma(p, a1);
            h = IntVector.fromMemorySegment(I, vs, (w + 2 * V) << 1, LE);
            a2 = h.lanewise(LSHL, 16).reinterpretAsFloats().fma(p, a2);
            a3 = h.and(HIGH).reinterpretAsFloats().fma(p, a3);
            h = IntVector.fromMemorySegment(I, vs, (w + 4 * V) << 1, LE);
            a4 = h.lanewise(LSHL, 16).reinterpretAsFloats().fma(p, a4);
            a5 = h.and(HIGH).reinterpretAsFloats().fma(p, a5);
            h = IntVector.fromMemorySegment(I, vs, (w + 6 * V) << 1, LE);
            a6 = h.lanewise(LSHL, 16).reinterpretAsFloats().fma(p, a6);
            a7 = h.and(HIGH).reinterpretAsFloats().fma(p, a7);
        }
        a0.intoArray(o, d0);
        a1.intoArray(o, d0 + V);
        a2.intoArray(o, d0 + 2 * V);
        a3.intoArray(o, d0 + 3 * V);
        a4.intoArray(o, d0 + 4 * V);
        a5.intoArray(o, d0 + 5 * V);
        a6.intoArray(o, d0 + 6 * V);
        a7.intoArray(o, d0 + 7 * V);
    }
}
