package io.chunkserve.attention;

import io.chunkserve.runtime.cpu.Lanes;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

import static io.chunkserve.attention.VectorMath.F;
import static io.chunkserve.attention.VectorMath.V;

/**
 * One to three query rows at a time. Scores put keys in vector lanes (K is dim-major per chunk,
 * {@link io.chunkserve.kv.KvLayout}): a vector of V tokens' scores accumulates
 * broadcast(q[d]) · K[d, tokens] over the head dims, with no horizontal reduction. The output
 * update puts head dims in lanes: a broadcast of the probability times a V row. Meant for 1 to a few rows — a decode step's g
 * query heads over a private chunk — where the work is bound by reading K/V, not by arithmetic,
 * so it reads the pool slab in place and widens half types in registers.
 */
final class LaneDimsTile extends QueryTile {
    private static final int DB = 4; // vectors of head dims per output block

    private int tcap;
    private float[] q = new float[0];   // (rows, dim) scaled queries
    private float[] o = new float[0];   // (rows, dim) unnormalised outputs
    private float[] s = new float[0];   // (tcap rounded up to V) scores, then probabilities, of one row
    private float[] s2 = new float[0];  // (tcap rounded up to V) the same for the second row of a pair
    private float[] s3 = new float[0];  // (tcap rounded up to V) the same for the third row of a triple
    private float[] m = new float[0];   // (rows) running max, log2 units
    private float[] l = new float[0];   // (rows) running sum
    private int[] lim = new int[0];     // (rows) last attended absolute position
    private float[] ktSeen, vtSeen;     // scratch arrays last wrapped ...
    private MemorySegment ktSeg, vtSeg; // ... and their segment views

    @Override
    void begin(int rows, int dim, int maxTokens) {
        this.rows = rows;
        this.dim = dim;
        tcap = maxTokens;
        if (q.length < rows * dim) { q = new float[rows * dim]; o = new float[rows * dim]; }
        if (s.length < roundUp(tcap, V)) { s = new float[roundUp(tcap, V)]; s2 = new float[roundUp(tcap, V)]; s3 = new float[roundUp(tcap, V)]; }
        if (m.length < rows) { m = new float[rows]; l = new float[rows]; lim = new int[rows]; }
        Arrays.fill(o, 0, rows * dim, 0f);
        Arrays.fill(m, 0, rows, Float.NEGATIVE_INFINITY);
        Arrays.fill(l, 0, rows, 0f);
        Arrays.fill(lim, 0, rows, Integer.MAX_VALUE);
        minLimit = Integer.MAX_VALUE;
    }

    @Override
    void setQuery(int r, float[] src, int off, float scale, int limit) {
        for (int d = 0; d < dim; d++) q[r * dim + d] = src[off + d] * scale;
        lim[r] = limit;
        minLimit = Math.min(minLimit, limit);
    }

    /** kt: (dim, maxTokens) dim-major fp32 keys (see {@link QueryTile#accumulate}). */
    @Override
    void accumulate(float[] kt, float[] vt, int tn, int pos0) {
        if (kt != ktSeen) { ktSeen = kt; ktSeg = MemorySegment.ofArray(kt); }
        if (vt != vtSeen) { vtSeen = vt; vtSeg = MemorySegment.ofArray(vt); }
        accumulateInPlace(ktSeg, 0, tcap, vtSeg, 0, VectorMath.KIND_F32, tn, pos0);
    }

