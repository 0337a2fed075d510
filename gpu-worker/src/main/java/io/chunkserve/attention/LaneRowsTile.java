package io.chunkserve.attention;

import jdk.incubator.vector.FloatVector;

import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Arrays;

import static io.chunkserve.attention.VectorMath.F;
import static io.chunkserve.attention.VectorMath.V;

/**
 * The tile for many query rows over the same K/V (a shared chunk read by a batch, a prefill
 * block): register-blocked so that every K/V element loaded feeds several rows and the loop is
 * bound by fused multiply-adds, not by loads. Rows are taken in groups of {@link #RG} = 4.
 * <ul>
 * <li><b>Scores</b> put keys in vector lanes: K is dim-major per chunk
 * ({@link io.chunkserve.kv.KvLayout}), so for each head dim d one vector load gives d of V
 * consecutive tokens, and 4 rows × 4 token vectors accumulate
 * broadcast(q[row, d]) · K[d, tokens] (16 accumulators; per head dim 4 K loads and 4 query
 * broadcasts for 16 FMAs). K is read straight from the fp32 pool slab (no copy) or from a
 * widened copy for half types.</li>
 * <li><b>Softmax</b> per row over its scores (row-major); for full unmasked chunks the score
 * kernel keeps the rows' lane maxima, and while a chunk stays within {@link #TAU} of every row's
 * running max the old max is kept as the reference (no rescale; {@link #lazy}).</li>
 * <li><b>P·V</b> puts head dims in lanes: 4 rows × 4 vectors of dims (4 × 2 with AVX2) are
 * accumulated in registers; per token the V vectors are loaded once for the 4 rows and each
 * row's probability is a broadcast scalar ({@link LaneRowsPv}).</li>
 * </ul>
 * Rows past {@code rows} in the last group are padding (zero queries; their results are ignored).
 * Session 6 replaced a rows-in-lanes score kernel (each K element broadcast into 12 token
 * accumulators: 13 loads per 12 FMAs, and a per-block copy of K into scratch).
 */
final class LaneRowsTile extends QueryTile {
    /** 32 vector registers with AVX-512, 16 with AVX2: block sizes that keep all accumulators in registers. */
    static final boolean WIDE_REGS = F.vectorBitSize() >= 512;
    /** Rows per register block (scores and P·V); a multiple of it divides V. */
    static final int RG = 4;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private int blocks, tcap, ts;
    private float[] q = new float[0];   // (blocks·V, dim) scaled queries, row-major
    private float[] o = new float[0];   // (blocks·V, dim) unnormalised outputs, row-major
    private float[] st = new float[0];  // (V, ts) scores, then probabilities, of the current row block, row-major
    private float[] m = new float[0];   // (blocks·V) running max, log2 units
    private float[] l = new float[0];   // (blocks·V, V) running sum of each row, as V lane partials (summed by rowSum)
    private int[] lim = new int[0];     // (blocks·V) last attended absolute position
    private int vOff; // where the current chunk's V starts in the V scratch
    private final float[] cf = new float[V];   // (V) rescale factor of the current block's old state
    private final float[] mRefs = new float[V]; // (V) what the current block's rows subtract from their scores
    private final float[] rowMax = new float[V * V]; // (V, V) lane-wise maxima of the current block's rows, then the transpose-reduce
    private static final int LOG_V = Integer.numberOfTrailingZeros(V);
    /** ODD[j]: lanes i with bit j set; SWAP[j]: lane i ↔ i XOR 2^j; BITREV: lane i ← lane bit-reverse(i) (log2 V bits). */
    @SuppressWarnings("unchecked")
    private static final VectorMask<Float>[] ODD = new VectorMask[LOG_V];
    @SuppressWarnings("unchecked")
    private static final VectorShuffle<Float>[] SWAP = new VectorShuffle[LOG_V];
    private static final VectorShuffle<Float> BITREV;
    static {
        for (int j = 0; j < LOG_V; j++) {
            boolean[] odd = new boolean[V];
            int[] swap = new int[V];
            for (int i = 0; i < V; i++) { odd[i] = (i >> j & 1) == 1; swap[i] = i ^ (1 << j); }
            ODD[j] = VectorMask.fromArray(F, odd, 0);
            SWAP[j] = VectorShuffle.fromArray(F, swap, 0);
        }
        int[] rev = new int[V];
        for (int i = 0; i < V; i++) rev[i] = Integer.reverse(i) >>> (32 - LOG_V);
        BITREV = VectorShuffle.fromArray(F, rev, 0);
    }
    private float[] ktSeen;                    // K scratch last wrapped ...
    private MemorySegment ktSeg;               // ... and its segment view

