package io.chunkserve.attention;

/**
 * Online-softmax attention state of a block of query rows that all read the same K/V chunks
 * (the g query heads of one KV head, times the sequences of a shared group or the tokens of a
 * prefill block). Per row: the running max m, the running sum l and the unnormalised output
 * o, all fp32. Scores are kept in log2 units (queries are pre-scaled by scale·log2 e) so the
 * kernels use a base-2 exponential; m and l exported by {@link #rowMax}/{@link #rowSum} are in
 * those units, and {@link #merge} expects the same.
 *
 * <p>Two implementations share this contract: {@link LaneRowsTile} is register-blocked
 * for many rows (best from about 5 rows upwards) and {@link LaneDimsTile} handles one to three
 * rows at a time (best for a few rows, memory-bound). Both put keys in lanes for the scores. A tile belongs to
 * one thread at a time; its buffers grow on demand and are reused.
 */
abstract sealed class QueryTile permits LaneRowsTile, LaneDimsTile {
    /** Rows in use and head dim, set by {@link #begin}. */
    int rows, dim;
    /** Smallest causal limit over the rows; chunks ending at or before it need no mask. */
    int minLimit;

    /** Resets to an empty state of {@code rows} rows of width {@code dim}: m = −∞, l = 0, o = 0. */
    abstract void begin(int rows, int dim, int maxTokens);

    /**
     * Sets row r's query (dim floats at q[off]) multiplied by {@code scale}, and its causal limit:
     * the last absolute position it may attend ({@link Integer#MAX_VALUE} for none).
     */
    abstract void setQuery(int r, float[] q, int off, float scale, int limit);

    /**
     * Folds one chunk into every row.
     *
     * @param kt   keys (dim, maxTokens) fp32, dim-major like a pool K block (the chunk's K of one
     *             KV head, widened: token t's dim d at kt[d·maxTokens + t]), plus V floats of slack
     *             (whole vectors of tokens are read)
     * @param vt   values (≥ tn, dim) fp32, row-major
     * @param tn   valid tokens of the chunk (1 ≤ tn ≤ maxTokens)
     * @param pos0 absolute position of the chunk's token 0 (for the causal limits)
     */
    abstract void accumulate(float[] kt, float[] vt, int tn, int pos0);

    /** Merges a saved partial (max m, sum l, unnormalised output o[oOff .. oOff+dim)) into row r. */
    abstract void merge(int r, float m, float l, float[] o, int oOff);

    /** Row r's running max (log2 units). */
    abstract float rowMax(int r);

    /** Row r's running sum of exponentials. */
    abstract float rowSum(int r);

    /** Copies row r's unnormalised output into dst[off .. off+dim). */
    abstract void rowOutput(int r, float[] dst, int off);

    /** Writes row r's attention output o / l into dst[off .. off+dim). */
    abstract void finish(int r, float[] dst, int off);

    // prefetch cursor (see prefetchDuring): lines of two streams still to request, a few per register block
    private long pfA, pfB;
    private int pfLeft, pfStep;

    /**
     * Asks the next accumulate call to request {@code lines} cache lines from each of the native
     * addresses a and b ({@link Prefetch}), {@code perStep} at each of its prefetch sites (between
     * register blocks), so that the next block's K/V arrive while this one is folded. Whatever is
     * left is requested at its end.
     */
    final void prefetchDuring(long a, long b, int lines, int perStep) {
        pfA = a;
        pfB = b;
        pfLeft = lines;
        pfStep = perStep;
    }

    /** One step of the prefetch cursor: called between register blocks, never inside one. */
    final void ahead() {
        int n = Math.min(pfStep, pfLeft);
        if (n > 0) {
            Prefetch.pair(pfA, pfB, n);
            pfA += (long) n * Prefetch.LINE;
            pfB += (long) n * Prefetch.LINE;
            pfLeft -= n;
        }
    }

    /** The rest of the cursor's lines, at the end of an accumulate call. */
    final void aheadRest() {
        if (pfLeft > 0) {
            Prefetch.pair(pfA, pfB, pfLeft);
            pfLeft = 0;
        }
    }

    static int roundUp(int x, int to) { return (x + to - 1) / to * to; }
}