    /**
     * As {@link #accumulate(float[], float[], int, int)} but reading K/V where they are (a pool
     * slab), elements of the given kind ({@link VectorMath#kind}), little-endian, widened in
     * registers: K dim-major, token t's dim d at element kOff + d·kStride + t; V row-major (≥ tn,
     * dim) from element vOff. Whole vectors of tokens are loaded, so up to V−1 elements past
     * token tn−1 of a K row are read (and ignored): they must lie inside the segment. Streaming
     * the slab directly is what makes this memory-bound kernel fast: no copy pass.
     */
    void accumulateInPlace(MemorySegment ks, long kOff, int kStride, MemorySegment vs, long vOff, int kind, int tn, int pos0) {
        int r = 0;
        if (rows % 2 == 1 && rows >= 3) { // an odd count starts with three rows (a GQA group of 3) in one pass over K and V
            int c0 = (int) Math.min(tn, (long) lim[0] - pos0 + 1), c1 = (int) Math.min(tn, (long) lim[1] - pos0 + 1);
            int c2 = (int) Math.min(tn, (long) lim[2] - pos0 + 1);
            if (c0 > 0 && c1 > 0 && c2 > 0) {
                int cnt = Math.max(c0, Math.max(c1, c2));
                scores3(ks, kind, kOff, kStride, cnt);
                float corr0 = softmax(s, c0, cnt, 0), corr1 = softmax(s2, c1, cnt, 1), corr2 = softmax(s3, c2, cnt, 2);
                weightedSum3(vs, kind, vOff, cnt, corr0, corr1, corr2);
            } else {
                single(ks, kOff, kStride, vs, vOff, kind, c0, 0);
                single(ks, kOff, kStride, vs, vOff, kind, c1, 1);
                single(ks, kOff, kStride, vs, vOff, kind, c2, 2);
            }
            r = 3;
        }
        for (; r + 1 < rows; r += 2) { // row pairs share every K/V load (and its widening)
            int c0 = (int) Math.min(tn, (long) lim[r] - pos0 + 1), c1 = (int) Math.min(tn, (long) lim[r + 1] - pos0 + 1);
            if (c0 > 0 && c1 > 0) {
                int cnt = Math.max(c0, c1);
                scores2(ks, kind, kOff, kStride, cnt, r);
                float corr0 = softmax(s, c0, cnt, r), corr1 = softmax(s2, c1, cnt, r + 1);
                weightedSum2(vs, kind, vOff, cnt, r, corr0, corr1);
            } else {
                single(ks, kOff, kStride, vs, vOff, kind, c0, r);
                single(ks, kOff, kStride, vs, vOff, kind, c1, r + 1);
            }
        }
        if (r < rows) single(ks, kOff, kStride, vs, vOff, kind, (int) Math.min(tn, (long) lim[r] - pos0 + 1), r);
        aheadRest();
    }

    private void single(MemorySegment ks, long kOff, int kStride, MemorySegment vs, long vOff, int kind, int cnt, int r) {
        if (cnt <= 0) return;
        // fp32 only: with the bf16 widening inlined 8 times per loop C2 passes its inlining cutoff and boxes the vectors
        boolean whole = WHOLE_ROWS && V == 8 && dim == 64 && kind == VectorMath.KIND_F32;
        if (whole && kStride == 64 && cnt == 64) scoresWhole(ks, kind, kOff, r);
        else scores(ks, kind, kOff, kStride, cnt, r);
        float corr = softmax(s, cnt, cnt, r);
        if (whole) weightedSumWhole(vs, kind, vOff, cnt, r, corr);
        else weightedSum(vs, kind, vOff, cnt, r, corr);
    }

    /**
     * A/B switch ({@code bench attention --ab whole=false}): one row over fp32 K/V of head dim 64 with 8-lane vectors reads each K
     * row (the 64 keys of one dim) and each V row (the 64 dims of one token) whole, in address order
     * ({@link #scoresWhole}, {@link #weightedSumWhole}), instead of in two half-row passes.
     */
    static volatile boolean WHOLE_ROWS = true;

    /**
     * {@link #scores} for one row, a full 64-token chunk, head dim 64, 8 lanes: 8 accumulators cover all 64 keys, so
     * each dim's K row is read whole and the block front to back (one sequential stream; the general kernel reads it
     * as two passes over half rows, 256 bytes apart at fp32, which the hardware prefetcher follows less well).
     */
    private void scoresWhole(MemorySegment ks, int kind, long kOff, int r) {
        final int qb = r * 64;
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        long k = kOff;
        for (int d = 0; d < 64; d++, k += 64) {
            FloatVector x = FloatVector.broadcast(F, q[qb + d]);
            a0 = VectorMath.loadVec(ks, kind, k).fma(x, a0);
            a1 = VectorMath.loadVec(ks, kind, k + 8).fma(x, a1);
            a2 = VectorMath.loadVec(ks, kind, k + 16).fma(x, a2);
            a3 = VectorMath.loadVec(ks, kind, k + 24).fma(x, a3);
            a4 = VectorMath.loadVec(ks, kind, k + 32).fma(x, a4);
            a5 = VectorMath.loadVec(ks, kind, k + 40).fma(x, a5);
            a6 = VectorMath.loadVec(ks, kind, k + 48).fma(x, a6);
            a7 = VectorMath.loadVec(ks, kind, k + 56).fma(x, a7);
            if ((d & 31) == 31) ahead();
        }
        a0.intoArray(s, 0);
        a1.intoArray(s, 8);
        a2.intoArray(s, 16);
        a3.intoArray(s, 24);
        a4.intoArray(s, 32);
        a5.intoArray(s, 40);
        a6.intoArray(s, 48);
        a7.intoArray(s, 56);
    }

