package io.chunkserve.attention;

import io.chunkserve.kv.ChunkPool;
import io.chunkserve.kv.KvLayout;
import io.chunkserve.runtime.cpu.Parallel;

import java.util.function.IntConsumer;

/**
 * Decode attention of a batch over a prefix-shared chunked KV cache, with ChunkAttention's
 * two-phase partition (see {@link TwoPhasePlan}):
 * <ul>
 * <li><b>Chunk-first</b> (per piece of a shared group, a range of KV heads): the rows of a KV head
 * are every query of the group — |sequences| × g (the g = qHeads/kvHeads query heads of the KV
 * head are extra rows) — and the task streams the piece's chunks once, each K/V element feeding
 * all rows, so the shared KV is read once per batch step. It leaves a partial (o, m, l) per row
 * in fp32 scratch. Long groups are cut into pieces so that there are enough tasks for the threads.</li>
 * <li><b>Sequence-first</b> (per sequence, a range of KV heads): stream the sequence's private
 * chunks with online softmax (the tail chunk up to the sequence's length), then merge the
 * partials of its groups with the log-sum-exp rule (M' = max(m, M); O = e^{m−M'}·o + e^{M−M'}·O;
 * N likewise) and write out = O / N.</li>
 * </ul>
 * <p>Two choices differ from a GPU kernel's, both measured on a 2-core AVX-512 machine. A task
 * covers a range of KV heads and walks chunk by chunk, heads inside, because a chunk's heads are
 * contiguous in the slab: the reads become long sequential streams the hardware prefetcher
 * follows, instead of 16 KB (chunk, head) islands. And the private streaming does not wait for the
 * chunk-first phase: both kinds of task run in one parallel pass, leaving each sequence's private
 * partial in {@code out} and its (m, l) in scratch; a short second pass merges the group partials
 * and normalises. The merge is commutative, so the order does not matter. The pass lists the long
 * chunk-first pieces (one per thread) first and the many short private tasks after them, so that
 * the private tasks, claimed dynamically, even out the threads at the end of the pass (the two
 * vCPUs of the bench machine often run at different speeds).
 *
 * <p>Scratch, schedule and per-thread tiles are reused across calls; a call allocates only when
 * the plan's structure, the head counts or the head dim change. One instance per engine (not for
 * concurrent decode calls).
 */
public final class TwoPhaseAttention {
    /** Private tasks wanted per thread, so uneven tasks still even out across threads. */
    private static final int TASKS_PER_THREAD = 4;
    /**
     * Chunk-first pieces wanted per thread. Fewer, longer pieces than private tasks: each piece
     * costs a cold first block, its query setup and partial rows, and one more partial per row to
     * merge; the many short private tasks even out the threads around them. Session 6, in one
     * process (scratch harness, keys-in-lanes tiles): 2 instead of 4 took the default bench point
     * from 9.9 to 9.1 ms per 16-layer call; session 7: 1 with the pieces listed first
     * ({@link #SHARED_FIRST}) beat 2 interleaved at every shape measured (BENCHMARKS.md).
     * {@code -Dchunkserve.attention.sharedTasksPerThread} overrides it (A/B runs; read when a
     * schedule is built).
     */
    static int SHARED_TASKS_PER_THREAD = Math.max(1, Integer.getInteger("chunkserve.attention.sharedTasksPerThread", 1));
    /**
     * Task order of the first pass: chunk-first pieces first, then the private tasks (true), or
     * the pieces spread evenly among the private tasks (false: sessions 3–6). Both are claimed
     * dynamically; results do not depend on the order (every task writes its own partial).
     * {@code -Dchunkserve.attention.sharedFirst=false} for A/B runs; read when a schedule is built.
     */
    static boolean SHARED_FIRST = Boolean.parseBoolean(System.getProperty("chunkserve.attention.sharedFirst", "true"));

    private final int threads;
    private final int wideMinRows;

