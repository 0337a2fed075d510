package io.chunkserve.runtime.cpu;

import io.chunkserve.model.Weight;

import java.util.function.IntConsumer;

/**
 * One T = 1 dispatch: the rows of the job's weights, concatenated, cut into contiguous ranges on {@code ROW_ALIGN}-row
 * boundaries, one per thread. Each task streams its range of each weight once (the gemv kernels read it as four long
 * streams; the prefetcher needs long streams to reach full bandwidth) and applies the element-wise epilogue to the rows
 * it produced. A task done with its own range helps the others (see "helping" below; {@link CpuTuning#help} switches
 * it off for comparison: then each task computes exactly its own range).
 *
 * <p>Helping replaced two earlier ways of evening out the threads (session 12, BENCHMARKS.md): a tail of small ranges
 * any thread could claim (short streams, and only for dispatches ≥ 8 MiB) and boundaries that followed the threads'
 * measured speeds (which tracked the average lateness of a thread, not the ~8 % of dispatches where one starts 10–100 µs
 * late); helping measured 1–10 % faster per SmolLM2 decode step than both together.
 */
final class GemvJob implements IntConsumer {
    static final int MANY = 0, RESIDUAL = 1, GATE_UP = 2;
    /** Range boundaries are multiples of this: whole cache lines of output per task, whole vectors in the epilogues. */
    static final int ROW_ALIGN = 16;
    int mode, count, totalRows, tasks;
    Weight[] ws = new Weight[8];
    float[][] outs = new float[8][];
    float[] x, residual;
    /**
     * x in the stream kernels' layout ({@link MatKernels#kernelX}), made once per dispatch by the dispatching thread when
     * the weights are {@link #uniform} (else null: each task's piece list decides).
     */
    float[] kx;
    private final float[][] kxHolder = {new float[0]};
    // per-task piece lists, reused: a dispatch allocates nothing
    Weight[][] pw = new Weight[0][];
    float[][][] po = new float[0][][];
    int[][] lo = new int[0][], hi = new int[0][], streamPiece = new int[0][], streamRow = new int[0][];

    GemvJob many(Weight[] w, int n, float[] x, float[][] o, int threads) {
        if (ws.length < n) {
            ws = new Weight[n];
            outs = new float[n][];
        }
        int total = 0;
        for (int j = 0; j < n; j++) {
            ws[j] = w[j];
            outs[j] = o[j];
            total += w[j].rows();
        }
        return set(MANY, n, total, x, null, threads);
    }

    GemvJob residual(Weight w, float[] x, float[] out, float[] residual, int threads) {
        ws[0] = w;
        outs[0] = out;
        return set(RESIDUAL, 1, w.rows(), x, residual, threads);
    }

    GemvJob gateUp(Weight gate, Weight up, float[] x, float[] g, float[] u, int threads) {
        ws[0] = gate;
        ws[1] = up;
        outs[0] = g;
        outs[1] = u;
        return set(GATE_UP, 2, gate.rows(), x, null, threads);
    }

    private GemvJob set(int mode, int count, int totalRows, float[] x, float[] residual, int threads) {
        this.mode = mode;
        this.count = count;
        this.totalRows = totalRows;
        this.x = x;
        this.residual = residual;
        boolean uniform = uniform();
        this.kx = x != null && uniform ? MatKernels.kernelX(ws[0].dtype(), x, ws[0].cols(), kxHolder) : null;
        this.tasks = Math.max(1, Math.min(threads, (totalRows + ROW_ALIGN - 1) / ROW_ALIGN));
        this.help = CpuTuning.help && tasks > 1 && uniform;
        int pieces = mode == MANY ? count : 2;
        if (pw.length < tasks || pw[0].length < pieces) {
            int n = Math.max(tasks, pw.length), m = Math.max(pieces, pw.length == 0 ? 0 : pw[0].length);
            pw = new Weight[n][m];
            po = new float[n][m][];
            lo = new int[n][m];
            hi = new int[n][m];
            // per task: written as its streams move on, so each task's pair on cache lines of its own
            streamPiece = new int[n][64];
            streamRow = new int[n][64];
        }
        if (help) prepareHelp();
        return this;
    }