    /** {@link #weightedSum} for head dim 64 with 8 lanes: 8 accumulators cover the whole output row, V read token by token. */
    private void weightedSumWhole(MemorySegment vs, int kind, long off, int cnt, int r, float corr) {
        final int ob = r * 64;
        final float[] out = o;
        FloatVector a0 = FloatVector.fromArray(F, out, ob).mul(corr), a1 = FloatVector.fromArray(F, out, ob + 8).mul(corr);
        FloatVector a2 = FloatVector.fromArray(F, out, ob + 16).mul(corr), a3 = FloatVector.fromArray(F, out, ob + 24).mul(corr);
        FloatVector a4 = FloatVector.fromArray(F, out, ob + 32).mul(corr), a5 = FloatVector.fromArray(F, out, ob + 40).mul(corr);
        FloatVector a6 = FloatVector.fromArray(F, out, ob + 48).mul(corr), a7 = FloatVector.fromArray(F, out, ob + 56).mul(corr);
        long v = off;
        for (int t = 0; t < cnt; t++, v += 64) {
            FloatVector p = FloatVector.broadcast(F, s[t]);
            a0 = VectorMath.loadVec(vs, kind, v).fma(p, a0);
            a1 = VectorMath.loadVec(vs, kind, v + 8).fma(p, a1);
            a2 = VectorMath.loadVec(vs, kind, v + 16).fma(p, a2);
            a3 = VectorMath.loadVec(vs, kind, v + 24).fma(p, a3);
            a4 = VectorMath.loadVec(vs, kind, v + 32).fma(p, a4);
            a5 = VectorMath.loadVec(vs, kind, v + 40).fma(p, a5);
            a6 = VectorMath.loadVec(vs, kind, v + 48).fma(p, a6);
            a7 = VectorMath.loadVec(vs, kind, v + 56).fma(p, a7);
            if ((t & 15) == 15) ahead();
        }
        a0.intoArray(out, ob);
        a1.intoArray(out, ob + 8);
        a2.intoArray(out, ob + 16);
        a3.intoArray(out, ob + 24);
        a4.intoArray(out, ob + 32);
        a5.intoArray(out, ob + 40);
        a6.intoArray(out, ob + 48);
        a7.intoArray(out, ob + 56);
    }

