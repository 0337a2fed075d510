package io.chunkserve.attention;

import jdk.incubator.vector.FloatVector;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Arrays;

import static io.chunkserve.attention.VectorMath.F;
import static io.chunkserve.attention.VectorMath.V;

/**
 * The tile for many query rows over the same K/V (a shared chunk read by a batch, a prefill
 * block): register-blocked so that every K/V element loaded feeds many rows and the loop is bound
 * by fused multiply-adds, not by loads.
 * <ul>
 * <li><b>Scores</b> put query rows in vector lanes: a block of V rows is one vector, and each K
 * element is broadcast once per row block into 12 (8 with AVX2) token accumulators (a rank-1
 * update per head dim). Scores, maxima, sums and the rescale factors are then lane-wise with no
 * horizontal reduction.</li>
 * <li><b>P·V</b> puts head dims in lanes: 4 rows × 4 vectors of dims (4 × 2 with AVX2) are
 * accumulated in registers; per token the V vectors are loaded once for the 4 rows and each row's
 * probability is a broadcast scalar read from the rows-in-lanes probability array (no
 * transpose).</li>
 * </ul>
 * Measured on one Zen 5 core (AVX-512, 64×64 fp32 chunk, 16 rows, L1-hot; the core's peak is
 * 6.4 FMA vectors/ns): scores ~0.88 µs (4.7 FMA vectors/ns), softmax ~0.35 µs, P·V ~0.66 µs
 * (6.2/ns); the whole chunk ~2.0 µs (~125 GFLOP/s), against 3.6 µs for the previous tile, which
 * kept outputs rows-in-lanes (a probability-vector load per 8 FMAs), spilled, and boxed vectors at
 * an exp2 call site C2 did not inline. The generated code was checked (gdb on the JIT blob):
 * no spills or calls in the inner loops, broadcasts are memory-operand vbroadcastss.
 *
 * <p>Layouts: queries and scores are packed per row block (rb = row / V, lane = row % V); outputs
 * are row-major. Rows past {@code rows} in the last block are padding (zero queries; their
 * results are ignored).
 */
final class LaneRowsTile extends QueryTile {
    /** 32 vector registers with AVX-512, 16 with AVX2: block sizes that keep all accumulators in registers. */
    private static final boolean WIDE_REGS = F.vectorBitSize() >= 512;
    /** Rows per P·V register block (a multiple of which divides V). */
    private static final int RG = 4;
    /**
     * Head dims per panel of the K scratch this tile reads: K of a chunk arrives as
     * ⌈dim / KP⌉ panels of (maxTokens, KP) floats, panel p holding dims p·KP .. p·KP+KP−1 of
     * every token (row-major within the panel; the last panel's rows are only partly used).
     * For dim = KP that is plain row-major. See {@link Workspace#fold}.
     */
    static final int KP = 64;

    private int blocks, tcap;
    private float[] qt = new float[0];  // (blocks, dim, V) scaled queries, transposed
    private float[] o = new float[0];   // (blocks·V, dim) unnormalised outputs, row-major
    private float[] st = new float[0];  // (tcap + 1, V) scores, then probabilities, of the current row block
    private float[] m = new float[0];   // (blocks·V) running max, log2 units
    private float[] l = new float[0];   // (blocks·V) running sum
    private float[] lim = new float[0]; // (blocks·V) last attended absolute position
    private int kOff, vOff; // where the current chunk's K and V start in kt and vt
    private final float[] cf = new float[V];   // (V) rescale factor of the current block's old state
    private final float[] smax = new float[V]; // (V) max score of the current block over the chunk

