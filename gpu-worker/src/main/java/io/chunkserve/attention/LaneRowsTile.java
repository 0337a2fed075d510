package io.chunkserve.attention;

import jdk.incubator.vector.FloatVector;

import java.util.Arrays;

import static io.chunkserve.attention.VectorMath.F;
import static io.chunkserve.attention.VectorMath.V;

/**
 * Query rows in vector lanes: a block of V rows is one vector, so scores, maxima, sums and
 * output accumulators are lane-wise and need no horizontal reduction. Each K or V element is
 * broadcast once per row block and feeds V rows (a rank-1 update), which makes a chunk shared
 * by many rows compute-bound rather than bandwidth-bound.
 *
 * <p>All buffers are packed per row block (rb = row / V, lane = row % V) so every inner-loop
 * access has a constant stride.
 */
final class LaneRowsTile extends QueryTile {
    private static final int TB = 8; // tokens per register block in Q·Kᵀ (8 accumulators + q + broadcast)
    private static final int DB = 8; // head dims per register block in P·V

    private int blocks, tcap;
    private float[] qt = new float[0];  // (blocks, dim, V) scaled queries, transposed
    private float[] ot = new float[0];  // (blocks, dim, V) unnormalised outputs, transposed
    private float[] st = new float[0];  // (blocks, tcap, V) scores, then probabilities, of the current chunk
    private float[] m = new float[0];   // (blocks·V) running max, log2 units
    private float[] l = new float[0];   // (blocks·V) running sum
    private float[] lim = new float[0]; // (blocks·V) last attended absolute position

    @Override
    void begin(int rows, int dim, int maxTokens) {
        this.rows = rows;
        this.dim = dim;
        blocks = (rows + V - 1) / V;
        tcap = maxTokens;
        int lanes = blocks * V;
        if (qt.length < lanes * dim) { qt = new float[lanes * dim]; ot = new float[lanes * dim]; }
        if (st.length < lanes * tcap) st = new float[lanes * tcap];
        if (m.length < lanes) { m = new float[lanes]; l = new float[lanes]; lim = new float[lanes]; }
        Arrays.fill(qt, 0, lanes * dim, 0f);   // padded lanes keep q = 0: finite, ignored scores
        Arrays.fill(ot, 0, lanes * dim, 0f);
        Arrays.fill(m, 0, lanes, Float.NEGATIVE_INFINITY);
        Arrays.fill(l, 0, lanes, 0f);
        Arrays.fill(lim, 0, lanes, Float.MAX_VALUE);
        minLimit = Integer.MAX_VALUE;
    }

    @Override
    void setQuery(int r, float[] q, int off, float scale, int limit) {
        int base = (r / V) * dim * V + r % V;
        for (int d = 0; d < dim; d++) qt[base + d * V] = q[off + d] * scale;
        lim[r] = limit == Integer.MAX_VALUE ? Float.MAX_VALUE : limit;
        minLimit = Math.min(minLimit, limit);
    }

    @Override
    void accumulate(float[] kt, float[] vt, int tn, int pos0) {
        boolean masked = (long) pos0 + tn - 1 > minLimit;
        for (int rb = 0; rb < blocks; rb++) {
            scores(kt, tn, rb);
            if (masked) mask(tn, pos0, rb);
            FloatVector corr = softmax(tn, rb);
            weightedSum(vt, tn, rb, corr);
        }
    }

    /** st[rb, t, :] = Σ_d qt[rb, d, :] · k[t, d] for t < tn. */
    private void scores(float[] kt, int tn, int rb) {
        final int D = dim, qb = rb * D * V, sb = rb * tcap * V;
        int t = 0;
        for (; t + TB <= tn; t += TB) {
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
            int k0 = t * D;
            for (int d = 0; d < D; d++) {
                FloatVector qv = FloatVector.fromArray(F, qt, qb + d * V);
                a0 = qv.fma(FloatVector.broadcast(F, kt[k0 + d]), a0);
                a1 = qv.fma(FloatVector.broadcast(F, kt[k0 + D + d]), a1);
                a2 = qv.fma(FloatVector.broadcast(F, kt[k0 + 2 * D + d]), a2);
                a3 = qv.fma(FloatVector.broadcast(F, kt[k0 + 3 * D + d]), a3);
                a4 = qv.fma(FloatVector.broadcast(F, kt[k0 + 4 * D + d]), a4);
                a5 = qv.fma(FloatVector.broadcast(F, kt[k0 + 5 * D + d]), a5);
                a6 = qv.fma(FloatVector.broadcast(F, kt[k0 + 6 * D + d]), a6);
                a7 = qv.fma(FloatVector.broadcast(F, kt[k0 + 7 * D + d]), a7);
            }
            int s0 = sb + t * V;
            a0.intoArray(st, s0);
            a1.intoArray(st, s0 + V);
            a2.intoArray(st, s0 + 2 * V);
            a3.intoArray(st, s0 + 3 * V);
            a4.intoArray(st, s0 + 4 * V);
            a5.intoArray(st, s0 + 5 * V);
            a6.intoArray(st, s0 + 6 * V);
            a7.intoArray(st, s0 + 7 * V);
        }
        for (; t < tn; t++) {
            FloatVector a = FloatVector.zero(F);
            int k0 = t * D;
            for (int d = 0; d < D; d++) a = FloatVector.fromArray(F, qt, qb + d * V).fma(FloatVector.broadcast(F, kt[k0 + d]), a);
            a.intoArray(st, sb + t * V);
        }
    }

