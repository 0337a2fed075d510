package io.chunkserve.attention;

import io.chunkserve.kv.ChunkPool;
import io.chunkserve.kv.KvLayout;
import io.chunkserve.runtime.cpu.Parallel;

import java.util.Arrays;

/**
 * Decode attention of a batch over a prefix-shared chunked KV cache, with ChunkAttention's
 * two-phase partition (see {@link TwoPhasePlan}):
 * <ol>
 * <li><b>Chunk-first:</b> one task per (KV head, piece of a shared group). Its rows are every
 * query of the group — |sequences| × g (the g = qHeads/kvHeads query heads of the KV head are
 * extra rows) — and it streams the piece's chunks once, each K/V element feeding all rows, so the
 * shared KV is read once per batch step. It leaves a partial (o, m, l) per row in fp32 scratch.
 * Long groups are cut into pieces so that there are enough tasks to fill the threads.</li>
 * <li><b>Sequence-first:</b> one task per (sequence, KV head): merge the partials of the
 * sequence's groups with the log-sum-exp rule, stream its private chunks with online softmax
 * (the tail chunk up to the sequence's length), and write out = O / N.</li>
 * </ol>
 * The scratch, schedule and per-thread tiles are reused across calls; a call allocates only
 * when the plan's structure, the head count or the head dim changes. One instance per engine
 * (not for concurrent decode calls).
 */
public final class TwoPhaseAttention {
    /** Chunk-first tasks wanted per thread, so uneven pieces still even out across threads. */
    private static final int TASKS_PER_THREAD = 4;

    private final int threads;
    private final int wideMinRows;

    // schedule: derived from (plan version, qHeads, kvHeads, headDim), rebuilt when one changes
    private long schedVersion = -1;
    private int schedQHeads = -1, schedKvHeads = -1, schedDim = -1;
    private int pieces;
    private int[] pieceGroup = new int[0];   // (pieces) group of each piece
    private int[] pieceFrom = new int[0];    // (pieces) first chunk of the piece, an index into plan.groupChunks
    private int[] pieceTo = new int[0];      // (pieces) end (exclusive) of the piece
    private int[] pieceBase = new int[0];    // (pieces) partial row of (piece, KV head 0, row 0); KV head h adds h·rows
    private int[] seqPartStart = new int[0]; // (B+1) sequence b's partials are seqPart*[seqPartStart[b] ..)
    private int[] seqPartBase = new int[0];  // (Σ) partial row of (piece, KV head 0, the sequence's first head)
    private int[] seqPartStride = new int[0];// (Σ) rows of that piece per KV head (|sequences|·g)
    private float[] partO = new float[0];    // (partial rows, headDim) unnormalised outputs
    private float[] partM = new float[0];    // (partial rows) row max, log2 units
    private float[] partL = new float[0];    // (partial rows) row sum

    /** @param threads threads of the {@link Parallel} that will run it; long shared groups are split to keep them busy */
    public TwoPhaseAttention(int threads) {
        this(threads, Workspace.DEFAULT_WIDE_MIN_ROWS);
    }

    /** As above; tests force one tile kind with wideMinRows = 1 (always rows-in-lanes) or MAX_VALUE (never). */
    TwoPhaseAttention(int threads, int wideMinRows) {
        this.threads = Math.max(1, threads);
        this.wideMinRows = wideMinRows;
    }

