package io.chunkserve.attention;

import io.chunkserve.kv.ChunkPool;
import io.chunkserve.kv.KvLayout;
import io.chunkserve.model.DType;
import io.chunkserve.runtime.cpu.Lanes;
import io.chunkserve.runtime.cpu.MemoryBandwidth;
import io.chunkserve.runtime.cpu.Parallel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.function.IntConsumer;

import static io.chunkserve.attention.VectorMath.F;
import static io.chunkserve.attention.VectorMath.V;

/**
 * One decode token of one sequence (batch-1 decode), lean: for each group of up to 4 query rows
 * of a KV head (a GQA group; padded with zero rows, except that bf16 groups of 1, 2 or 3 rows run
 * kernels of their width, {@link #narrow}), all scores of the part's positions into one
 * buffer (K dim-major, keys in lanes, 4 rows × 4 token vectors per pass), one exact softmax over
 * the buffer, then P·V with head dims in lanes (4 rows × 4 dim vectors per pass). No online
 * rescaling per chunk, no per-chunk tile calls, no prefetch cursor: small monomorphic loops that
 * C2 compiles whole. Work goes to the threads by (KV head, row group) when those divide evenly,
 * else by position ranges (every thread the same share of the KV) merged with the log-sum-exp
 * rule; short contexts run on the calling thread.
 *
 * <p>Serves fp32 and bf16 slabs with head dims a multiple of 4 vectors (bf16 widened in registers by its
 * own copies of the two kernels, {@link OneTokenBf16}); {@link SequenceAttention} sends f16 and other shapes to the general paths.
 */
final class OneTokenDecode {
    private OneTokenDecode() { }

    /** A/B switch for benchmarks (results agree within float rounding either way); false: the older split/per-head paths. */
    static volatile boolean enabled = !Boolean.getBoolean("chunkserve.attention.noOneToken");
    /** Fewest positions per thread for a split by positions; below 2 such shares the call runs on the calling thread. */
    /** A/B switch: each task of a split by positions reads its K/V spans with plain loads before the arithmetic ({@link Job#readAhead}). */
    static volatile boolean readAhead = !Boolean.getBoolean("chunkserve.attention.oneTokenNoReadAhead");
    /**
     * A/B switch: where the units do not divide over the threads, each thread first takes units / threads whole units
     * (all positions, no merge), and only the remaining units are split by positions and merged.
     */
    static volatile boolean hybrid = !Boolean.getBoolean("chunkserve.attention.oneTokenNoHybrid");
    /**
     * A/B switch: bf16 K/V read by {@link OneTokenBf16}'s paired kernels (2·V bf16 as V ints, 4 rows × 2 vectors a pass:
     * 8 accumulators), default on 256-bit vectors (AVX2: 16 registers, where the 4 × 4 blocks of 16 accumulators spill and
     * the full-width widening costs a cross-lane extract); false: the widening 4 × 4 kernels.
     */
    static volatile boolean pairs = V == 8 && !Boolean.getBoolean("chunkserve.attention.noPairs");
    /**
     * A/B switch: groups of 1, 2 or 3 rows through the 1-, 2- and 3-row paired kernels ({@link OneTokenNarrow}) instead
     * of the 4-row ones with padded rows; with it, multi-head models (g = 1) with bf16 K/V come here too
     * ({@link #singleRow}) instead of the dims tile.
     */
    static volatile boolean narrow = !Boolean.getBoolean("chunkserve.attention.oneTokenNoNarrow");

    /** Whether a multi-head model's one-token attention takes this path: bf16 K/V read as paired ints, head dims of 8·V. */
    static boolean singleRow(KvLayout lay) {
        return narrow && pairs && lay.dtype() == DType.BF16 && lay.headDim() % (8 * V) == 0;
    }
    static volatile int minPartTokens = Integer.getInteger("chunkserve.attention.oneTokenMinPart", 32);
    /**
     * A/B switch: bytes of K (then of V) read ahead at a time inside a unit, each block just before its arithmetic
     * ({@link Job#unit}); 0: the whole task's K/V spans before any arithmetic (split by positions only), as before.
     */
    static volatile int blockBytes = Integer.getInteger("chunkserve.attention.oneTokenBlockBytes", 65536);

