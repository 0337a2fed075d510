package io.chunkserve.runtime.cpu;

import io.chunkserve.model.DType;
import io.chunkserve.model.Weight;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;

/**
 * Matrix-multiply kernels: out (T, rows) = x (T, cols) · Wᵀ with W (rows, cols) row-major in its
 * stored dtype. Each entry point computes the rows [r0, r1) of the output for every token, so
 * threads given disjoint row ranges read disjoint parts of W.
 *
 * <ul>
 *   <li>T = 1 ({@code gemv*}): per-dtype streaming kernels, four rows at a time sharing each x
 *       load, widened in registers straight from the (possibly unaligned, memory-mapped)
 *       segment. Memory-bandwidth bound.</li>
 *   <li>1 &lt; T ≤ {@link CpuTuning#directMaxT(int)} ({@link #direct}): the same in-register widening with a 4 rows ×
 *       4 tokens register block (16 accumulators), blocked over columns and tokens. Close to
 *       memory bound up to T ≈ 4 and compute bound beyond.</li>
 *   <li>larger T ({@link Gemm}): packed, cache-blocked GEMM in broadcast form; W is widened once
 *       per block of tokens.</li>
 * </ul>
 * The per-dtype kernels live in {@link Bf16Kernels}, {@link F16Kernels} and {@link F32Kernels}; this
 * class picks among them. They are written out, conversion included, rather than calling a shared
 * widening helper: a helper that C2 has already compiled on its own is too big to inline
 * ("already compiled into a big method"), and a non-inlined method returning a vector boxes it —
 * measured as a 3× slowdown of the f16 kernel. Keep every vector-valued call in these loops to
 * JDK methods (which are force-inlined). The kernels were generated from one template per shape;
 * edit all dtypes alike.
 */
final class MatKernels {
    private MatKernels() { }

    /** Largest T served by the scratch-free kernels with 32 vector registers; larger T goes to the packed {@link Gemm} (see {@link CpuTuning#directMaxT(int)}). */
    static final int DIRECT_MAX_T = 24;
    /** Column block of the scratch-free kernels (a multiple of every vector length). */
    static final int DIRECT_KC = Math.max(64, Integer.getInteger("chunkserve.cpu.direct.kc", 16384) & ~63);
    /** Token block of the scratch-free kernels. */
    static final int DIRECT_TB = Math.max(4, Integer.getInteger("chunkserve.cpu.direct.tb", 64));

    static float bf16s(MemorySegment seg, long off) { return DType.bf16ToFloat(seg.get(Vec.I16_LE, off)); }

    static float f16s(MemorySegment seg, long off) { return Float.float16ToFloat(seg.get(Vec.I16_LE, off)); }

    static float f32s(MemorySegment seg, long off) { return seg.get(Vec.F32_LE, off); }

    /**
     * Rows [r0, r1) of out = x · Wᵀ, any T ≥ 1. x: (T, cols) at 0; out: (T, rows) at 0. For
     * T above {@link CpuTuning#directMaxT(int)} this packs x itself; parallel callers pack once ({@link Gemm#pack}) and
     * call {@link Gemm#gemm} per row range.
     */
    static void matmulRows(Weight w, float[] x, int T, float[] out, int r0, int r1) {
        if (!vectorizable(w.data())) {
            scalarRows(w, x, T, out, r0, r1);
        } else if (T == 1) {
            MemorySegment seg = w.data();
            switch (w.dtype()) {
                case BF16 -> Bf16Kernels.gemv(seg, w.cols(), x, 0, out, 0, r0, r1);
                case F16 -> F16Kernels.gemv(seg, w.cols(), x, 0, out, 0, r0, r1);
                case F32 -> F32Kernels.gemv(seg, w.cols(), x, 0, out, 0, r0, r1);
            }
        } else if (T <= CpuTuning.directMaxT(w.cols())) {
            direct(w, x, T, out, r0, r1);
        } else {
            Gemm.gemm(w, Gemm.pack(x, w.cols(), T), T, out, r0, r1);
        }
    }