    // schedule: derived from (plan version, qHeads, kvHeads, headDim), rebuilt when one changes
    private long schedVersion = -1;
    private int schedQHeads = -1, schedKvHeads = -1, schedDim = -1;
    private int pieces, pieceHeadSpan, privHeadSpan, tasks;
    private int[] pieceGroup = new int[0];   // (pieces) group of each piece
    private int[] pieceFrom = new int[0];    // (pieces) first chunk of the piece, an index into plan.groupChunks
    private int[] pieceTo = new int[0];      // (pieces) end (exclusive) of the piece
    private int[] pieceBase = new int[0];    // (pieces) partial row of (piece, KV head 0, row 0); KV head h adds h·rows
    private int[] taskCode = new int[0];     // (tasks) ≥ 0: piece·heads-splits + split; < 0: −1 − (sequence·splits + split)
    private int[] seqPartStart = new int[0]; // (B+1) sequence b's partials are seqPart*[seqPartStart[b] ..)
    private int[] seqPartBase = new int[0];  // (Σ) partial row of (piece, KV head 0, the sequence's first head)
    private int[] seqPartStride = new int[0];// (Σ) rows of that piece per KV head (|sequences|·g)
    private float[] partO = new float[0];    // (partial rows, headDim) unnormalised outputs of the chunk-first tasks
    private float[] partM = new float[0];    // (partial rows) row max, log2 units
    private float[] partL = new float[0];    // (partial rows) row sum
    private float[] privM = new float[0];    // (B, qHeads) max of each query over its private chunks, log2 units
    private float[] privL = new float[0];    // (B, qHeads) sum over its private chunks

    // the arguments of the decode call in progress, read by the tasks (no capturing lambda per call)
    private ChunkPool callPool;
    private int callLayer;
    private TwoPhasePlan callPlan;
    private float[] callQ, callOut;
    private final IntConsumer firstPass = this::firstPassTask, mergePass = this::mergeAndFinish;