    private static final int R = 4;        // query rows per pass
    static final int TV = 4;               // token vectors per score pass (OneTokenBf16 too)
    private static final int DB = 4;       // dim vectors per P·V pass

    static boolean applies(KvLayout lay) {
        return (lay.dtype() == DType.F32 || lay.dtype() == DType.BF16) && lay.headDim() % (DB * V) == 0;
    }

    static final ThreadLocal<Scratch> LOCAL = ThreadLocal.withInitial(Scratch::new);

    /** q: (qHeads, headDim) at qOff; out likewise. The token sits at position pos and attends 0 .. pos. */
    static void attend(ChunkPool pool, int layer, int[] chunks, int pos, int qHeads, float[] q, int qOff,
                       float[] out, int outOff, Parallel par) {
        KvLayout lay = pool.layout();
        int kvHeads = lay.kvHeads(), g = qHeads / kvHeads, groups = (g + R - 1) / R, units = kvHeads * groups;
        int len = pos + 1, threads = par.threads();
        Job job = LOCAL.get().job();
        if (threads > 1 && units % threads == 0 && len >= minPartTokens) {
            job.set(pool, layer, chunks, len, qHeads, q, qOff, out, outOff, threads, false);
            par.forRange(threads, job);
        } else if (threads > 1 && units % threads != 0 && len >= 2 * minPartTokens) {
            job.set(pool, layer, chunks, len, qHeads, q, qOff, out, outOff, threads, true);
            if (hybrid) job.whole = units / threads; // SmolLM2 (3 KV heads on 2 threads): one whole head each, the third by positions
            par.forRange(threads, job);
            job.merge();
        } else {
            job.set(pool, layer, chunks, len, qHeads, q, qOff, out, outOff, 1, false);
            job.accept(0);
        }
        job.clear();
    }

    /**
     * The two-phase decode's private phase for one sequence ({@link TwoPhaseAttention}): its query heads of KV heads h0 ..
     * h1−1 (q: (qHeads, headDim) at qOff) over positions 0 .. len−1 of the chunk table chunks[from ..], on the calling
     * thread. Leaves each row's unnormalised output in o, its max (log2 units) in m and its sum in l, at row base + h·g + j
     * (o: headDim floats a row). The same kernels as a batch-1 step (with bf16 K/V the paired ones: 2·V values read as V
     * ints, no widening); each KV head's K/V span is read ahead (plain loads) before its arithmetic, one head at a time.
     */
    static void partial(ChunkPool pool, int layer, int[] chunks, int from, int len, int qHeads, int h0, int h1, float[] q, int qOff,
                        float[] o, float[] m, float[] l, int base) {
        Scratch s = LOCAL.get();
        Job job = s.job();
        job.set(pool, layer, chunks, len, qHeads, q, qOff, null, 0, 1, false);
        job.c0 = from;
        job.extO = o;
        job.extM = m;
        job.extL = l;
        job.extBase = base;
        try {
            job.heads(s, h0, h1);
        } finally {
            job.clear();
        }
    }

    private static volatile boolean warmedUp;

    /** The warm-up's head dim (one dim block of the P·V kernels) and chunk size. */
    static final int WARM_HEAD_DIM = DB * V, WARM_CHUNK = 64;

    /**
     * The warm-up's longest context: past both split thresholds and past one read-ahead block of a bf16 head at
     * {@link #WARM_HEAD_DIM} ({@link Job#blocked}: a branch first taken after C2 compiled {@code unit} traps there and runs
     * tier-3 code until C2 has compiled it again).
     */
    static int warmUpLength() {
        int block = blockBytes > 0 ? blockBytes / (WARM_HEAD_DIM * DType.BF16.bytes()) : 0;
        return Math.max(4 * minPartTokens, block + WARM_CHUNK) + 64;
    }

    /**
     * A one-layer pool of {@code kvHeads} KV heads ({@link #WARM_HEAD_DIM}, chunks of {@link #WARM_CHUNK}, dtype dt) whose
     * first len positions hold a fixed pattern; the chunks' ids go to table (table.length chunks, enough for len).
     */
    static ChunkPool patternPool(int kvHeads, DType dt, int len, int[] table) {
        int hd = WARM_HEAD_DIM, c = WARM_CHUNK;
        ChunkPool pool = new ChunkPool(new KvLayout(1, kvHeads, hd, c, dt), table.length);
        float[] kv = new float[kvHeads * hd];
        for (int i = 0; i < kv.length; i++) kv[i] = (i % 7) * 0.1f;
        for (int i = 0; i < table.length; i++) table[i] = pool.allocate();
        for (int t = 0; t < len; t++) pool.write(0, table[t / c], t % c, kv, 0, kv, 0);
        return pool;
    }

