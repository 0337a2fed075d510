package io.chunkserve.attention;

import io.chunkserve.kv.ChunkPool;
import io.chunkserve.kv.KvLayout;
import io.chunkserve.runtime.cpu.Parallel;

/**
 * Causal attention of one sequence's new tokens over its chunked KV (cached prefix plus the new
 * tokens, whose K/V are already written into the pool). Used for prefill and, one token at a
 * time, for decode. Online softmax over chunks, fp32 accumulation, K/V widened from the pool
 * dtype inside the loop, GQA (the g = qHeads / kvHeads query heads of a KV head read its K/V
 * together).
 *
 * <p>Work is split into tasks of (KV head, query block): a query block of up to
 * {@link #BLOCK_ROWS} rows (tokens × g heads) makes one pass over every chunk it can see, so
 * each K/V element read feeds all its rows.
 */
public final class SequenceAttention {
    /** Query rows (tokens × g) per pass over the chunks; a few vectors of rows keeps the tile in L1/L2. */
    static final int BLOCK_ROWS = Math.max(16, 4 * VectorMath.V);

    /** One decode token through {@link SplitDecode} (token ranges over the threads); false: split by KV head. */
    private static final boolean SPLIT_DECODE = !Boolean.getBoolean("chunkserve.attention.splitByHead");

    private SequenceAttention() { }

    /** A/B switch for benchmarks: one decode token through {@link OneTokenDecode} (true, the default) or the older paths. */
    public static void setOneToken(boolean on) { OneTokenDecode.enabled = on; }

    public static boolean oneToken() { return OneTokenDecode.enabled; }

    /** A/B switch for benchmarks: fewest positions per thread before the one-token path splits a call by positions. */
    public static void setOneTokenMinPart(int tokens) { OneTokenDecode.minPartTokens = Math.max(1, tokens); }

    public static int oneTokenMinPart() { return OneTokenDecode.minPartTokens; }

    /** A/B switch for benchmarks: the one-token path's read-ahead of each task's K/V spans. */
    public static void setOneTokenReadAhead(boolean on) { OneTokenDecode.readAhead = on; }

    public static boolean oneTokenReadAhead() { return OneTokenDecode.readAhead; }

    /** A/B switch for benchmarks: bytes of one head's K (then V) the one-token path reads ahead at a time (0: whole spans before the arithmetic). */
    public static void setOneTokenBlockBytes(int bytes) { OneTokenDecode.blockBytes = bytes; }

    public static int oneTokenBlockBytes() { return OneTokenDecode.blockBytes; }

    /** A/B switch for benchmarks: the one-token path's paired bf16 kernels (default on 256-bit vectors; {@code OneTokenBf16}). */
    public static void setOneTokenPairs(boolean on) { OneTokenDecode.pairs = on; }

    public static boolean oneTokenPairs() { return OneTokenDecode.pairs; }

    /** Benchmarks: groups of 1-3 rows through the one-token path's narrow paired kernels (true) or the 4-row ones with padded rows. */
    public static void setOneTokenNarrow(boolean on) { OneTokenDecode.narrow = on; }

    public static boolean oneTokenNarrow() { return OneTokenDecode.narrow; }

    /** A/B switch for benchmarks: the one-token path's hybrid split (whole units per thread first, the rest by positions). */
    public static void setOneTokenHybrid(boolean on) { OneTokenDecode.hybrid = on; }

    public static boolean oneTokenHybrid() { return OneTokenDecode.hybrid; }

    /** JIT-compiles the one-token decode path on synthetic data (once per JVM; part of the CPU kernels' warm-up). */
    public static void warmUpDecode(Parallel par) { OneTokenDecode.warmUp(par); }

    /** Serial form of {@link #attend(ChunkPool, int, int[], int, int, int, float[], int, float[], int, Parallel)}. */
    public static void attend(ChunkPool pool, int layer, int[] chunks, int start, int n, int qHeads,
                              float[] q, int qOff, float[] out, int outOff) {
        attend(pool, layer, chunks, start, n, qHeads, q, qOff, out, outOff, Parallel.SERIAL);
    }