    /**
     * T &gt; 1 without scratch: W is widened in registers for every 4 tokens. For each group of 4
     * rows, tiles of 4 (then 2, 1) tokens run over whole rows (blocked over columns only beyond
     * DIRECT_KC): W streams from memory once per DIRECT_TB tokens as 4 long row streams, later
     * token tiles find the group's rows in L1/L2, and the 4-token x tile stays in L2.
     */
    static void direct(Weight w, float[] x, int T, float[] out, int r0, int r1) {
        directKx(w, w.dtype() == DType.BF16 ? Bf16Kernels.pairRows(x, T, w.cols()) : x, T, out, r0, r1);
    }

    /** As above with x in the kernels' layout: for bf16 paired per token row ({@link Bf16Kernels#pair}). */
    static void directKx(Weight w, float[] kx, int T, float[] out, int r0, int r1) {
        final MemorySegment seg = w.data();
        final int rows = w.rows(), cols = w.cols();
        final int kind = switch (w.dtype()) { case BF16 -> K_BF16; case F16 -> K_F16; case F32 -> K_F32; };
        final float[] x = kx;
        for (int t = 0; t < T; t++) Arrays.fill(out, t * rows + r0, t * rows + r1, 0f);
        for (int tb = 0; tb < T; tb += DIRECT_TB) {
            final int te = Math.min(T, tb + DIRECT_TB);
            for (int c0 = 0; c0 < cols; c0 += DIRECT_KC) {
                final int c1 = Math.min(cols, c0 + DIRECT_KC);
                int r = r0;
                for (; r + 4 <= r1; r += 4) {
                    int t = tb;
                    if (Vec.WIDE_REGISTER_FILE) { // 16 accumulators need 32 vector registers
                        for (; t + 4 <= te; t += 4) direct4x4(kind, seg, r, cols, c0, c1, x, t * cols, cols, out, t * rows + r, rows);
                    }
                    for (; t + 2 <= te; t += 2) direct4x2(kind, seg, r, cols, c0, c1, x, t * cols, cols, out, t * rows + r, rows);
                    if (t < te) direct4x1(kind, seg, r, cols, c0, c1, x, t * cols, cols, out, t * rows + r, rows);
                }
                for (; r < r1; r++) {
                    for (int t = tb; t < te; t++) direct1x1(kind, seg, r, cols, c0, c1, x, t * cols, cols, out, t * rows + r, rows);
                }
            }
        }
    }

    private static void direct4x4(int kind, MemorySegment seg, int r, int cols, int c0, int c1, float[] x, int xo, int xs, float[] out, int oo, int os) {
        switch (kind) {
            case K_BF16 -> Bf16Kernels.direct4x4(seg, r, cols, c0, c1, x, xo, xs, out, oo, os);
            case K_F16 -> F16Kernels.direct4x4(seg, r, cols, c0, c1, x, xo, xs, out, oo, os);
            default -> F32Kernels.direct4x4(seg, r, cols, c0, c1, x, xo, xs, out, oo, os);
        }
    }

    private static void direct4x2(int kind, MemorySegment seg, int r, int cols, int c0, int c1, float[] x, int xo, int xs, float[] out, int oo, int os) {
        switch (kind) {
            case K_BF16 -> Bf16Kernels.direct4x2(seg, r, cols, c0, c1, x, xo, xs, out, oo, os);
            case K_F16 -> F16Kernels.direct4x2(seg, r, cols, c0, c1, x, xo, xs, out, oo, os);
            default -> F32Kernels.direct4x2(seg, r, cols, c0, c1, x, xo, xs, out, oo, os);
        }
    }

    private static void direct4x1(int kind, MemorySegment seg, int r, int cols, int c0, int c1, float[] x, int xo, int xs, float[] out, int oo, int os) {
        switch (kind) {
            case K_BF16 -> Bf16Kernels.direct4x1(seg, r, cols, c0, c1, x, xo, xs, out, oo, os);
            case K_F16 -> F16Kernels.direct4x1(seg, r, cols, c0, c1, x, xo, xs, out, oo, os);
            default -> F32Kernels.direct4x1(seg, r, cols, c0, c1, x, xo, xs, out, oo, os);
        }
    }