    /** Query rows for up to 12 query heads of {@link #WARM_HEAD_DIM}, a fixed pattern. */
    static float[] patternQueries() {
        float[] q = new float[4 * 3 * WARM_HEAD_DIM];
        for (int i = 0; i < q.length; i++) q[i] = (i % 5) * 0.1f;
        return q;
    }

    /**
     * Runs the one-token path on small synthetic pools (a split by positions and a split by KV
     * heads; contexts on both sides of the thresholds, up to past one read-ahead block) until C2 has compiled it: before
     * that its Vector-API code runs in C1's fallback, ~10–50× slower. Once per JVM, at most ~3 s.
     */
    static void warmUp(Parallel par) {
        if (warmedUp) return;
        long deadline = System.nanoTime() + 3_000_000_000L;
        int maxLen = warmUpLength(), chunks = (maxLen + WARM_CHUNK - 1) / WARM_CHUNK;
        // every configuration interleaved from the first call, so that C2's profile has seen each branch
        // (a branch first taken after compilation deoptimises the kernel back to C1 for a while)
        DType[] dts = {DType.F32, DType.F32, DType.BF16, DType.BF16};
        int[] kvs = {3, 2, 3, 2}, gs = {3, 4, 3, 4};
        ChunkPool[] pools = new ChunkPool[dts.length];
        int[][] tables = new int[dts.length][chunks];
        try {
            for (int p = 0; p < pools.length; p++) pools[p] = patternPool(kvs[p], dts[p], maxLen, tables[p]);
            float[] q = patternQueries(), out = new float[q.length];
            for (int i = 0; i < 6000 && System.nanoTime() < deadline; i++) {
                int p = i % pools.length;
                // a fresh scratch now and then: its growth stays in the profile (else the first context longer than
                // these traps in Scratch.size once C2 has compiled it)
                if (i % 256 == 255) LOCAL.remove();
                attend(pools[p], 0, tables[p], (i * 37) % maxLen, kvs[p] * gs[p], q, 0, out, 0, par);
            }
        } finally {
            for (ChunkPool p : pools) if (p != null) p.close();
        }
        warmedUp = true;
    }

    /** Per-thread buffers. */
    private static final class Scratch {
        float[] qs = new float[0];   // (R, hd) scaled queries of the group, padded rows zero
        float[] qi = new float[0];   // (hd, R) the same interleaved: qi[R·d + r] = qs[r·hd + d] (the paired score kernel)
        float[] sc = new float[0];   // (R + 2, cap): score / probability rows, then a zero row and a junk row
        float[] pi = new float[0];   // (cap, R) the probability rows interleaved: pi[R·i + r] (the paired P·V kernel)
        float[] o = new float[0];    // (R, hd) unnormalised outputs of the group
        float[] tmp = new float[0];  // (hd) a row being put back in dim order (paired kernels)
        float[] m = new float[R], l = new float[R];
        int cap;
        long sink; // sums of the read-ahead, kept so that the loads are not dropped
        private Job job;

        Job job() {
            if (job == null) job = new Job();
            return job;
        }

        void size(int hd, int tokens) {
            if (qs.length < R * hd) { qs = new float[R * hd]; qi = new float[R * hd]; o = new float[R * hd]; tmp = new float[hd]; }
            int need = QueryTile.roundUp(tokens, V) + TV * V;
            if (cap < need) {
                cap = need;
                sc = new float[(R + 2) * cap];
                pi = new float[R * cap];
            }
        }
    }

    /** One call; task p is a part (by positions) or a share of the (KV head, row group) units. Lives in the caller's scratch. */
    static final class Job implements IntConsumer {
        private ChunkPool pool;
        private int[] chunks;
        private float[] q, out;
        private int layer, len, qHeads, qOff, outOff, tasks;
        private int whole; // split by positions: units each task takes whole first (hybrid split; 0: none)
        private int c0;    // the chunk table starts at chunks[c0] (a two-phase plan's private chunks: see partial)
        // partial: each row's unnormalised output, max and sum go to these arrays at row extBase + h·g + j
        private float[] extO, extM, extL;
        private int extBase;
        private boolean byPositions;
        private final PositionParts pp = new PositionParts();