    @Override
    void begin(int rows, int dim, int maxTokens) {
        this.rows = rows;
        this.dim = dim;
        blocks = (rows + V - 1) / V;
        tcap = maxTokens;
        ts = roundUp(tcap, V);
        int lanes = blocks * V;
        if (q.length < lanes * dim) { q = new float[lanes * dim]; o = new float[lanes * dim]; }
        if (st.length < V * ts + V) st = new float[V * ts + V]; // + V: the factors' exponents (see softmax)
        if (m.length < lanes) { m = new float[lanes]; lim = new int[lanes]; }
        if (l.length < lanes * V) l = new float[lanes * V];
        Arrays.fill(q, 0, lanes * dim, 0f);   // padded rows keep q = 0: finite, ignored scores
        Arrays.fill(o, 0, lanes * dim, 0f);
        Arrays.fill(m, 0, lanes, Float.NEGATIVE_INFINITY);
        Arrays.fill(l, 0, lanes * V, 0f);
        Arrays.fill(lim, 0, lanes, Integer.MAX_VALUE);
        minLimit = Integer.MAX_VALUE;
    }

    @Override
    void setQuery(int r, float[] src, int off, float scale, int limit) {
        for (int d = 0; d < dim; d++) q[r * dim + d] = src[off + d] * scale;
        lim[r] = limit;
        minLimit = Math.min(minLimit, limit);
    }

    /** kt: (dim, maxTokens) dim-major fp32 keys plus V floats of slack; vt: (tn, dim) row-major. */
    @Override
    void accumulate(float[] kt, float[] vt, int tn, int pos0) {
        if (kt != ktSeen) { ktSeen = kt; ktSeg = MemorySegment.ofArray(kt); }
        accumulate(ktSeg, 0, tcap, vt, 0, tn, pos0);
    }

    /**
     * Folds one chunk: K fp32 in a segment (a pool slab or a scratch view), token t's dim d at
     * element kOff + d·kStride + t (whole vectors of tokens are read, up to V−1 elements past
     * token tn−1 of a row, which must lie inside the segment); V fp32 row-major at vt[vOff ..].
     */
    void accumulate(MemorySegment ks, long kOff, int kStride, float[] vt, int vOff, int tn, int pos0) {
        this.vOff = vOff;
        fold(ks, kOff, kStride, vt, null, 0, tn, pos0);
    }

    /**
     * As {@link #accumulate(MemorySegment, long, int, float[], int, int, int)} with V read
     * straight from an fp32 slab too, (tn, dim) row-major at byte vb of vs. Only where
     * {@link #directVOk} holds, and worth it where the block was prefetched into the cache
     * ({@link Workspace#fold}).
     */
    void accumulate(MemorySegment ks, long kOff, int kStride, MemorySegment vs, long vb, int tn, int pos0) {
        fold(ks, kOff, kStride, null, vs, vb, tn, pos0);
    }

    /** Whether V may come from a slab ({@link #accumulate(MemorySegment, long, int, MemorySegment, long, int, int)}). */
    static boolean directVOk(int dim) { return WIDE_REGS && dim == 4 * V; }

    /** Prefetch sites ({@link #ahead}) one accumulate call passes: two per group of {@link #RG} rows, one per block of V rows. */
    int prefetchSites() {
        int groups = 0;
        for (int rb = 0; rb < blocks; rb++) groups += realRows(rb) / RG;
        return 2 * groups + blocks;
    }

    /** Rows of block rb to compute: the real ones rounded up to the row group (V is a multiple of RG). */
    private int realRows(int rb) { return Math.min(V, (rows - rb * V + RG - 1) / RG * RG); }