    /**
     * One decode step of one layer: sequence b's query at position plan.length(b)−1 attends its
     * positions 0 .. length−1 (scale 1/sqrt(headDim); query head h reads KV head h/g).
     *
     * @param layer  layer whose K/V slabs are read
     * @param plan   the batch's plan (its lengths are those of this step)
     * @param qHeads query heads (a multiple of the pool's KV heads)
     * @param q      queries (B, qHeads, headDim)
     * @param out    outputs (B, qHeads, headDim), fully overwritten
     * @param par    runs the tasks of each phase
     */
    public void decode(ChunkPool pool, int layer, TwoPhasePlan plan, int qHeads, float[] q, float[] out, Parallel par) {
        KvLayout lay = pool.layout();
        int kvHeads = lay.kvHeads(), hd = lay.headDim(), batch = plan.batchSize();
        if (qHeads % kvHeads != 0) throw new IllegalArgumentException("qHeads " + qHeads + " not a multiple of kvHeads " + kvHeads);
        if (plan.chunkSize() != lay.chunkSize()) throw new IllegalArgumentException("plan chunk size " + plan.chunkSize() + " != pool's " + lay.chunkSize());
        long need = (long) batch * qHeads * hd;
        if (q.length < need || out.length < need) throw new IllegalArgumentException("q/out need (" + batch + ", " + qHeads + ", " + hd + ")");
        if (plan.version() != schedVersion || qHeads != schedQHeads || kvHeads != schedKvHeads || hd != schedDim) {
            schedule(plan, qHeads, kvHeads, hd);
        }
        int g = qHeads / kvHeads;
        if (pieces > 0) par.forRange(pieces * kvHeads, task -> chunkFirst(pool, layer, plan, task / kvHeads, task % kvHeads, qHeads, g, q));
        par.forRange(batch * kvHeads, task -> sequenceFirst(pool, layer, plan, task / kvHeads, task % kvHeads, qHeads, g, q, out));
    }

    /** Piece p of a shared group, KV head h: all rows of the group over the piece's chunks → partials. */
    private void chunkFirst(ChunkPool pool, int layer, TwoPhasePlan plan, int p, int h, int qHeads, int g, float[] q) {
        KvLayout lay = pool.layout();
        int hd = lay.headDim(), grp = pieceGroup[p];
        int s0 = plan.groupSeqStart[grp], nSeq = plan.groupSeqStart[grp + 1] - s0, rows = nSeq * g;
        float scale = (float) (VectorMath.LOG2E / Math.sqrt(hd));
        Workspace ws = Workspace.get();
        QueryTile tile = ws.tile(rows, lay, wideMinRows);
        for (int k = 0; k < nSeq; k++) {
            int b = plan.groupSeqs[s0 + k];
            for (int j = 0; j < g; j++) tile.setQuery(k * g + j, q, (b * qHeads + h * g + j) * hd, scale, Integer.MAX_VALUE);
        }
        int c = lay.chunkSize();
        for (int i = pieceFrom[p]; i < pieceTo[p]; i++) {
            ws.accumulate(tile, pool, layer, plan.groupChunks[i], h, c, 0); // full chunks, no causal limit
        }
        int base = pieceBase[p] + h * rows;
        for (int r = 0; r < rows; r++) {
            partM[base + r] = tile.rowMax(r);
            partL[base + r] = tile.rowSum(r);
            tile.rowOutput(r, partO, (base + r) * hd);
        }
    }

    /** Sequence b, KV head h: merge its groups' partials, stream its private chunks, write the output. */
    private void sequenceFirst(ChunkPool pool, int layer, TwoPhasePlan plan, int b, int h, int qHeads, int g, float[] q, float[] out) {
        KvLayout lay = pool.layout();
        int hd = lay.headDim(), c = lay.chunkSize();
        float scale = (float) (VectorMath.LOG2E / Math.sqrt(hd));
        Workspace ws = Workspace.get();
        QueryTile tile = ws.tile(g, lay, wideMinRows);
        int qo = (b * qHeads + h * g) * hd;
        for (int j = 0; j < g; j++) tile.setQuery(j, q, qo + j * hd, scale, Integer.MAX_VALUE);
        for (int e = seqPartStart[b]; e < seqPartStart[b + 1]; e++) {
            int base = seqPartBase[e] + h * seqPartStride[e];
            for (int j = 0; j < g; j++) tile.merge(j, partM[base + j], partL[base + j], partO, (base + j) * hd);
        }
        for (int e = plan.privStart[b]; e < plan.privStart[b + 1]; e++) {
            int idx = plan.privIndex[e];
            ws.accumulate(tile, pool, layer, plan.privChunks[e], h, plan.validTokens(b, idx), idx * c);
        }
        for (int j = 0; j < g; j++) tile.finish(j, out, qo + j * hd);
    }

