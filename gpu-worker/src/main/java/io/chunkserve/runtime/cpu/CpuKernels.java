package io.chunkserve.runtime.cpu;

import io.chunkserve.model.Weight;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.function.IntConsumer;

/**
 * The CPU compute kernels of the forward pass. Activations are fp32 arrays laid out
 * token-major: x is (T, cols), out is (T, rows). Weights stay in their stored dtype (F32, F16,
 * BF16, little-endian, any alignment) and are widened in registers by Vector-API kernels.
 *
 * <p>An instance owns {@code threads - 1} daemon worker threads (named
 * {@code chunkserve-cpu-<instance>-<n>}); the calling thread is the remaining one. Matrix multiplies are
 * split by row blocks of W, so each thread streams a disjoint part of the weights. Dispatch
 * allocates nothing and costs a few microseconds while the workers are spinning (they spin for
 * {@code chunkserve.cpu.spinMicros}, default 200 µs, after each job and then park). While waiting, a
 * thread touches the first rows of its share of the next one-token matmul that the caller declared
 * ({@link #upcoming}, see {@link TouchPlan}).
 *
 * <p>An instance may be shared, but it runs one parallel call at a time: a call that overlaps
 * another (from a second thread, or nested inside a {@link #forRange} task) runs on its calling
 * thread alone. {@link #close()} stops the workers; later parallel calls throw.
 */
public final class CpuKernels implements Parallel, AutoCloseable {
    private static volatile boolean warmedUp;
    private static final long WARM_UP_LIMIT_NANOS = Long.getLong("chunkserve.cpu.warmUpSeconds", 30L) * 1_000_000_000L;
    /** Below this many weight bytes a row task is not split further. */
    private static final long MIN_TASK_BYTES = Long.getLong("chunkserve.cpu.minTaskBytes", 32 * 1024);
    /** Row tasks per thread (dynamic claiming balances threads slowed by other processes). */
    private static final int TASKS_PER_THREAD = Integer.getInteger("chunkserve.cpu.tasksPerThread", 4);

