package io.chunkserve.attention;

import io.chunkserve.kv.ChunkPool;
import io.chunkserve.kv.KvLayout;
import io.chunkserve.model.DType;

import java.lang.foreign.MemorySegment;

/**
 * Per-thread scratch of the attention kernels: the current chunk's K and V widened to fp32 and
 * the two query tiles. Buffers grow on demand and are then reused, so steady-state calls do not
 * allocate. One instance per thread ({@link #get}); a task uses it from start to end.
 */
final class Workspace {
    /**
     * Rows from which the rows-in-lanes tile is used. Per 64×64 fp32 chunk (L1-hot, one core) a
     * row block of it cost ~2.5–2.7 µs up to V rows while the dims-in-lanes tile cost ~0.45–0.55 µs
     * per row, with both AVX2 (V = 8) and AVX-512 (V = 16): the crossover is near 5 rows.
     */
    static final int DEFAULT_WIDE_MIN_ROWS = Math.min(VectorMath.V, 5);

    private static final ThreadLocal<Workspace> LOCAL = ThreadLocal.withInitial(Workspace::new);

    private float[] kt = new float[0]; // (chunkSize, headDim) keys of one chunk and KV head, widened to fp32
    private float[] vt = new float[0]; // (chunkSize, headDim) values of one chunk and KV head, widened to fp32
    private float[] kAll = new float[0]; // (heads, ⌈headDim/KP⌉, chunkSize, KP) keys of one chunk, the rows tile's panel layout
    private float[] vAll = new float[0]; // (heads, chunkSize, headDim) values of one chunk
    private LaneRowsTile[] wide = {new LaneRowsTile()};
    private LaneDimsTile[] narrow = {new LaneDimsTile()};
    private QueryTile[] picked = new QueryTile[1];
    private SplitDecode.Job splitJob; // the split decode call this thread dispatches
    long sink; // sums of SplitDecode's read-ahead, kept so that the reads are not dropped

    SplitDecode.Job splitJob() {
        if (splitJob == null) splitJob = new SplitDecode.Job();
        return splitJob;
    }

    static Workspace get() { return LOCAL.get(); }

    /**
     * {@code count} distinct tiles (one per KV head of a task), each reset for {@code rows} rows.
     * The returned array is reused by the next call on this thread.
     */
    QueryTile[] tiles(int count, int rows, KvLayout lay, int wideMinRows) {
        int chunkElems = lay.chunkSize() * lay.headDim();
        if (kt.length < chunkElems) { kt = new float[chunkElems]; vt = new float[chunkElems]; }
        if (picked.length < count) picked = new QueryTile[count];
        boolean useWide = rows >= wideMinRows;
        if (useWide && wide.length < count) wide = grow(wide, count, LaneRowsTile::new, LaneRowsTile[]::new);
        if (!useWide && narrow.length < count) narrow = grow(narrow, count, LaneDimsTile::new, LaneDimsTile[]::new);
        for (int i = 0; i < count; i++) {
            QueryTile t = useWide ? wide[i] : narrow[i];
            t.begin(rows, lay.headDim(), lay.chunkSize());
            picked[i] = t;
        }
        return picked;
    }

    private static <T> T[] grow(T[] old, int n, java.util.function.Supplier<T> make, java.util.function.IntFunction<T[]> array) {
        T[] a = array.apply(n);
        System.arraycopy(old, 0, a, 0, old.length);
        for (int i = old.length; i < n; i++) a[i] = make.get();
        return a;
    }