    /** @param threads threads of the {@link Parallel} that will run it; work is split to keep them busy */
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
     * @param par    runs the tasks of each pass; like any executor it must order the caller's writes
     *               before its tasks and their writes before its return
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
        callPool = pool;
        callLayer = layer;
        callPlan = plan;
        callQ = q;
        callOut = out;
        try {
            par.forRange(tasks, firstPass);
            par.forRange(batch, mergePass);
        } finally {
            callPool = null;
            callPlan = null;
            callQ = null;
            callOut = null;
        }
    }

    /** Task t of the first pass: a chunk-first piece or a sequence's private chunks, over a range of KV heads. */
    private void firstPassTask(int t) {
        int kvHeads = schedKvHeads, qHeads = schedQHeads, g = qHeads / kvHeads, code = taskCode[t];
        if (code >= 0) {
            int p = code / splits(kvHeads, pieceHeadSpan), h0 = code % splits(kvHeads, pieceHeadSpan) * pieceHeadSpan;
            chunkFirst(callPool, callLayer, callPlan, p, h0, Math.min(kvHeads, h0 + pieceHeadSpan), qHeads, g, callQ);
        } else {
            int c = -1 - code, b = c / splits(kvHeads, privHeadSpan), h0 = c % splits(kvHeads, privHeadSpan) * privHeadSpan;
            privateFirst(callPool, callLayer, callPlan, b, h0, Math.min(kvHeads, h0 + privHeadSpan), qHeads, g, callQ, callOut);
        }
    }

    /**
     * The private phase of a GQA group (g ≥ 2 query heads a KV head) through {@link OneTokenDecode#partial}, the batch-1
     * kernels (4 rows a pass, 4 token vectors; bf16 read as pairs of ints), for fp32 and bf16 K/V with 8-lane vectors;
     * the dims tile (1–4 rows) reads bf16 through a cross-lane widening and half-row passes. Session 15, in one process
     * ({@code bench attention --ab onetoken=false}, B = 16, 512 private tokens each): g = 4 bf16 1.74×, fp32 1.65×;
     * g = 3 1.21× / 1.31×; g = 2 fp32 1.19×; with a 2048-token shared prefix 1.04–1.10×. At g = 1 its 4-row passes would
     * waste three rows (0.91× at bf16): the dims tile stays.
     */
    static volatile boolean ONE_TOKEN_PRIVATE = !Boolean.getBoolean("chunkserve.attention.noOneTokenPrivate");

    private static boolean oneTokenPrivate(KvLayout lay) {
        return ONE_TOKEN_PRIVATE && VectorMath.V == 8 && OneTokenDecode.applies(lay); // fp32 or bf16, head dim a multiple of 32
    }

    private static int splits(int heads, int span) { return (heads + span - 1) / span; }

    /** Piece p of a shared group, KV heads h0..h1-1: all rows of the group over the piece's chunks → partials. */
    private void chunkFirst(ChunkPool pool, int layer, TwoPhasePlan plan, int p, int h0, int h1, int qHeads, int g, float[] q) {
        KvLayout lay = pool.layout();
        int hd = lay.headDim(), grp = pieceGroup[p];
        int s0 = plan.groupSeqStart[grp], nSeq = plan.groupSeqStart[grp + 1] - s0, rows = nSeq * g;
        float scale = (float) (VectorMath.LOG2E / Math.sqrt(hd));
        Workspace.warm(pool, layer, plan.groupChunks[pieceFrom[p]], h0, lay.chunkSize());
        Workspace ws = Workspace.get();
        QueryTile[] tiles = ws.tiles(h1 - h0, rows, lay, wideMinRows);
        for (int h = h0; h < h1; h++) {
            for (int k = 0; k < nSeq; k++) {
                int b = plan.groupSeqs[s0 + k];
                for (int j = 0; j < g; j++) tiles[h - h0].setQuery(k * g + j, q, (b * qHeads + h * g + j) * hd, scale, Integer.MAX_VALUE);
            }
        }
        ws.fold(tiles, h0, h1, pool, layer, plan.groupChunks, pieceFrom[p], pieceTo[p], lay.chunkSize()); // full chunks
        for (int h = h0; h < h1; h++) {
            QueryTile tile = tiles[h - h0];
            int base = pieceBase[p] + h * rows;
            for (int r = 0; r < rows; r++) {
                partM[base + r] = tile.rowMax(r);
                partL[base + r] = tile.rowSum(r);
                tile.rowOutput(r, partO, (base + r) * hd);
            }
        }
    }

    /** Sequence b, KV heads h0..h1-1: its private chunks → unnormalised output in out, (m, l) in privM/privL. */
    private void privateFirst(ChunkPool pool, int layer, TwoPhasePlan plan, int b, int h0, int h1, int qHeads, int g,
                              float[] q, float[] out) {
        KvLayout lay = pool.layout();
        int hd = lay.headDim();
        float scale = (float) (VectorMath.LOG2E / Math.sqrt(hd));
        int e0 = plan.privStart[b], e1 = plan.privStart[b + 1];
        // a GQA group over a run of consecutive private chunks (always, in a prefix tree): the batch-1 kernels
        boolean run = e1 > e0 && plan.privIndex[e1 - 1] - plan.privIndex[e0] == e1 - e0 - 1;
        if (run && g >= 2 && oneTokenPrivate(lay)) {
            int len = (e1 - e0 - 1) * lay.chunkSize() + plan.validTokens(b, plan.privIndex[e1 - 1]);
            OneTokenDecode.partial(pool, layer, plan.privChunks, e0, len, qHeads, h0, h1, q, b * qHeads * hd, out, privM, privL, b * qHeads);
            return;
        }
        if (e1 > e0) Workspace.warm(pool, layer, plan.privChunks[e0], h0, e1 - e0 == 1 ? plan.validTokens(b, plan.privIndex[e0]) : lay.chunkSize());
        Workspace ws = Workspace.get();
        QueryTile[] tiles = ws.tiles(h1 - h0, g, lay, wideMinRows);
        for (int h = h0; h < h1; h++) {
            for (int j = 0; j < g; j++) tiles[h - h0].setQuery(j, q, (b * qHeads + h * g + j) * hd, scale, Integer.MAX_VALUE);
        }
        if (e1 > e0) { // only the last private chunk can be partly filled; no causal limits in decode
            ws.fold(tiles, h0, h1, pool, layer, plan.privChunks, e0, e1, plan.validTokens(b, plan.privIndex[e1 - 1]));
        }
        for (int h = h0; h < h1; h++) {
            for (int j = 0; j < g; j++) {
                int row = b * qHeads + h * g + j;
                privM[row] = tiles[h - h0].rowMax(j);
                privL[row] = tiles[h - h0].rowSum(j);
                tiles[h - h0].rowOutput(j, out, row * hd);
            }
        }
    }

    /** Sequence b, every query head: fold in its group partials (log-sum-exp rule), then out = O / N. */
    private void mergeAndFinish(int b) {
        int qHeads = schedQHeads, hd = schedDim, g = qHeads / schedKvHeads;
        float[] out = callOut;
        for (int qh = 0; qh < qHeads; qh++) {
            int row = b * qHeads + qh, h = qh / g, j = qh % g, o = row * hd;
            float m = privM[row], l = privL[row];
            for (int e = seqPartStart[b]; e < seqPartStart[b + 1]; e++) {
                int pr = seqPartBase[e] + h * seqPartStride[e] + j;
                float pm = partM[pr], mNew = Math.max(m, pm);
                float x = VectorMath.exp2(pm - mNew), y = VectorMath.exp2(m - mNew); // m = −∞ (no private chunk) gives y = 0
                VectorMath.axpby(x, partO, pr * hd, y, out, o, hd);
                l = x * partL[pr] + y * l;
                m = mNew;
            }
            VectorMath.scale(1f / l, out, o, hd);
        }
    }

    /** Cuts groups into pieces, lays out the partial scratch, each sequence's partial list, and the task order. */
    private void schedule(TwoPhasePlan plan, int qHeads, int kvHeads, int hd) {
        int g = qHeads / kvHeads, groups = plan.groupCount(), batch = plan.batchSize();
        int want = TASKS_PER_THREAD * threads, wantShared = SHARED_TASKS_PER_THREAD * threads;
        int shared = plan.sharedChunkCount();
        int maxLen = Math.max(1, (shared + wantShared - 1) / wantShared);
        int np = 0;
        for (int gr = 0; gr < groups; gr++) np += ceilDiv(plan.groupChunkStart[gr + 1] - plan.groupChunkStart[gr], maxLen);
        // few shared chunks: split the KV heads too; likewise for sequences when the batch is small
        pieceHeadSpan = np == 0 ? kvHeads : ceilDiv(kvHeads, Math.min(kvHeads, Math.max(1, ceilDiv(wantShared, np))));
        privHeadSpan = ceilDiv(kvHeads, Math.min(kvHeads, Math.max(1, ceilDiv(want, batch))));
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
            int k = ceilDiv(len, maxLen), rows = (plan.groupSeqStart[gr + 1] - plan.groupSeqStart[gr]) * g;
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
        if (privM.length < batch * qHeads) { privM = new float[batch * qHeads]; privL = new float[batch * qHeads]; }
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
        orderTasks(np * splits(kvHeads, pieceHeadSpan), batch * splits(kvHeads, privHeadSpan));
        schedVersion = plan.version();
        schedQHeads = qHeads;
        schedKvHeads = kvHeads;
        schedDim = hd;
    }

    /**
     * The first pass's task list: the chunk-first pieces, then the private tasks
     * ({@link #SHARED_FIRST}); or the pieces interleaved evenly among the private tasks.
     */
    private void orderTasks(int nShared, int nPrivate) {
        tasks = nShared + nPrivate;
        taskCode = new int[tasks];
        boolean sharedFirst = SHARED_FIRST;
        int s = 0, pr = 0;
        for (int t = 0; t < tasks; t++) {
            // interleaved: take a shared task while the shared share so far is behind its overall share
            boolean takeShared = sharedFirst ? s < nShared
                    : pr == nPrivate || (s < nShared && (long) s * tasks <= (long) t * nShared);
            taskCode[t] = takeShared ? s++ : -1 - pr++;
        }
    }

    private static int ceilDiv(int a, int b) { return (a + b - 1) / b; }

    /** Chunk-first tasks of the current schedule (for benchmarks and tests). */
    int chunkFirstTasks() { return pieces * splits(Math.max(1, schedKvHeads), pieceHeadSpan); }
}