    /**
     * s[t] = q[r, :] · k[t, :] and s2[t] = q[r+1, :] · k[t, :] for t < cnt (and garbage up to cnt rounded up to V,
     * which softmax overwrites): keys in lanes, K dim-major at element kOff with row stride ksd.
     */
    private void scores2(MemorySegment ks, int kind, long kOff, int ksd, int cnt, int r) {
        final int D = dim, qb = r * D, qb2 = qb + D, nv = (cnt + V - 1) / V;
        final long row = ksd;
        int j = 0;
        for (; j + 4 <= nv; j += 4) {
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
            long k = kOff + (long) j * V;
            for (int d = 0; d < D; d++, k += row) {
                FloatVector k0 = VectorMath.loadVec(ks, kind, k), k1 = VectorMath.loadVec(ks, kind, k + V);
                FloatVector k2 = VectorMath.loadVec(ks, kind, k + 2 * V), k3 = VectorMath.loadVec(ks, kind, k + 3 * V);
                FloatVector x = FloatVector.broadcast(F, q[qb + d]), y = FloatVector.broadcast(F, q[qb2 + d]);
                a0 = k0.fma(x, a0);
                a1 = k1.fma(x, a1);
                a2 = k2.fma(x, a2);
                a3 = k3.fma(x, a3);
                b0 = k0.fma(y, b0);
                b1 = k1.fma(y, b1);
                b2 = k2.fma(y, b2);
                b3 = k3.fma(y, b3);
            }
            int t = j * V;
            a0.intoArray(s, t);
            a1.intoArray(s, t + V);
            a2.intoArray(s, t + 2 * V);
            a3.intoArray(s, t + 3 * V);
            b0.intoArray(s2, t);
            b1.intoArray(s2, t + V);
            b2.intoArray(s2, t + 2 * V);
            b3.intoArray(s2, t + 3 * V);
            ahead();
        }
        for (; j < nv; j++) {
            FloatVector a = FloatVector.zero(F), b = a;
            long k = kOff + (long) j * V;
            for (int d = 0; d < D; d++, k += row) {
                FloatVector kv = VectorMath.loadVec(ks, kind, k);
                a = kv.fma(FloatVector.broadcast(F, q[qb + d]), a);
                b = kv.fma(FloatVector.broadcast(F, q[qb2 + d]), b);
            }
            a.intoArray(s, j * V);
            b.intoArray(s2, j * V);
        }
    }

    /** Rows 0, 1, 2: s[t], s2[t], s3[t] = q[row, :] · k[t, :] for t < cnt (keys in lanes, as {@link #scores2}). */
    private void scores3(MemorySegment ks, int kind, long kOff, int ksd, int cnt) {
        final int D = dim, nv = (cnt + V - 1) / V;
        final long row = ksd;
        int j = 0;
        for (; j + 4 <= nv; j += 4) {
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
            FloatVector c0 = a0, c1 = a0, c2 = a0, c3 = a0;
            long k = kOff + (long) j * V;
            for (int d = 0; d < D; d++, k += row) {
                FloatVector k0 = VectorMath.loadVec(ks, kind, k), k1 = VectorMath.loadVec(ks, kind, k + V);
                FloatVector k2 = VectorMath.loadVec(ks, kind, k + 2 * V), k3 = VectorMath.loadVec(ks, kind, k + 3 * V);
                FloatVector x = FloatVector.broadcast(F, q[d]), y = FloatVector.broadcast(F, q[D + d]), z = FloatVector.broadcast(F, q[2 * D + d]);
                a0 = k0.fma(x, a0);
                a1 = k1.fma(x, a1);
                a2 = k2.fma(x, a2);
                a3 = k3.fma(x, a3);
                b0 = k0.fma(y, b0);
                b1 = k1.fma(y, b1);
                b2 = k2.fma(y, b2);
                b3 = k3.fma(y, b3);
                c0 = k0.fma(z, c0);
                c1 = k1.fma(z, c1);
                c2 = k2.fma(z, c2);
                c3 = k3.fma(z, c3);
            }
            int t = j * V;
            a0.intoArray(s, t);
            a1.intoArray(s, t + V);
            a2.intoArray(s, t + 2 * V);
            a3.intoArray(s, t + 3 * V);
            b0.intoArray(s2, t);
            b1.intoArray(s2, t + V);
            b2.intoArray(s2, t + 2 * V);
            b3.intoArray(s2, t + 3 * V);
            c0.intoArray(s3, t);
            c1.intoArray(s3, t + V);
            c2.intoArray(s3, t + 2 * V);
            c3.intoArray(s3, t + 3 * V);
            ahead();
        }
        for (; j < nv; j++) {
            FloatVector a = FloatVector.zero(F), b = a, cc = a;
            long k = kOff + (long) j * V;
            for (int d = 0; d < D; d++, k += row) {
                FloatVector kv = VectorMath.loadVec(ks, kind, k);
                a = kv.fma(FloatVector.broadcast(F, q[d]), a);
                b = kv.fma(FloatVector.broadcast(F, q[D + d]), b);
                cc = kv.fma(FloatVector.broadcast(F, q[2 * D + d]), cc);
            }
            a.intoArray(s, j * V);
            b.intoArray(s2, j * V);
            cc.intoArray(s3, j * V);
        }
    }