    private static void direct1x1(int kind, MemorySegment seg, int r, int cols, int c0, int c1, float[] x, int xo, int xs, float[] out, int oo, int os) {
        switch (kind) {
            case K_BF16 -> Bf16Kernels.direct1x1(seg, r, cols, c0, c1, x, xo, xs, out, oo, os);
            case K_F16 -> F16Kernels.direct1x1(seg, r, cols, c0, c1, x, xo, xs, out, oo, os);
            default -> F32Kernels.direct1x1(seg, r, cols, c0, c1, x, xo, xs, out, oo, os);
        }
    }

    /** The T = 1 kernel for tokens [t0, t1) and rows [r0, r1). */
    private static void gemvTokens(MemorySegment seg, DType dt, int cols, float[] x, int t0, int t1, float[] out, int rows, int r0, int r1) {
        for (int t = t0; t < t1; t++) {
            switch (dt) {
                case BF16 -> Bf16Kernels.gemv(seg, cols, x, t * cols, out, t * rows, r0, r1);
                case F16 -> F16Kernels.gemv(seg, cols, x, t * cols, out, t * rows, r0, r1);
                case F32 -> F32Kernels.gemv(seg, cols, x, t * cols, out, t * rows, r0, r1);
            }
        }
    }

    /** The Vector API reads native segments and heap segments backed by byte[] only. */
    static boolean vectorizable(MemorySegment seg) {
        return seg.isNative() || seg.heapBase().orElse(null) instanceof byte[];
    }

    /** Reference path for segments the Vector API cannot read (e.g. views of a float[]). */
    static void scalarRows(Weight w, float[] x, int T, float[] out, int r0, int r1) {
        int rows = w.rows(), cols = w.cols();
        for (int r = r0; r < r1; r++) {
            for (int t = 0; t < T; t++) {
                float acc = 0;
                for (int c = 0; c < cols; c++) acc = Math.fma(w.get(r, c), x[t * cols + c], acc);
                out[t * rows + r] = acc;
            }
        }
    }

    /**
     * T = 1 over a list of row pieces: piece k is out_k[r] = W_k[r, :] · x for r in [lo[k], hi[k]).
     * The pieces' rows, concatenated, are read as four equal streams side by side (and at most three
     * rows alone at the end), so a task whose rows span several small weights (k and v) still
     * streams long runs. The weights must share their column count; pieces of another dtype than
     * the first, or that the Vector API cannot read, run on their own.
     */
    static void gemvPieces(Weight[] ws, float[][] outs, int[] lo, int[] hi, int pieces, float[] x) {
        gemvPieces(ws, outs, lo, hi, pieces, x, new int[4], new int[4]);
    }

    /** As above with the caller's scratch for the four streams' piece and row (4 ints each). */
    static void gemvPieces(Weight[] ws, float[][] outs, int[] lo, int[] hi, int pieces, float[] x, int[] p, int[] r) {
        if (pieces == 0) return;
        gemvPieces(ws, outs, lo, hi, pieces, x, kernelX(ws[0].dtype(), x, ws[0].cols(), null), p, r);
    }

    /**
     * x in the layout the stream kernel of dtype dt reads ({@link #gemvSteps}): bf16 pairs it ({@link Bf16Kernels#pair},
     * into holder[0], grown when shorter; a new array with holder null), the other dtypes read x as it is.
     */
    static float[] kernelX(DType dt, float[] x, int cols, float[][] holder) {
        if (dt != DType.BF16 || !CpuTuning.bf16Pairs) return x;
        return Bf16Kernels.pairRows(x, 0, 1, cols, holder != null ? holder : new float[1][0]);
    }

