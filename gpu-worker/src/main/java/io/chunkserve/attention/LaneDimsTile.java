package io.chunkserve.attention;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

import static io.chunkserve.attention.VectorMath.F;
import static io.chunkserve.attention.VectorMath.V;

/**
 * Head dims in vector lanes, one or two query rows at a time: a score is a dot product (one horizontal
 * reduction per token, amortised over dim/V fused multiply-adds) and the output update is a
 * broadcast of the probability times a V row. Meant for 1 to a few rows — a decode step's g
 * query heads over a private chunk — where the work is bound by reading K/V, not by arithmetic,
 * so it reads the pool slab in place and widens half types in registers.
 */
final class LaneDimsTile extends QueryTile {
    private static final int TB = 4; // tokens per dot-product block
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

    @Override
    void accumulate(float[] kt, float[] vt, int tn, int pos0) {
        if (kt != ktSeen) { ktSeen = kt; ktSeg = MemorySegment.ofArray(kt); }
        if (vt != vtSeen) { vtSeen = vt; vtSeg = MemorySegment.ofArray(vt); }
        accumulateInPlace(ktSeg, vtSeg, VectorMath.KIND_F32, 0, tn, pos0);
    }

    /**
     * As {@link #accumulate(float[], float[], int, int)} but reading K/V where they are: ks and vs
     * hold (≥ tn, dim) elements of the given kind ({@link VectorMath#kind}), little-endian,
     * row-major, from element off (a pool slab), widened in registers. Streaming the slab directly
     * is what makes this memory-bound kernel fast: no copy pass.
     */
    void accumulateInPlace(MemorySegment ks, MemorySegment vs, int kind, long off, int tn, int pos0) {
        int r = 0;
        if (rows % 2 == 1 && rows >= 3) { // an odd count starts with three rows (a GQA group of 3) in one pass over K and V
            int c0 = (int) Math.min(tn, (long) lim[0] - pos0 + 1), c1 = (int) Math.min(tn, (long) lim[1] - pos0 + 1);
            int c2 = (int) Math.min(tn, (long) lim[2] - pos0 + 1);
            if (c0 > 0 && c1 > 0 && c2 > 0) {
                int cnt = Math.max(c0, Math.max(c1, c2));
                scores3(ks, kind, off, cnt);
                float corr0 = softmax(s, c0, cnt, 0), corr1 = softmax(s2, c1, cnt, 1), corr2 = softmax(s3, c2, cnt, 2);
                weightedSum3(vs, kind, off, cnt, corr0, corr1, corr2);
            } else {
                single(ks, vs, kind, off, c0, 0);
                single(ks, vs, kind, off, c1, 1);
                single(ks, vs, kind, off, c2, 2);
            }
            r = 3;
        }
        for (; r + 1 < rows; r += 2) { // row pairs share every K/V load (and its widening)
            int c0 = (int) Math.min(tn, (long) lim[r] - pos0 + 1), c1 = (int) Math.min(tn, (long) lim[r + 1] - pos0 + 1);
            if (c0 > 0 && c1 > 0) {
                int cnt = Math.max(c0, c1);
                scores2(ks, kind, off, cnt, r);
                float corr0 = softmax(s, c0, cnt, r), corr1 = softmax(s2, c1, cnt, r + 1);
                weightedSum2(vs, kind, off, cnt, r, corr0, corr1);
            } else {
                single(ks, vs, kind, off, c0, r);
                single(ks, vs, kind, off, c1, r + 1);
            }
        }
        if (r < rows) single(ks, vs, kind, off, (int) Math.min(tn, (long) lim[r] - pos0 + 1), r);
        aheadRest();
    }

    private void single(MemorySegment ks, MemorySegment vs, int kind, long off, int cnt, int r) {
        if (cnt <= 0) return;
        scores(ks, kind, off, cnt, r);
        float corr = softmax(s, cnt, cnt, r);
        weightedSum(vs, kind, off, cnt, r, corr);
    }