    @Override
    void begin(int rows, int dim, int maxTokens) {
        this.rows = rows;
        this.dim = dim;
        blocks = (rows + V - 1) / V;
        tcap = maxTokens;
        int lanes = blocks * V;
        if (qt.length < lanes * dim) { qt = new float[lanes * dim]; o = new float[lanes * dim]; }
        if (st.length < V * (tcap + 1)) st = new float[V * (tcap + 1)]; // + 1: see softmax
        if (m.length < lanes) { m = new float[lanes]; l = new float[lanes]; lim = new float[lanes]; }
        Arrays.fill(qt, 0, lanes * dim, 0f);   // padded lanes keep q = 0: finite, ignored scores
        Arrays.fill(o, 0, lanes * dim, 0f);
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
    void accumulate(float[] kt, float[] vt, int tn, int pos0) { accumulate(kt, 0, vt, 0, tn, pos0); }

    /** As {@link #accumulate(float[], float[], int, int)} with K at kt[kOff ..] in the panel layout of {@link #KP}, V at vt[vOff ..] row-major (tn, dim). */
    void accumulate(float[] kt, int kOff, float[] vt, int vOff, int tn, int pos0) {
        this.kOff = kOff;
        this.vOff = vOff;
        boolean masked = (long) pos0 + tn - 1 > minLimit;
        for (int rb = 0; rb < blocks; rb++) {
            if (WIDE_REGS) scores12(kt, tn, rb); else scores8(kt, tn, rb);
            if (masked) mask(tn, pos0, rb);
            softmax(tn, rb);
            ahead();
            // real rows of this block, rounded up to the P·V row group (V is a multiple of RG)
            int r1 = Math.min(V, (rows - rb * V + RG - 1) / RG * RG);
            for (int r = 0; r < r1; r += RG) {
                weightedSum(vt, tn, rb, r);
                ahead();
            }
        }
        aheadRest();
    }

    /**
     * As {@link #accumulate(float[], int, float[], int, int, int)} with K at kt[0 ..] (panel
     * layout) but V read straight from an fp32 slab, (tn, dim) row-major at byte vb of vs, with no
     * copy into scratch. Only where {@link #directVOk} holds, and worth it only where the block was
     * prefetched into the cache ({@link Workspace#fold}): V is read with full-vector loads, which
     * hit L1/L2 as well from the slab as from scratch. K stays copied: its broadcasts read single
     * floats, and scalar segment reads (bounds-checked) made the scores slower than copy + array
     * reads (measured, session 5).
     */
    void accumulate(float[] kt, MemorySegment vs, long vb, int tn, int pos0) {
        this.kOff = 0;
        boolean masked = (long) pos0 + tn - 1 > minLimit;
        for (int rb = 0; rb < blocks; rb++) {
            scores12(kt, tn, rb);
            if (masked) mask(tn, pos0, rb);
            softmax(tn, rb);
            ahead();
            int r1 = Math.min(V, (rows - rb * V + RG - 1) / RG * RG);
            for (int r = 0; r < r1; r += RG) {
                pv4x4Seg(vs, vb, tn, rb, r);
                ahead();
            }
        }
        aheadRest();
    }

    /** Whether {@link #accumulate(float[], MemorySegment, long, int, int)} handles this head dim. */
    static boolean directVOk(int dim) { return WIDE_REGS && dim == KP && dim == 4 * V; }

    /** {@link #pv4x4} (the whole head dim: dim = 4·V) over a V slab. */
    private void pv4x4Seg(MemorySegment vs, long vb0, int tn, int rb, int r0) {
        final int D = dim;
        final float[] s = st, out = o;
        final MemorySegment v = vs;
        final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
        final long RS = 4L * D, VB = 4L * V;
        int o0 = (rb * V + r0) * D, o1 = o0 + D, o2 = o1 + D, o3 = o2 + D;
        FloatVector c0 = FloatVector.broadcast(F, cf[r0]), c1 = FloatVector.broadcast(F, cf[r0 + 1]);
        FloatVector c2 = FloatVector.broadcast(F, cf[r0 + 2]), c3 = FloatVector.broadcast(F, cf[r0 + 3]);
        FloatVector a00 = FloatVector.fromArray(F, out, o0).mul(c0), a01 = FloatVector.fromArray(F, out, o0 + V).mul(c0);
        FloatVector a02 = FloatVector.fromArray(F, out, o0 + 2 * V).mul(c0), a03 = FloatVector.fromArray(F, out, o0 + 3 * V).mul(c0);
        FloatVector a10 = FloatVector.fromArray(F, out, o1).mul(c1), a11 = FloatVector.fromArray(F, out, o1 + V).mul(c1);
        FloatVector a12 = FloatVector.fromArray(F, out, o1 + 2 * V).mul(c1), a13 = FloatVector.fromArray(F, out, o1 + 3 * V).mul(c1);
        FloatVector a20 = FloatVector.fromArray(F, out, o2).mul(c2), a21 = FloatVector.fromArray(F, out, o2 + V).mul(c2);
        FloatVector a22 = FloatVector.fromArray(F, out, o2 + 2 * V).mul(c2), a23 = FloatVector.fromArray(F, out, o2 + 3 * V).mul(c2);
        FloatVector a30 = FloatVector.fromArray(F, out, o3).mul(c3), a31 = FloatVector.fromArray(F, out, o3 + V).mul(c3);
        FloatVector a32 = FloatVector.fromArray(F, out, o3 + 2 * V).mul(c3), a33 = FloatVector.fromArray(F, out, o3 + 3 * V).mul(c3);
        for (int t = 0; t < tn; t++) {
            long vb = vb0 + t * RS;
            int sb = t * V + r0;
            FloatVector v0 = FloatVector.fromMemorySegment(F, v, vb, LE), v1 = FloatVector.fromMemorySegment(F, v, vb + VB, LE);
            FloatVector v2 = FloatVector.fromMemorySegment(F, v, vb + 2 * VB, LE), v3 = FloatVector.fromMemorySegment(F, v, vb + 3 * VB, LE);
            FloatVector p = FloatVector.broadcast(F, s[sb]);
            a00 = v0.fma(p, a00);
            a01 = v1.fma(p, a01);
            a02 = v2.fma(p, a02);
            a03 = v3.fma(p, a03);
            p = FloatVector.broadcast(F, s[sb + 1]);
            a10 = v0.fma(p, a10);
            a11 = v1.fma(p, a11);
            a12 = v2.fma(p, a12);
            a13 = v3.fma(p, a13);
            p = FloatVector.broadcast(F, s[sb + 2]);
            a20 = v0.fma(p, a20);
            a21 = v1.fma(p, a21);
            a22 = v2.fma(p, a22);
            a23 = v3.fma(p, a23);
            p = FloatVector.broadcast(F, s[sb + 3]);
            a30 = v0.fma(p, a30);
            a31 = v1.fma(p, a31);
            a32 = v2.fma(p, a32);
            a33 = v3.fma(p, a33);
        }
        a00.intoArray(out, o0);
        a01.intoArray(out, o0 + V);
        a02.intoArray(out, o0 + 2 * V);
        a03.intoArray(out, o0 + 3 * V);
        a10.intoArray(out, o1);
        a11.intoArray(out, o1 + V);
        a12.intoArray(out, o1 + 2 * V);
        a13.intoArray(out, o1 + 3 * V);
        a20.intoArray(out, o2);
        a21.intoArray(out, o2 + V);
        a22.intoArray(out, o2 + 2 * V);
        a23.intoArray(out, o2 + 3 * V);
        a30.intoArray(out, o3);
        a31.intoArray(out, o3 + V);
        a32.intoArray(out, o3 + 2 * V);
        a33.intoArray(out, o3 + 3 * V);
    }

    /**
     * st[t, :] = Σ_d qt[rb, d, :] · k[t, d] for t < tn, and smax = the block's max over those
     * scores: 12 tokens per register block (12 accumulators, 12 broadcasts and the query vector:
     * 25 of the 32 registers; with 16 tokens C2 hoists the broadcasts, runs out of registers and
     * keeps three accumulators on the stack). K comes in panels ({@link #KP}) so that the 12
     * broadcasts of a step sit at constant offsets from one index: with the head dim as the row
     * stride C2 needed 12 index registers, spilled, and ran at 1.4 against 0.9 µs per 64×64 chunk.
     */
    private void scores12(float[] kt, int tn, int rb) {
        final int D = dim, qb = rb * D * V, pstride = tcap * KP;
        final float[] k = kt, q = qt, s = st;
        FloatVector.broadcast(F, Float.NEGATIVE_INFINITY).intoArray(smax, 0);
        int t = 0;
        for (; t + 12 <= tn; t += 12) {
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
            FloatVector a8 = a0, a9 = a0, a10 = a0, a11 = a0;
            for (int p0 = 0, kb = kOff + t * KP; p0 < D; p0 += KP, kb += pstride) {
                int w = Math.min(KP, D - p0), qp = qb + p0 * V;
                for (int d = 0; d < w; d++) {
                    FloatVector qv = FloatVector.fromArray(F, q, qp + d * V);
                    int kd = kb + d;
                    a0 = qv.fma(FloatVector.broadcast(F, k[kd]), a0);
                    a1 = qv.fma(FloatVector.broadcast(F, k[kd + KP]), a1);
                    a2 = qv.fma(FloatVector.broadcast(F, k[kd + 2 * KP]), a2);
                    a3 = qv.fma(FloatVector.broadcast(F, k[kd + 3 * KP]), a3);
                    a4 = qv.fma(FloatVector.broadcast(F, k[kd + 4 * KP]), a4);
                    a5 = qv.fma(FloatVector.broadcast(F, k[kd + 5 * KP]), a5);
                    a6 = qv.fma(FloatVector.broadcast(F, k[kd + 6 * KP]), a6);
                    a7 = qv.fma(FloatVector.broadcast(F, k[kd + 7 * KP]), a7);
                    a8 = qv.fma(FloatVector.broadcast(F, k[kd + 8 * KP]), a8);
                    a9 = qv.fma(FloatVector.broadcast(F, k[kd + 9 * KP]), a9);
                    a10 = qv.fma(FloatVector.broadcast(F, k[kd + 10 * KP]), a10);
                    a11 = qv.fma(FloatVector.broadcast(F, k[kd + 11 * KP]), a11);
                }
            }
            int s0 = t * V;
            a0.intoArray(s, s0);
            a1.intoArray(s, s0 + V);
            a2.intoArray(s, s0 + 2 * V);
            a3.intoArray(s, s0 + 3 * V);
            a4.intoArray(s, s0 + 4 * V);
            a5.intoArray(s, s0 + 5 * V);
            a6.intoArray(s, s0 + 6 * V);
            a7.intoArray(s, s0 + 7 * V);
            a8.intoArray(s, s0 + 8 * V);
            a9.intoArray(s, s0 + 9 * V);
            a10.intoArray(s, s0 + 10 * V);
            a11.intoArray(s, s0 + 11 * V);
            FloatVector.fromArray(F, smax, 0).max(a0.max(a1).max(a2.max(a3)).max(a4.max(a5).max(a6.max(a7))))
                    .max(a8.max(a9).max(a10.max(a11))).intoArray(smax, 0);
            ahead();
        }
        scoresTail(kt, t, tn, rb);
    }

    /** As {@link #scores12} with 8 tokens per register block (for 16-register machines). */
    private void scores8(float[] kt, int tn, int rb) {
        final int D = dim, qb = rb * D * V, pstride = tcap * KP;
        final float[] k = kt, q = qt, s = st;
        FloatVector.broadcast(F, Float.NEGATIVE_INFINITY).intoArray(smax, 0);
        int t = 0;
        for (; t + 8 <= tn; t += 8) {
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
            for (int p0 = 0, kb = kOff + t * KP; p0 < D; p0 += KP, kb += pstride) {
                int w = Math.min(KP, D - p0), qp = qb + p0 * V;
                for (int d = 0; d < w; d++) {
                    FloatVector qv = FloatVector.fromArray(F, q, qp + d * V);
                    int kd = kb + d;
                    a0 = qv.fma(FloatVector.broadcast(F, k[kd]), a0);
                    a1 = qv.fma(FloatVector.broadcast(F, k[kd + KP]), a1);
                    a2 = qv.fma(FloatVector.broadcast(F, k[kd + 2 * KP]), a2);
                    a3 = qv.fma(FloatVector.broadcast(F, k[kd + 3 * KP]), a3);
                    a4 = qv.fma(FloatVector.broadcast(F, k[kd + 4 * KP]), a4);
                    a5 = qv.fma(FloatVector.broadcast(F, k[kd + 5 * KP]), a5);
                    a6 = qv.fma(FloatVector.broadcast(F, k[kd + 6 * KP]), a6);
                    a7 = qv.fma(FloatVector.broadcast(F, k[kd + 7 * KP]), a7);
                }
            }
            int s0 = t * V;
            a0.intoArray(s, s0);
            a1.intoArray(s, s0 + V);
            a2.intoArray(s, s0 + 2 * V);
            a3.intoArray(s, s0 + 3 * V);
            a4.intoArray(s, s0 + 4 * V);
            a5.intoArray(s, s0 + 5 * V);
            a6.intoArray(s, s0 + 6 * V);
            a7.intoArray(s, s0 + 7 * V);
            FloatVector.fromArray(F, smax, 0).max(a0.max(a1).max(a2.max(a3)).max(a4.max(a5).max(a6.max(a7)))).intoArray(smax, 0);
            ahead();
        }
        scoresTail(kt, t, tn, rb);
    }

    /** Tokens t0 .. tn-1 of the scores: blocks of 4, then one at a time; smax = max(smax, their scores). */
    private void scoresTail(float[] kt, int t0, int tn, int rb) {
        final int D = dim, qb = rb * D * V, pstride = tcap * KP;
        int t = t0;
        for (; t + 4 <= tn; t += 4) {
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
            for (int p0 = 0, kb = kOff + t * KP; p0 < D; p0 += KP, kb += pstride) {
                int w = Math.min(KP, D - p0), qp = qb + p0 * V;
                for (int d = 0; d < w; d++) {
                    FloatVector qv = FloatVector.fromArray(F, qt, qp + d * V);
                    int kd = kb + d;
                    a0 = qv.fma(FloatVector.broadcast(F, kt[kd]), a0);
                    a1 = qv.fma(FloatVector.broadcast(F, kt[kd + KP]), a1);
                    a2 = qv.fma(FloatVector.broadcast(F, kt[kd + 2 * KP]), a2);
                    a3 = qv.fma(FloatVector.broadcast(F, kt[kd + 3 * KP]), a3);
                }
            }
            a0.intoArray(st, t * V);
            a1.intoArray(st, (t + 1) * V);
            a2.intoArray(st, (t + 2) * V);
            a3.intoArray(st, (t + 3) * V);
            FloatVector.fromArray(F, smax, 0).max(a0.max(a1).max(a2.max(a3))).intoArray(smax, 0);
        }
        for (; t < tn; t++) {
            FloatVector a = FloatVector.zero(F);
            for (int p0 = 0, kb = kOff + t * KP; p0 < D; p0 += KP, kb += pstride) {
                int w = Math.min(KP, D - p0), qp = qb + p0 * V;
                for (int d = 0; d < w; d++) a = FloatVector.fromArray(F, qt, qp + d * V).fma(FloatVector.broadcast(F, kt[kb + d]), a);
            }
            a.intoArray(st, t * V);
            FloatVector.fromArray(F, smax, 0).max(a).intoArray(smax, 0);
        }
    }

    /** Scores of tokens past a row's causal limit become −∞; smax is recomputed over what is left. */
    private void mask(int tn, int pos0, int rb) {
        FloatVector limV = FloatVector.fromArray(F, lim, rb * V);
        FloatVector mx = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        for (int t = 0; t < tn; t++) {
            FloatVector s = FloatVector.fromArray(F, st, t * V).blend(Float.NEGATIVE_INFINITY, limV.lt((float) (pos0 + t)));
            s.intoArray(st, t * V);
            mx = mx.max(s);
        }
        mx.intoArray(smax, 0);
    }

    /**
     * Turns the block's scores into probabilities against the new max (the block max being in
     * smax); updates m, l; leaves the old-state factor in cf. The factor 2^(m_old − m_new) is the
     * exponential of one more "token" placed after the scores, so that exp2 has one call site, in
     * the loop: a second, cold call site is not inlined by C2 and its vectors get boxed (measured
     * 2.5× slower softmax).
     */
    private void softmax(int tn, int rb) {
        FloatVector mOld = FloatVector.fromArray(F, m, rb * V);
        FloatVector mNew = mOld.max(FloatVector.fromArray(F, smax, 0));
        // a row that has seen nothing yet keeps m = −∞; subtract 0 instead so no −∞ − −∞ appears
        FloatVector mRef = mNew.blend(0f, mNew.eq(Float.NEGATIVE_INFINITY));
        mOld.intoArray(st, tn * V);
        FloatVector sum = FloatVector.zero(F);
        for (int t = 0; t <= tn; t++) {
            FloatVector p = VectorMath.exp2(FloatVector.fromArray(F, st, t * V).sub(mRef));
            p.intoArray(st, t * V);
            sum = p.fma(FloatVector.broadcast(F, t < tn ? 1f : 0f), sum); // the extra slot is not a probability
        }
        FloatVector corr = FloatVector.fromArray(F, st, tn * V);
        corr.intoArray(cf, 0);
        FloatVector.fromArray(F, l, rb * V).fma(corr, sum).intoArray(l, rb * V);
        mNew.intoArray(m, rb * V);
    }

    /**
     * Rows r0 .. r0+RG-1 of block rb: o[row, :] = cf[r] · o[row, :] + Σ_t st[t, r] · v[t, :].
     * Dims in lanes, blocks of 4 vectors (2 with 16 registers), then single vectors, then a scalar tail.
     */
    private void weightedSum(float[] vt, int tn, int rb, int r0) {
        final int D = dim, dv = D - D % V;
        int d0 = 0;
        if (WIDE_REGS) {
            for (; d0 + 4 * V <= dv; d0 += 4 * V) pv4x4(vt, tn, rb, r0, d0);
        } else {
            for (; d0 + 2 * V <= dv; d0 += 2 * V) pv4x2(vt, tn, rb, r0, d0);
        }
        for (; d0 < dv; d0 += V) pv4x1(vt, tn, rb, r0, d0);
        if (dv < D) pvScalar(vt, tn, rb, r0, dv);
    }

    /** 4 rows × 4 vectors of dims from d0: 16 accumulators, per token 4 loads of V and 4 broadcasts for 16 FMAs. */
    private void pv4x4(float[] vt, int tn, int rb, int r0, int d0) {
        final int D = dim;
        final float[] v = vt, s = st, out = o;
        int o0 = (rb * V + r0) * D + d0, o1 = o0 + D, o2 = o1 + D, o3 = o2 + D;
        FloatVector c0 = FloatVector.broadcast(F, cf[r0]), c1 = FloatVector.broadcast(F, cf[r0 + 1]);
        FloatVector c2 = FloatVector.broadcast(F, cf[r0 + 2]), c3 = FloatVector.broadcast(F, cf[r0 + 3]);
        FloatVector a00 = FloatVector.fromArray(F, out, o0).mul(c0), a01 = FloatVector.fromArray(F, out, o0 + V).mul(c0);
        FloatVector a02 = FloatVector.fromArray(F, out, o0 + 2 * V).mul(c0), a03 = FloatVector.fromArray(F, out, o0 + 3 * V).mul(c0);
        FloatVector a10 = FloatVector.fromArray(F, out, o1).mul(c1), a11 = FloatVector.fromArray(F, out, o1 + V).mul(c1);
        FloatVector a12 = FloatVector.fromArray(F, out, o1 + 2 * V).mul(c1), a13 = FloatVector.fromArray(F, out, o1 + 3 * V).mul(c1);
        FloatVector a20 = FloatVector.fromArray(F, out, o2).mul(c2), a21 = FloatVector.fromArray(F, out, o2 + V).mul(c2);
        FloatVector a22 = FloatVector.fromArray(F, out, o2 + 2 * V).mul(c2), a23 = FloatVector.fromArray(F, out, o2 + 3 * V).mul(c2);
        FloatVector a30 = FloatVector.fromArray(F, out, o3).mul(c3), a31 = FloatVector.fromArray(F, out, o3 + V).mul(c3);
        FloatVector a32 = FloatVector.fromArray(F, out, o3 + 2 * V).mul(c3), a33 = FloatVector.fromArray(F, out, o3 + 3 * V).mul(c3);
        for (int t = 0; t < tn; t++) {
            int vb = vOff + t * D + d0, sb = t * V + r0;
            FloatVector v0 = FloatVector.fromArray(F, v, vb), v1 = FloatVector.fromArray(F, v, vb + V);
            FloatVector v2 = FloatVector.fromArray(F, v, vb + 2 * V), v3 = FloatVector.fromArray(F, v, vb + 3 * V);
            FloatVector p = FloatVector.broadcast(F, s[sb]);
            a00 = v0.fma(p, a00);
            a01 = v1.fma(p, a01);
            a02 = v2.fma(p, a02);
            a03 = v3.fma(p, a03);
            p = FloatVector.broadcast(F, s[sb + 1]);
            a10 = v0.fma(p, a10);
            a11 = v1.fma(p, a11);
            a12 = v2.fma(p, a12);
            a13 = v3.fma(p, a13);
            p = FloatVector.broadcast(F, s[sb + 2]);
            a20 = v0.fma(p, a20);
            a21 = v1.fma(p, a21);
            a22 = v2.fma(p, a22);
            a23 = v3.fma(p, a23);
            p = FloatVector.broadcast(F, s[sb + 3]);
            a30 = v0.fma(p, a30);
            a31 = v1.fma(p, a31);
            a32 = v2.fma(p, a32);
            a33 = v3.fma(p, a33);
        }
        a00.intoArray(out, o0);
        a01.intoArray(out, o0 + V);
        a02.intoArray(out, o0 + 2 * V);
        a03.intoArray(out, o0 + 3 * V);
        a10.intoArray(out, o1);
        a11.intoArray(out, o1 + V);
        a12.intoArray(out, o1 + 2 * V);
        a13.intoArray(out, o1 + 3 * V);
        a20.intoArray(out, o2);
        a21.intoArray(out, o2 + V);
        a22.intoArray(out, o2 + 2 * V);
        a23.intoArray(out, o2 + 3 * V);
        a30.intoArray(out, o3);
        a31.intoArray(out, o3 + V);
        a32.intoArray(out, o3 + 2 * V);
        a33.intoArray(out, o3 + 3 * V);
    }

    /** 4 rows × 2 vectors of dims from d0 (8 accumulators, for 16-register machines). */
    private void pv4x2(float[] vt, int tn, int rb, int r0, int d0) {
        final int D = dim;
        int o0 = (rb * V + r0) * D + d0, o1 = o0 + D, o2 = o1 + D, o3 = o2 + D;
        float f0 = cf[r0], f1 = cf[r0 + 1], f2 = cf[r0 + 2], f3 = cf[r0 + 3];
        FloatVector a00 = FloatVector.fromArray(F, o, o0).mul(f0), a01 = FloatVector.fromArray(F, o, o0 + V).mul(f0);
        FloatVector a10 = FloatVector.fromArray(F, o, o1).mul(f1), a11 = FloatVector.fromArray(F, o, o1 + V).mul(f1);
        FloatVector a20 = FloatVector.fromArray(F, o, o2).mul(f2), a21 = FloatVector.fromArray(F, o, o2 + V).mul(f2);
        FloatVector a30 = FloatVector.fromArray(F, o, o3).mul(f3), a31 = FloatVector.fromArray(F, o, o3 + V).mul(f3);
        for (int t = 0; t < tn; t++) {
            int vb = vOff + t * D + d0, sb = t * V + r0;
            FloatVector v0 = FloatVector.fromArray(F, vt, vb), v1 = FloatVector.fromArray(F, vt, vb + V);
            FloatVector p = FloatVector.broadcast(F, st[sb]);
            a00 = v0.fma(p, a00);
            a01 = v1.fma(p, a01);
            p = FloatVector.broadcast(F, st[sb + 1]);
            a10 = v0.fma(p, a10);
            a11 = v1.fma(p, a11);
            p = FloatVector.broadcast(F, st[sb + 2]);
            a20 = v0.fma(p, a20);
            a21 = v1.fma(p, a21);
            p = FloatVector.broadcast(F, st[sb + 3]);
            a30 = v0.fma(p, a30);
            a31 = v1.fma(p, a31);
        }
        a00.intoArray(o, o0);
        a01.intoArray(o, o0 + V);
        a10.intoArray(o, o1);
        a11.intoArray(o, o1 + V);
        a20.intoArray(o, o2);
        a21.intoArray(o, o2 + V);
        a30.intoArray(o, o3);
        a31.intoArray(o, o3 + V);
    }

    /** 4 rows × 1 vector of dims from d0. */
    private void pv4x1(float[] vt, int tn, int rb, int r0, int d0) {
        final int D = dim;
        int o0 = (rb * V + r0) * D + d0, o1 = o0 + D, o2 = o1 + D, o3 = o2 + D;
        FloatVector a0 = FloatVector.fromArray(F, o, o0).mul(cf[r0]), a1 = FloatVector.fromArray(F, o, o1).mul(cf[r0 + 1]);
        FloatVector a2 = FloatVector.fromArray(F, o, o2).mul(cf[r0 + 2]), a3 = FloatVector.fromArray(F, o, o3).mul(cf[r0 + 3]);
        for (int t = 0; t < tn; t++) {
            FloatVector v0 = FloatVector.fromArray(F, vt, vOff + t * D + d0);
            int sb = t * V + r0;
            a0 = v0.fma(FloatVector.broadcast(F, st[sb]), a0);
            a1 = v0.fma(FloatVector.broadcast(F, st[sb + 1]), a1);
            a2 = v0.fma(FloatVector.broadcast(F, st[sb + 2]), a2);
            a3 = v0.fma(FloatVector.broadcast(F, st[sb + 3]), a3);
        }
        a0.intoArray(o, o0);
        a1.intoArray(o, o1);
        a2.intoArray(o, o2);
        a3.intoArray(o, o3);
    }

    /** Dims d0 .. dim-1 (fewer than V) of rows r0 .. r0+RG-1, scalar. */
    private void pvScalar(float[] vt, int tn, int rb, int r0, int d0) {
        final int D = dim;
        for (int r = r0; r < r0 + RG; r++) {
            int ob = (rb * V + r) * D;
            for (int d = d0; d < D; d++) {
                float a = o[ob + d] * cf[r];
                for (int t = 0; t < tn; t++) a += st[t * V + r] * vt[vOff + t * D + d];
                o[ob + d] = a;
            }
        }
    }

    @Override
    void merge(int r, float pm, float pl, float[] src, int off) {
        if (pm == Float.NEGATIVE_INFINITY) return; // empty partial
        float mNew = Math.max(pm, m[r]);
        float x = VectorMath.exp2(pm - mNew), y = VectorMath.exp2(m[r] - mNew);
        VectorMath.axpby(x, src, off, y, o, r * dim, dim);
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