    private static final VarHandle BUSY;
    static {
        try {
            BUSY = MethodHandles.lookup().findVarHandle(CpuKernels.class, "busy", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private static final java.util.concurrent.atomic.AtomicInteger INSTANCES = new java.util.concurrent.atomic.AtomicInteger();

    private final int threads;
    private final String threadNamePrefix = "chunkserve-cpu-" + INSTANCES.incrementAndGet() + "-";
    private final WorkerPool pool; // null when threads == 1
    private final MatmulJob job = new MatmulJob();
    private final GemvJob gemv = new GemvJob();
    private final PackJob pack = new PackJob();
    private float[] xpack = new float[0];
    private final Weight[] one = new Weight[1];
    private final float[][] oneOut = new float[1][];
    @SuppressWarnings("unused") private volatile int busy;

    public CpuKernels(int threads) {
        this.threads = Math.max(1, threads);
        long spinNanos = Long.getLong("chunkserve.cpu.spinMicros", 200L) * 1000L;
        this.seenPlan = new TouchPlan[this.threads * PAD];
        this.cursor = new long[this.threads * PAD];
        this.sink = new long[this.threads * PAD];
        this.pool = this.threads > 1 ? new WorkerPool(this.threads - 1, threadNamePrefix, spinNanos, this::touchStep) : null;
    }

    // ---- touch-ahead of the next one-token dispatch (see TouchPlan) ----
    private static final int PAD = 16; // per-participant slots 16 longs / refs apart (own cache lines)
    /** Lines of each stream touched per idle step (a step stays short: the waiting thread checks for its next job between steps). */
    private static final int TOUCH_LINES = 2;
    private volatile TouchPlan touchPlan;
    private final TouchPlan[] seenPlan; // [participant · PAD]: the plan the cursor belongs to
    private final long[] cursor, sink;  // [participant · PAD]: bytes of each stream touched so far (-1: done)

    /** A one-token {@link #matmulMany} of these weights as this instance splits it (for touch plans; x and outputs unset). */
    GemvJob planMany(Weight[] ws) { return new GemvJob().many(ws, ws.length, null, new float[ws.length][], threads); }

    /** As {@link #planMany} for {@link #matmulAdd}. */
    GemvJob planResidual(Weight w) { return new GemvJob().residual(w, null, null, null, threads); }

    /** As {@link #planMany} for {@link #gateUpSilu}. */
    GemvJob planGateUp(Weight gate, Weight up) { return new GemvJob().gateUp(gate, up, null, null, null, threads); }

    /**
     * Declares the next one-token dispatch (null: none known): from now on, a thread that waits for
     * the others' tasks or for its next job touches the heads of its row streams of that dispatch
     * (task p's range on participant p: the dispatching thread claims first and almost always runs
     * task 0), so they start from cache instead of cold DRAM. Reads only; any plan is safe.
     */
    void upcoming(TouchPlan plan) { touchPlan = plan; }

    /** The pool's {@link WorkerPool.Idle} work: one touch step of participant p (0: the dispatching thread). */
    private boolean touchStep(int p) {
        TouchPlan tp = touchPlan;
        if (tp == null || !CpuTuning.touch) return false;
        int i = p * PAD;
        long c;
        if (seenPlan[i] != tp) {
            seenPlan[i] = tp;
            c = 0;
        } else {
            c = cursor[i];
            if (c < 0) return false;
        }
        boolean more;
        try {
            more = tp.touch(p, c, TOUCH_LINES, sink, i);
        } catch (RuntimeException e) { // e.g. the weights' arena was closed under a stale plan: stop touching it
            more = false;
        }
        cursor[i] = more ? c + TOUCH_LINES * TouchPlan.LINE : -1;
        return more;
    }

    @Override
    public int threads() { return threads; }

    /** Worker threads are named this prefix followed by 1, 2, ... */
    String threadNamePrefix() { return threadNamePrefix; }

    /** Runs task(0..n-1), each index exactly once, on all threads; returns when all are done. */
    @Override
    public void forRange(int n, IntConsumer task) {
        if (n <= 0) return;
        if (pool == null || n == 1 || !tryAcquire()) {
            for (int i = 0; i < n; i++) task.accept(i);
            return;
        }
        try {
            if (n <= WorkerPool.MAX_TASKS) {
                pool.run(n, task);
            } else {
                final int group = (int) ((n + (long) WorkerPool.MAX_TASKS - 1) / WorkerPool.MAX_TASKS);
                final int groups = (n + group - 1) / group;
                pool.run(groups, g -> {
                    int end = (int) Math.min(n, (long) (g + 1) * group);
                    for (int i = g * group; i < end; i++) task.accept(i);
                });
            }
        } finally {
            release();
        }
    }

    /** out[t, r] = Σ_c W[r, c] · x[t, c] for t < T. x: (T, W.cols), out: (T, W.rows). */
    public void matmul(Weight w, float[] x, int T, float[] out) {
        checkArgs(w, x, T, out, w.cols());
        if (T == 0) return;
        if (!tryAcquire()) { // overlapping call: run alone on this thread
            MatKernels.matmulRows(w, x, T, out, 0, w.rows());
            return;
        }
        try {
            one[0] = w;
            oneOut[0] = out;
            if (T == 1) runGemv(gemv.many(one, 1, x, oneOut, threads));
            else dispatch(job.set(one, 1, x, T, oneOut, threads));
        } finally {
            one[0] = null;
            oneOut[0] = null;
            job.clear();
            gemv.clear();
            release();
        }
    }

    /**
     * outs[i] = x · ws[i]ᵀ for every i, in one parallel dispatch: weights sharing their input
     * (q/k/v, gate/up). All ws must have the same cols; x: (T, cols), outs[i]: (T, ws[i].rows).
     */
    public void matmulMany(Weight[] ws, float[] x, int T, float[][] outs) {
        if (ws.length != outs.length) throw new IllegalArgumentException(ws.length + " weights but " + outs.length + " outputs");
        if (ws.length == 0) return;
        int cols = ws[0].cols();
        for (int i = 0; i < ws.length; i++) checkArgs(ws[i], x, T, outs[i], cols);
        if (T == 0) return;
        if (!tryAcquire()) { // overlapping call: run alone on this thread
            for (int i = 0; i < ws.length; i++) MatKernels.matmulRows(ws[i], x, T, outs[i], 0, ws[i].rows());
            return;
        }
        try {
            if (T == 1) runGemv(gemv.many(ws, ws.length, x, outs, threads));
            else dispatch(job.set(ws, ws.length, x, T, outs, threads));
        } finally {
            job.clear();
            gemv.clear();
            release();
        }
    }

    /**
     * residual[t, r] += out[t, r] after out = x · Wᵀ (as {@link #matmul}): the output projections
     * feeding the residual stream. At T = 1 one dispatch does both; out holds the product after.
     */
    public void matmulAdd(Weight w, float[] x, int T, float[] out, float[] residual) {
        checkArgs(w, x, T, out, w.cols());
        if (residual.length < (long) T * w.rows()) {
            throw new IllegalArgumentException("residual has " + residual.length + " floats, need " + (long) T * w.rows());
        }
        if (T != 1 || !tryAcquire()) {
            if (T == 1) MatKernels.matmulRows(w, x, 1, out, 0, w.rows()); // overlapping call: alone on this thread
            else matmul(w, x, T, out);
            Vec.add(residual, out, T * w.rows());
            return;
        }
        try {
            runGemv(gemv.residual(w, x, out, residual, threads));
        } finally {
            gemv.clear();
            release();
        }
    }

    /**
     * gate = silu(x · Wgateᵀ) · (x · Wupᵀ), the Llama MLP's first half; up is scratch (T, rows).
     * At T = 1 one dispatch computes both products and the activation for each row range.
     */
    public void gateUpSilu(Weight wGate, Weight wUp, float[] x, int T, float[] gate, float[] up) {
        if (wGate.rows() != wUp.rows()) throw new IllegalArgumentException("gate rows " + wGate.rows() + " != up rows " + wUp.rows());
        checkArgs(wGate, x, T, gate, wGate.cols());
        checkArgs(wUp, x, T, up, wGate.cols());
        if (T != 1 || !tryAcquire()) {
            if (T == 1) { // overlapping call: alone on this thread
                MatKernels.matmulRows(wGate, x, 1, gate, 0, wGate.rows());
                MatKernels.matmulRows(wUp, x, 1, up, 0, wUp.rows());
            } else {
                pair[0] = wGate;
                pair[1] = wUp;
                pairOut[0] = gate;
                pairOut[1] = up;
                try {
                    matmulMany(pair, x, T, pairOut);
                } finally {
                    pair[0] = pair[1] = null;
                    pairOut[0] = pairOut[1] = null;
                }
            }
            Vec.siluMul(gate, up, T * wGate.rows());
            return;
        }
        try {
            runGemv(gemv.gateUp(wGate, wUp, x, gate, up, threads));
        } finally {
            gemv.clear();
            release();
        }
    }

    private void runGemv(GemvJob j) {
        run(j.tasks(), j);
        j.finish();
    }

    private final Weight[] pair = new Weight[2];
    private final float[][] pairOut = new float[2][];

    private void dispatch(MatmulJob j) {
        if (j.T > CpuTuning.directMaxT(j.ws[0].cols()) && MatKernels.vectorizable(j.ws[0].data())) {
            // the packed GEMM: transpose x into token tiles once, on all threads, for all weights
            int cols = j.ws[0].cols(), need = cols * Gemm.padT(j.T);
            if (xpack.length < need) xpack = new float[need];
            pack.set(j.x, cols, j.T, xpack);
            run(Gemm.columnBlocks(cols) * Gemm.tiles(j.T), pack);
            pack.x = null;
            j.xp = xpack;
        }
        run(j.tasks(), j);
    }

    /** Runs task(0..n-1) on the pool, or here when there is no pool or a single task. */
    private void run(int n, IntConsumer task) {
        if (pool == null || n == 1) {
            for (int i = 0; i < n; i++) task.accept(i);
        } else {
            pool.run(n, task);
        }
    }

    /** Packs one (column block, token tile) of x for {@link Gemm}. */
    private static final class PackJob implements IntConsumer {
        float[] x, xp;
        int cols, T, tiles;

        void set(float[] x, int cols, int T, float[] xp) {
            this.x = x;
            this.cols = cols;
            this.T = T;
            this.xp = xp;
            this.tiles = Gemm.tiles(T);
        }

        @Override
        public void accept(int i) {
            Gemm.packTile(x, cols, T, i / tiles, i % tiles, xp);
        }
    }

    private static void checkArgs(Weight w, float[] x, int T, float[] out, int cols) {
        if (T < 0) throw new IllegalArgumentException("T = " + T);
        if (w.cols() != cols) throw new IllegalArgumentException(w.name() + ": cols " + w.cols() + " != " + cols);
        if (x.length < (long) T * w.cols()) {
            throw new IllegalArgumentException("x has " + x.length + " floats, need " + (long) T * w.cols());
        }
        if (out.length < (long) T * w.rows()) {
            throw new IllegalArgumentException("out has " + out.length + " floats, need " + (long) T * w.rows());
        }
    }

    private boolean tryAcquire() { return BUSY.compareAndSet(this, 0, 1); }

    private void release() { BUSY.setVolatile(this, 0); }

    /** A reusable description of one (multi-)matmul: task i → (weight, row range). */
    private static final class MatmulJob implements IntConsumer {
        Weight[] ws;
        float[][] outs;
        float[] x;
        float[] xp; // x packed for Gemm, when T > CpuTuning.directMaxT(cols)
        float[] xPaired; // x paired per token row for the bf16 register-block kernels (1 < T <= CpuTuning.directMaxT(cols))
        private final float[][] pairedHolder = {new float[0]};
        int count, T;
        int[] taskStart = new int[9]; // taskStart[j] = first task of weight j; taskStart[count] = total
        int[] taskRows = new int[8];

        MatmulJob set(Weight[] ws, int count, float[] x, int T, float[][] outs, int threads) {
            if (taskRows.length < count) {
                taskRows = new int[count];
                taskStart = new int[count + 1];
            }
            this.ws = ws;
            this.count = count;
            this.x = x;
            this.T = T;
            this.outs = outs;
            this.xp = null;
            this.xPaired = null;
            final int directMaxT = CpuTuning.directMaxT(ws[0].cols()); // read once: the pairing and the row alignment agree
            if (T > 1 && T <= directMaxT) {
                for (int j = 0; j < count; j++) {
                    if (ws[j].dtype() == io.chunkserve.model.DType.BF16) {
                        xPaired = Bf16Kernels.pairRows(x, 0, T, ws[0].cols(), pairedHolder);
                        break;
                    }
                }
            }
            final int align = T > directMaxT ? Gemm.R : 4;
            long totalBytes = 0;
            for (int j = 0; j < count; j++) totalBytes += ws[j].byteSize();
            int total = 0;
            for (int j = 0; j < count; j++) {
                Weight w = ws[j];
                int rows = w.rows();
                long rowBytes = Math.max(1L, w.byteSize() / Math.max(1, rows));
                // this weight's share of threads·TASKS_PER_THREAD tasks (one task alone), by bytes
                long split = threads == 1 ? 1 : threads * (long) TASKS_PER_THREAD;
                long want = Math.max(1L, split * w.byteSize() / Math.max(1L, totalBytes));
                long byBytes = Math.max(1L, (MIN_TASK_BYTES + rowBytes - 1) / rowBytes);
                long per = Math.max((rows + want - 1) / want, T > 1 ? Math.max(1L, byBytes / T) : byBytes);
                int r = (int) Math.min(rows, (per + align - 1) / align * align);
                r = Math.max(1, r);
                taskRows[j] = r;
                taskStart[j] = total;
                total += (rows + r - 1) / r;
            }
            taskStart[count] = total;
            return this;
        }

        int tasks() { return taskStart[count]; }

        void clear() {
            ws = null;
            outs = null;
            x = null;
            xp = null;
            xPaired = null;
        }

        @Override
        public void accept(int i) {
            int j = 0;
            while (i >= taskStart[j + 1]) j++;
            Weight w = ws[j];
            int r0 = (i - taskStart[j]) * taskRows[j];
            int r1 = Math.min(w.rows(), r0 + taskRows[j]);
            if (xp != null && MatKernels.vectorizable(w.data())) Gemm.gemm(w, xp, T, outs[j], r0, r1);
            else if (xPaired != null && w.dtype() == io.chunkserve.model.DType.BF16 && MatKernels.vectorizable(w.data()))
                MatKernels.directKx(w, xPaired, T, outs[j], r0, r1);
            else MatKernels.matmulRows(w, x, T, outs[j], r0, r1);
        }
    }

    /** out[t, :] = x[t, :] / rms(x[t, :]) · gamma, over n = gamma.length; rows of width n. */
    public static void rmsnorm(float[] out, float[] x, float[] gamma, int T, float eps) {
        int n = gamma.length;
        for (int t = 0; t < T; t++) {
            int o = t * n;
            double ss = Vec.sumSquares(x, o, n);
            float inv = (float) (1.0 / Math.sqrt(ss / n + eps));
            Vec.scaleMul(out, x, o, inv, gamma, n);
        }
    }

    /** gate[i] = silu(gate[i]) · up[i] for i < n. */
    public static void siluMul(float[] gate, float[] up, int n) {
        Vec.siluMul(gate, up, n);
    }

    /** a[i] += b[i] for i < n. */
    public static void add(float[] a, float[] b, int n) {
        Vec.add(a, b, n);
    }

    /** Σ a[aOff + i] · b[bOff + i] for i < n (fp32, several vector accumulators). */
    public static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        return Vec.dot(a, aOff, b, bOff, n);
    }

    /** y[yOff + i] += a · x[xOff + i] for i < n. */
    public static void axpy(float a, float[] x, int xOff, float[] y, int yOff, int n) {
        Vec.axpy(a, x, xOff, y, yOff, n);
    }

    /** Vectorised {@link Weight#row}: row r of w widened to fp32 into dst[off .. off + cols). */
    public static void row(Weight w, int r, float[] dst, int off) {
        if (r < 0 || r >= w.rows()) throw new IndexOutOfBoundsException("row " + r + " of " + w.rows());
        java.util.Objects.checkFromIndexSize(off, w.cols(), dst.length);
        MatKernels.widen(w, r, 0, dst, off, w.cols());
    }

    /**
     * Runs every matmul path (each dtype; T = 1, 2, 3 and larger) on small synthetic weights so
     * that C2 compiles the kernels before the first real request. The first calls of a Vector-API
     * kernel run in the interpreter and are 100× slower; call this once at model load. Takes
     * 2-5 s on an idle 2-core machine (mostly waiting for C2), at most
     * {@code chunkserve.cpu.warmUpSeconds} (default 30). Runs once per JVM: later calls (by any
     * instance) return at once.
     */
    public void warmUp() {
        warmUpMatmuls();
        io.chunkserve.attention.SequenceAttention.warmUpDecode(this); // the batch-1 decode attention
    }

    private void warmUpMatmuls() {
        if (warmedUp) return; // the kernels are static: once per JVM
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofShared()) {
            // varied shapes, so that C2's profile-based speculation holds for real ones: row counts
            // with and without a remainder after the 4-row groups, columns with and without a
            // vector tail, and (now and then) two column blocks
            int L = Vec.L, big = Math.min(4096, Math.max(MatKernels.DIRECT_KC, Gemm.KW));
            int[][] shapes = {{7, 2 * L + 3}, {12, 4 * L}, {23, 3 * L + 1}, {16, 8 * L}, {7, big + L + 3}, {8, 2 * big}};
            int nSmall = 4, large = 2 * big;
            io.chunkserve.model.DType[] dts = io.chunkserve.model.DType.values();
            Weight[] ws = new Weight[shapes.length * dts.length];
            for (int i = 0; i < ws.length; i++) {
                io.chunkserve.model.DType dt = dts[i % dts.length];
                int[] shape = shapes[i / dts.length];
                java.lang.foreign.MemorySegment seg = arena.allocate((long) shape[0] * shape[1] * dt.bytes() + 8).asSlice(2);
                seg.fill((byte) 0x3c);
                ws[i] = new Weight("warmup-" + dt, seg, dt, shape[0], shape[1]);
            }
            int rows = 23;
            int[] Ts = {1, 2, 3, 5, 8, (MatKernels.DIRECT_MAX_T / Gemm.TILE + 1) * Gemm.TILE + Vec.L - 3};
            int maxT = Ts[Ts.length - 1];
            float[] x = new float[maxT * large], out = new float[maxT * rows];
            java.util.Arrays.fill(x, 0.5f);
            float[][] outs = {new float[maxT * rows], new float[maxT * rows]};
            float[] act = new float[2 * big + L], gamma = new float[act.length / 2];
            java.util.Arrays.fill(gamma, 1f);
            // C2 needs a few thousand calls of each kernel, then time in its (possibly long) queue.
            // Rounds are timed in blocks of 16: stop once a block is far faster than the first
            // (interpreted) one and no block has been 10% faster than the best for 100 blocks
            // (noise only makes blocks slower), or at the time limit.
            long start = System.nanoTime(), deadline = start + WARM_UP_LIMIT_NANOS;
            long first = 0, best = Long.MAX_VALUE, blockStart = start;
            int sinceBest = 0;
            for (int rep = 0; ; rep++) {
                int shape = rep % 40 == 39 ? nSmall + (rep / 40) % 2 : rep % nSmall;
                for (int T : Ts) {
                    for (int d = 0; d < dts.length; d++) {
                        if (T > 8 && rep % 4 != 0) continue;
                        Weight w = ws[shape * dts.length + d];
                        int r0 = (rep & 1) == 1 && w.rows() > 8 ? 4 : 0;
                        for (int j = T == 1 ? 4 : 1; j > 0; j--) MatKernels.matmulRows(w, x, T, out, r0, w.rows());
                    }
                }
                if ((rep & 15) == 15) {
                    long now = System.nanoTime(), dt = now - blockStart;
                    blockStart = now;
                    if (rep == 15) first = dt;
                    if (dt < best * 0.9) {
                        best = dt;
                        sinceBest = 0;
                    } else {
                        best = Math.min(best, dt);
                        sinceBest++;
                    }
                    boolean compiled = rep >= 3000 && sinceBest >= 100 && best * 20 < first;
                    if (compiled || now > deadline) {
                        // once per JVM either way: a warm-up that ran to its deadline has run every kernel thousands of
                        // times, and a later one would start from compiled kernels, so its first block would never be
                        // 20× its best and it too would run to the deadline (a test JVM whose earlier tests had
                        // compiled the kernels paid 30 s for every engine it started)
                        warmedUp = true;
                        if (Boolean.getBoolean("chunkserve.cpu.debugWarmUp")) {
                            System.err.printf("warmUp: %d rounds, %.2f s, first block %d us, best %d us%n",
                                    rep + 1, (now - start) / 1e9, first / 1000, best / 1000);
                        }
                        break;
                    }
                }
                // the per-token element-wise kernels (Vector API code runs ~100x slower before C2)
                rmsnorm(act, x, gamma, 2, 1e-5f);
                siluMul(act, x, act.length);
                add(act, x, act.length);
                row(ws[rep % ws.length], rep % 7, act, 0);
                if (rep % 100 == 0) {
                    Weight a = ws[(rep / 100) % (nSmall * dts.length)];
                    matmulMany(new Weight[] {a, a}, x, 1 + rep % 3, outs);
                    matmulAdd(a, x, 1, outs[0], outs[1]);
                    gateUpSilu(a, a, x, 1, outs[0], outs[1]);
                    matmul(a, x, 8, out);
                    matmul(a, x, maxT, out);
                }
            }
        }
    }

    /** A short description of the vector configuration, for logs and benchmarks. */
    public static String describe() {
        return Vec.F + ", T<=" + CpuTuning.directMaxT(4096) + " (rows of 4096): " + (Vec.WIDE_REGISTER_FILE ? "4x4" : "4x2") + " in-register widening, larger T: packed "
                + Gemm.R + "x" + Gemm.TILE + " GEMM";
    }

    @Override
    public void close() {
        if (pool != null) pool.close();
    }

    @Override
    public String toString() {
        return "CpuKernels[threads=" + threads + ", " + describe() + "]";
    }
}