    // ---- helping: a task done with its own rows takes the far half of what another task has left ----
    // A thread that wakes late, or loses its vCPU for a while (on this host ~2,000 times a second), no longer holds up
    // the dispatch: its partner takes over the second half of its unclaimed row-steps, again and again while enough is
    // left, each half read front to back as four long streams. The owner publishes its progress before each step and
    // stops at the limit a helper lowered; both are opaque accesses (no locked instruction, no fence: either one in the
    // streaming loop drains the core's outstanding misses). Without ordering the owner may compute a step or two past a
    // new limit: then both threads write the same values (each row is computed by the same code wherever it runs, and
    // the epilogues write other arrays than they read), so a duplicate is harmless. The owner claims half of what it has
    // left at a time (at least CpuTuning.claimBytes of weights; session 26: claims of one or a few row-steps cost Llama's
    // step a quarter) and computes each claim with one kernel call: the claim loop lived inside the
    // kernels until session 14, where its data-dependent exit let C2 recompile them without loop predication in some
    // processes (2-3x slower for the whole process).
    boolean help;
    /** Fewest unclaimed row-steps worth taking from another task. */
    static final int MIN_STEAL_STEPS = Integer.getInteger("chunkserve.cpu.minStealSteps", 4);
    // per task t: the owner's progress (steps claimed) at [16 + 32 t], its limit at [32 + 32 t]: each on its own cache
    // line, none on the array header's (whose length every bounds check reads)
    long[] claims = new long[0];

    /** Index in claims of task u's progress (steps its owner has claimed). */
    private static int progress(int u) { return 16 + 32 * u; }

    /** Index in claims of task u's limit (where a helper has taken over). */
    private static int limit(int u) { return 32 + 32 * u; }
    int[] steps = new int[0];     // per task: row-steps of its range (4 rows each)
    int[] pieceCount = new int[0];
    float[] gateRaw = new float[0]; // GATE_UP: the gate rows before the SiLU·mul (the epilogue writes gate)

    /** The weights share dtype and column count and the Vector API reads them (what the stream kernels need). */
    private boolean uniform() {
        for (int j = 0; j < count; j++) {
            if (ws[j].dtype() != ws[0].dtype() || ws[j].cols() != ws[0].cols() || !MatKernels.vectorizable(ws[j].data())) return false;
        }
        return true;
    }

    private void prepareHelp() {
        if (claims.length < 32 * tasks + 32) {
            claims = new long[32 * tasks + 32];
            steps = new int[tasks];
            pieceCount = new int[tasks];
        }
        if (mode == GATE_UP && gateRaw.length < totalRows) gateRaw = new float[totalRows];
        for (int t = 0; t < tasks; t++) {
            int q;
            if (mode == GATE_UP) {
                q = (bound(t + 1) - bound(t)) / 2;
            } else {
                int n = pieces(t, pw[t], po[t], lo[t], hi[t]), total = 0;
                pieceCount[t] = n;
                for (int k = 0; k < n; k++) total += hi[t][k] - lo[t][k];
                q = total / 4;
            }
            steps[t] = q;
            claims[progress(t)] = 0;
            claims[limit(t)] = q;
        }
    }

    /** Task t with helping: the rows left over by its four streams, its steps front to back, then halves of the others'. */
    private void helpTask(int t) {
        leftover(t);
        // its own steps in one pass, stopping where a helper has taken over (checked before every step)
        stepRange(t, 0, steps[t], t, true);
        // then, for each other task in turn (the next one first): while its owner has enough left, take the far half of
        // what it has not claimed and read it front to back. Several helpers may take from one task; each takes below
        // the limit it read, so their halves do not overlap unless a stale limit was read (a duplicate, never a hole)
        int min = CpuTuning.minSteal > 0 ? CpuTuning.minSteal : MIN_STEAL_STEPS;
        for (int d = 1; d < tasks; d++) {
            int u = t + d < tasks ? t + d : t + d - tasks;
            while (true) {
                int f = (int) (long) MatKernels.LIMIT.getOpaque(claims, progress(u)), end = (int) (long) MatKernels.LIMIT.getOpaque(claims, limit(u));
                if (end - f < min) break;
                int m = f + (end - f) / 2;
                MatKernels.LIMIT.setOpaque(claims, limit(u), (long) m);
                stepRange(u, m, end, t, false);
            }
        }
    }

