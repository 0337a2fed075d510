package io.chunkserve.runtime.cpu;

import io.chunkserve.attention.SequenceAttention;
import io.chunkserve.kv.ChunkPool;
import io.chunkserve.model.ModelConfig;
import io.chunkserve.model.ModelWeights;
import io.chunkserve.model.Weight;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.function.IntConsumer;

/**
 * Batch-1 decode (one sequence, one token) with every layer split by heads over the threads
 * (tensor parallel), the whole step in one dispatch: each thread ("participant") owns a range of
 * query heads and a range of the MLP's intermediate rows. Per layer it computes the q rows of its
 * heads and the k/v rows of the KV heads it owns, RoPE, writes those K/V into the pool, attends its
 * own heads (waiting, where a KV head is shared with a neighbour that owns it, for that neighbour's
 * K/V write), multiplies its heads' attention output by its columns of the o projection (a partial
 * of the o output), then, after one barrier, adds every participant's partial into its own copy of
 * the residual, normalises, computes its gate/up rows and SiLU, and multiplies them by its columns
 * of the down projection (a second partial); a second barrier, and the next layer. After the last
 * layer each participant computes a row range of the LM head. Two barriers a layer instead of five
 * dispatches, no attention merge, and each thread's next matrix is known to it.
 *
 * <p>The residual copies stay identical on all participants: they add the same partials in the same
 * order (element-wise adds round the same on every thread). The o and down projections are read by
 * columns: at construction their column ranges are copied into contiguous matrices (row-major within a
 * range), {@link #copyBytes()} extra — the o and down matrices once more. The summation order of those
 * two products differs from the row-split path (partials added), so logits differ at fp32 rounding.
 *
 * <p>Who owns what ({@link #plan}): query heads are cut into near-equal contiguous ranges; a KV head all
 * of whose query heads are in one range belongs to that participant, one shared by two goes to the one
 * with fewer weight bytes so far; the intermediate rows are then cut (multiples of 16) so that every
 * participant reads about the same weight bytes. SmolLM2-135M on 2 threads (9 query heads, 3 KV heads):
 * participant 0 query heads 0–3 and KV heads 0–1, participant 1 query heads 4–8 and KV head 2 (it waits
 * for KV head 1), 768 intermediate rows each: 768 and 768 rows' worth of 576-wide attention weights.
 */
final class HeadSplitDecode implements IntConsumer, AutoCloseable {
    private static final VarHandle LONGS = MethodHandles.arrayElementVarHandle(long[].class);
    private static final int PAD = 16;            // longs between sync words (own cache lines)
    private static final int ARRIVED = PAD;       // barrier arrivals
    private static final int READY = 3 * PAD;     // READY + p·PAD: participant p's KV written up to (epoch·layers + layer + 1)
    private static final int ALIGN = GemvJob.ROW_ALIGN;

    private final ModelConfig cfg;
    private final ModelWeights w;
    private final int T, hd, hidden, layers;
    /** Per participant: query heads [q0, q1), owned KV heads [k0, k1), intermediate rows [i0, i1), LM head rows [v0, v1). */
    final int[] q0, q1, k0, k1, i0, i1, v0, v1;
    /** Per participant: query heads [c0, c1) whose q rows it computes (its own heads, unless {@code qShift} moves some). */
    final int[] c0, c1;
    private final int[] kvOwner, qOwner;
    private final Weight[][] oCols, downCols; // [layer][participant]
    private final Arena arena = Arena.ofShared();
    private final long copyBytes;
    private final long[] sync;
    private volatile boolean abort;

    // per participant
    private final float[][] xs, hns, xa, xg, pq;
    private final float[][][] part; // [2][participant][hidden]: o partials, down partials
    private final Weight[][] pw;
    private final float[][][] po;
    private final int[][] lo, hi, sp, sr;
    // touch-ahead while waiting at a barrier: [layer][participant] heads of the next matrices' streams
    private final Touch[][] touchMlp, touchQkv; // gate/up (after barrier A); q/k/v of layer l (after layer l-1's barrier B)
    private final Touch[] touchHead;            // the LM head (after the last barrier)
    private final long[] touchSink;