    /** o[j, :] = corr_j · o[j, :] + Σ_t p_j[t] · v[t, :] for rows j = 0, 1, 2 with p = s, s2, s3. */
    private void weightedSum3(MemorySegment vs, int kind, long off, int cnt, float corr0, float corr1, float corr2) {
        final int D = dim, dv = D - D % V;
        final long row = D;
        int d0 = 0;
        for (; d0 + 2 * V <= dv; d0 += 2 * V) {
            FloatVector a0 = FloatVector.fromArray(F, o, d0).mul(corr0), a1 = FloatVector.fromArray(F, o, d0 + V).mul(corr0);
            FloatVector b0 = FloatVector.fromArray(F, o, D + d0).mul(corr1), b1 = FloatVector.fromArray(F, o, D + d0 + V).mul(corr1);
            FloatVector c0 = FloatVector.fromArray(F, o, 2 * D + d0).mul(corr2), c1 = FloatVector.fromArray(F, o, 2 * D + d0 + V).mul(corr2);
            for (int t = 0; t < cnt; t++) {
                FloatVector p = FloatVector.broadcast(F, s[t]), p2 = FloatVector.broadcast(F, s2[t]), p3 = FloatVector.broadcast(F, s3[t]);
                long v0 = off + t * row + d0;
                FloatVector v = VectorMath.loadVec(vs, kind, v0), v1 = VectorMath.loadVec(vs, kind, v0 + V);
                a0 = v.fma(p, a0);
                b0 = v.fma(p2, b0);
                c0 = v.fma(p3, c0);
                a1 = v1.fma(p, a1);
                b1 = v1.fma(p2, b1);
                c1 = v1.fma(p3, c1);
                if ((t & 7) == 7) ahead();
            }
            a0.intoArray(o, d0);
            a1.intoArray(o, d0 + V);
            b0.intoArray(o, D + d0);
            b1.intoArray(o, D + d0 + V);
            c0.intoArray(o, 2 * D + d0);
            c1.intoArray(o, 2 * D + d0 + V);
        }
        for (; d0 < dv; d0 += V) {
            FloatVector a = FloatVector.fromArray(F, o, d0).mul(corr0), b = FloatVector.fromArray(F, o, D + d0).mul(corr1);
            FloatVector cc = FloatVector.fromArray(F, o, 2 * D + d0).mul(corr2);
            for (int t = 0; t < cnt; t++) {
                FloatVector v = VectorMath.loadVec(vs, kind, off + t * row + d0);
                a = v.fma(FloatVector.broadcast(F, s[t]), a);
                b = v.fma(FloatVector.broadcast(F, s2[t]), b);
                cc = v.fma(FloatVector.broadcast(F, s3[t]), cc);
            }
            a.intoArray(o, d0);
            b.intoArray(o, D + d0);
            cc.intoArray(o, 2 * D + d0);
        }
        for (int d = dv; d < D; d++) {
            float a = o[d] * corr0, b = o[D + d] * corr1, cc = o[2 * D + d] * corr2;
            for (int t = 0; t < cnt; t++) {
                float v = VectorMath.loadScalar(vs, kind, off + t * row + d);
                a += s[t] * v;
                b += s2[t] * v;
                cc += s3[t] * v;
            }
            o[d] = a;
            o[D + d] = b;
            o[2 * D + d] = cc;
        }
    }