    private void fold(MemorySegment ks, long kOff, int kStride, float[] vt, MemorySegment vs, long vb, int tn, int pos0) {
        boolean masked = (long) pos0 + tn - 1 > minLimit;
        // the 4-vector score kernel covers every token and no lane is masked: it keeps the rows' lane maxima
        boolean fused = LAZY && WIDE_REGS && !masked && tn % (4 * V) == 0;
        // 16-register machines, head dim 64, keys 64 apart in K (64-token chunks): the kernels with constant strides
        boolean c64 = C64 && !WIDE_REGS && V == 8 && dim == 64 && kStride == 64 && tn % 16 == 0;
        for (int rb = 0; rb < blocks; rb++) {
            int r1 = realRows(rb);
            for (int r = 0; r < r1; r += RG) {
                if (c64) scores4x2C64(ks, kOff, tn, rb, r);
                else scores(ks, kOff, kStride, tn, rb, r, fused);
                ahead();
            }
            softmax(tn, pos0, masked, rb, r1, fused);
            ahead();
            for (int r = 0; r < r1; r += RG) {
                if (vs != null) LaneRowsPv.pv4x4Seg(o, st, cf, dim, ts, vs, vb, tn, rb, r);
                else if (c64) for (int d0 = 0; d0 < 64; d0 += 2 * V) LaneRowsPv.pv4x2D64(o, st, cf, ts, vOff, vt, tn, rb, r, d0);
                else LaneRowsPv.weightedSum(o, st, cf, dim, ts, vOff, vt, tn, rb, r);
                ahead();
            }
        }
        aheadRest();
    }

    /**
     * st[r0+i, t] = q[row i, :] · k[t, :] for the 4 rows rb·V + r0 + i and every token vector
     * covering 0 .. tn−1 (lanes past tn−1 hold garbage that softmax overwrites). With AVX-512:
     * 4 token vectors × 4 rows = 16 accumulators; then pairs and single vectors of tokens.
     */
    private void scores(MemorySegment ks, long kOff, int kStride, int tn, int rb, int r0, boolean fused) {
        final int D = dim, nv = (tn + V - 1) / V;
        final int q0 = (rb * V + r0) * D, q1 = q0 + D, q2 = q1 + D, q3 = q2 + D;
        final int s0 = r0 * ts, s1 = s0 + ts, s2 = s1 + ts, s3 = s2 + ts;
        final long row = 4L * kStride, VB = 4L * V;
        final float[] qa = q, s = st;
        final MemorySegment k = ks;
        int j = 0;
        if (WIDE_REGS) {
            for (; j + 4 <= nv; j += 4) {
                FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
                FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
                long kb = (kOff + (long) j * V) * 4;
                for (int d = 0; d < D; d++, kb += row) {
                    FloatVector k0 = FloatVector.fromMemorySegment(F, k, kb, LE), k1 = FloatVector.fromMemorySegment(F, k, kb + VB, LE);
                    FloatVector k2 = FloatVector.fromMemorySegment(F, k, kb + 2 * VB, LE), k3 = FloatVector.fromMemorySegment(F, k, kb + 3 * VB, LE);
                    FloatVector x = FloatVector.broadcast(F, qa[q0 + d]);
                    a00 = k0.fma(x, a00);
                    a01 = k1.fma(x, a01);
                    a02 = k2.fma(x, a02);
                    a03 = k3.fma(x, a03);
                    x = FloatVector.broadcast(F, qa[q1 + d]);
                    a10 = k0.fma(x, a10);
                    a11 = k1.fma(x, a11);
                    a12 = k2.fma(x, a12);
                    a13 = k3.fma(x, a13);
                    x = FloatVector.broadcast(F, qa[q2 + d]);
                    a20 = k0.fma(x, a20);
                    a21 = k1.fma(x, a21);
                    a22 = k2.fma(x, a22);
                    a23 = k3.fma(x, a23);
                    x = FloatVector.broadcast(F, qa[q3 + d]);
                    a30 = k0.fma(x, a30);
                    a31 = k1.fma(x, a31);
                    a32 = k2.fma(x, a32);
                    a33 = k3.fma(x, a33);
                }
                int t = j * V;
                if (fused) { // lane-wise maxima of the 4 rows, while the scores are in registers
                    final float[] mx = rowMax;
                    final int x0 = r0 * V, x1 = x0 + V, x2 = x1 + V, x3 = x2 + V;
                    FloatVector m0 = a00.max(a01).max(a02.max(a03)), m1 = a10.max(a11).max(a12.max(a13));
                    FloatVector m2 = a20.max(a21).max(a22.max(a23)), m3 = a30.max(a31).max(a32.max(a33));
                    if (j > 0) {
                        m0 = m0.max(FloatVector.fromArray(F, mx, x0));
                        m1 = m1.max(FloatVector.fromArray(F, mx, x1));
                        m2 = m2.max(FloatVector.fromArray(F, mx, x2));
                        m3 = m3.max(FloatVector.fromArray(F, mx, x3));
                    }
                    m0.intoArray(mx, x0);
                    m1.intoArray(mx, x1);
                    m2.intoArray(mx, x2);
                    m3.intoArray(mx, x3);
                }
                a00.intoArray(s, s0 + t);
                a01.intoArray(s, s0 + t + V);
                a02.intoArray(s, s0 + t + 2 * V);
                a03.intoArray(s, s0 + t + 3 * V);
                a10.intoArray(s, s1 + t);
                a11.intoArray(s, s1 + t + V);
                a12.intoArray(s, s1 + t + 2 * V);
                a13.intoArray(s, s1 + t + 3 * V);
                a20.intoArray(s, s2 + t);
                a21.intoArray(s, s2 + t + V);
                a22.intoArray(s, s2 + t + 2 * V);
                a23.intoArray(s, s2 + t + 3 * V);
                a30.intoArray(s, s3 + t);
                a31.intoArray(s, s3 + t + V);
                a32.intoArray(s, s3 + t + 2 * V);
                a33.intoArray(s, s3 + t + 3 * V);
            }
        }
        for (; j + 2 <= nv; j += 2) {
            FloatVector a00 = FloatVector.zero(F), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
            long kb = (kOff + (long) j * V) * 4;
            for (int d = 0; d < D; d++, kb += row) {
                FloatVector k0 = FloatVector.fromMemorySegment(F, k, kb, LE), k1 = FloatVector.fromMemorySegment(F, k, kb + VB, LE);
                FloatVector x = FloatVector.broadcast(F, qa[q0 + d]);
                a00 = k0.fma(x, a00);
                a01 = k1.fma(x, a01);
                x = FloatVector.broadcast(F, qa[q1 + d]);
                a10 = k0.fma(x, a10);
                a11 = k1.fma(x, a11);
                x = FloatVector.broadcast(F, qa[q2 + d]);
                a20 = k0.fma(x, a20);
                a21 = k1.fma(x, a21);
                x = FloatVector.broadcast(F, qa[q3 + d]);
                a30 = k0.fma(x, a30);
                a31 = k1.fma(x, a31);
            }
            int t = j * V;
            a00.intoArray(s, s0 + t);
            a01.intoArray(s, s0 + t + V);
            a10.intoArray(s, s1 + t);
            a11.intoArray(s, s1 + t + V);
            a20.intoArray(s, s2 + t);
            a21.intoArray(s, s2 + t + V);
            a30.intoArray(s, s3 + t);
            a31.intoArray(s, s3 + t + V);
        }
        for (; j < nv; j++) {
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
            long kb = (kOff + (long) j * V) * 4;
            for (int d = 0; d < D; d++, kb += row) {
                FloatVector k0 = FloatVector.fromMemorySegment(F, k, kb, LE);
                a0 = k0.fma(FloatVector.broadcast(F, qa[q0 + d]), a0);
                a1 = k0.fma(FloatVector.broadcast(F, qa[q1 + d]), a1);
                a2 = k0.fma(FloatVector.broadcast(F, qa[q2 + d]), a2);
                a3 = k0.fma(FloatVector.broadcast(F, qa[q3 + d]), a3);
            }
            int t = j * V;
            a0.intoArray(s, s0 + t);
            a1.intoArray(s, s1 + t);
            a2.intoArray(s, s2 + t);
            a3.intoArray(s, s3 + t);
        }
    }