    /** Cuts groups into pieces, lays out the partial scratch and each sequence's partial list. */
    private void schedule(TwoPhasePlan plan, int qHeads, int kvHeads, int hd) {
        int g = qHeads / kvHeads, groups = plan.groupCount(), batch = plan.batchSize();
        int shared = plan.sharedChunkCount();
        int wantPieces = Math.max(1, (TASKS_PER_THREAD * threads + kvHeads - 1) / kvHeads);
        int maxLen = Math.max(1, (shared + wantPieces - 1) / wantPieces);
        int np = 0;
        for (int gr = 0; gr < groups; gr++) {
            int len = plan.groupChunkStart[gr + 1] - plan.groupChunkStart[gr];
            np += (len + maxLen - 1) / maxLen;
        }
        pieceGroup = new int[np];
        pieceFrom = new int[np];
        pieceTo = new int[np];
        pieceBase = new int[np];
        int[] groupPiece0 = new int[groups + 1];
        long rowsTotal = 0;
        int p = 0;
        for (int gr = 0; gr < groups; gr++) {
            groupPiece0[gr] = p;
            int from = plan.groupChunkStart[gr], len = plan.groupChunkStart[gr + 1] - from;
            int k = (len + maxLen - 1) / maxLen, rows = (plan.groupSeqStart[gr + 1] - plan.groupSeqStart[gr]) * g;
            for (int i = 0; i < k; i++, p++) {  // k near-equal pieces
                pieceGroup[p] = gr;
                pieceFrom[p] = from + (int) ((long) len * i / k);
                pieceTo[p] = from + (int) ((long) len * (i + 1) / k);
                pieceBase[p] = (int) rowsTotal;
                rowsTotal += (long) rows * kvHeads;
            }
        }
        groupPiece0[groups] = p;
        if (rowsTotal * hd > Integer.MAX_VALUE - 8) throw new IllegalStateException("partial scratch too large: " + rowsTotal + " rows");
        pieces = np;
        int rowsI = (int) rowsTotal;
        if (partM.length < rowsI) { partM = new float[rowsI]; partL = new float[rowsI]; }
        if (partO.length < rowsI * hd) partO = new float[rowsI * hd];
        // every sequence: one partial per piece of each of its groups
        seqPartStart = new int[batch + 1];
        for (int b = 0; b < batch; b++) {
            int cnt = 0;
            for (int e = plan.seqGroupStart[b]; e < plan.seqGroupStart[b + 1]; e++) {
                int gr = plan.seqGroups[e];
                cnt += groupPiece0[gr + 1] - groupPiece0[gr];
            }
            seqPartStart[b + 1] = seqPartStart[b] + cnt;
        }
        seqPartBase = new int[seqPartStart[batch]];
        seqPartStride = new int[seqPartStart[batch]];
        for (int b = 0; b < batch; b++) {
            int w = seqPartStart[b];
            for (int e = plan.seqGroupStart[b]; e < plan.seqGroupStart[b + 1]; e++) {
                int gr = plan.seqGroups[e], row = plan.seqGroupRow[e];
                int rows = (plan.groupSeqStart[gr + 1] - plan.groupSeqStart[gr]) * g;
                for (int pc = groupPiece0[gr]; pc < groupPiece0[gr + 1]; pc++, w++) {
                    seqPartBase[w] = pieceBase[pc] + row * g;
                    seqPartStride[w] = rows;
                }
            }
        }
        Arrays.fill(partM, 0, rowsI, Float.NaN); // a partial read before it is written shows up as NaN
        schedVersion = plan.version();
        schedQHeads = qHeads;
        schedKvHeads = kvHeads;
        schedDim = hd;
    }

    /** Chunk-first tasks of the current schedule (for benchmarks and tests). */
    int chunkFirstTasks() { return pieces * Math.max(0, schedKvHeads); }
}
