package io.chunkserve.runtime.cuda;

import io.chunkserve.model.DType;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

/**
 * A random decode batch over a random prefix tree, with host copies of one layer's K/V slabs and the queries
 * as 16-bit bits, for checking the CUDA kernels against {@link #reference} (float64). Slots that no sequence
 * covers (unused chunks, tail slots past a length) hold NaN, so a kernel that reads them fails loudly.
 *
 * @param tables  per sequence its chunk ids (ids are scattered over the pool)
 * @param lengths per sequence its tokens, the new one included
 * @param keys    (numChunks, kvHeads, chunkSize, headDim) K bits
 * @param values  (numChunks, kvHeads, chunkSize, headDim) V bits
 * @param q       (B, qHeads, headDim) query bits
 */
public record RandomBatch(DType dtype, int kvHeads, int qHeads, int headDim, int chunkSize, int numChunks,
                          int[][] tables, int[] lengths, short[] keys, short[] values, short[] q) {

    /** NaN bit pattern of the dtype. */
    public static short nan(DType t) { return t == DType.BF16 ? (short) 0x7fc0 : (short) 0x7e00; }

    public static short bits(DType t, float x) { return t == DType.BF16 ? DType.floatToBf16(x) : Float.floatToFloat16(x); }

    public static double value(DType t, short bits) { return t == DType.BF16 ? DType.bf16ToFloat(bits) : Float.float16ToFloat(bits); }

    /**
     * Sequences walk a random tree of full shared chunks (each step reuses an existing child or opens a new
     * one), then own 0–3 private full chunks and usually a partly filled tail; some end exactly on their shared
     * path (no private chunk at all).
     */
    public static RandomBatch generate(SplittableRandom rnd, DType dtype, int batch, int kvHeads, int groupSize, int headDim,
                                       int chunkSize, int maxDepth) {
        List<List<Integer>> children = new ArrayList<>();   // node → child node ids; node 0 is the root
        children.add(new ArrayList<>());
        List<int[]> paths = new ArrayList<>();
        int nodes = 1;
        int[] lens = new int[batch];
        int[][] privCounts = new int[batch][];
        for (int b = 0; b < batch; b++) {
            int depth = rnd.nextInt(maxDepth + 1);
            int[] path = new int[depth];
            int node = 0;
            for (int i = 0; i < depth; i++) {
                List<Integer> ch = children.get(node);
                int next;
                if (!ch.isEmpty() && rnd.nextInt(100) < 75) {
                    next = ch.get(rnd.nextInt(ch.size()));
                } else {
                    next = nodes++;
                    children.add(new ArrayList<>());
                    ch.add(next);
                }
                path[i] = next;
                node = next;
            }
            paths.add(path);
            boolean endsOnPath = depth > 0 && rnd.nextInt(100) < 15;
            int priv = endsOnPath ? 0 : rnd.nextInt(4);
            int tail = endsOnPath ? 0 : 1 + rnd.nextInt(chunkSize);   // tokens in the last private chunk
            privCounts[b] = new int[] {priv, tail};
            lens[b] = (depth + priv) * chunkSize + tail;
        }
        int privTotal = 0;
        for (int[] pc : privCounts) privTotal += pc[0] + (pc[1] > 0 ? 1 : 0);
        int used = (nodes - 1) + privTotal;
        int numChunks = used + 1 + rnd.nextInt(used + 2);        // spare chunks stay NaN
        int[] perm = IntStream.range(0, numChunks).toArray();
        for (int i = numChunks - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1), t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        int next = 0;
        int[] nodeChunk = new int[nodes];
        for (int n = 1; n < nodes; n++) nodeChunk[n] = perm[next++];
        int[][] tables = new int[batch][];
        for (int b = 0; b < batch; b++) {
            int[] path = paths.get(b);
            int priv = privCounts[b][0], tail = privCounts[b][1];
            int[] t = new int[path.length + priv + (tail > 0 ? 1 : 0)];
            for (int i = 0; i < path.length; i++) t[i] = nodeChunk[path[i]];
            for (int i = path.length; i < t.length; i++) t[i] = perm[next++];
            tables[b] = t;
        }
        int qHeads = kvHeads * groupSize;
        long slab = (long) numChunks * kvHeads * chunkSize * headDim;
        short[] k = new short[Math.toIntExact(slab)], v = new short[k.length];
        short nan = nan(dtype);
        java.util.Arrays.fill(k, nan);
        java.util.Arrays.fill(v, nan);
        for (int b = 0; b < batch; b++) {
            for (int p = 0; p < lens[b]; p++) {
                int chunk = tables[b][p / chunkSize], slot = p % chunkSize;
                for (int h = 0; h < kvHeads; h++) {
                    int base = ((chunk * kvHeads + h) * chunkSize + slot) * headDim;
                    if (!Double.isNaN(value(dtype, k[base]))) continue;   // shared chunk already written
                    for (int d = 0; d < headDim; d++) {
                        k[base + d] = bits(dtype, (float) (rnd.nextDouble() * 2 - 1));
                        v[base + d] = bits(dtype, (float) (rnd.nextDouble() * 2 - 1));
                    }
                }
            }
        }
        // queries with a random scale per case: peaky and flat softmaxes both get tested
        double scale = 0.5 + rnd.nextDouble() * 7.5;
        short[] q = new short[batch * qHeads * headDim];
        for (int i = 0; i < q.length; i++) q[i] = bits(dtype, (float) ((rnd.nextDouble() * 2 - 1) * scale));
        return new RandomBatch(dtype, kvHeads, qHeads, headDim, chunkSize, numChunks, tables, lens, k, v, q);
    }

    /** Writes one new token's K/V (kvHeads × headDim each) for sequence b at position lengths[b] (the host copy). */
    public void appendHost(int b, short[] kNew, short[] vNew, int offset) {
        int p = lengths[b], chunk = tables[b][p / chunkSize], slot = p % chunkSize;
        for (int h = 0; h < kvHeads; h++) {
            int base = ((chunk * kvHeads + h) * chunkSize + slot) * headDim;
            System.arraycopy(kNew, offset + h * headDim, keys, base, headDim);
            System.arraycopy(vNew, offset + h * headDim, values, base, headDim);
        }
        lengths[b] = p + 1;
    }

    /** Float64 decode attention: (B, qHeads, headDim), sequence b's query over its positions 0 .. lengths[b]−1. */
    public double[] reference() {
        int batch = tables.length, g = qHeads / kvHeads;
        double[] out = new double[batch * qHeads * headDim];
        double scale = 1.0 / Math.sqrt(headDim);
        IntStream.range(0, batch * qHeads).parallel().forEach(bh -> {
            int b = bh / qHeads, h = bh % qHeads, kvh = h / g, len = lengths[b];
            double[] qd = new double[headDim];
            for (int d = 0; d < headDim; d++) qd[d] = value(dtype, q[bh * headDim + d]);
            double[] w = new double[len];
            double mx = Double.NEGATIVE_INFINITY;
            for (int p = 0; p < len; p++) {
                int base = ((tables[b][p / chunkSize] * kvHeads + kvh) * chunkSize + p % chunkSize) * headDim;
                double s = 0;
                for (int d = 0; d < headDim; d++) s += qd[d] * value(dtype, keys[base + d]);
                w[p] = s * scale;
                mx = Math.max(mx, w[p]);
            }
            double sum = 0;
            for (int p = 0; p < len; p++) { w[p] = Math.exp(w[p] - mx); sum += w[p]; }
            double[] acc = new double[headDim];
            for (int p = 0; p < len; p++) {
                int base = ((tables[b][p / chunkSize] * kvHeads + kvh) * chunkSize + p % chunkSize) * headDim;
                for (int d = 0; d < headDim; d++) acc[d] += w[p] * value(dtype, values[base + d]);
            }
            for (int d = 0; d < headDim; d++) out[bh * headDim + d] = acc[d] / sum;
        });
        return out;
    }

    /** ‖out − ref‖₂ / ‖ref‖₂ over all elements; +∞ when any output is NaN or infinite. */
    public static double relativeError(DType dtype, short[] out, double[] ref) {
        double num = 0, den = 0;
        for (int i = 0; i < ref.length; i++) {
            double o = value(dtype, out[i]);
            if (!Double.isFinite(o)) return Double.POSITIVE_INFINITY;
            num += (o - ref[i]) * (o - ref[i]);
            den += ref[i] * ref[i];
        }
        return Math.sqrt(num / den);
    }
}