    /**
     * Rows 0 .. r1−1 of block rb: their scores over the chunk become probabilities against each
     * row's new max (tokens past tn−1 or past the row's causal limit become −∞ first, so they
     * weigh 0); updates m and the lane sums l; leaves each row's old-state factor in cf.
     * The row maxima come from one transpose-reduce of the V rows' lane-wise maxima (log2 V
     * rounds of blend, swap and max, no per-row horizontal reduction), so m, the new max and the
     * factors are rows-in-lanes vectors as in a rows-in-lanes tile. The factors' exponentials run
     * as one more "row" of the exp2 loop (a second, cold exp2 call site is not inlined by C2 and
     * its vectors get boxed); row sums stay lane vectors until {@link #rowSum}.
     */
    private void softmax(int tn, int pos0, boolean masked, int rb, int r1, boolean fused) {
        final int padded = roundUp(tn, V), TS = ts;
        final float[] s = st;
        final float[] mx = rowMax;
        if (fused && lazy(padded, rb, r1)) return;
        for (int r = 0; r < V; r++) {
            int base = r * TS;
            if (r < r1) {
                if (fused) continue; // the score kernel left this row's lane maxima in mx
                int cnt = masked ? (int) Math.max(0, Math.min(tn, (long) lim[rb * V + r] - pos0 + 1)) : tn;
                if (cnt < padded) Arrays.fill(s, base + cnt, base + padded, Float.NEGATIVE_INFINITY);
                FloatVector x = FloatVector.fromArray(F, s, base);
                for (int t = V; t < padded; t += V) x = x.max(FloatVector.fromArray(F, s, base + t));
                x.intoArray(mx, r * V);
            } else {
                Arrays.fill(mx, r * V, r * V + V, Float.NEGATIVE_INFINITY); // rows past r1: not computed
            }
        }
        // transpose-reduce: after the round with group size g, lanes i and i^g of vector k hold rows paired so far
        int n = V;
        for (int j = LOG_V - 1; j >= 0; j--) {
            VectorMask<Float> odd = ODD[j];
            VectorShuffle<Float> swap = SWAP[j];
            for (int k = 0; k < n / 2; k++) {
                FloatVector a = FloatVector.fromArray(F, mx, 2 * k * V), b = FloatVector.fromArray(F, mx, (2 * k + 1) * V);
                a.blend(b, odd).max(b.blend(a, odd).rearrange(swap)).intoArray(mx, k * V);
            }
            n /= 2;
        }
        FloatVector mOld = FloatVector.fromArray(F, m, rb * V);
        FloatVector mNew = mOld.max(FloatVector.fromArray(F, mx, 0).rearrange(BITREV)); // lane r = row r's max over this chunk
        FloatVector mRef = mNew.blend(0f, mNew.eq(Float.NEGATIVE_INFINITY)); // a row that has seen nothing: subtract 0, not −∞
        mNew.intoArray(m, rb * V);
        mRef.intoArray(mRefs, 0);
        mOld.sub(mRef).intoArray(s, V * TS); // the factors' exponents: the "row" before row 0
        for (int r = -1; r < r1; r++) {
            int base = r < 0 ? V * TS : r * TS, end = r < 0 ? V : padded;
            float sub = r < 0 ? 0f : mRefs[r];
            FloatVector sum = exp2InPlaceVec(s, base, end, sub);
            if (r < 0) {
                System.arraycopy(s, V * TS, cf, 0, V);
            } else {
                int lo = (rb * V + r) * V;
                FloatVector.fromArray(F, l, lo).fma(FloatVector.broadcast(F, cf[r]), sum).intoArray(l, lo);
            }
        }
    }