    /** s[t] = q[r, :] · k[t, :] and s2[t] = q[r+1, :] · k[t, :] for t < cnt. */
    private void scores2(MemorySegment ks, int kind, long off, int cnt, int r) {
        final int D = dim, qb = r * D, qb2 = qb + D, dv = D - D % V;
        final long row = D;
        int t = 0;
        for (; t + 2 <= cnt; t += 2) {
            FloatVector a0 = FloatVector.zero(F), a1 = a0, b0 = a0, b1 = a0;
            long k0 = off + t * row;
            for (int d = 0; d < dv; d += V) {
                FloatVector qa = FloatVector.fromArray(F, q, qb + d), qb2v = FloatVector.fromArray(F, q, qb2 + d);
                FloatVector k = VectorMath.load(ks, kind, k0 + d), k1 = VectorMath.load(ks, kind, k0 + row + d);
                a0 = k.fma(qa, a0);
                b0 = k.fma(qb2v, b0);
                a1 = k1.fma(qa, a1);
                b1 = k1.fma(qb2v, b1);
            }
            float x0 = a0.reduceLanes(VectorOperators.ADD), x1 = a1.reduceLanes(VectorOperators.ADD);
            float y0 = b0.reduceLanes(VectorOperators.ADD), y1 = b1.reduceLanes(VectorOperators.ADD);
            for (int d = dv; d < D; d++) {
                float k = VectorMath.loadScalar(ks, kind, k0 + d), k1 = VectorMath.loadScalar(ks, kind, k0 + row + d);
                x0 += q[qb + d] * k;
                y0 += q[qb2 + d] * k;
                x1 += q[qb + d] * k1;
                y1 += q[qb2 + d] * k1;
            }
            s[t] = x0;
            s[t + 1] = x1;
            s2[t] = y0;
            s2[t + 1] = y1;
            if ((t & 2) != 0) ahead();
        }
        for (; t < cnt; t++) {
            FloatVector a = FloatVector.zero(F), b = a;
            long k0 = off + t * row;
            for (int d = 0; d < dv; d += V) {
                FloatVector k = VectorMath.load(ks, kind, k0 + d);
                a = k.fma(FloatVector.fromArray(F, q, qb + d), a);
                b = k.fma(FloatVector.fromArray(F, q, qb2 + d), b);
            }
            float x = a.reduceLanes(VectorOperators.ADD), y = b.reduceLanes(VectorOperators.ADD);
            for (int d = dv; d < D; d++) {
                float k = VectorMath.loadScalar(ks, kind, k0 + d);
                x += q[qb + d] * k;
                y += q[qb2 + d] * k;
            }
            s[t] = x;
            s2[t] = y;
        }
    }