        void set(ChunkPool pool, int layer, int[] chunks, int len, int qHeads, float[] q, int qOff, float[] out, int outOff,
                 int tasks, boolean byPositions) {
            this.pool = pool;
            this.layer = layer;
            this.chunks = chunks;
            this.len = len;
            this.qHeads = qHeads;
            this.q = q;
            this.qOff = qOff;
            this.out = out;
            this.outOff = outOff;
            this.tasks = tasks;
            this.byPositions = byPositions;
            this.whole = 0;
            this.c0 = 0;
            if (byPositions) pp.size(tasks, qHeads, pool.layout().headDim());
        }

        void clear() {
            pool = null;
            chunks = null;
            q = out = null;
            extO = extM = extL = null;
        }

        private int bound(int p) { return PositionParts.bound(p, tasks, len); }

        @Override
        public void accept(int p) {
            KvLayout lay = pool.layout();
            int kvHeads = lay.kvHeads(), g = qHeads / kvHeads, groups = (g + R - 1) / R, units = kvHeads * groups;
            int u0 = 0, u1 = units, a = 0, b = len, w0 = 0, w1 = 0;
            if (byPositions) {
                a = bound(p);
                b = bound(p + 1);
                if (whole > 0) { // hybrid: units w0 .. w1-1 over all positions, then the rest by positions
                    w0 = p * whole;
                    w1 = w0 + whole;
                    u0 = tasks * whole;
                }
            } else {
                u0 = (int) ((long) units * p / tasks);
                u1 = (int) ((long) units * (p + 1) / tasks);
            }
            Scratch s = LOCAL.get();
            int hd = lay.headDim();
            s.size(hd, w1 > w0 ? len : b - a);
            float scale = (float) (VectorMath.LOG2E / Math.sqrt(hd));
            MemorySegment ks = pool.keys(layer), vs = pool.values(layer);
            // (split by positions only: with a split by KV heads, Llama-3.2-1B, it measured no better: 549 vs 501 µs a step)
            if (readAhead && byPositions && blockBytes <= 0) {
                if (w1 > w0) readAhead(lay, ks, vs, w0 / groups, (w1 - 1) / groups + 1, 0, len, s);
                readAhead(lay, ks, vs, u0 / groups, (u1 - 1) / groups + 1, a, b, s);
            }
            for (int u = w0; u < w1; u++) {
                int r0 = (u % groups) * R;
                unit(s, lay, ks, vs, scale, u / groups, r0, Math.min(R, g - r0), 0, len, p, true);
            }
            for (int u = u0; u < u1; u++) {
                int r0 = (u % groups) * R;
                unit(s, lay, ks, vs, scale, u / groups, r0, Math.min(R, g - r0), a, b, p, !byPositions);
            }
        }

        /** Every row group of KV heads h0 .. h1−1 over all positions, on the calling thread, into the ext arrays (see partial). */
        void heads(Scratch s, int h0, int h1) {
            KvLayout lay = pool.layout();
            int g = qHeads / lay.kvHeads(), groups = (g + R - 1) / R, hd = lay.headDim();
            s.size(hd, len);
            float scale = (float) (VectorMath.LOG2E / Math.sqrt(hd));
            MemorySegment ks = pool.keys(layer), vs = pool.values(layer);
            for (int h = h0; h < h1; h++) {
                // one head's span at a time: it stays in L2 (longer ones a block at a time, in unit)
                if (readAhead && !blocked(lay, len)) readAhead(lay, ks, vs, h, h + 1, 0, len, s);
                for (int gi = 0; gi < groups; gi++) unit(s, lay, ks, vs, scale, h, gi * R, Math.min(R, g - gi * R), 0, len, 0, false);
            }
        }

