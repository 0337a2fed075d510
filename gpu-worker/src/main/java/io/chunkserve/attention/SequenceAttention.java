package io.chunkserve.attention;

import io.chunkserve.kv.ChunkPool;
import io.chunkserve.kv.KvLayout;

import java.lang.foreign.MemorySegment;

/**
 * Causal attention of one sequence's new tokens over its chunked KV (cached prefix plus the new
 * tokens, whose K/V are already written into the pool). Used for prefill and, one token at a
 * time, for decode. Online softmax over chunks, fp32 accumulation.
 */
public final class SequenceAttention {
    private SequenceAttention() { }

    /**
     * @param chunks     the sequence's chunk table: chunk ids covering positions 0 .. start+n-1
     * @param start      position of the first new token
     * @param n          number of new tokens
     * @param q          queries (n, qHeads, headDim) at qOff
     * @param out        output (n, qHeads, headDim) at outOff
     */
    public static void attend(ChunkPool pool, int layer, int[] chunks, int start, int n, int qHeads,
                              float[] q, int qOff, float[] out, int outOff) {
        KvLayout lay = pool.layout();
        int hd = lay.headDim(), c = lay.chunkSize(), group = qHeads / lay.kvHeads();
        MemorySegment ks = pool.keys(layer), vs = pool.values(layer);
        float scale = (float) (1.0 / Math.sqrt(hd));
        float[] acc = new float[hd];
        for (int i = 0; i < n; i++) {
            int last = start + i; // attends positions 0..last
            for (int h = 0; h < qHeads; h++) {
                int kvh = h / group;
                int qo = qOff + (i * qHeads + h) * hd;
                float m = Float.NEGATIVE_INFINITY, l = 0;
                java.util.Arrays.fill(acc, 0);
                for (int p = 0; p <= last; p++) {
                    long base = lay.index(chunks[p / c], kvh, p % c);
                    float s = 0;
                    for (int d = 0; d < hd; d++) s += q[qo + d] * pool.load(ks, base + d);
                    s *= scale;
                    float mNew = Math.max(m, s);
                    float corr = (float) Math.exp(m - mNew), w = (float) Math.exp(s - mNew);
                    l = l * corr + w;
                    for (int d = 0; d < hd; d++) acc[d] = acc[d] * corr + w * pool.load(vs, base + d);
                    m = mNew;
                }
                int oo = outOff + (i * qHeads + h) * hd;
                for (int d = 0; d < hd; d++) out[oo + d] = acc[d] / l;
            }
        }
    }
}