    /**
     * Folds chunks ids[from .. to) into the tiles of KV heads h0 .. h1-1 (tiles[h − h0]), walking
     * chunk by chunk with the heads inside, since a chunk's heads are contiguous in the slab. Every
     * chunk holds a full chunk of tokens except the last, which holds {@code lastTokens}; chunk i's
     * token 0 sits at position (i − from)·chunkSize (what the causal limits are checked against).
     *
     * <p>The dims-in-lanes tile is bound by memory and reads fp32 and bf16 slabs in place, bf16
     * widened in registers (one core streamed ~1.7× faster than copy-then-compute). The
     * rows-in-lanes tile is bound by arithmetic and wants its broadcast operands in L1/L2, so each
     * chunk is first widened into scratch ({@link #foldRows}), K and V in one loop so that both
     * streams are in flight (~21 against ~13 GB/s on one core). Copying the next block in pieces
     * between the FMA blocks instead was measured slower: demand loads that miss stall
     * retirement. Where {@link Prefetch} works, both tiles request the next (chunk, head) block's
     * lines while folding the current one (in-place tile: below; rows tile: {@link #foldRows}), so
     * the rows tile's copy reads from cache and the in-place tile's loads mostly hit.
     */
    void fold(QueryTile[] tiles, int h0, int h1, ChunkPool pool, int layer, int[] ids, int from, int to, int lastTokens) {
        KvLayout lay = pool.layout();
        int c = lay.chunkSize(), hd = lay.headDim();
        MemorySegment ks = pool.keys(layer), vs = pool.values(layer);
        if (tiles[0] instanceof LaneRowsTile) {
            foldRows(tiles, h0, h1, lay, ks, vs, ids, from, to, lastTokens);
            return;
        }
        // f16 is widened by copy: its in-register conversion, unrolled in the dot-product loop, passes
        // C2's node-count inlining cutoff and the vectors get boxed (measured 6× slower than bf16)
        boolean inPlace = lay.dtype() != DType.F16;
        int kind = VectorMath.kind(lay.dtype());
        boolean pf = inPlace && Prefetch.AVAILABLE && Prefetch.enabled;
        long kBase = pf ? ks.address() : 0, vBase = pf ? vs.address() : 0;
        int esz = lay.dtype().bytes();
        for (int i = from; i < to; i++) {
            int tn = i == to - 1 ? lastTokens : c, pos0 = (i - from) * c;
            for (int h = h0; h < h1; h++) {
                long base = lay.index(ids[i], h, 0);
                if (pf && (h + 1 < h1 || i + 1 < to)) { // the next block's lines, requested while this one is folded
                    int nTok = h + 1 < h1 ? tn : (i + 1 == to - 1 ? lastTokens : c);
                    long nx = (h + 1 < h1 ? lay.index(ids[i], h + 1, 0) : lay.index(ids[i + 1], h0, 0)) * esz;
                    int lines = (int) (((long) nTok * hd * esz + Prefetch.LINE - 1) / Prefetch.LINE);
                    tiles[h - h0].prefetchDuring(kBase + nx, vBase + nx, lines, Math.max(PF_MIN_STEP, (lines * 8 + 3 * tn - 1) / (3 * tn)));
                }
                if (inPlace) {
                    ((LaneDimsTile) tiles[h - h0]).accumulateInPlace(ks, vs, kind, base, tn, pos0);
                } else {
                    VectorMath.widenPair(ks, vs, lay.dtype(), base, tn * hd, kt, vt, 0);
                    tiles[h - h0].accumulate(kt, vt, tn, pos0);
                }
            }
        }
    }

    /**
     * {@link #fold} for rows-in-lanes tiles: per chunk, K and V of all the task's heads are widened
     * into scratch first (heads h0..h1-1 of a full chunk are contiguous in the slab, so with
     * headDim = KP that is one stream for K and one for V), K into the panel layout of
     * {@link LaneRowsTile#KP}; then each head's tile folds its part from L2.
     */
    private void foldRows(QueryTile[] tiles, int h0, int h1, KvLayout lay, MemorySegment ks, MemorySegment vs,
                          int[] ids, int from, int to, int lastTokens) {
        int c = lay.chunkSize(), hd = lay.headDim(), nh = h1 - h0, kp = LaneRowsTile.KP;
        int kHead = c * QueryTile.roundUp(hd, kp), vHead = c * hd; // scratch floats per head
        if (kAll.length < nh * kHead) kAll = new float[nh * kHead];
        if (vAll.length < nh * vHead) vAll = new float[nh * vHead];
        if (hd == kp && lastTokens == c && Prefetch.AVAILABLE && Prefetch.enabled) {
            foldRowsPrefetched(tiles, h0, h1, lay, ks, vs, ids, from, to);
            return;
        }
        for (int i = from; i < to; i++) {
            int tn = i == to - 1 ? lastTokens : c, pos0 = (i - from) * c;
            long base = lay.index(ids[i], h0, 0);
            if (hd == kp && tn == c) { // whole heads, already in the panel layout: one stream for K, one for V
                VectorMath.widenPair(ks, vs, lay.dtype(), base, nh * c * hd, kAll, vAll, 0);
            } else {
                for (int h = 0; h < nh; h++) {
                    long hb = base + (long) h * c * hd;
                    for (int p0 = 0; p0 < hd; p0 += kp) {
                        int w = Math.min(kp, hd - p0), dst = h * kHead + p0 / kp * c * kp;
                        for (int t = 0; t < tn; t++) VectorMath.widen(ks, lay.dtype(), hb + (long) t * hd + p0, w, kAll, dst + t * kp);
                    }
                    VectorMath.widen(vs, lay.dtype(), hb, tn * hd, vAll, h * vHead);
                }
            }
            for (int h = 0; h < nh; h++) ((LaneRowsTile) tiles[h]).accumulate(kAll, h * kHead, vAll, h * vHead, tn, pos0);
        }
    }