        /** Rows r0 .. r0+rows-1 (rows ≤ R) of KV head h's group over positions [a, b): normalised into out (direct), or part p's partials. */
        private void unit(Scratch s, KvLayout lay, MemorySegment ks, MemorySegment vs, float scale, int h, int r0, int rows,
                          int a, int b, int p, boolean direct) {
            int hd = lay.headDim(), g = qHeads / lay.kvHeads();
            // queries of rows r0 .. r0+rows-1 of KV head h, scaled; padded rows zero
            for (int r = 0; r < R; r++) {
                int dst = r * hd;
                if (r < rows) {
                    int src = qOff + (h * g + r0 + r) * hd;
                    for (int d = 0; d < hd; d++) s.qs[dst + d] = q[src + d] * scale;
                } else {
                    Arrays.fill(s.qs, dst, dst + hd, 0f);
                }
            }
            boolean paired = pairs && lay.dtype() == DType.BF16 && hd % (2 * V) == 0;
            if (paired) { // the paired score kernel reads the rows' queries interleaved
                for (int r = 0; r < R; r++) for (int d = 0; d < hd; d++) s.qi[R * d + r] = s.qs[r * hd + d];
            }
            // K of each block read ahead just before its scores, then V of each block before its P·V: with a split by
            // positions always (it replaced reading the task's whole spans first), with a split by KV heads and in the
            // two-phase private phase (extO; there a head's span that fits one block is read whole first, see heads) once a
            // head's K span outgrows one block (below that, no read-ahead measured faster with a split by heads:
            // Llama-3.2-1B, context 200); blk = 0: no blocks, one piece [a, b)
            int n = b - a;
            int blk = blocked(lay, n) || readAhead && blockBytes > 0 && byPositions && extO == null ? blockTokens(lay) : 0;
            for (int t0 = a, t1; t0 < b; t0 = t1) {
                t1 = blk > 0 ? blockEnd(lay, t0, b, blk) : b;
                if (blk > 0) readSpan(lay, ks, true, h, t0, t1, s);
                scores(s, lay, ks, h, t0, t1, a, rows, paired);
            }
            for (int r = 0; r < rows; r++) softmaxVec(s, r, n);
            Arrays.fill(s.o, 0, R * hd, 0f);
            if (paired) interleave(s, rows, n);
            for (int t0 = a, t1; t0 < b; t0 = t1) {
                t1 = blk > 0 ? blockEnd(lay, t0, b, blk) : b;
                if (blk > 0) readSpan(lay, vs, false, h, t0, t1, s);
                weighted(s, lay, vs, h, t0, t1, a, rows, paired);
            }
            if (paired) OneTokenBf16.unpairRows(s.o, rows, hd, s.tmp);
            for (int r = 0; r < rows; r++) {
                int row = h * g + r0 + r;
                if (extO != null) {
                    int i = extBase + row;
                    extM[i] = s.m[r];
                    extL[i] = s.l[r];
                    System.arraycopy(s.o, r * hd, extO, i * hd, hd);
                } else if (direct) {
                    float inv = 1f / s.l[r];
                    int o = outOff + row * hd;
                    for (int d = 0; d < hd; d++) out[o + d] = s.o[r * hd + d] * inv;
                } else {
                    int i = p * qHeads + row;
                    pp.m[i] = s.m[r];
                    pp.l[i] = s.l[r];
                    System.arraycopy(s.o, r * hd, pp.o, i * hd, hd);
                }
            }
        }

        /**
         * Reads the task's K and V spans (KV heads h0 .. h1-1, positions [a, b)) with plain vector loads,
         * each span as 4 interleaved streams, before the arithmetic: the KV comes cold from DRAM (the weight
         * stream evicted it), and loads with nothing to wait on keep more misses in flight than the score
         * and P·V loops, whose loads sit between dependent FMAs; those then read L1/L2 (as SplitDecode does).
         */
        private void readAhead(KvLayout lay, MemorySegment ks, MemorySegment vs, int h0, int h1, int a, int b, Scratch s) {
            for (int h = h0; h < h1; h++) {
                readSpan(lay, ks, true, h, a, b, s);
                readSpan(lay, vs, false, h, a, b, s);
            }
        }

        /** Whether n positions of one head's K outgrow one read-ahead block ({@link #blockBytes}; 0: never). */
        private static boolean blocked(KvLayout lay, int n) {
            return readAhead && blockBytes > 0 && (long) n * lay.headDim() * lay.dtype().bytes() > blockBytes;
        }

        /** Positions per read-ahead block: {@link #blockBytes} of one head's K (or V), whole chunks, at least one. */
        private static int blockTokens(KvLayout lay) {
            int c = lay.chunkSize(), perChunk = c * lay.headDim() * lay.dtype().bytes();
            return Math.max(1, blockBytes / perChunk) * c;
        }