    /** o[r, :] = corr0 · o[r, :] + Σ_t s[t] · v[t, :], and row r+1 likewise with s2, corr1. */
    private void weightedSum2(MemorySegment vs, int kind, long off, int cnt, int r, float corr0, float corr1) {
        final int D = dim, ob = r * D, ob2 = ob + D, dv = D - D % V;
        final long row = D;
        int d0 = 0;
        for (; d0 + 2 * V <= dv; d0 += 2 * V) {
            FloatVector a0 = FloatVector.fromArray(F, o, ob + d0).mul(corr0), a1 = FloatVector.fromArray(F, o, ob + d0 + V).mul(corr0);
            FloatVector b0 = FloatVector.fromArray(F, o, ob2 + d0).mul(corr1), b1 = FloatVector.fromArray(F, o, ob2 + d0 + V).mul(corr1);
            for (int t = 0; t < cnt; t++) {
                FloatVector p = FloatVector.broadcast(F, s[t]), p2 = FloatVector.broadcast(F, s2[t]);
                long v0 = off + t * row + d0;
                FloatVector v = VectorMath.loadVec(vs, kind, v0), v1 = VectorMath.loadVec(vs, kind, v0 + V);
                a0 = v.fma(p, a0);
                b0 = v.fma(p2, b0);
                a1 = v1.fma(p, a1);
                b1 = v1.fma(p2, b1);
                if ((t & 7) == 7) ahead();
            }
            a0.intoArray(o, ob + d0);
            a1.intoArray(o, ob + d0 + V);
            b0.intoArray(o, ob2 + d0);
            b1.intoArray(o, ob2 + d0 + V);
        }
        for (; d0 < dv; d0 += V) {
            FloatVector a = FloatVector.fromArray(F, o, ob + d0).mul(corr0), b = FloatVector.fromArray(F, o, ob2 + d0).mul(corr1);
            for (int t = 0; t < cnt; t++) {
                FloatVector v = VectorMath.loadVec(vs, kind, off + t * row + d0);
                a = v.fma(FloatVector.broadcast(F, s[t]), a);
                b = v.fma(FloatVector.broadcast(F, s2[t]), b);
            }
            a.intoArray(o, ob + d0);
            b.intoArray(o, ob2 + d0);
        }
        for (int d = dv; d < D; d++) {
            float a = o[ob + d] * corr0, b = o[ob2 + d] * corr1;
            for (int t = 0; t < cnt; t++) {
                float v = VectorMath.loadScalar(vs, kind, off + t * row + d);
                a += s[t] * v;
                b += s2[t] * v;
            }
            o[ob + d] = a;
            o[ob2 + d] = b;
        }
    }

    /** s[t] = q[r, :] · k[t, :] for t < cnt (keys in lanes, as {@link #scores2}). */
    private void scores(MemorySegment ks, int kind, long kOff, int ksd, int cnt, int r) {
        final int D = dim, qb = r * D, nv = (cnt + V - 1) / V;
        final long row = ksd;
        int j = 0;
        for (; j + 4 <= nv; j += 4) {
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
            long k = kOff + (long) j * V;
            for (int d = 0; d < D; d++, k += row) {
                FloatVector x = FloatVector.broadcast(F, q[qb + d]);
                a0 = VectorMath.loadVec(ks, kind, k).fma(x, a0);
                a1 = VectorMath.loadVec(ks, kind, k + V).fma(x, a1);
                a2 = VectorMath.loadVec(ks, kind, k + 2 * V).fma(x, a2);
                a3 = VectorMath.loadVec(ks, kind, k + 3 * V).fma(x, a3);
            }
            int t = j * V;
            a0.intoArray(s, t);
            a1.intoArray(s, t + V);
            a2.intoArray(s, t + 2 * V);
            a3.intoArray(s, t + 3 * V);
            ahead();
        }
        for (; j < nv; j++) {
            FloatVector a = FloatVector.zero(F);
            long k = kOff + (long) j * V;
            for (int d = 0; d < D; d++, k += row) a = VectorMath.loadVec(ks, kind, k).fma(FloatVector.broadcast(F, q[qb + d]), a);
            a.intoArray(s, j * V);
        }
    }