    /**
     * {@link #foldRows} for full chunks with headDim = {@link LaneRowsTile#KP} (no panel reshuffle):
     * block by block (chunk, head), each tile requesting the next block's K/V lines while it folds
     * the current one ({@link LaneRowsTile#prefetchDuring}), so each block's widening copy reads
     * from cache and the DRAM traffic runs under the arithmetic. For fp32 with headDim = KP the V
     * half is not copied at all: the tile reads it from the (prefetched) slab. The task's first
     * block was requested at the task's start ({@link #warm}).
     */
    private void foldRowsPrefetched(QueryTile[] tiles, int h0, int h1, KvLayout lay, MemorySegment ks, MemorySegment vs,
                                    int[] ids, int from, int to) {
        int c = lay.chunkSize(), hd = lay.headDim(), elems = c * hd;
        long blockBytes = (long) elems * lay.dtype().bytes();
        int lines = (int) ((blockBytes + Prefetch.LINE - 1) / Prefetch.LINE);
        int step = Math.max(PF_MIN_STEP, (lines + PF_SITES - 1) / PF_SITES);
        boolean directV = DIRECT_V && lay.dtype() == DType.F32 && LaneRowsTile.directVOk(hd);
        if (kAll.length < elems) kAll = new float[elems];
        if (vAll.length < elems) vAll = new float[elems];
        long kBase = ks.address(), vBase = vs.address();
        for (int i = from; i < to; i++) {
            for (int h = h0; h < h1; h++) {
                long e = lay.index(ids[i], h, 0);
                if (directV) VectorMath.widen(ks, lay.dtype(), e, elems, kAll, 0); // V is read from the slab
                else VectorMath.widenPair(ks, vs, lay.dtype(), e, elems, kAll, vAll, 0);
                LaneRowsTile tile = (LaneRowsTile) tiles[h - h0];
                boolean last = h == h1 - 1 && i == to - 1;
                if (!last) {
                    long nx = h + 1 < h1 ? lay.index(ids[i], h + 1, 0) : lay.index(ids[i + 1], h0, 0);
                    long off = nx * lay.dtype().bytes();
                    tile.prefetchDuring(kBase + off, vBase + off, lines, step);
                }
                if (directV) tile.accumulate(kAll, vs, e * 4, c, (i - from) * c);
                else tile.accumulate(kAll, 0, vAll, 0, c, (i - from) * c);
            }
        }
    }

    /** Prefetch sites per 16-row register block of the rows tile (see LaneRowsTile.ahead) and the fewest lines per site. */
    static final int PF_SITES = 10, PF_MIN_STEP = 4;
    /**
     * A/B switches for benchmarks in one process (results never change): the rows tile reads
     * prefetched fp32 V straight from the slab instead of a scratch copy; each task requests its
     * first block's lines at its start ({@link #warm}). Session 5, in one process at the default
     * bench point: 10.0 → 9.45 ms per 16-layer call with both (BENCHMARKS.md).
     */
    static boolean DIRECT_V = true, WARM_FIRST = true;

    /**
     * Requests the lines of the first (chunk, head) block a task will fold, at the task's start
     * (before its queries are set up), so that its first block is not read cold.
     */
    static void warm(ChunkPool pool, int layer, int chunk, int head, int tokens) {
        if (!WARM_FIRST || !Prefetch.AVAILABLE || !Prefetch.enabled) return;
        KvLayout lay = pool.layout();
        long off = lay.index(chunk, head, 0) * lay.dtype().bytes();
        int lines = (int) (((long) tokens * lay.headDim() * lay.dtype().bytes() + Prefetch.LINE - 1) / Prefetch.LINE);
        Prefetch.pair(pool.keys(layer).address() + off, pool.values(layer).address() + off, lines);
    }
}