    // the step (set by the dispatching thread before the dispatch; the pool's publication orders it)
    private ChunkPool pool;
    private int[] table;
    private int pos;
    private long epoch;
    private float[] x0, q, kk, v, att, gate, up, lg, cos, sin;
    private boolean logits;

    final int shift, qShift, headShift;

    /**
     * shift: intermediate rows moved from the last participant's MLP share to the first's; qShift: query heads
     * whose q rows participant 0 computes for participant 1 (which then waits for them as for a shared KV head).
     */
    HeadSplitDecode(ModelConfig cfg, ModelWeights w, int threads, int shift, int qShift, int headShift) {
        this.headShift = headShift;
        this.shift = shift;
        this.qShift = qShift;
        this.cfg = cfg;
        this.w = w;
        this.T = threads;
        this.hd = cfg.headDim();
        this.hidden = cfg.hiddenSize();
        this.layers = cfg.numLayers();
        q0 = new int[T]; q1 = new int[T]; k0 = new int[T]; k1 = new int[T];
        i0 = new int[T]; i1 = new int[T]; v0 = new int[T]; v1 = new int[T];
        kvOwner = new int[cfg.numKvHeads()];
        qOwner = new int[cfg.numHeads()];
        c0 = new int[T];
        c1 = new int[T];
        plan(cfg, w.layers()[0], T, headShift, q0, q1, k0, k1, kvOwner, i0, i1);
        if (shift != 0) { // moves MLP rows from the last participant to the first, the others' ranges shifted along
            int inter = cfg.intermediateSize();
            for (int p = 0; p < T - 1; p++) i1[p] = Math.max(0, Math.min(inter, i1[p] + shift));
            for (int p = 1; p < T; p++) i0[p] = i1[p - 1];
            for (int p = 0; p < T - 1; p++) i1[p] = Math.max(i0[p], i1[p]);
        }
        for (int p = 0; p < T; p++) {
            c0[p] = q0[p];
            c1[p] = q1[p];
        }
        if (T > 1 && qShift != 0) {
            c1[0] = Math.max(c0[0], Math.min(c1[1], c1[0] + qShift));
            c0[1] = c1[0];
        }
        for (int p = 0; p < T; p++) for (int h = c0[p]; h < c1[p]; h++) qOwner[h] = p;
        int vocab = cfg.vocabSize();
        for (int p = 0; p < T; p++) {
            v0[p] = p == 0 ? 0 : v1[p - 1];
            v1[p] = p == T - 1 ? vocab : (int) Math.min(vocab, Math.round((double) vocab * (p + 1) / T / ALIGN) * ALIGN);
        }
        oCols = new Weight[layers][T];
        downCols = new Weight[layers][T];
        long bytes = 0;
        for (int l = 0; l < layers; l++) {
            ModelWeights.Layer L = w.layers()[l];
            for (int p = 0; p < T; p++) {
                oCols[l][p] = columns(L.wo(), q0[p] * hd, q1[p] * hd, arena);
                downCols[l][p] = columns(L.wDown(), i0[p], i1[p], arena);
                bytes += oCols[l][p].byteSize() + downCols[l][p].byteSize();
            }
        }
        copyBytes = bytes;
        sync = new long[READY + (T + 1) * PAD];
        xs = new float[T][hidden];
        hns = new float[T][hidden];
        xa = new float[T][];
        xg = new float[T][];
        pq = new float[T][];
        part = new float[2][T][hidden];
        pw = new Weight[T][3];
        po = new float[T][3][];
        lo = new int[T][3];
        hi = new int[T][3];
        sp = new int[T][4];
        sr = new int[T][4];
        touchMlp = new Touch[layers][T];
        touchQkv = new Touch[layers][T];
        touchHead = new Touch[T];
        touchSink = new long[T * PAD];
        long budget = Math.max(Touch.LINE, Long.getLong("chunkserve.cpu.touchBytes", 256 * 1024));
        for (int l = 0; l < layers; l++) {
            ModelWeights.Layer L = w.layers()[l];
            for (int p = 0; p < T; p++) {
                touchMlp[l][p] = Touch.of(new Weight[]{L.wGate(), L.wUp()}, new int[]{i0[p], i0[p]}, new int[]{i1[p], i1[p]}, budget);
                touchQkv[l][p] = Touch.of(new Weight[]{L.wq(), L.wk(), L.wv()}, new int[]{c0[p] * hd, k0[p] * hd, k0[p] * hd},
                        new int[]{c1[p] * hd, k1[p] * hd, k1[p] * hd}, budget);
            }
        }
        for (int p = 0; p < T; p++) touchHead[p] = Touch.of(new Weight[]{w.lmHead()}, new int[]{v0[p]}, new int[]{v1[p]}, budget);
        for (int p = 0; p < T; p++) {
            xa[p] = new float[Math.max(1, (q1[p] - q0[p]) * hd)];
            xg[p] = new float[Math.max(1, i1[p] - i0[p])];
        }
    }