    /** Rows 0, 1, 2: s[t], s2[t], s3[t] = q[row, :] · k[t, :] for t < cnt. */
    private void scores3(MemorySegment ks, int kind, long off, int cnt) {
        final int D = dim, dv = D - D % V;
        final long row = D;
        int t = 0;
        for (; t + 2 <= cnt; t += 2) {
            FloatVector a0 = FloatVector.zero(F), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0;
            long k0 = off + t * row;
            for (int d = 0; d < dv; d += V) {
                FloatVector qa = FloatVector.fromArray(F, q, d), qb = FloatVector.fromArray(F, q, D + d), qc = FloatVector.fromArray(F, q, 2 * D + d);
                FloatVector k = VectorMath.load(ks, kind, k0 + d), k1 = VectorMath.load(ks, kind, k0 + row + d);
                a0 = k.fma(qa, a0);
                b0 = k.fma(qb, b0);
                c0 = k.fma(qc, c0);
                a1 = k1.fma(qa, a1);
                b1 = k1.fma(qb, b1);
                c1 = k1.fma(qc, c1);
            }
            float x0 = a0.reduceLanes(VectorOperators.ADD), x1 = a1.reduceLanes(VectorOperators.ADD);
            float y0 = b0.reduceLanes(VectorOperators.ADD), y1 = b1.reduceLanes(VectorOperators.ADD);
            float z0 = c0.reduceLanes(VectorOperators.ADD), z1 = c1.reduceLanes(VectorOperators.ADD);
            for (int d = dv; d < D; d++) {
                float k = VectorMath.loadScalar(ks, kind, k0 + d), k1 = VectorMath.loadScalar(ks, kind, k0 + row + d);
                x0 += q[d] * k;
                y0 += q[D + d] * k;
                z0 += q[2 * D + d] * k;
                x1 += q[d] * k1;
                y1 += q[D + d] * k1;
                z1 += q[2 * D + d] * k1;
            }
            s[t] = x0;
            s[t + 1] = x1;
            s2[t] = y0;
            s2[t + 1] = y1;
            s3[t] = z0;
            s3[t + 1] = z1;
            if ((t & 2) != 0) ahead();
        }
        for (; t < cnt; t++) {
            FloatVector a = FloatVector.zero(F), b = a, cc = a;
            long k0 = off + t * row;
            for (int d = 0; d < dv; d += V) {
                FloatVector k = VectorMath.load(ks, kind, k0 + d);
                a = k.fma(FloatVector.fromArray(F, q, d), a);
                b = k.fma(FloatVector.fromArray(F, q, D + d), b);
                cc = k.fma(FloatVector.fromArray(F, q, 2 * D + d), cc);
            }
            float x = a.reduceLanes(VectorOperators.ADD), y = b.reduceLanes(VectorOperators.ADD), z = cc.reduceLanes(VectorOperators.ADD);
            for (int d = dv; d < D; d++) {
                float k = VectorMath.loadScalar(ks, kind, k0 + d);
                x += q[d] * k;
                y += q[D + d] * k;
                z += q[2 * D + d] * k;
            }
            s[t] = x;
            s2[t] = y;
            s3[t] = z;
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
                FloatVector v = VectorMath.load(vs, kind, v0), v1 = VectorMath.load(vs, kind, v0 + V);
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
                FloatVector v = VectorMath.load(vs, kind, off + t * row + d0);
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
                FloatVector v = VectorMath.load(vs, kind, v0), v1 = VectorMath.load(vs, kind, v0 + V);
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
                FloatVector v = VectorMath.load(vs, kind, off + t * row + d0);
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

    /** s[t] = q[r, :] · k[t, :] for t < cnt. */
    private void scores(MemorySegment ks, int kind, long off, int cnt, int r) {
        final int D = dim, qb = r * D, dv = D - D % V;
        final long row = D;
        int t = 0;
        for (; t + TB <= cnt; t += TB) {
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
            long k0 = off + t * row;
            for (int d = 0; d < dv; d += V) {
                FloatVector qv = FloatVector.fromArray(F, q, qb + d);
                long k = k0 + d;
                a0 = VectorMath.load(ks, kind, k).fma(qv, a0);
                a1 = VectorMath.load(ks, kind, k + row).fma(qv, a1);
                a2 = VectorMath.load(ks, kind, k + 2 * row).fma(qv, a2);
                a3 = VectorMath.load(ks, kind, k + 3 * row).fma(qv, a3);
            }
            float s0 = a0.reduceLanes(VectorOperators.ADD), s1 = a1.reduceLanes(VectorOperators.ADD);
            float s2 = a2.reduceLanes(VectorOperators.ADD), s3 = a3.reduceLanes(VectorOperators.ADD);
            for (int d = dv; d < D; d++) {
                float qd = q[qb + d];
                long k = k0 + d;
                s0 += qd * VectorMath.loadScalar(ks, kind, k);
                s1 += qd * VectorMath.loadScalar(ks, kind, k + row);
                s2 += qd * VectorMath.loadScalar(ks, kind, k + 2 * row);
                s3 += qd * VectorMath.loadScalar(ks, kind, k + 3 * row);
            }
            s[t] = s0;
            s[t + 1] = s1;
            s[t + 2] = s2;
            s[t + 3] = s3;
            ahead();
        }
        for (; t < cnt; t++) {
            FloatVector a = FloatVector.zero(F);
            long k0 = off + t * row;
            for (int d = 0; d < dv; d += V) a = VectorMath.load(ks, kind, k0 + d).fma(FloatVector.fromArray(F, q, qb + d), a);
            float x = a.reduceLanes(VectorOperators.ADD);
            for (int d = dv; d < D; d++) x += q[qb + d] * VectorMath.loadScalar(ks, kind, k0 + d);
            s[t] = x;
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
            FloatVector p = VectorMath.exp2(FloatVector.fromArray(F, sc, t).sub(mRef));
            p.intoArray(sc, t);
            sum = sum.add(p);
        }
        float corr = VectorMath.exp2(m[r] - mRef);
        l[r] = l[r] * corr + sum.reduceLanes(VectorOperators.ADD);
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
                a0 = VectorMath.load(vs, kind, v0).fma(p, a0);
                a1 = VectorMath.load(vs, kind, v0 + V).fma(p, a1);
                a2 = VectorMath.load(vs, kind, v0 + 2 * V).fma(p, a2);
                a3 = VectorMath.load(vs, kind, v0 + 3 * V).fma(p, a3);
                if ((t & 7) == 7) ahead();
            }
            a0.intoArray(o, ob + d0);
            a1.intoArray(o, ob + d0 + V);
            a2.intoArray(o, ob + d0 + 2 * V);
            a3.intoArray(o, ob + d0 + 3 * V);
        }
        for (; d0 < dv; d0 += V) {
            FloatVector a = FloatVector.fromArray(F, o, ob + d0).mul(corr);
            for (int t = 0; t < cnt; t++) a = VectorMath.load(vs, kind, off + t * row + d0).fma(FloatVector.broadcast(F, s[t]), a);
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