    /** As above with x already in the kernel's layout as kx ({@link #kernelX}); x itself for the leftover rows. */
    static void gemvPieces(Weight[] ws, float[][] outs, int[] lo, int[] hi, int pieces, float[] x, float[] kx, int[] p, int[] r) {
        if (pieces == 0) return;
        DType dt = ws[0].dtype();
        int cols = ws[0].cols(), total = 0;
        boolean uniform = true;
        for (int k = 0; k < pieces; k++) {
            total += hi[k] - lo[k];
            uniform &= ws[k].dtype() == dt && ws[k].cols() == cols && vectorizable(ws[k].data());
        }
        if (!uniform) {
            for (int k = 0; k < pieces; k++) matmulRows(ws[k], x, 1, outs[k], lo[k], hi[k]);
            return;
        }
        final int q = total / 4;
        gemvSteps(ws, outs, lo, hi, pieces, kx, q, 0, q, p, r);
        gemvLeftover(ws, outs, lo, hi, pieces, x, 4 * q);
    }

    /**
     * Row-steps [s0, s1) of the four streams of a piece list (all pieces of one dtype and column count, readable by
     * the Vector API): stream s is the rows s·q, s·q + 1, ... of the pieces' rows concatenated; step i computes
     * row i of every stream. kx: x in the kernel's layout ({@link #kernelX}). p, r: scratch for the streams' piece and
     * row (4 ints each).
     */
    static void gemvSteps(Weight[] ws, float[][] outs, int[] lo, int[] hi, int pieces, float[] kx, int q, int s0, int s1, int[] p, int[] r) {
        gemvSteps(ws, outs, lo, hi, pieces, kx, q, s0, s1, p, r, null, 0, 0);
    }

    /** Claims of a stoppable {@link #gemvSteps}: opaque accesses to a long[] (no ordering; see GemvJob's helping). */
    static final VarHandle LIMIT = MethodHandles.arrayElementVarHandle(long[].class);

    /**
     * A stoppable kernel's claim of up to {@code want} steps from {@code step} (see GemvJob's helping): 0 when {@code step}
     * has reached the limit at {@code lim[limIdx]}; else publishes the end of the claimed steps at {@code lim[progIdx]} and
     * returns their count (at most up to the limit read).
     */
    static int claim(long[] lim, int limIdx, int progIdx, int step, int want) {
        int n = Math.min(want, (int) (long) LIMIT.getOpaque(lim, limIdx) - step);
        if (n <= 0) return 0;
        LIMIT.setOpaque(lim, progIdx, (long) (step + n));
        return n;
    }

    /**
     * As above, stoppable: with {@code lim} non-null, before each step it stops when the step has reached the limit at
     * {@code lim[limIdx]}, else publishes the step + 1 at {@code lim[progIdx]}. Returns the first step not done.
     */
    static int gemvSteps(Weight[] ws, float[][] outs, int[] lo, int[] hi, int pieces, float[] kx, int q, int s0, int s1, int[] p, int[] r,
                         long[] lim, int limIdx, int progIdx) {
        if (s1 <= s0) return s1;
        DType dt = ws[0].dtype();
        int cols = ws[0].cols();
        final long rowBytes = (long) dt.bytes() * cols;
        for (int s = 0; s < 4; s++) {
            int g = s * q + s0, k = 0;
            while (g >= hi[k] - lo[k]) g -= hi[k] - lo[k++];
            p[s] = k;
            r[s] = lo[k] + g;
        }
        int step = s0;
        for (int left = s1 - s0; left > 0; ) {
            int n = left;
            for (int s = 0; s < 4; s++) n = Math.min(n, hi[p[s]] - r[s]);
            MemorySegment m0 = ws[p[0]].data(), m1 = ws[p[1]].data(), m2 = ws[p[2]].data(), m3 = ws[p[3]].data();
            long b0 = r[0] * rowBytes, b1 = r[1] * rowBytes, b2 = r[2] * rowBytes, b3 = r[3] * rowBytes;
            int done = gemv4(dt, m0, b0, m1, b1, m2, b2, m3, b3, cols, kx, outs[p[0]], r[0], outs[p[1]], r[1], outs[p[2]], r[2], outs[p[3]], r[3], n,
                    lim, limIdx, progIdx, step);
            step += done;
            if (done < n) return step;
            left -= n;
            for (int s = 0; s < 4; s++) {
                r[s] += n;
                if (r[s] == hi[p[s]] && left > 0) {
                    do p[s]++; while (lo[p[s]] == hi[p[s]]);
                    r[s] = lo[p[s]];
                }
            }
        }
        return step;
    }