    /**
     * Token i (0 ≤ i &lt; n) at position start+i attends positions 0 .. start+i with scale 1/sqrt(headDim);
     * query head h reads KV head h / (qHeads / kvHeads).
     *
     * @param chunks the sequence's chunk table: chunk ids covering positions 0 .. start+n-1
     * @param start  position of the first new token
     * @param n      number of new tokens
     * @param q      queries (n, qHeads, headDim) at qOff
     * @param out    output (n, qHeads, headDim) at outOff
     * @param par    runs the (KV head, query block) tasks
     */
    public static void attend(ChunkPool pool, int layer, int[] chunks, int start, int n, int qHeads,
                              float[] q, int qOff, float[] out, int outOff, Parallel par) {
        attend(pool, layer, chunks, start, n, qHeads, q, qOff, out, outOff, par, Workspace.DEFAULT_WIDE_MIN_ROWS);
    }

    /** As above with the tile choice exposed for tests: rows ≥ wideMinRows use the rows-in-lanes tile. */
    static void attend(ChunkPool pool, int layer, int[] chunks, int start, int n, int qHeads,
                       float[] q, int qOff, float[] out, int outOff, Parallel par, int wideMinRows) {
        KvLayout lay = pool.layout();
        int kvHeads = lay.kvHeads();
        if (n < 1) return;
        if (qHeads % kvHeads != 0) throw new IllegalArgumentException("qHeads " + qHeads + " not a multiple of kvHeads " + kvHeads);
        int c = lay.chunkSize();
        if ((long) chunks.length * c < (long) start + n) {
            throw new IllegalArgumentException("chunk table of " + chunks.length + " chunks cannot hold " + (start + n) + " positions");
        }
        // one token of a GQA model: the batch-1 kernels (4 query rows a pass, narrower groups through 3-, 2- and 1-row
        // kernels). Multi-head models (g = 1) come here with bf16 K/V (the 1-row paired kernels, session 16); with fp32
        // the 4-row kernels would fill three rows with padding and the dims tile below measured faster (session 15)
        if (n == 1 && OneTokenDecode.enabled && OneTokenDecode.applies(lay)
                && (qHeads / kvHeads >= 2 || OneTokenDecode.singleRow(lay))) {
            OneTokenDecode.attend(pool, layer, chunks, start, qHeads, q, qOff, out, outOff, par);
            return;
        }
        if (n == 1 && SPLIT_DECODE && SplitDecode.applies(lay, qHeads, wideMinRows) && kvHeads % par.threads() != 0) {
            // the threads cannot share the KV heads evenly (SmolLM2: 3 heads on 2 threads): split by positions
            SplitDecode.attend(pool, layer, chunks, start, qHeads, q, qOff, out, outOff, par);
            return;
        }
        int g = qHeads / kvHeads;
        int tokensPerBlock = Math.max(1, BLOCK_ROWS / g);
        int qBlocks = (n + tokensPerBlock - 1) / tokensPerBlock;
        // later query blocks see more chunks: hand them out first so the tail of the run is short
        par.forRange(kvHeads * qBlocks, task -> {
            int qb = qBlocks - 1 - task / kvHeads, kvh = task % kvHeads;
            int i0 = qb * tokensPerBlock, i1 = Math.min(n, i0 + tokensPerBlock);
            block(pool, layer, chunks, start, i0, i1, qHeads, g, kvh, q, qOff, out, outOff, wideMinRows);
        });
    }

    /** Tokens i0..i1-1 of the new tokens, query heads of KV head kvh. */
    private static void block(ChunkPool pool, int layer, int[] chunks, int start, int i0, int i1, int qHeads, int g,
                              int kvh, float[] q, int qOff, float[] out, int outOff, int wideMinRows) {
        KvLayout lay = pool.layout();
        int hd = lay.headDim(), c = lay.chunkSize();
        float scale = (float) (VectorMath.LOG2E / Math.sqrt(hd));
        Workspace ws = Workspace.get();
        QueryTile[] tiles = ws.tiles(1, (i1 - i0) * g, lay, wideMinRows);
        QueryTile tile = tiles[0];
        for (int i = i0; i < i1; i++) {
            for (int j = 0; j < g; j++) {
                tile.setQuery((i - i0) * g + j, q, qOff + (i * qHeads + kvh * g + j) * hd, scale, start + i);
            }
        }
        int last = start + i1 - 1; // last position any row of the block attends
        ws.fold(tiles, kvh, kvh + 1, pool, layer, chunks, 0, last / c + 1, last % c + 1);
        for (int i = i0; i < i1; i++) {
            for (int j = 0; j < g; j++) {
                tile.finish((i - i0) * g + j, out, outOff + (i * qHeads + kvh * g + j) * hd);
            }
        }
    }
}
