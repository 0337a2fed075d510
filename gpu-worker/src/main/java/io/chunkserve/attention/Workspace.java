package io.chunkserve.attention;

import io.chunkserve.kv.ChunkPool;
import io.chunkserve.kv.KvLayout;
import io.chunkserve.model.DType;

import java.lang.foreign.MemorySegment;

/**
 * Per-thread scratch of the attention kernels: the current chunk's K and V widened to fp32 (where
 * a kernel cannot read the pool dtype in place) and the two query tiles. Buffers grow on demand and are then reused, so steady-state calls do not
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

    private float[] kt = new float[0]; // (headDim, chunkSize) + V keys of one chunk and KV head, widened to fp32, dim-major
    private float[] vt = new float[0]; // (chunkSize, headDim) values of one chunk and KV head, widened to fp32
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
        if (kt.length < chunkElems + VectorMath.V) { kt = new float[chunkElems + VectorMath.V]; vt = new float[chunkElems]; }
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
     * <p>Both tiles read fp32 and bf16 K/V in place (K dim-major, keys in lanes), the memory-bound
     * dims tile widening bf16 in registers; f16 is widened into scratch first (its in-register
     * conversion, unrolled in the loops, passes C2's node-count inlining cutoff and the vectors get
     * boxed: measured 6× slower than bf16), and so is bf16 for the rows tile. Where
     * {@link Prefetch} works, both tiles request the next (chunk, head) block's lines while folding
     * the current one, so the DRAM traffic runs under the arithmetic and the loads mostly hit.
     */
    void fold(QueryTile[] tiles, int h0, int h1, ChunkPool pool, int layer, int[] ids, int from, int to, int lastTokens) {
        KvLayout lay = pool.layout();
        int c = lay.chunkSize(), hd = lay.headDim();
        MemorySegment ks = pool.keys(layer), vs = pool.values(layer);
        if (tiles[0] instanceof LaneRowsTile) {
            foldRows(tiles, h0, h1, lay, ks, vs, ids, from, to, lastTokens);
            return;
        }
        boolean inPlace = lay.dtype() != DType.F16;
        int kind = VectorMath.kind(lay.dtype());
        boolean pf = inPlace && Prefetch.AVAILABLE && Prefetch.enabled && dimsPrefetch;
        long kBase = pf ? ks.address() : 0, vBase = pf ? vs.address() : 0;
        int esz = lay.dtype().bytes();
        for (int i = from; i < to; i++) {
            int tn = i == to - 1 ? lastTokens : c, pos0 = (i - from) * c;
            for (int h = h0; h < h1; h++) {
                long base = lay.index(ids[i], h, 0);
                if (pf && (h + 1 < h1 || i + 1 < to)) { // the next block's lines, requested while this one is folded
                    int nTok = h + 1 < h1 ? tn : (i + 1 == to - 1 ? lastTokens : c);
                    long nx = (h + 1 < h1 ? lay.index(ids[i], h + 1, 0) : lay.index(ids[i + 1], h0, 0)) * esz;
                    // K's valid part spans every dim row of the block; V's is the first nTok rows (fewer lines)
                    int lines = (int) (((long) ((hd - 1) * c + nTok) * esz + Prefetch.LINE - 1) / Prefetch.LINE);
                    // sites: every 8 tokens of the P·V loop, once per 4 vectors of scores (≈ 9·tn/64 with 16 lanes)
                    tiles[h - h0].prefetchDuring(kBase + nx, vBase + nx, lines, Math.max(pfMinStep, (lines * 64 + 9 * tn - 1) / (9 * tn)));
                }
                if (inPlace) {
                    ((LaneDimsTile) tiles[h - h0]).accumulateInPlace(ks, base, c, vs, base, kind, tn, pos0);
                } else {
                    VectorMath.widen(ks, lay.dtype(), base, c * hd, kt, 0); // the whole block: tn slots of every dim row
                    VectorMath.widen(vs, lay.dtype(), base, tn * hd, vt, 0);
                    tiles[h - h0].accumulate(kt, vt, tn, pos0);
                }
            }
        }
    }

    /**
     * {@link #fold} for rows-in-lanes tiles, block by block (chunk, head). fp32 K is read straight
     * from the slab (dim-major: the tile's keys-in-lanes score loads); other dtypes are widened
     * into scratch first. fp32 V with head dim 4·V is read from the slab too, otherwise widened.
     * Where {@link Prefetch} works each tile requests the next block's K/V lines while it folds the
     * current one ({@link LaneRowsTile#prefetchDuring}, a few lines at each of its
     * {@link LaneRowsTile#prefetchSites}), so the loads hit L1/L2 and the DRAM traffic runs under
     * the arithmetic; the task's first block was requested at the task's start ({@link #warm}).
     */
    private void foldRows(QueryTile[] tiles, int h0, int h1, KvLayout lay, MemorySegment ks, MemorySegment vs,
                          int[] ids, int from, int to, int lastTokens) {
        int c = lay.chunkSize(), hd = lay.headDim(), elems = c * hd;
        boolean f32 = lay.dtype() == DType.F32;
        boolean directV = DIRECT_V && f32 && LaneRowsTile.directVOk(hd);
        boolean pf = Prefetch.AVAILABLE && Prefetch.enabled;
        int lines = (int) (((long) elems * lay.dtype().bytes() + Prefetch.LINE - 1) / Prefetch.LINE);
        int step = Math.max(pfMinStep, (lines + ((LaneRowsTile) tiles[0]).prefetchSites() - 1) / Math.max(1, ((LaneRowsTile) tiles[0]).prefetchSites()));
        long kBase = ks.address(), vBase = vs.address();
        for (int i = from; i < to; i++) {
            int tn = i == to - 1 ? lastTokens : c, pos0 = (i - from) * c;
            for (int h = h0; h < h1; h++) {
                long e = lay.index(ids[i], h, 0);
                LaneRowsTile tile = (LaneRowsTile) tiles[h - h0];
                if (pf && !(h == h1 - 1 && i == to - 1)) {
                    long nx = h + 1 < h1 ? lay.index(ids[i], h + 1, 0) : lay.index(ids[i + 1], h0, 0);
                    long off = nx * lay.dtype().bytes();
                    tile.prefetchDuring(kBase + off, vBase + off, lines, step);
                }
                if (!directV) VectorMath.widen(vs, lay.dtype(), e, tn * hd, vt, 0);
                if (f32) {
                    if (directV) tile.accumulate(ks, e, c, vs, e * 4, tn, pos0);
                    else tile.accumulate(ks, e, c, vt, 0, tn, pos0);
                } else {
                    VectorMath.widen(ks, lay.dtype(), e, elems, kt, 0); // the whole block: tn slots of every dim row
                    tile.accumulate(kt, vt, tn, pos0);
                }
            }
        }
    }

    /** Whether the dims tile requests the next block's lines (a switch of {@code bench attention --ab}). */
    static volatile boolean dimsPrefetch = true;
    /** The fewest lines a prefetch site requests (a switch of {@code bench attention --ab}). */
    static volatile int pfMinStep = 4;
    /**
     * A/B switches for benchmarks in one process (results never change): the rows tile reads
     * prefetched fp32 V straight from the slab instead of a scratch copy; each task requests its
     * first block's lines at its start ({@link #warm}). Session 5, in one process at the default
     * bench point: 10.0 → 9.45 ms per 16-layer call with both (BENCHMARKS.md).
     */
    static volatile boolean DIRECT_V = true, WARM_FIRST = true;

    /**
     * Requests the lines of the first (chunk, head) block a task will fold, at the task's start
     * (before its queries are set up), so that its first block is not read cold.
     */
    static void warm(ChunkPool pool, int layer, int chunk, int head, int tokens) {
        if (!WARM_FIRST || !Prefetch.AVAILABLE || !Prefetch.enabled) return;
        KvLayout lay = pool.layout();
        long off = lay.index(chunk, head, 0) * lay.dtype().bytes();
        // K is dim-major: its valid part spans every dim row of the block (V's, the first rows, is shorter)
        long elems = (long) (lay.headDim() - 1) * lay.chunkSize() + tokens;
        int lines = (int) ((elems * lay.dtype().bytes() + Prefetch.LINE - 1) / Prefetch.LINE);
        Prefetch.pair(pool.keys(layer).address() + off, pool.values(layer).address() + off, lines);
    }
}