    /**
     * The four-stream kernel of this dtype: dk[ik + i] = row i of stream k (rows at bytes bk + i·rowBytes of mk) · x,
     * kx being x in the kernel's layout ({@link #kernelX}). Stoppable with {@code lim} non-null: it claims the rows some
     * steps at a time (half of what is left, at least {@link CpuTuning#claimBytes} of weights, {@link CpuTuning#claimDiv};
     * {@link #claim}) and stops when {@code step0 + i} has reached the
     * limit at {@code lim[limIdx]}, each claim then computed by one kernel call (the kernels have no exit in their row loop:
     * see {@link Bf16Kernels#gemv4}). Returns the rows done.
     */
    static int gemv4(DType dt, MemorySegment m0, long b0, MemorySegment m1, long b1, MemorySegment m2, long b2, MemorySegment m3, long b3,
                     int cols, float[] kx, float[] d0, int i0, float[] d1, int i1, float[] d2, int i2, float[] d3, int i3, int n,
                     long[] lim, int limIdx, int progIdx, int step0) {
        if (lim == null) {
            gemv4(dt, m0, b0, m1, b1, m2, b2, m3, b3, cols, kx, d0, i0, d1, i1, d2, i2, d3, i3, n);
            return n;
        }
        final long rb = (long) dt.bytes() * cols;
        final int want = (int) Math.max(1, CpuTuning.claimBytes / (4 * rb));
        final int div = CpuTuning.claimDiv;
        for (int i = 0; i < n; ) {
            int k = claim(lim, limIdx, progIdx, step0 + i, Math.min(div > 0 ? Math.max(want, (n - i + div - 1) / div) : want, n - i));
            if (k == 0) return i;
            gemv4(dt, m0, b0 + i * rb, m1, b1 + i * rb, m2, b2 + i * rb, m3, b3 + i * rb, cols, kx, d0, i0 + i, d1, i1 + i, d2, i2 + i, d3, i3 + i, k);
            i += k;
        }
        return n;
    }

    private static void gemv4(DType dt, MemorySegment m0, long b0, MemorySegment m1, long b1, MemorySegment m2, long b2, MemorySegment m3, long b3,
                              int cols, float[] kx, float[] d0, int i0, float[] d1, int i1, float[] d2, int i2, float[] d3, int i3, int n) {
        if (CpuTuning.readOnly) { // diagnostic: the rows read in the kernels' order (four streams in lockstep), no arithmetic
            final long rb = (long) dt.bytes() * cols, vb = rb - rb % (4L * Vec.L);
            jdk.incubator.vector.IntVector acc = jdk.incubator.vector.IntVector.zero(Vec.I);
            for (int i = 0; i < n; i++) {
                long p0 = b0 + i * rb, p1 = b1 + i * rb, p2 = b2 + i * rb, p3 = b3 + i * rb;
                for (long c = 0; c < vb; c += 4L * Vec.L) {
                    acc = acc.add(jdk.incubator.vector.IntVector.fromMemorySegment(Vec.I, m0, p0 + c, java.nio.ByteOrder.LITTLE_ENDIAN))
                            .add(jdk.incubator.vector.IntVector.fromMemorySegment(Vec.I, m1, p1 + c, java.nio.ByteOrder.LITTLE_ENDIAN))
                            .add(jdk.incubator.vector.IntVector.fromMemorySegment(Vec.I, m2, p2 + c, java.nio.ByteOrder.LITTLE_ENDIAN))
                            .add(jdk.incubator.vector.IntVector.fromMemorySegment(Vec.I, m3, p3 + c, java.nio.ByteOrder.LITTLE_ENDIAN));
                }
            }
            float z = acc.reduceLanes(jdk.incubator.vector.VectorOperators.ADD) == 42 ? 1f : 0f;
            java.util.Arrays.fill(d0, i0, i0 + n, z);
            java.util.Arrays.fill(d1, i1, i1 + n, z);
            java.util.Arrays.fill(d2, i2, i2 + n, z);
            java.util.Arrays.fill(d3, i3, i3 + n, z);
            return;
        }
        switch (dt) {
            case BF16 -> {
                if (CpuTuning.bf16Pairs) {
                    Bf16Kernels.gemv4(m0, b0, m1, b1, m2, b2, m3, b3, cols, kx, 0, d0, i0, d1, i1, d2, i2, d3, i3, n);
                } else {
                    Bf16Kernels.gemv4Widen(m0, b0, m1, b1, m2, b2, m3, b3, cols, kx, 0, d0, i0, d1, i1, d2, i2, d3, i3, n);
                }
            }
            case F16 -> F16Kernels.gemv4(m0, b0, m1, b1, m2, b2, m3, b3, cols, kx, 0, d0, i0, d1, i1, d2, i2, d3, i3, n);
            case F32 -> F32Kernels.gemv4(m0, b0, m1, b1, m2, b2, m3, b3, cols, kx, 0, d0, i0, d1, i1, d2, i2, d3, i3, n);
        }
    }

