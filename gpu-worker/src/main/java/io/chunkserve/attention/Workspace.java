package io.chunkserve.attention;

import io.chunkserve.kv.ChunkPool;
import io.chunkserve.kv.KvLayout;
import io.chunkserve.model.DType;

/**
 * Per-thread scratch of the attention kernels: the current chunk's K and V widened to fp32 and
 * the two query tiles. Buffers grow on demand and are then reused, so steady-state calls do not
 * allocate. One instance per thread ({@link #get}); a task uses it from start to end.
 */
final class Workspace {
    /**
     * Rows from which the rows-in-lanes tile is used: half a vector. Below that the dims-in-lanes
     * tile wastes fewer lanes (measured crossover is close to V/2 on AVX2 and AVX-512).
     */
    static final int DEFAULT_WIDE_MIN_ROWS = Math.max(2, VectorMath.V / 2);

    private static final ThreadLocal<Workspace> LOCAL = ThreadLocal.withInitial(Workspace::new);

    float[] kt = new float[0]; // (chunkSize, headDim) keys of one chunk and KV head, widened to fp32
    float[] vt = new float[0]; // (chunkSize, headDim) values of one chunk and KV head, widened to fp32
    private LaneRowsTile[] wide = {new LaneRowsTile()};
    private LaneDimsTile[] narrow = {new LaneDimsTile()};
    private QueryTile[] picked = new QueryTile[1];

    static Workspace get() { return LOCAL.get(); }

    /** A tile reset for {@code rows} rows, the kind chosen by the row count. */
    QueryTile tile(int rows, KvLayout lay, int wideMinRows) {
        return tiles(1, rows, lay, wideMinRows)[0];
    }

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
     * Folds the first {@code tn} tokens of (chunk, kvHead) of a layer into the tile. The
     * dims-in-lanes tile is bound by memory and reads fp32 slabs in place (one core streamed ~1.7×
     * faster than copy-then-compute); the rows-in-lanes tile is bound by arithmetic and wants its
     * broadcast operands in L1, so it gets K/V widened into kt, vt (as do half types everywhere),
     * K and V in one loop so both streams stay in flight.
     */
    void accumulate(QueryTile tile, ChunkPool pool, int layer, int chunk, int kvHead, int tn, int pos0) {
        KvLayout lay = pool.layout();
        long base = lay.index(chunk, kvHead, 0);
        if (lay.dtype() == DType.F32 && tile instanceof LaneDimsTile narrow) {
            narrow.accumulateInPlace(pool.keys(layer), pool.values(layer), base * 4, tn, pos0);
            return;
        }
        VectorMath.widenPair(pool.keys(layer), pool.values(layer), lay.dtype(), base, tn * lay.headDim(), kt, vt);
        tile.accumulate(kt, vt, tn, pos0);
    }
}
