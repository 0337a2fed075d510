package io.chunkserve.attention;

import io.chunkserve.kv.ChunkPool;
import io.chunkserve.kv.KvLayout;
import io.chunkserve.model.DType;
import io.chunkserve.runtime.cpu.MemoryBandwidth;
import io.chunkserve.runtime.cpu.Parallel;

import java.lang.foreign.MemorySegment;
import java.util.function.IntConsumer;


/**
 * One decode token of one sequence, split by token ranges (flash-decoding): part p of P reads
 * positions [p·N/P, (p+1)·N/P) of the context for <em>every</em> KV head, keeping a partial
 * (max, sum, unnormalised output) per query row; the caller merges the P partials with the
 * log-sum-exp rule. Every thread gets the same share of the KV, however few KV heads there are
 * (a split by KV head leaves one of 2 threads with 2 of 3 heads). Each part walks its range
 * chunk by chunk with the heads inside (a chunk's heads are contiguous in the slab) and reads K
 * and V in place with the dims-in-lanes tile, which folds a GQA group's query rows together.
 *
 * <p>{@link SequenceAttention} uses it when the KV heads do not divide evenly over the threads
 * (SmolLM2: 3 on 2), for the narrow tile only (fewer than {@link Workspace#DEFAULT_WIDE_MIN_ROWS}
 * query rows per KV head) and fp32/bf16 slabs (f16 is widened by copy); other cases take the
 * per-head path (Llama-3.2-1B, 8 heads on 2 threads, measured no better split by positions).
 */
final class SplitDecode {
    /** Fewest positions worth a part of their own: below 2 parts' worth the whole context is one part. */
    static final int MIN_PART_TOKENS = Integer.getInteger("chunkserve.attention.minPartTokens", 32);

    private SplitDecode() { }

    /** True when {@link #attend} serves this shape: the dims-in-lanes tile (g &lt; wideMinRows) over an fp32 or bf16 slab. */
    static boolean applies(KvLayout lay, int qHeads, int wideMinRows) {
        return qHeads / lay.kvHeads() < wideMinRows && lay.dtype() != DType.F16;
    }

    /** How many parts a context of {@code len} positions is split into on {@code threads} threads. */
    static int parts(int len, int threads) {
        return Math.max(1, Math.min(threads, len / MIN_PART_TOKENS));
    }

    /**
     * The token at position {@code pos} attends positions 0 .. pos (scale 1/sqrt(headDim)).
     * q: (qHeads, headDim) at qOff; out: (qHeads, headDim) at outOff.
     */
    static void attend(ChunkPool pool, int layer, int[] chunks, int pos, int qHeads, float[] q, int qOff,
                       float[] out, int outOff, Parallel par) {
        Job job = Workspace.get().splitJob();
        int len = pos + 1, parts = parts(len, par.threads());
        job.set(pool, layer, chunks, len, qHeads, q, qOff, out, outOff, parts);
        try {
            if (parts == 1) {
                job.accept(0);
            } else {
                par.forRange(parts, job);
                job.merge();
            }
        } finally {
            job.clear();
        }
    }

    /** A reusable description of one split call; part p is task p. Lives in the caller's {@link Workspace}. */
    static final class Job implements IntConsumer {
        private ChunkPool pool;
        private int[] chunks;
        private float[] q, out;
        private int layer, len, qHeads, qOff, outOff, parts;
        private final PositionParts pp = new PositionParts();

        void set(ChunkPool pool, int layer, int[] chunks, int len, int qHeads, float[] q, int qOff, float[] out, int outOff, int parts) {
            this.pool = pool;
            this.layer = layer;
            this.chunks = chunks;
            this.len = len;
            this.qHeads = qHeads;
            this.q = q;
            this.qOff = qOff;
            this.out = out;
            this.outOff = outOff;
            this.parts = parts;
            pp.size(parts, qHeads, pool.layout().headDim());
        }

        void clear() {
            pool = null;
            chunks = null;
            q = out = null;
        }

        private int bound(int p) { return PositionParts.bound(p, parts, len); }

        @Override
        public void accept(int p) {
            KvLayout lay = pool.layout();
            int kvHeads = lay.kvHeads(), hd = lay.headDim(), c = lay.chunkSize(), g = qHeads / kvHeads;
            float scale = (float) (VectorMath.LOG2E / Math.sqrt(hd));
            Workspace ws = Workspace.get();
            QueryTile[] tiles = ws.tiles(kvHeads, g, lay, Integer.MAX_VALUE);
            for (int h = 0; h < kvHeads; h++) {
                for (int j = 0; j < g; j++) tiles[h].setQuery(j, q, qOff + (h * g + j) * hd, scale, Integer.MAX_VALUE);
            }
            MemorySegment ks = pool.keys(layer), vs = pool.values(layer);
            int kind = VectorMath.kind(lay.dtype());
            if (parts > 1) readAhead(ks, vs, lay, bound(p), bound(p + 1), ws);
            for (int t = bound(p), end = bound(p + 1); t < end; ) {
                int ci = t / c, s = t - ci * c, e = Math.min(end, (ci + 1) * c);
                for (int h = 0; h < kvHeads; h++) {
                    ((LaneDimsTile) tiles[h]).accumulateInPlace(ks, lay.keyIndex(chunks[ci], h, s, 0), c, vs, lay.index(chunks[ci], h, s), kind, e - t, t);
                }
                t = e;
            }
            for (int h = 0; h < kvHeads; h++) {
                for (int j = 0; j < g; j++) {
                    int row = h * g + j;
                    if (parts == 1) {
                        tiles[h].finish(j, out, outOff + row * hd);
                    } else {
                        int i = p * qHeads + row;
                        pp.m[i] = tiles[h].rowMax(j);
                        pp.l[i] = tiles[h].rowSum(j);
                        tiles[h].rowOutput(j, pp.o, i * hd);
                    }
                }
            }
        }

        /**
         * Reads the part's K and V spans (every byte, vector loads, each span as 4 interleaved streams)
         * before the arithmetic. The KV of a layer comes cold from DRAM (the weight stream evicted it):
         * loads with nothing to wait on keep more misses in flight than the fold, whose loads sit
         * between dependent arithmetic; the fold then reads L1/L2.
         */
        private void readAhead(MemorySegment ks, MemorySegment vs, KvLayout lay, int a, int b, Workspace ws) {
            int c = lay.chunkSize(), kvHeads = lay.kvHeads(), eb = lay.dtype().bytes(), hd = lay.headDim();
            long acc = 0;
            for (int t = a; t < b; ) {
                int ci = t / c, s = t - ci * c, e = Math.min(b, (ci + 1) * c);
                for (int h = 0; h < kvHeads; h++) {
                    long off = lay.index(chunks[ci], h, s) * eb, kOff = lay.keyIndex(chunks[ci], h, s, 0) * eb;
                    int len = (e - t) * hd * eb, kLen = ((hd - 1) * c + e - t) * eb; // K: dim-major, slots s .. e-1 of every dim row
                    acc += MemoryBandwidth.sum(ks, kOff, kLen) + MemoryBandwidth.sum(vs, off, len);
                }
                t = e;
            }
            ws.sink += acc;
        }

        /** out[row] = Σ_p 2^(m_p − M)·o_p / Σ_p 2^(m_p − M)·l_p with M = max_p m_p (scores in log2 units). */
        void merge() { pp.merge(parts, qHeads, pool.layout().headDim(), out, outOff); }
    }
}