    /** The pieces' rows from concatenated index {@code from} on, one at a time. */
    static void gemvLeftover(Weight[] ws, float[][] outs, int[] lo, int[] hi, int pieces, float[] x, int from) {
        int total = 0;
        for (int k = 0; k < pieces; k++) total += hi[k] - lo[k];
        for (int g = from, k = 0, base = 0; g < total; g++) {
            while (g - base >= hi[k] - lo[k]) base += hi[k] - lo[k++];
            gemvRow(ws[k], outs[k], lo[k] + g - base, x);
        }
    }

    /** out[row] = W[row, :] · x, one row (the vector kernels' per-row arithmetic). */
    static void gemvRow(Weight w, float[] out, int row, float[] x) {
        MemorySegment m = w.data();
        long off = (long) row * w.dtype().bytes() * w.cols();
        switch (w.dtype()) {
            case BF16 -> Bf16Kernels.gemv1(m, off, w.cols(), x, 0, out, row);
            case F16 -> F16Kernels.gemv1(m, off, w.cols(), x, 0, out, row);
            case F32 -> F32Kernels.gemv1(m, off, w.cols(), x, 0, out, row);
        }
    }

    /** Widens W[r, c0 .. c0+n) into dst[dOff ..]. */
    static void widen(Weight w, int r, int c0, float[] dst, int dOff, int n) {
        MemorySegment seg = w.data();
        if (!vectorizable(seg)) {
            for (int c = 0; c < n; c++) dst[dOff + c] = w.get(r, c0 + c);
            return;
        }
        long e = (long) r * w.cols() + c0;
        switch (w.dtype()) {
            case BF16 -> Bf16Kernels.widen(seg, 2 * e, dst, dOff, n);
            case F16 -> F16Kernels.widen(seg, 2 * e, dst, dOff, n);
            case F32 -> F32Kernels.widen(seg, 4 * e, dst, dOff, n);
        }
    }

    static final int K_BF16 = 0, K_F16 = 1, K_F32 = 2;

    /** Σ_{c in [vb, cols)} W(row at byte rowOff)[c]·x[xo + c], scalar (the columns after the vectors). */
    static float tailDot(MemorySegment seg, long rowOff, int kind, int vb, int cols, float[] x, int xo) {
        float s = 0;
        for (int c = vb; c < cols; c++) {
            float w = switch (kind) {
                case K_BF16 -> bf16s(seg, rowOff + 2L * c);
                case K_F16 -> f16s(seg, rowOff + 2L * c);
                default -> f32s(seg, rowOff + 4L * c);
            };
            s = Math.fma(w, x[xo + c], s);
        }
        return s;
    }

}