    /**
     * Row-steps [s0, s1) of task u's four streams, with their epilogue, run by task t (whose scratch it uses); as the
     * owner (stoppable) it publishes its progress and stops at the limit a helper set. Returns the first step not done.
     */
    private int stepRange(int u, int s0, int s1, int t, boolean owner) {
        long[] lim = owner ? claims : null;
        int limIdx = limit(u), progIdx = progress(u);
        if (mode == GATE_UP) {
            int a = bound(u), h = steps[u];
            Weight g = ws[0], up = ws[1];
            long rb = (long) g.dtype().bytes() * g.cols();
            int n = MatKernels.gemv4(g.dtype(), g.data(), (a + s0) * rb, g.data(), (a + h + s0) * rb, up.data(), (a + s0) * rb, up.data(), (a + h + s0) * rb,
                    g.cols(), kx, gateRaw, a + s0, gateRaw, a + h + s0, outs[1], a + s0, outs[1], a + h + s0, s1 - s0, lim, limIdx, progIdx, s0);
            Vec.siluMulTo(outs[0], gateRaw, outs[1], a + s0, n);
            Vec.siluMulTo(outs[0], gateRaw, outs[1], a + h + s0, n);
            return s0 + n;
        }
        return MatKernels.gemvSteps(pw[u], po[u], lo[u], hi[u], pieceCount[u], kx, steps[u], s0, s1, streamPiece[t], streamRow[t], lim, limIdx, progIdx);
    }

    /** The rows of task t's range after its four streams' 4·steps rows (fewer than 4; GATE_UP: at most one of each). */
    private void leftover(int t) {
        if (mode == GATE_UP) {
            int a = bound(t), b = bound(t + 1), r = a + 2 * steps[t];
            if (r < b) {
                MatKernels.gemvRow(ws[0], gateRaw, r, x);
                MatKernels.gemvRow(ws[1], outs[1], r, x);
                Vec.siluMulTo(outs[0], gateRaw, outs[1], r, b - r);
            }
        } else {
            MatKernels.gemvLeftover(pw[t], po[t], lo[t], hi[t], pieceCount[t], x, 4 * steps[t]);
        }
    }

    /** After the dispatch (dispatching thread): with helping, the residual add that the tasks leave out. */
    void finish() {
        if (help && mode == RESIDUAL) Vec.add(residual, outs[0], 0, totalRows);
    }

    int tasks() { return tasks; }

    void clear() {
        for (int j = 0; j < count; j++) {
            ws[j] = null;
            outs[j] = null;
        }
        for (Weight[] a : pw) java.util.Arrays.fill(a, null);
        for (float[][] a : po) java.util.Arrays.fill(a, null);
        x = residual = kx = null;
    }

    /** First row of task t's range (t = tasks gives totalRows): the even split on ROW_ALIGN boundaries. */
    int bound(int t) {
        if (t >= tasks) return totalRows;
        return (int) Math.min(totalRows, Math.round((double) totalRows * t / tasks / ROW_ALIGN) * ROW_ALIGN);
    }

    /** The row pieces of task t: weight, output and row range [lo, hi) of each; returns how many (po may be null). */
    int pieces(int t, Weight[] pw, float[][] po, int[] lo, int[] hi) {
        int a = bound(t), b = bound(t + 1);
        if (a >= b) return 0;
        int pieces = 0;
        if (mode == MANY) {
            for (int j = 0, base = 0; j < count && base < b; j++) {
                int rows = ws[j].rows(), l = Math.max(a, base), h = Math.min(b, base + rows);
                if (l < h) {
                    pw[pieces] = ws[j];
                    if (po != null) po[pieces] = outs[j];
                    lo[pieces] = l - base;
                    hi[pieces++] = h - base;
                }
                base += rows;
            }
        } else {
            int n = mode == GATE_UP ? 2 : 1;
            for (int j = 0; j < n; j++, pieces++) {
                pw[j] = ws[j];
                if (po != null) po[j] = outs[j];
                lo[j] = a;
                hi[j] = b;
            }
        }
        return pieces;
    }

    @Override
    public void accept(int t) {
        if (help) {
            helpTask(t);
            return;
        }
        int a = bound(t), b = bound(t + 1);
        if (a >= b) return;
        int pieces = pieces(t, pw[t], po[t], lo[t], hi[t]);
        if (kx != null) MatKernels.gemvPieces(pw[t], po[t], lo[t], hi[t], pieces, x, kx, streamPiece[t], streamRow[t]);
        else MatKernels.gemvPieces(pw[t], po[t], lo[t], hi[t], pieces, x, streamPiece[t], streamRow[t]);
        if (mode == RESIDUAL) Vec.add(residual, outs[0], a, b - a);
        else if (mode == GATE_UP) Vec.siluMul(outs[0], outs[1], a, b - a);
    }
}