    /**
     * s[base + t] = 2^(s[base + t] − sub) for t &lt; end (a multiple of V); returns the lane sums. Small and called
     * from hot loops only, so C2 inlines it and the returned vector stays in registers.
     */
    private static FloatVector exp2InPlaceVec(float[] s, int base, int end, float sub) {
        FloatVector sum = FloatVector.zero(F);
        for (int t = 0; t < end; t += V) {
            FloatVector x = FloatVector.fromArray(F, s, base + t).sub(sub);
            FloatVector p = VectorMath.EXP5 ? VectorMath.exp2Vec(x) : VectorMath.exp2TaylorVec(x);
            p.intoArray(s, base + t);
            sum = sum.add(p);
        }
        return sum;
    }

    /**
     * The softmax of a full, unmasked chunk whose scores stay within {@link #TAU} of every row's
     * running max m (the score kernel left each row's lane maxima in rowMax): the probabilities
     * are taken against the old m, unchanged, so the old state needs no rescaling (cf = 1) and
     * there is no transpose-reduce of the maxima. m is then a reference at most TAU below the
     * true max rather than the max itself, which bounds the probabilities by 2^TAU; every
     * consumer of (m, l, o) only needs m to be a common reference of the row's l and o (the
     * log-sum-exp merges compute their factors from it). Returns false, having changed nothing,
     * when a row's scores exceed m + TAU (or m is still −∞): then the exact update runs.
     */
    private boolean lazy(int padded, int rb, int r1) {
        final float[] mx = rowMax, s = st, mm = m;
        final int TS = ts, mb = rb * V;
        for (int r = 0; r < r1; r++) {
            if (FloatVector.fromArray(F, mx, r * V).compare(VectorOperators.GT, mm[mb + r] + TAU).anyTrue()) return false;
        }
        for (int r = 0; r < r1; r++) {
            int base = r * TS;
            float sub = mm[mb + r];
            FloatVector sum = exp2InPlaceVec(s, base, padded, sub);
            int lo = (mb + r) * V;
            FloatVector.fromArray(F, l, lo).add(sum).intoArray(l, lo);
            cf[r] = 1f;
        }
        return true;
    }