        /**
         * The end of the block from t0: a chunk boundary (or b), so that the kernels see the same per-chunk pieces as
         * without blocks (the paired kernels' score order, and with it every sum, depends on where a piece starts).
         */
        private static int blockEnd(KvLayout lay, int t0, int b, int blk) {
            int c = lay.chunkSize();
            return Math.min(b, t0 - t0 % c + blk);
        }

        /** Reads KV head h's K (keys) or V span of positions [a, b) with plain loads ({@link #readAhead}, one of the two). */
        private void readSpan(KvLayout lay, MemorySegment seg, boolean keys, int h, int a, int b, Scratch s) {
            int c = lay.chunkSize(), hd = lay.headDim(), eb = lay.dtype().bytes();
            long acc = 0;
            for (int t = a; t < b; ) {
                int ci = t / c, slot = t - ci * c, e = Math.min(b, (ci + 1) * c);
                // (K: dim-major, slots slot .. e-1 of every dim row)
                if (keys) acc += MemoryBandwidth.sum(seg, lay.keyIndex(chunks[c0 + ci], h, slot, 0) * eb, ((hd - 1) * c + e - t) * eb);
                else acc += MemoryBandwidth.sum(seg, lay.index(chunks[c0 + ci], h, slot) * eb, (e - t) * hd * eb);
                t = e;
            }
            s.sink += acc;
        }

        /** Scores of positions [a, b) of KV head h for the R rows into s.sc rows at t − base (padded rows into the junk row). */
        private void scores(Scratch s, KvLayout lay, MemorySegment ks, int h, int a, int b, int base, int rows, boolean paired) {
            int c = lay.chunkSize(), cap = s.cap;
            int s1 = rows > 1 ? cap : 5 * cap, s2 = rows > 2 ? 2 * cap : 5 * cap, s3 = rows > 3 ? 3 * cap : 5 * cap;
            boolean bf16 = lay.dtype() == DType.BF16;
            for (int t = a; t < b; ) {
                int ci = t / c, slot = t - ci * c, e = Math.min(b, (ci + 1) * c);
                long k0 = lay.keyIndex(chunks[c0 + ci], h, slot, 0);
                if (paired && rows == 1 && narrow) OneTokenNarrow.scorePiecePaired1(s.qi, s.qs, lay.headDim(), ks, k0, c, e - t, s.sc, t - base, s1, s2, s3);
                else if (paired && rows == 2 && narrow) OneTokenNarrow.scorePiecePaired2(s.qi, s.qs, lay.headDim(), ks, k0, c, e - t, s.sc, t - base, s1, s2, s3);
                else if (paired && rows == 3 && narrow) OneTokenNarrow.scorePiecePaired3(s.qi, s.qs, lay.headDim(), ks, k0, c, e - t, s.sc, t - base, s1, s2, s3);
                else if (paired) OneTokenBf16.scorePiecePaired(s.qi, s.qs, lay.headDim(), ks, k0, c, e - t, s.sc, t - base, s1, s2, s3);
                else if (bf16) OneTokenBf16.scorePiece(s.qs, lay.headDim(), ks, k0, c, e - t, s.sc, t - base, s1, s2, s3);
                else OneTokenF32.scorePiece(s.qs, lay.headDim(), ks, k0, c, e - t, s.sc, t - base, s1, s2, s3);
                t = e;
            }
        }

        /** Writes the exact softmax numerators of row r's n scores (log2 units) in place; sets m[r], l[r]. */
        private static void softmaxVec(Scratch s, int r, int n) { // …Vec: force-inlined (see VectorHelperInliningTest)
            float[] sc = s.sc;
            int base = r * s.cap, padded = QueryTile.roundUp(n, V);
            Arrays.fill(sc, base + n, base + padded, Float.NEGATIVE_INFINITY);
            FloatVector mx = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
            for (int t = 0; t < padded; t += V) mx = mx.max(FloatVector.fromArray(F, sc, base + t));
            float m = mx.reduceLanes(VectorOperators.MAX);
            FloatVector sum = FloatVector.zero(F);
            for (int t = 0; t < padded; t += V) {
                FloatVector p = VectorMath.exp2Vec(FloatVector.fromArray(F, sc, base + t).sub(m));
                p.intoArray(sc, base + t);
                sum = sum.add(p);
            }
            s.m[r] = m;
            sum = sum.add(sum.rearrange(Lanes.PSUM1));
            if (Lanes.PL >= 8) sum = sum.add(sum.rearrange(Lanes.PSUM2));
            if (Lanes.PL >= 16) sum = sum.add(sum.rearrange(Lanes.PSUM3));
            s.l[r] = (sum.lane(0) + sum.lane(1));
        }