    /** Extra bytes of the column copies of the o and down projections. */
    long copyBytes() { return copyBytes; }

    /**
     * The split (see the class comment), from layer 0's weights (every layer has the same shapes):
     * q0/q1, k0/k1, owner of each KV head, i0/i1 per participant.
     */
    static void plan(ModelConfig cfg, ModelWeights.Layer L, int T, int headShift, int[] q0, int[] q1, int[] k0, int[] k1, int[] owner, int[] i0, int[] i1) {
        int H = cfg.numHeads(), K = cfg.numKvHeads(), g = H / K, hd = cfg.headDim(), inter = cfg.intermediateSize();
        double qRow = L.wq().byteSize() / (double) L.wq().rows(), kvRow = (L.wk().byteSize() + L.wv().byteSize()) / (double) L.wk().rows();
        double oCol = L.wo().byteSize() / (double) L.wo().cols();
        double mlpRow = (L.wGate().byteSize() + L.wUp().byteSize() + (double) L.wDown().byteSize()) / inter;
        double[] cost = new double[T];
        for (int p = 0; p < T; p++) {
            q0[p] = (int) ((long) H * p / T);
            q1[p] = (int) ((long) H * (p + 1) / T);
            if (p == 0 && T > 1) q1[p] = Math.max(0, Math.min(H, q1[p] + headShift)); // A/B: moves the first boundary
            if (p == 1) q0[p] = q1[0];
            cost[p] = (q1[p] - q0[p]) * hd * (qRow + oCol);
            k0[p] = K;
            k1[p] = 0;
        }
        for (int h = 0; h < K; h++) {
            int best = -1;
            for (int p = 0; p < T; p++) {
                boolean uses = q0[p] < (h + 1) * g && q1[p] > h * g;
                if (uses && (best < 0 || cost[p] < cost[best])) best = p;
            }
            owner[h] = best;
            cost[best] += hd * kvRow;
            k0[best] = Math.min(k0[best], h);
            k1[best] = Math.max(k1[best], h + 1);
        }
        double total = inter * mlpRow, sum = 0;
        for (double c : cost) total += c;
        for (int p = 0; p < T; p++) {
            if (k0[p] >= k1[p]) k0[p] = k1[p] = 0;
            i0[p] = p == 0 ? 0 : i1[p - 1];
            sum += cost[p];
            if (p == T - 1) {
                i1[p] = inter;
            } else {
                double want = (total * (p + 1) / T - sum) / mlpRow;
                int b = inter >= ALIGN * T ? (int) Math.round(want / ALIGN) * ALIGN : (int) Math.round(want);
                i1[p] = Math.max(i0[p], Math.min(inter, b));
            }
        }
    }

    /** Columns [c0, c1) of w as a contiguous (rows × (c1 − c0)) matrix in the same dtype. */
    private static Weight columns(Weight w, int c0, int c1, Arena arena) {
        int n = c1 - c0, bpe = w.dtype().bytes();
        long rowBytes = (long) w.cols() * bpe, nb = (long) n * bpe;
        MemorySegment dst = arena.allocate(Math.max(1, nb * w.rows()), 64);
        for (int r = 0; r < w.rows() && n > 0; r++) MemorySegment.copy(w.data(), r * rowBytes + (long) c0 * bpe, dst, r * nb, nb);
        return new Weight(w.name() + "[:, " + c0 + ":" + c1 + "]", dst.asSlice(0, nb * w.rows()), w.dtype(), w.rows(), n);
    }