    /** How far (log2 units) a chunk's scores may exceed a row's running max before m is updated ({@link #lazy}). */
    static final float TAU = 8f;
    /** A/B switch: the fused maxima and the lazy softmax ({@link #lazy}); results equal up to rounding. */
    static final boolean LAZY = Boolean.parseBoolean(System.getProperty("chunkserve.attention.lazySoftmax", "true"));

    /**
     * A/B switch ({@code bench attention --ab c64=false}): the constant-stride kernels ({@link #scores4x2C64},
     * {@link LaneRowsPv#pv4x2D64}) where they apply.
     */
    static volatile boolean C64 = true;

    /**
     * {@link #scores} for 8-lane vectors, head dim 64 and K rows 64 floats apart (64-token chunks), tn a multiple of 16:
     * 4 rows × 2 key vectors. The constant strides and trip count let C2 prove the segment and array accesses in bounds
     * once per loop instead of at every load (with the general kernel's variable stride it checks each one). Measured
     * slower (session 15): a 2×-unrolled version (C2 hoisted all eight broadcasts and spilled accumulators) and this one
     * with the head dim as a variable loop bound (level at d 64, 0.96× at d 128).
     */
    private void scores4x2C64(MemorySegment ks, long kOff, int tn, int rb, int r0) {
        final int q0 = (rb * V + r0) * 64, q1 = q0 + 64, q2 = q1 + 64, q3 = q2 + 64;
        final int s0 = r0 * ts, s1 = s0 + ts, s2 = s1 + ts, s3 = s2 + ts;
        final float[] qa = q, s = st;
        final MemorySegment k = ks;
        for (int j = 0; j < tn; j += 16) {
            FloatVector a00 = FloatVector.zero(F), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
            final long kb = (kOff + j) * 4;
            long b = kb;
            for (int d = 0; d < 64; d++, b += 256) {
                FloatVector k0 = FloatVector.fromMemorySegment(F, k, b, LE), k1 = FloatVector.fromMemorySegment(F, k, b + 32, LE);
                FloatVector x = FloatVector.broadcast(F, qa[q0 + d]);
                a00 = k0.fma(x, a00);
                a01 = k1.fma(x, a01);
                x = FloatVector.broadcast(F, qa[q1 + d]);
                a10 = k0.fma(x, a10);
                a11 = k1.fma(x, a11);
                x = FloatVector.broadcast(F, qa[q2 + d]);
                a20 = k0.fma(x, a20);
                a21 = k1.fma(x, a21);
                x = FloatVector.broadcast(F, qa[q3 + d]);
                a30 = k0.fma(x, a30);
                a31 = k1.fma(x, a31);
            }
            a00.intoArray(s, s0 + j);
            a01.intoArray(s, s0 + j + 8);
            a10.intoArray(s, s1 + j);
            a11.intoArray(s, s1 + j + 8);
            a20.intoArray(s, s2 + j);
            a21.intoArray(s, s2 + j + 8);
            a30.intoArray(s, s3 + j);
            a31.intoArray(s, s3 + j + 8);
        }
    }

    @Override
    void merge(int r, float pm, float pl, float[] src, int off) {
        if (pm == Float.NEGATIVE_INFINITY) return; // empty partial
        float mNew = Math.max(pm, m[r]);
        float x = VectorMath.exp2(pm - mNew), y = VectorMath.exp2(m[r] - mNew);
        VectorMath.axpby(x, src, off, y, o, r * dim, dim);
        for (int i = 0; i < V; i++) l[r * V + i] *= y;
        l[r * V] += x * pl;
        m[r] = mNew;
    }

    @Override
    float rowMax(int r) { return m[r]; }

    @Override
    float rowSum(int r) {
        float sum = 0f;
        for (int i = 0; i < V; i++) sum += l[r * V + i]; // a fixed order: the same result in every JIT tier
        return sum;
    }

    @Override
    void rowOutput(int r, float[] dst, int off) { System.arraycopy(o, r * dim, dst, off, dim); }

    @Override
    void finish(int r, float[] dst, int off) {
        float inv = 1f / rowSum(r);
        for (int d = 0; d < dim; d++) dst[off + d] = o[r * dim + d] * inv;
    }
}