        /** The paired P·V kernels read the rows' n probabilities interleaved (s.pi); rows past `rows` read the zero row. */
        private static void interleave(Scratch s, int rows, int n) {
            int cap = s.cap, p1 = rows > 1 ? cap : 4 * cap, p2 = rows > 2 ? 2 * cap : 4 * cap, p3 = rows > 3 ? 3 * cap : 4 * cap;
            float[] sc = s.sc, pi = s.pi;
            for (int i = 0; i < n; i++) {
                pi[4 * i] = sc[i];
                pi[4 * i + 1] = sc[p1 + i];
                pi[4 * i + 2] = sc[p2 + i];
                pi[4 * i + 3] = sc[p3 + i];
            }
        }

        /** o[r] += Σ_t p[r][t − base] · v[t] over positions [a, b) of KV head h (padded rows read the zero row; paired: s.pi filled). */
        private void weighted(Scratch s, KvLayout lay, MemorySegment vs, int h, int a, int b, int base, int rows, boolean paired) {
            int c = lay.chunkSize(), hd = lay.headDim(), cap = s.cap;
            int p1 = rows > 1 ? cap : 4 * cap, p2 = rows > 2 ? 2 * cap : 4 * cap, p3 = rows > 3 ? 3 * cap : 4 * cap;
            boolean bf16 = lay.dtype() == DType.BF16;
            for (int t = a; t < b; ) {
                int ci = t / c, slot = t - ci * c, e = Math.min(b, (ci + 1) * c);
                long v0 = lay.index(chunks[c0 + ci], h, slot);
                if (paired && rows == 1 && narrow && hd % (8 * V) == 0) {
                    for (int d0 = 0; d0 < hd; d0 += 8 * V) OneTokenNarrow.pvPiecePaired1(s.pi, t - base, e - t, vs, v0 + d0, hd, s.o, d0);
                    t = e;
                    continue;
                }
                if (paired && rows == 2 && narrow && hd % (4 * V) == 0) {
                    for (int d0 = 0; d0 < hd; d0 += 4 * V) OneTokenNarrow.pvPiecePaired2(s.pi, t - base, e - t, vs, v0 + d0, hd, s.o, d0);
                    t = e;
                    continue;
                }
                if (paired && rows == 3 && narrow) {
                    for (int d0 = 0; d0 < hd; d0 += 2 * V) OneTokenNarrow.pvPiecePaired3(s.pi, t - base, e - t, vs, v0 + d0, hd, s.o, d0);
                    t = e;
                    continue;
                }
                if (paired) {
                    for (int d0 = 0; d0 < hd; d0 += 2 * V) OneTokenBf16.pvPiecePaired(s.pi, t - base, e - t, vs, v0 + d0, hd, s.o, d0);
                    t = e;
                    continue;
                }
                for (int d0 = 0; d0 < hd; d0 += DB * V) {
                    if (bf16) OneTokenBf16.pvPiece(s.sc, t - base, p1, p2, p3, e - t, vs, v0 + d0, hd, s.o, d0);
                    else OneTokenF32.pvPiece(s.sc, t - base, p1, p2, p3, e - t, vs, v0 + d0, hd, s.o, d0);
                }
                t = e;
            }
        }

        /** out[row] = Σ_p 2^(m_p − M)·o_p / Σ_p 2^(m_p − M)·l_p with M = max_p m_p. */
        void merge() {
            KvLayout lay = pool.layout();
            int g = qHeads / lay.kvHeads(), groups = (g + R - 1) / R, u0 = tasks * whole;
            // hybrid: only the rows of the units split by positions (the last ones) have partials
            int from = whole > 0 ? (u0 / groups) * g + (u0 % groups) * R : 0;
            pp.merge(tasks, qHeads, from, lay.headDim(), out, outOff);
        }
    }
}