    /**
     * One step. x0: the token's embedding (hidden); cos/sin: its RoPE table (headDim/2); q, kk, v, att, gate,
     * up: scratch of the runner's sizes; lg: the logits (vocab) when {@code logits}. Runs on {@code k}'s threads
     * together; false (nothing done) when they are busy with another call.
     */
    boolean step(CpuKernels k, ChunkPool pool, int[] table, int pos, float[] x0, float[] cos, float[] sin, float[] q, float[] kk,
                 float[] v, float[] att, float[] gate, float[] up, float[] lg, boolean logits) {
        this.pool = pool;
        this.table = table;
        this.pos = pos;
        this.x0 = x0;
        this.cos = cos;
        this.sin = sin;
        this.q = q;
        this.kk = kk;
        this.v = v;
        this.att = att;
        this.gate = gate;
        this.up = up;
        this.lg = lg;
        this.logits = logits;
        this.epoch++;
        this.abort = false;
        LONGS.setVolatile(sync, ARRIVED, 0L);
        try {
            return k.runTogether(this);
        } finally {
            this.pool = null;
            this.table = null;
            this.x0 = this.q = this.kk = this.v = this.att = this.gate = this.up = this.lg = null;
        }
    }

    @Override
    public void accept(int p) {
        try {
            run(p);
        } catch (Throwable e) {
            abort = true; // the others leave their waits
            throw e;
        }
    }

    private void run(int p) {
        float eps = cfg.rmsNormEps();
        int H = cfg.numHeads(), g = H / cfg.numKvHeads(), kvDim = cfg.kvDim(), chunk = pool.layout().chunkSize();
        float[] x = xs[p], hn = hns[p];
        System.arraycopy(x0, 0, x, 0, hidden);
        int bar = 0;
        long t0 = p <= 1 && CpuTuning.phases ? System.nanoTime() : 0;
        for (int l = 0; l < layers; l++) {
            ModelWeights.Layer L = w.layers()[l];
            CpuKernels.rmsnorm(hn, x, L.attnNorm(), 1, eps);
            t0 = mark(p, 0, t0);
            // q rows of my heads, k/v rows of my KV heads
            Weight[] ws = pw[p];
            float[][] os = po[p];
            int[] a = lo[p], b = hi[p];
            int n = 0;
            if (c1[p] > c0[p]) { ws[n] = L.wq(); os[n] = q; a[n] = c0[p] * hd; b[n++] = c1[p] * hd; }
            if (k1[p] > k0[p]) {
                ws[n] = L.wk(); os[n] = kk; a[n] = k0[p] * hd; b[n++] = k1[p] * hd;
                ws[n] = L.wv(); os[n] = v; a[n] = k0[p] * hd; b[n++] = k1[p] * hd;
            }
            MatKernels.gemvPieces(ws, os, a, b, n, hn, sp[p], sr[p]);
            t0 = mark(p, 1, t0);
            int qa = q0[p] * hd, qb = q1[p] * hd, ka = k0[p] * hd, kb = k1[p] * hd;
            if (L.bq() != null) addBias(q, L.bq(), c0[p] * hd, c1[p] * hd);
            if (L.bk() != null) addBias(kk, L.bk(), ka, kb);
            if (L.bv() != null) addBias(v, L.bv(), ka, kb);
            if (L.qNorm() != null) {
                headNorm(q, L.qNorm(), c0[p], c1[p], eps);
                headNorm(kk, L.kNorm(), k0[p], k1[p], eps);
            }
            rope(q, c0[p], c1[p]);
            rope(kk, k0[p], k1[p]);
            if (k1[p] > k0[p]) pool.writeHeads(l, table[pos / chunk], pos % chunk, k0[p], k1[p], kk, 0, v, 0);
            LONGS.setRelease(sync, READY + p * PAD, epoch * layers + l + 1); // my q rows and K/V are in place
            t0 = mark(p, 2, t0);
            // attention of my heads: first those whose q rows and K/V are all mine, then the others (after their writers' flags)
            long ready = epoch * layers + l + 1;
            for (int pass = 0; pass < 2; pass++) {
                for (int h0 = q0[p]; h0 < q1[p]; ) {
                    int kh = h0 / g, h1 = Math.min(q1[p], (kh + 1) * g);
                    boolean mine = kvOwner[kh] == p;
                    for (int h = h0; h < h1; h++) mine &= qOwner[h] == p;
                    if (mine == (pass == 0)) {
                        if (!mine) {
                            if (kvOwner[kh] != p) awaitKv(kvOwner[kh], ready);
                            for (int h = h0; h < h1; h++) if (qOwner[h] != p) awaitKv(qOwner[h], ready);
                        }
                        SequenceAttention.attendHeads(pool, l, table, pos, H, h0, h1, q, 0, att, 0);
                    }
                    h0 = h1;
                }
            }
            t0 = mark(p, 3, t0);
            // my columns of o: a partial of the o output
            float[] po0 = part[0][p];
            if (qb > qa) {
                System.arraycopy(att, qa, xa[p], 0, qb - qa);
                gemv(oCols[l][p], xa[p], po0);
            } else {
                java.util.Arrays.fill(po0, 0f);
            }
            barrier(++bar, p, touchMlp[l][p]);
            for (int j = 0; j < T; j++) Vec.add(x, part[0][j], hidden);
            t0 = mark(p, 4, t0);
            CpuKernels.rmsnorm(hn, x, L.mlpNorm(), 1, eps);
            t0 = mark(p, 5, t0);
            // my gate/up rows and SiLU, then my columns of down: a partial of the MLP output
            float[] po1 = part[1][p];
            int ia = i0[p], ib = i1[p];
            if (ib > ia) {
                ws[0] = L.wGate(); os[0] = gate; a[0] = ia; b[0] = ib;
                ws[1] = L.wUp(); os[1] = up; a[1] = ia; b[1] = ib;
                MatKernels.gemvPieces(ws, os, a, b, 2, hn, sp[p], sr[p]);
                Vec.siluMul(gate, up, ia, ib - ia);
                t0 = mark(p, 6, t0);
                System.arraycopy(gate, ia, xg[p], 0, ib - ia);
                gemv(downCols[l][p], xg[p], po1);
            } else {
                java.util.Arrays.fill(po1, 0f);
            }
            barrier(++bar, p, l + 1 < layers ? touchQkv[l + 1][p] : logits ? touchHead[p] : null);
            for (int j = 0; j < T; j++) Vec.add(x, part[1][j], hidden);
            t0 = mark(p, 7, t0);
            for (int j = 0; j < 3; j++) { ws[j] = null; os[j] = null; }
        }
        if (!logits) return;
        CpuKernels.rmsnorm(hn, x, w.norm(), 1, eps);
        Weight[] ws = pw[p];
        float[][] os = po[p];
        ws[0] = w.lmHead();
        os[0] = lg;
        lo[p][0] = v0[p];
        hi[p][0] = v1[p];
        MatKernels.gemvPieces(ws, os, lo[p], hi[p], 1, hn, sp[p], sr[p]);
        ws[0] = null;
        os[0] = null;
        mark(p, 8, t0);
    }