    /** Scores of tokens past a row's causal limit become −∞. */
    private void mask(int tn, int pos0, int rb) {
        int sb = rb * tcap * V;
        FloatVector limV = FloatVector.fromArray(F, lim, rb * V);
        for (int t = 0; t < tn; t++) {
            FloatVector s = FloatVector.fromArray(F, st, sb + t * V);
            s.blend(Float.NEGATIVE_INFINITY, limV.lt((float) (pos0 + t))).intoArray(st, sb + t * V);
        }
    }

    /** Turns the block's scores into probabilities against the new max; updates m, l; returns the old-state factor. */
    private FloatVector softmax(int tn, int rb) {
        int sb = rb * tcap * V;
        FloatVector mx = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        for (int t = 0; t < tn; t++) mx = mx.max(FloatVector.fromArray(F, st, sb + t * V));
        FloatVector mOld = FloatVector.fromArray(F, m, rb * V);
        FloatVector mNew = mOld.max(mx);
        // a row that has seen nothing yet keeps m = −∞; subtract 0 instead so no −∞ − −∞ appears
        FloatVector mRef = mNew.blend(0f, mNew.eq(Float.NEGATIVE_INFINITY));
        FloatVector sum = FloatVector.zero(F);
        for (int t = 0; t < tn; t++) {
            FloatVector p = VectorMath.exp2(FloatVector.fromArray(F, st, sb + t * V).sub(mRef));
            p.intoArray(st, sb + t * V);
            sum = sum.add(p);
        }
        FloatVector corr = VectorMath.exp2(mOld.sub(mRef));
        FloatVector.fromArray(F, l, rb * V).fma(corr, sum).intoArray(l, rb * V);
        mNew.intoArray(m, rb * V);
        return corr;
    }

    /** ot[rb, d, :] = corr · ot[rb, d, :] + Σ_t st[rb, t, :] · v[t, d]. */
    private void weightedSum(float[] vt, int tn, int rb, FloatVector corr) {
        final int D = dim, ob = rb * D * V, sb = rb * tcap * V;
        int d0 = 0;
        for (; d0 + DB <= D; d0 += DB) {
            int o0 = ob + d0 * V;
            FloatVector a0 = FloatVector.fromArray(F, ot, o0).mul(corr);
            FloatVector a1 = FloatVector.fromArray(F, ot, o0 + V).mul(corr);
            FloatVector a2 = FloatVector.fromArray(F, ot, o0 + 2 * V).mul(corr);
            FloatVector a3 = FloatVector.fromArray(F, ot, o0 + 3 * V).mul(corr);
            FloatVector a4 = FloatVector.fromArray(F, ot, o0 + 4 * V).mul(corr);
            FloatVector a5 = FloatVector.fromArray(F, ot, o0 + 5 * V).mul(corr);
            FloatVector a6 = FloatVector.fromArray(F, ot, o0 + 6 * V).mul(corr);
            FloatVector a7 = FloatVector.fromArray(F, ot, o0 + 7 * V).mul(corr);
            for (int t = 0; t < tn; t++) {
                FloatVector p = FloatVector.fromArray(F, st, sb + t * V);
                int v0 = t * D + d0;
                a0 = p.fma(FloatVector.broadcast(F, vt[v0]), a0);
                a1 = p.fma(FloatVector.broadcast(F, vt[v0 + 1]), a1);
                a2 = p.fma(FloatVector.broadcast(F, vt[v0 + 2]), a2);
                a3 = p.fma(FloatVector.broadcast(F, vt[v0 + 3]), a3);
                a4 = p.fma(FloatVector.broadcast(F, vt[v0 + 4]), a4);
                a5 = p.fma(FloatVector.broadcast(F, vt[v0 + 5]), a5);
                a6 = p.fma(FloatVector.broadcast(F, vt[v0 + 6]), a6);
                a7 = p.fma(FloatVector.broadcast(F, vt[v0 + 7]), a7);
            }
            a0.intoArray(ot, o0);
            a1.intoArray(ot, o0 + V);
            a2.intoArray(ot, o0 + 2 * V);
            a3.intoArray(ot, o0 + 3 * V);
            a4.intoArray(ot, o0 + 4 * V);
            a5.intoArray(ot, o0 + 5 * V);
            a6.intoArray(ot, o0 + 6 * V);
            a7.intoArray(ot, o0 + 7 * V);
        }
        for (; d0 < D; d0++) {
            int o0 = ob + d0 * V;
            FloatVector a = FloatVector.fromArray(F, ot, o0).mul(corr);
            for (int t = 0; t < tn; t++) a = FloatVector.fromArray(F, st, sb + t * V).fma(FloatVector.broadcast(F, vt[t * D + d0]), a);
            a.intoArray(ot, o0);
        }
    }

    @Override
    void merge(int r, float pm, float pl, float[] o, int oOff) {
        if (pm == Float.NEGATIVE_INFINITY) return; // empty partial
        float mNew = Math.max(pm, m[r]);
        float x = VectorMath.exp2(pm - mNew), y = VectorMath.exp2(m[r] - mNew);
        int base = (r / V) * dim * V + r % V;
        for (int d = 0; d < dim; d++) ot[base + d * V] = x * o[oOff + d] + y * ot[base + d * V];
        l[r] = x * pl + y * l[r];
        m[r] = mNew;
    }

    @Override
    float rowMax(int r) { return m[r]; }

    @Override
    float rowSum(int r) { return l[r]; }

    @Override
    void rowOutput(int r, float[] dst, int off) {
        int base = (r / V) * dim * V + r % V;
        for (int d = 0; d < dim; d++) dst[off + d] = ot[base + d * V];
    }

    @Override
    void finish(int r, float[] dst, int off) {
        int base = (r / V) * dim * V + r % V;
        float inv = 1f / l[r];
        for (int d = 0; d < dim; d++) dst[off + d] = ot[base + d * V] * inv;
    }
}
