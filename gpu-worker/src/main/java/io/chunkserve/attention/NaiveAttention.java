package io.chunkserve.attention;

import io.chunkserve.kv.ChunkPool;
import io.chunkserve.kv.KvLayout;

import java.lang.foreign.MemorySegment;

/**
 * Reference attention in float64, for tests: materialises a sequence's K and V from its chunk
 * table (element by element through {@link ChunkPool#load}), then a plain softmax and weighted
 * sum per query row. Slow and obviously correct; not for production use.
 */
public final class NaiveAttention {
    private NaiveAttention() { }

    /**
     * Causal attention of n new tokens at positions start..start+n-1 (same contract as
     * {@link SequenceAttention#attend(ChunkPool, int, int[], int, int, int, float[], int, float[], int)}).
     *
     * @param q   queries (n, qHeads, headDim) at qOff
     * @param out output (n, qHeads, headDim) at outOff
     */
    public static void attend(ChunkPool pool, int layer, int[] chunks, int start, int n, int qHeads,
                              float[] q, int qOff, float[] out, int outOff) {
        KvLayout lay = pool.layout();
        int hd = lay.headDim(), g = qHeads / lay.kvHeads(), len = start + n;
        double[] k = materialise(pool, pool.keys(layer), true, chunks, len); // (len, kvHeads, hd)
        double[] v = materialise(pool, pool.values(layer), false, chunks, len); // (len, kvHeads, hd)
        double scale = 1.0 / Math.sqrt(hd);
        double[] w = new double[len];  // (len) softmax weights of one row
        for (int i = 0; i < n; i++) {
            int last = start + i;
            for (int h = 0; h < qHeads; h++) {
                int kvh = h / g, qo = qOff + (i * qHeads + h) * hd;
                double mx = Double.NEGATIVE_INFINITY;
                for (int p = 0; p <= last; p++) {
                    double s = 0;
                    int ko = (p * lay.kvHeads() + kvh) * hd;
                    for (int d = 0; d < hd; d++) s += (double) q[qo + d] * k[ko + d];
                    w[p] = s * scale;
                    mx = Math.max(mx, w[p]);
                }
                double sum = 0;
                for (int p = 0; p <= last; p++) { w[p] = Math.exp(w[p] - mx); sum += w[p]; }
                int oo = outOff + (i * qHeads + h) * hd;
                for (int d = 0; d < hd; d++) {
                    double acc = 0;
                    for (int p = 0; p <= last; p++) acc += w[p] * v[(p * lay.kvHeads() + kvh) * hd + d];
                    out[oo + d] = (float) (acc / sum);
                }
            }
        }
    }

    /**
     * Decode of a batch: sequence b (table tables[b], lengths[b] tokens) attends with its one
     * query at position lengths[b]-1 over all its tokens.
     *
     * @param q   queries (B, qHeads, headDim)
     * @param out output (B, qHeads, headDim)
     */
    public static void decode(ChunkPool pool, int layer, int[][] tables, int[] lengths, int qHeads, float[] q, float[] out) {
        int stride = qHeads * pool.layout().headDim();
        for (int b = 0; b < tables.length; b++) {
            attend(pool, layer, tables[b], lengths[b] - 1, 1, qHeads, q, b * stride, out, b * stride);
        }
    }

    /** (len, kvHeads, headDim) copy of a K (dim-major blocks) or V slab's positions 0..len-1 along the chunk table, in float64. */
    private static double[] materialise(ChunkPool pool, MemorySegment slab, boolean keys, int[] chunks, int len) {
        KvLayout lay = pool.layout();
        int hd = lay.headDim(), h = lay.kvHeads(), c = lay.chunkSize();
        double[] x = new double[len * h * hd];
        for (int p = 0; p < len; p++) {
            for (int kvh = 0; kvh < h; kvh++) {
                for (int d = 0; d < hd; d++) {
                    long i = keys ? lay.keyIndex(chunks[p / c], kvh, p % c, d) : lay.index(chunks[p / c], kvh, p % c) + d;
                    x[(p * h + kvh) * hd + d] = pool.load(slab, i);
                }
            }
        }
        return x;
    }
}