    /** out = W · x (W's rows × cols, x of W.cols()) on this thread. */
    private void gemv(Weight m, float[] x, float[] out) {
        MatKernels.matmulRows(m, x, 1, out, 0, m.rows());
    }

    private void barrier(int k, int p, Touch next) {
        LONGS.getAndAdd(sync, ARRIVED, 1L);
        long want = (long) k * T;
        if ((long) LONGS.getVolatile(sync, ARRIVED) >= want) return;
        long start = System.nanoTime();
        try {
            // while the others finish: read the first lines of my next matrices' row streams (see TouchPlan)
            if (next != null && CpuTuning.touch) {
                long acc = 0;
                for (long c = 0; (long) LONGS.getVolatile(sync, ARRIVED) < want; c += 2 * Touch.LINE) {
                    long r = next.touch(c, 2);
                    if (r < 0) break;
                    acc += r;
                }
                touchSink[p * PAD] += acc;
            }
            spinUntil(want, start);
        } finally {
            if (CpuTuning.phases && p < 2) CpuTuning.PHASE_NS[9 + 2 * p + (k & 1 ^ 1)] += System.nanoTime() - start;
        }
    }

    private void spinUntil(long want, long start) {
        int spins = 0;
        while ((long) LONGS.getVolatile(sync, ARRIVED) < want) {
            if (abort) throw new IllegalStateException("another participant of the split decode failed");
            Thread.onSpinWait();
            if (CpuTuning.headSplitYield && (++spins & 1023) == 0 && System.nanoTime() - start > 50_000) Thread.yield();
        }
    }

