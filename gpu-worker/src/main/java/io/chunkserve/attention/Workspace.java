package io.chunkserve.attention;

import io.chunkserve.kv.ChunkPool;
import io.chunkserve.kv.KvLayout;

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

    float[] kt = new float[0]; // (chunkSize, headDim) keys of one chunk and KV head, fp32
    float[] vt = new float[0]; // (chunkSize, headDim) values of one chunk and KV head, fp32
    private final LaneRowsTile wide = new LaneRowsTile();
    private final LaneDimsTile narrow = new LaneDimsTile();

    static Workspace get() { return LOCAL.get(); }

    /** A tile reset for {@code rows} rows, the kind chosen by the row count. */
    QueryTile tile(int rows, KvLayout lay, int wideMinRows) {
        int chunkElems = lay.chunkSize() * lay.headDim();
        if (kt.length < chunkElems) { kt = new float[chunkElems]; vt = new float[chunkElems]; }
        QueryTile t = rows >= wideMinRows ? wide : narrow;
        t.begin(rows, lay.headDim(), lay.chunkSize());
        return t;
    }

    /** Widens the first {@code tn} tokens of (chunk, kvHead) of layer's K and V into kt, vt and folds them into the tile. */
    void accumulate(QueryTile tile, ChunkPool pool, int layer, int chunk, int kvHead, int tn, int pos0) {
        KvLayout lay = pool.layout();
        long base = lay.index(chunk, kvHead, 0);
        int n = tn * lay.headDim();
        VectorMath.widen(pool.keys(layer), lay.dtype(), base, n, kt, 0);
        VectorMath.widen(pool.values(layer), lay.dtype(), base, n, vt, 0);
        tile.accumulate(kt, vt, tn, pos0);
    }
}