    /**
     * Turns sc[0, cnt) into probabilities against row r's new max and zeroes sc[cnt, upTo) (tokens
     * past this row's causal limit that its pair partner still sees); updates m, l; returns the
     * old-state factor.
     */
    private float softmax(float[] sc, int cnt, int upTo, int r) {
        int padded = roundUp(cnt, V);
        Arrays.fill(sc, cnt, padded, Float.NEGATIVE_INFINITY); // exp2(−∞) = 0: padding drops out
        FloatVector mx = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        for (int t = 0; t < padded; t += V) mx = mx.max(FloatVector.fromArray(F, sc, t));
        float mNew = Math.max(m[r], mx.reduceLanes(VectorOperators.MAX));
        float mRef = mNew == Float.NEGATIVE_INFINITY ? 0f : mNew;
        FloatVector sum = FloatVector.zero(F);
        for (int t = 0; t < padded; t += V) {
            FloatVector p = VectorMath.exp2Vec(FloatVector.fromArray(F, sc, t).sub(mRef));
            p.intoArray(sc, t);
            sum = sum.add(p);
        }
        float corr = VectorMath.exp2(m[r] - mRef);
        sum = sum.add(sum.rearrange(Lanes.PSUM1));
        if (Lanes.PL >= 8) sum = sum.add(sum.rearrange(Lanes.PSUM2));
        if (Lanes.PL >= 16) sum = sum.add(sum.rearrange(Lanes.PSUM3));
        l[r] = l[r] * corr + (sum.lane(0) + sum.lane(1));
        m[r] = mNew;
        if (upTo > padded) Arrays.fill(sc, padded, upTo, 0f);
        return corr;
    }

    /** o[r, :] = corr · o[r, :] + Σ_t s[t] · v[t, :]. */
    private void weightedSum(MemorySegment vs, int kind, long off, int cnt, int r, float corr) {
        final int D = dim, ob = r * D, dv = D - D % V;
        final long row = D;
        int d0 = 0;
        for (; d0 + DB * V <= dv; d0 += DB * V) {
            FloatVector a0 = FloatVector.fromArray(F, o, ob + d0).mul(corr);
            FloatVector a1 = FloatVector.fromArray(F, o, ob + d0 + V).mul(corr);
            FloatVector a2 = FloatVector.fromArray(F, o, ob + d0 + 2 * V).mul(corr);
            FloatVector a3 = FloatVector.fromArray(F, o, ob + d0 + 3 * V).mul(corr);
            for (int t = 0; t < cnt; t++) {
                FloatVector p = FloatVector.broadcast(F, s[t]);
                long v0 = off + t * row + d0;
                a0 = VectorMath.loadVec(vs, kind, v0).fma(p, a0);
                a1 = VectorMath.loadVec(vs, kind, v0 + V).fma(p, a1);
                a2 = VectorMath.loadVec(vs, kind, v0 + 2 * V).fma(p, a2);
                a3 = VectorMath.loadVec(vs, kind, v0 + 3 * V).fma(p, a3);
                if ((t & 7) == 7) ahead();
            }
            a0.intoArray(o, ob + d0);
            a1.intoArray(o, ob + d0 + V);
            a2.intoArray(o, ob + d0 + 2 * V);
            a3.intoArray(o, ob + d0 + 3 * V);
        }
        for (; d0 < dv; d0 += V) {
            FloatVector a = FloatVector.fromArray(F, o, ob + d0).mul(corr);
            for (int t = 0; t < cnt; t++) a = VectorMath.loadVec(vs, kind, off + t * row + d0).fma(FloatVector.broadcast(F, s[t]), a);
            a.intoArray(o, ob + d0);
        }
        for (int d = dv; d < D; d++) {
            float a = o[ob + d] * corr;
            for (int t = 0; t < cnt; t++) a += s[t] * VectorMath.loadScalar(vs, kind, off + t * row + d);
            o[ob + d] = a;
        }
    }

    @Override
    void merge(int r, float pm, float pl, float[] src, int off) {
        if (pm == Float.NEGATIVE_INFINITY) return; // empty partial
        float mNew = Math.max(pm, m[r]);
        float x = VectorMath.exp2(pm - mNew), y = VectorMath.exp2(m[r] - mNew);
        for (int d = 0; d < dim; d++) o[r * dim + d] = x * src[off + d] + y * o[r * dim + d];
        l[r] = x * pl + y * l[r];
        m[r] = mNew;
    }

    @Override
    float rowMax(int r) { return m[r]; }

    @Override
    float rowSum(int r) { return l[r]; }

    @Override
    void rowOutput(int r, float[] dst, int off) { System.arraycopy(o, r * dim, dst, off, dim); }

    @Override
    void finish(int r, float[] dst, int off) {
        float inv = 1f / l[r];
        for (int d = 0; d < dim; d++) dst[off + d] = o[r * dim + d] * inv;
    }
}