    private void awaitKv(int owner, long want) {
        if ((long) LONGS.getAcquire(sync, READY + owner * PAD) >= want) return;
        long t0 = CpuTuning.phases ? System.nanoTime() : 0;
        try {
            spinKv(owner, want);
        } finally {
            if (CpuTuning.phases) CpuTuning.PHASE_NS[13] += System.nanoTime() - t0;
        }
    }

    private void spinKv(int owner, long want) {
        int spins = 0;
        long start = 0;
        while ((long) LONGS.getAcquire(sync, READY + owner * PAD) < want) {
            if (abort) throw new IllegalStateException("another participant of the split decode failed");
            Thread.onSpinWait();
            if ((++spins & 1023) == 0) {
                if (start == 0) start = System.nanoTime();
                else if (CpuTuning.headSplitYield && System.nanoTime() - start > 50_000) Thread.yield();
            }
        }
    }

    private static long mark(int p, int phase, long t0) {
        if (p > 1 || !CpuTuning.phases) return 0;
        long now = System.nanoTime();
        CpuTuning.PHASE_NS[p == 0 ? phase : 14 + phase] += now - t0;
        return now;
    }

    private static void addBias(float[] y, float[] bias, int a, int b) {
        for (int i = a; i < b; i++) y[i] += bias[i];
    }

    /** RMSNorm of each head h0 .. h1-1 of y (rows of headDim) with gain gamma (Qwen3's q/k norm). */
    private void headNorm(float[] y, float[] gamma, int h0, int h1, float eps) {
        for (int h = h0; h < h1; h++) {
            int o = h * hd;
            double ss = Vec.sumSquares(y, o, hd);
            float inv = (float) (1.0 / Math.sqrt(ss / hd + eps));
            Vec.scaleMul(y, y, o, inv, gamma, hd);
        }
    }

    /** RoPE ("rotate half") of heads h0 .. h1-1 of y in place. */
    private void rope(float[] y, int h0, int h1) {
        int half = hd / 2;
        for (int h = h0; h < h1; h++) {
            int o = h * hd;
            for (int i = 0; i < half; i++) {
                float c = cos[i], sn = sin[i];
                float x1 = y[o + i], x2 = y[o + half + i];
                y[o + i] = x1 * c - x2 * sn;
                y[o + half + i] = x2 * c + x1 * sn;
            }
        }
    }

    @Override
    public void close() { arena.close(); }

    /** The heads of a participant's four row streams over some weights' row ranges, as {@link MatKernels#gemvPieces} reads them. */
    private static final class Touch {
        static final int LINE = TouchPlan.LINE;
        final MemorySegment[] seg = new MemorySegment[4];
        final long[] off = new long[4], end = new long[4];

        static Touch of(Weight[] ws, int[] lo, int[] hi, long budget) {
            int total = 0;
            for (int k = 0; k < ws.length; k++) total += hi[k] - lo[k];
            int q = total / 4;
            if (q == 0) return null;
            Touch t = new Touch();
            for (int s = 0; s < 4; s++) {
                int g = s * q, k = 0;
                while (g >= hi[k] - lo[k]) g -= hi[k] - lo[k++];
                Weight w = ws[k];
                long rowBytes = (long) w.dtype().bytes() * w.cols(), start = (lo[k] + g) * rowBytes;
                t.seg[s] = w.data();
                t.off[s] = start;
                t.end[s] = Math.min(hi[k] * rowBytes, start + Math.min(budget, q * rowBytes));
            }
            return t;
        }

        /** Reads one long of each of {@code lines} lines of every stream from byte {@code from} on; their sum, or -1 when past all ends. */
        long touch(long from, int lines) {
            long acc = 0;
            boolean any = false;
            for (int s = 0; s < 4; s++) {
                long a = off[s] + from, b = Math.min(end[s], a + (long) lines * LINE);
                MemorySegment m = seg[s];
                for (long x = a; x < b; x += LINE) acc += m.get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, x);
                any |= a < end[s];
            }
            return any ? acc : -1;
        }
    }
}
