package io.chunkserve.runtime.cpu;

import static io.chunkserve.runtime.cpu.Vec.F;
import static io.chunkserve.runtime.cpu.Vec.I;
import static io.chunkserve.runtime.cpu.Vec.L;
import static io.chunkserve.runtime.cpu.Vec.LE;
import static io.chunkserve.runtime.cpu.Vec.S;
import static io.chunkserve.runtime.cpu.Vec.S2;
import static jdk.incubator.vector.VectorOperators.ADD;
import static jdk.incubator.vector.VectorOperators.GE;
import static jdk.incubator.vector.VectorOperators.I2F;
import static jdk.incubator.vector.VectorOperators.LSHL;
import static jdk.incubator.vector.VectorOperators.LT;
import static jdk.incubator.vector.VectorOperators.S2I;

import io.chunkserve.model.DType;
import io.chunkserve.model.Weight;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;

/**
 * Matrix-multiply kernels: out (T, rows) = x (T, cols) · Wᵀ with W (rows, cols) row-major in its
 * stored dtype. Each entry point computes the rows [r0, r1) of the output for every token, so
 * threads given disjoint row ranges read disjoint parts of W.
 *
 * <ul>
 *   <li>T = 1 ({@code gemv*}): per-dtype streaming kernels, four rows at a time sharing each x
 *       load, widened in registers straight from the (possibly unaligned, memory-mapped)
 *       segment. Memory-bandwidth bound.</li>
 *   <li>1 &lt; T ≤ DIRECT_MAX_T ({@link #direct}): the same in-register widening with a 4 rows ×
 *       4 tokens register block (16 accumulators), blocked over columns and tokens. Close to
 *       memory bound up to T ≈ 4 and compute bound beyond.</li>
 *   <li>larger T ({@link Gemm}): packed, cache-blocked GEMM in broadcast form; W is widened once
 *       per block of tokens.</li>
 * </ul>
 * The per-dtype kernels are written out, conversion included, rather than calling a shared
 * widening helper: a helper that C2 has already compiled on its own is too big to inline
 * ("already compiled into a big method"), and a non-inlined method returning a vector boxes it —
 * measured as a 3× slowdown of the f16 kernel. Keep every vector-valued call in these loops to
 * JDK methods (which are force-inlined). The kernels were generated from one template per shape;
 * edit all dtypes alike.
 */
final class MatKernels {
    private MatKernels() { }

    /** Largest T served by the scratch-free kernels; larger T goes to the packed {@link Gemm}. */
    static final int DIRECT_MAX_T = Integer.getInteger("chunkserve.cpu.directMaxT", 24);
    /** Column block of the scratch-free kernels (a multiple of every vector length). */
    static final int DIRECT_KC = Math.max(64, Integer.getInteger("chunkserve.cpu.direct.kc", 16384) & ~63);
    /** Token block of the scratch-free kernels. */
    static final int DIRECT_TB = Math.max(4, Integer.getInteger("chunkserve.cpu.direct.tb", 64));

    static float bf16s(MemorySegment seg, long off) { return DType.bf16ToFloat(seg.get(Vec.I16_LE, off)); }

    static float f16s(MemorySegment seg, long off) { return Float.float16ToFloat(seg.get(Vec.I16_LE, off)); }

    static float f32s(MemorySegment seg, long off) { return seg.get(Vec.F32_LE, off); }

    /**
     * Rows [r0, r1) of out = x · Wᵀ, any T ≥ 1. x: (T, cols) at 0; out: (T, rows) at 0. For
     * T &gt; DIRECT_MAX_T this packs x itself; parallel callers pack once ({@link Gemm#pack}) and
     * call {@link Gemm#gemm} per row range.
     */
    static void matmulRows(Weight w, float[] x, int T, float[] out, int r0, int r1) {
        if (!vectorizable(w.data())) {
            scalarRows(w, x, T, out, r0, r1);
        } else if (T == 1) {
            MemorySegment seg = w.data();
            switch (w.dtype()) {
                case BF16 -> gemvBf16(seg, w.cols(), x, 0, out, 0, r0, r1);
                case F16 -> gemvF16(seg, w.cols(), x, 0, out, 0, r0, r1);
                case F32 -> gemvF32(seg, w.cols(), x, 0, out, 0, r0, r1);
            }
        } else if (T <= DIRECT_MAX_T) {
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
        final MemorySegment seg = w.data();
        final int rows = w.rows(), cols = w.cols();
        final int kind = switch (w.dtype()) { case BF16 -> K_BF16; case F16 -> K_F16; case F32 -> K_F32; };
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
            case K_BF16 -> direct4x4Bf16(seg, r, cols, c0, c1, x, xo, xs, out, oo, os);
            case K_F16 -> direct4x4F16(seg, r, cols, c0, c1, x, xo, xs, out, oo, os);
            default -> direct4x4F32(seg, r, cols, c0, c1, x, xo, xs, out, oo, os);
        }
    }

    private static void direct4x2(int kind, MemorySegment seg, int r, int cols, int c0, int c1, float[] x, int xo, int xs, float[] out, int oo, int os) {
        switch (kind) {
            case K_BF16 -> direct4x2Bf16(seg, r, cols, c0, c1, x, xo, xs, out, oo, os);
            case K_F16 -> direct4x2F16(seg, r, cols, c0, c1, x, xo, xs, out, oo, os);
            default -> direct4x2F32(seg, r, cols, c0, c1, x, xo, xs, out, oo, os);
        }
    }

    private static void direct4x1(int kind, MemorySegment seg, int r, int cols, int c0, int c1, float[] x, int xo, int xs, float[] out, int oo, int os) {
        switch (kind) {
            case K_BF16 -> direct4x1Bf16(seg, r, cols, c0, c1, x, xo, xs, out, oo, os);
            case K_F16 -> direct4x1F16(seg, r, cols, c0, c1, x, xo, xs, out, oo, os);
            default -> direct4x1F32(seg, r, cols, c0, c1, x, xo, xs, out, oo, os);
        }
    }

    private static void direct1x1(int kind, MemorySegment seg, int r, int cols, int c0, int c1, float[] x, int xo, int xs, float[] out, int oo, int os) {
        switch (kind) {
            case K_BF16 -> direct1x1Bf16(seg, r, cols, c0, c1, x, xo, xs, out, oo, os);
            case K_F16 -> direct1x1F16(seg, r, cols, c0, c1, x, xo, xs, out, oo, os);
            default -> direct1x1F32(seg, r, cols, c0, c1, x, xo, xs, out, oo, os);
        }
    }

    /** The T = 1 kernel for tokens [t0, t1) and rows [r0, r1). */
    private static void gemvTokens(MemorySegment seg, DType dt, int cols, float[] x, int t0, int t1, float[] out, int rows, int r0, int r1) {
        for (int t = t0; t < t1; t++) {
            switch (dt) {
                case BF16 -> gemvBf16(seg, cols, x, t * cols, out, t * rows, r0, r1);
                case F16 -> gemvF16(seg, cols, x, t * cols, out, t * rows, r0, r1);
                case F32 -> gemvF32(seg, cols, x, t * cols, out, t * rows, r0, r1);
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

    /** As above with the caller's scratch for the four streams' piece and row (4 ints each): no allocation. */
    static void gemvPieces(Weight[] ws, float[][] outs, int[] lo, int[] hi, int pieces, float[] x, int[] p, int[] r) {
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
        final long rowBytes = (long) dt.bytes() * cols;
        final int q = total / 4;
        if (q > 0) {
            // p, r: each stream's piece and row
            for (int s = 0; s < 4; s++) {
                int g = s * q, k = 0;
                while (g >= hi[k] - lo[k]) g -= hi[k] - lo[k++];
                p[s] = k;
                r[s] = lo[k] + g;
            }
            for (int left = q; left > 0; ) {
                int n = left;
                for (int s = 0; s < 4; s++) n = Math.min(n, hi[p[s]] - r[s]);
                MemorySegment m0 = ws[p[0]].data(), m1 = ws[p[1]].data(), m2 = ws[p[2]].data(), m3 = ws[p[3]].data();
                long b0 = r[0] * rowBytes, b1 = r[1] * rowBytes, b2 = r[2] * rowBytes, b3 = r[3] * rowBytes;
                float[] d0 = outs[p[0]], d1 = outs[p[1]], d2 = outs[p[2]], d3 = outs[p[3]];
                switch (dt) {
                    case BF16 -> gemv4Bf16(m0, b0, m1, b1, m2, b2, m3, b3, cols, x, 0, d0, r[0], d1, r[1], d2, r[2], d3, r[3], n);
                    case F16 -> gemv4F16(m0, b0, m1, b1, m2, b2, m3, b3, cols, x, 0, d0, r[0], d1, r[1], d2, r[2], d3, r[3], n);
                    case F32 -> gemv4F32(m0, b0, m1, b1, m2, b2, m3, b3, cols, x, 0, d0, r[0], d1, r[1], d2, r[2], d3, r[3], n);
                }
                left -= n;
                for (int s = 0; s < 4; s++) {
                    r[s] += n;
                    if (r[s] == hi[p[s]] && left > 0) {
                        do p[s]++; while (lo[p[s]] == hi[p[s]]);
                        r[s] = lo[p[s]];
                    }
                }
            }
        }
        // the last total - 4q rows, one at a time
        for (int g = 4 * q, k = 0, base = 0; g < total; g++) {
            while (g - base >= hi[k] - lo[k]) base += hi[k] - lo[k++];
            int row = lo[k] + g - base;
            MemorySegment m = ws[k].data();
            switch (dt) {
                case BF16 -> gemv1Bf16(m, row * rowBytes, cols, x, 0, outs[k], row);
                case F16 -> gemv1F16(m, row * rowBytes, cols, x, 0, outs[k], row);
                case F32 -> gemv1F32(m, row * rowBytes, cols, x, 0, outs[k], row);
            }
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
            case BF16 -> widenBf16(seg, 2 * e, dst, dOff, n);
            case F16 -> widenF16(seg, 2 * e, dst, dOff, n);
            case F32 -> widenF32(seg, 4 * e, dst, dOff, n);
        }
    }

    /** T = 1: out[oOff + r] = Σ_c W[r, c]·x[xOff + c] for r in [r0, r1); W is bf16 (rows × cols) at byte 0 of seg. */
    static void gemvBf16(MemorySegment seg, int cols, float[] x, int xOff, float[] out, int oOff, int r0, int r1) {
        // four row streams far apart (quarters of [r0, r1)): the hardware prefetcher follows each
        // one, where four adjacent rows look like short streams it cannot run ahead of
        final long rowBytes = 2L * cols;
        final int q = (r1 - r0) / 4;
        if (q > 0) {
            final long o = r0 * rowBytes, qb = q * rowBytes;
            gemv4Bf16(seg, o, seg, o + qb, seg, o + 2 * qb, seg, o + 3 * qb, cols, x, xOff,
                    out, oOff + r0, out, oOff + r0 + q, out, oOff + r0 + 2 * q, out, oOff + r0 + 3 * q, q);
        }
        for (int r = r0 + 4 * q; r < r1; r++) gemv1Bf16(seg, r * rowBytes, cols, x, xOff, out, oOff + r);
    }

    /**
     * Four streams of n rows each, read side by side: stream k is the rows at bytes bk, bk + rowBytes, ...
     * of mk (a bf16 matrix of {@code cols} columns); dk[ik + i] = row i of stream k · x[xOff ..].
     */
    static void gemv4Bf16(MemorySegment m0, long b0, MemorySegment m1, long b1, MemorySegment m2, long b2, MemorySegment m3, long b3,
                          int cols, float[] x, int xOff, float[] d0, int i0, float[] d1, int i1, float[] d2, int i2, float[] d3, int i3, int n) {
        final long rowBytes = 2L * cols;
        final int vb = cols - cols % L, vb2 = cols - cols % (2 * L);
        for (int i = 0; i < n; i++) {
            final long p0 = b0 + i * rowBytes, p1 = b1 + i * rowBytes, p2 = b2 + i * rowBytes, p3 = b3 + i * rowBytes;
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, e0 = a0, e1 = a0, e2 = a0, e3 = a0;
            int c = 0;
            // full-width loads of 2·L bf16, widened in two halves: half the load instructions of the
            // loop below, measured ~15% faster from DRAM at 2048 columns (equal at 576)
            for (; c < vb2; c += 2 * L) {
                FloatVector xv = FloatVector.fromArray(F, x, xOff + c), xw = FloatVector.fromArray(F, x, xOff + c + L);
                long cb = 2L * c;
                ShortVector h0 = ShortVector.fromMemorySegment(S2, m0, p0 + cb, LE);
                a0 = ((IntVector) h0.convertShape(S2I, I, 0)).lanewise(LSHL, 16).reinterpretAsFloats().fma(xv, a0);
                e0 = ((IntVector) h0.convertShape(S2I, I, 1)).lanewise(LSHL, 16).reinterpretAsFloats().fma(xw, e0);
                ShortVector h1 = ShortVector.fromMemorySegment(S2, m1, p1 + cb, LE);
                a1 = ((IntVector) h1.convertShape(S2I, I, 0)).lanewise(LSHL, 16).reinterpretAsFloats().fma(xv, a1);
                e1 = ((IntVector) h1.convertShape(S2I, I, 1)).lanewise(LSHL, 16).reinterpretAsFloats().fma(xw, e1);
                ShortVector h2 = ShortVector.fromMemorySegment(S2, m2, p2 + cb, LE);
                a2 = ((IntVector) h2.convertShape(S2I, I, 0)).lanewise(LSHL, 16).reinterpretAsFloats().fma(xv, a2);
                e2 = ((IntVector) h2.convertShape(S2I, I, 1)).lanewise(LSHL, 16).reinterpretAsFloats().fma(xw, e2);
                ShortVector h3 = ShortVector.fromMemorySegment(S2, m3, p3 + cb, LE);
                a3 = ((IntVector) h3.convertShape(S2I, I, 0)).lanewise(LSHL, 16).reinterpretAsFloats().fma(xv, a3);
                e3 = ((IntVector) h3.convertShape(S2I, I, 1)).lanewise(LSHL, 16).reinterpretAsFloats().fma(xw, e3);
            }
            for (; c < vb; c += L) {
                FloatVector xv = FloatVector.fromArray(F, x, xOff + c);
                long cb = 2L * c;
                FloatVector w0 = ((IntVector) ShortVector.fromMemorySegment(S, m0, p0 + cb, LE).convertShape(S2I, I, 0)).lanewise(LSHL, 16).reinterpretAsFloats();
                a0 = w0.fma(xv, a0);
                FloatVector w1 = ((IntVector) ShortVector.fromMemorySegment(S, m1, p1 + cb, LE).convertShape(S2I, I, 0)).lanewise(LSHL, 16).reinterpretAsFloats();
                a1 = w1.fma(xv, a1);
                FloatVector w2 = ((IntVector) ShortVector.fromMemorySegment(S, m2, p2 + cb, LE).convertShape(S2I, I, 0)).lanewise(LSHL, 16).reinterpretAsFloats();
                a2 = w2.fma(xv, a2);
                FloatVector w3 = ((IntVector) ShortVector.fromMemorySegment(S, m3, p3 + cb, LE).convertShape(S2I, I, 0)).lanewise(LSHL, 16).reinterpretAsFloats();
                a3 = w3.fma(xv, a3);
            }
            float s0 = a0.add(e0).reduceLanes(ADD), s1 = a1.add(e1).reduceLanes(ADD), s2 = a2.add(e2).reduceLanes(ADD), s3 = a3.add(e3).reduceLanes(ADD);
            for (c = vb; c < cols; c++) {
                float xc = x[xOff + c];
                long cb = 2L * c;
                s0 = Math.fma(bf16s(m0, p0 + cb), xc, s0);
                s1 = Math.fma(bf16s(m1, p1 + cb), xc, s1);
                s2 = Math.fma(bf16s(m2, p2 + cb), xc, s2);
                s3 = Math.fma(bf16s(m3, p3 + cb), xc, s3);
            }
            d0[i0 + i] = s0;
            d1[i1 + i] = s1;
            d2[i2 + i] = s2;
            d3[i3 + i] = s3;
        }
    }

    /** One row: out[oi] = (the bf16 row at byte o0 of seg, cols long) · x[xOff ..]. */
    static void gemv1Bf16(MemorySegment seg, long o0, int cols, float[] x, int xOff, float[] out, int oi) {
        final int vb = cols - cols % L;
        FloatVector a0 = FloatVector.zero(F), a1 = a0;
        int c = 0;
        for (; c + 2 * L <= vb; c += 2 * L) {
            FloatVector w0 = ((IntVector) ShortVector.fromMemorySegment(S, seg, o0 + 2L * c, LE).convertShape(S2I, I, 0)).lanewise(LSHL, 16).reinterpretAsFloats();
            a0 = w0.fma(FloatVector.fromArray(F, x, xOff + c), a0);
            FloatVector w1 = ((IntVector) ShortVector.fromMemorySegment(S, seg, o0 + 2L * (c + L), LE).convertShape(S2I, I, 0)).lanewise(LSHL, 16).reinterpretAsFloats();
            a1 = w1.fma(FloatVector.fromArray(F, x, xOff + c + L), a1);
        }
        for (; c < vb; c += L) {
            FloatVector w0 = ((IntVector) ShortVector.fromMemorySegment(S, seg, o0 + 2L * c, LE).convertShape(S2I, I, 0)).lanewise(LSHL, 16).reinterpretAsFloats();
            a0 = w0.fma(FloatVector.fromArray(F, x, xOff + c), a0);
        }
        float s0 = a0.add(a1).reduceLanes(ADD);
        for (c = vb; c < cols; c++) s0 = Math.fma(bf16s(seg, o0 + 2L * c), x[xOff + c], s0);
        out[oi] = s0;
    }

    /** dst[dOff + i] = fp32 of the bf16 element at seg[off + 2·i], i &lt; n. */
    static void widenBf16(MemorySegment seg, long off, float[] dst, int dOff, int n) {
        int i = 0;
        final int vb = n - n % L;
        for (; i < vb; i += L) {
            FloatVector v = ((IntVector) ShortVector.fromMemorySegment(S, seg, off + 2L * i, LE).convertShape(S2I, I, 0)).lanewise(LSHL, 16).reinterpretAsFloats();
            v.intoArray(dst, dOff + i);
        }
        for (; i < n; i++) dst[dOff + i] = bf16s(seg, off + 2L * i);
    }

    /** T = 1: out[oOff + r] = Σ_c W[r, c]·x[xOff + c] for r in [r0, r1); W is f16 (rows × cols) at byte 0 of seg. */
    static void gemvF16(MemorySegment seg, int cols, float[] x, int xOff, float[] out, int oOff, int r0, int r1) {
        // four row streams far apart (quarters of [r0, r1)): the hardware prefetcher follows each
        // one, where four adjacent rows look like short streams it cannot run ahead of
        final long rowBytes = 2L * cols;
        final int q = (r1 - r0) / 4;
        if (q > 0) {
            final long o = r0 * rowBytes, qb = q * rowBytes;
            gemv4F16(seg, o, seg, o + qb, seg, o + 2 * qb, seg, o + 3 * qb, cols, x, xOff,
                    out, oOff + r0, out, oOff + r0 + q, out, oOff + r0 + 2 * q, out, oOff + r0 + 3 * q, q);
        }
        for (int r = r0 + 4 * q; r < r1; r++) gemv1F16(seg, r * rowBytes, cols, x, xOff, out, oOff + r);
    }

    /**
     * Four streams of n rows each, read side by side: stream k is the rows at bytes bk, bk + rowBytes, ...
     * of mk (a f16 matrix of {@code cols} columns); dk[ik + i] = row i of stream k · x[xOff ..].
     */
    static void gemv4F16(MemorySegment m0, long b0, MemorySegment m1, long b1, MemorySegment m2, long b2, MemorySegment m3, long b3,
                          int cols, float[] x, int xOff, float[] d0, int i0, float[] d1, int i1, float[] d2, int i2, float[] d3, int i3, int n) {
        final long rowBytes = 2L * cols;
        final int vb = cols - cols % L;
        for (int i = 0; i < n; i++) {
            final long p0 = b0 + i * rowBytes, p1 = b1 + i * rowBytes, p2 = b2 + i * rowBytes, p3 = b3 + i * rowBytes;
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
            for (int c = 0; c < vb; c += L) {
                FloatVector xv = FloatVector.fromArray(F, x, xOff + c);
                long cb = 2L * c;
                IntVector h0 = (IntVector) ShortVector.fromMemorySegment(S, m0, p0 + cb, LE).convertShape(S2I, I, 0);
                IntVector e0 = h0.and(0x7fff);
                FloatVector w0 = e0.lanewise(LSHL, 13).add(IntVector.broadcast(I, 0x3800_0000).blend(0x7000_0000, e0.compare(GE, 0x7c00)))
                        .blend(e0.convert(I2F, 0).reinterpretAsFloats().mul(0x1p-24f).reinterpretAsInts(), e0.compare(LT, 0x0400))
                        .or(h0.lanewise(LSHL, 16).and(0x8000_0000)).reinterpretAsFloats();
                a0 = w0.fma(xv, a0);
                IntVector h1 = (IntVector) ShortVector.fromMemorySegment(S, m1, p1 + cb, LE).convertShape(S2I, I, 0);
                IntVector e1 = h1.and(0x7fff);
                FloatVector w1 = e1.lanewise(LSHL, 13).add(IntVector.broadcast(I, 0x3800_0000).blend(0x7000_0000, e1.compare(GE, 0x7c00)))
                        .blend(e1.convert(I2F, 0).reinterpretAsFloats().mul(0x1p-24f).reinterpretAsInts(), e1.compare(LT, 0x0400))
                        .or(h1.lanewise(LSHL, 16).and(0x8000_0000)).reinterpretAsFloats();
                a1 = w1.fma(xv, a1);
                IntVector h2 = (IntVector) ShortVector.fromMemorySegment(S, m2, p2 + cb, LE).convertShape(S2I, I, 0);
                IntVector e2 = h2.and(0x7fff);
                FloatVector w2 = e2.lanewise(LSHL, 13).add(IntVector.broadcast(I, 0x3800_0000).blend(0x7000_0000, e2.compare(GE, 0x7c00)))
                        .blend(e2.convert(I2F, 0).reinterpretAsFloats().mul(0x1p-24f).reinterpretAsInts(), e2.compare(LT, 0x0400))
                        .or(h2.lanewise(LSHL, 16).and(0x8000_0000)).reinterpretAsFloats();
                a2 = w2.fma(xv, a2);
                IntVector h3 = (IntVector) ShortVector.fromMemorySegment(S, m3, p3 + cb, LE).convertShape(S2I, I, 0);
                IntVector e3 = h3.and(0x7fff);
                FloatVector w3 = e3.lanewise(LSHL, 13).add(IntVector.broadcast(I, 0x3800_0000).blend(0x7000_0000, e3.compare(GE, 0x7c00)))
                        .blend(e3.convert(I2F, 0).reinterpretAsFloats().mul(0x1p-24f).reinterpretAsInts(), e3.compare(LT, 0x0400))
                        .or(h3.lanewise(LSHL, 16).and(0x8000_0000)).reinterpretAsFloats();
                a3 = w3.fma(xv, a3);
            }
            float s0 = a0.reduceLanes(ADD), s1 = a1.reduceLanes(ADD), s2 = a2.reduceLanes(ADD), s3 = a3.reduceLanes(ADD);
            for (int c = vb; c < cols; c++) {
                float xc = x[xOff + c];
                long cb = 2L * c;
                s0 = Math.fma(f16s(m0, p0 + cb), xc, s0);
                s1 = Math.fma(f16s(m1, p1 + cb), xc, s1);
                s2 = Math.fma(f16s(m2, p2 + cb), xc, s2);
                s3 = Math.fma(f16s(m3, p3 + cb), xc, s3);
            }
            d0[i0 + i] = s0;
            d1[i1 + i] = s1;
            d2[i2 + i] = s2;
            d3[i3 + i] = s3;
        }
    }

    /** One row: out[oi] = (the f16 row at byte o0 of seg, cols long) · x[xOff ..]. */
    static void gemv1F16(MemorySegment seg, long o0, int cols, float[] x, int xOff, float[] out, int oi) {
        final int vb = cols - cols % L;
        FloatVector a0 = FloatVector.zero(F), a1 = a0;
        int c = 0;
        for (; c + 2 * L <= vb; c += 2 * L) {
            IntVector h0 = (IntVector) ShortVector.fromMemorySegment(S, seg, o0 + 2L * c, LE).convertShape(S2I, I, 0);
            IntVector e0 = h0.and(0x7fff);
            FloatVector w0 = e0.lanewise(LSHL, 13).add(IntVector.broadcast(I, 0x3800_0000).blend(0x7000_0000, e0.compare(GE, 0x7c00)))
                    .blend(e0.convert(I2F, 0).reinterpretAsFloats().mul(0x1p-24f).reinterpretAsInts(), e0.compare(LT, 0x0400))
                    .or(h0.lanewise(LSHL, 16).and(0x8000_0000)).reinterpretAsFloats();
            a0 = w0.fma(FloatVector.fromArray(F, x, xOff + c), a0);
            IntVector h1 = (IntVector) ShortVector.fromMemorySegment(S, seg, o0 + 2L * (c + L), LE).convertShape(S2I, I, 0);
            IntVector e1 = h1.and(0x7fff);
            FloatVector w1 = e1.lanewise(LSHL, 13).add(IntVector.broadcast(I, 0x3800_0000).blend(0x7000_0000, e1.compare(GE, 0x7c00)))
                    .blend(e1.convert(I2F, 0).reinterpretAsFloats().mul(0x1p-24f).reinterpretAsInts(), e1.compare(LT, 0x0400))
                    .or(h1.lanewise(LSHL, 16).and(0x8000_0000)).reinterpretAsFloats();
            a1 = w1.fma(FloatVector.fromArray(F, x, xOff + c + L), a1);
        }
        for (; c < vb; c += L) {
            IntVector h0 = (IntVector) ShortVector.fromMemorySegment(S, seg, o0 + 2L * c, LE).convertShape(S2I, I, 0);
            IntVector e0 = h0.and(0x7fff);
            FloatVector w0 = e0.lanewise(LSHL, 13).add(IntVector.broadcast(I, 0x3800_0000).blend(0x7000_0000, e0.compare(GE, 0x7c00)))
                    .blend(e0.convert(I2F, 0).reinterpretAsFloats().mul(0x1p-24f).reinterpretAsInts(), e0.compare(LT, 0x0400))
                    .or(h0.lanewise(LSHL, 16).and(0x8000_0000)).reinterpretAsFloats();
            a0 = w0.fma(FloatVector.fromArray(F, x, xOff + c), a0);
        }
        float s0 = a0.add(a1).reduceLanes(ADD);
        for (c = vb; c < cols; c++) s0 = Math.fma(f16s(seg, o0 + 2L * c), x[xOff + c], s0);
        out[oi] = s0;
    }

    /** dst[dOff + i] = fp32 of the f16 element at seg[off + 2·i], i &lt; n. */
    static void widenF16(MemorySegment seg, long off, float[] dst, int dOff, int n) {
        int i = 0;
        final int vb = n - n % L;
        for (; i < vb; i += L) {
            IntVector h = (IntVector) ShortVector.fromMemorySegment(S, seg, off + 2L * i, LE).convertShape(S2I, I, 0);
            IntVector e = h.and(0x7fff);
            FloatVector v = e.lanewise(LSHL, 13).add(IntVector.broadcast(I, 0x3800_0000).blend(0x7000_0000, e.compare(GE, 0x7c00)))
                    .blend(e.convert(I2F, 0).reinterpretAsFloats().mul(0x1p-24f).reinterpretAsInts(), e.compare(LT, 0x0400))
                    .or(h.lanewise(LSHL, 16).and(0x8000_0000)).reinterpretAsFloats();
            v.intoArray(dst, dOff + i);
        }
        for (; i < n; i++) dst[dOff + i] = f16s(seg, off + 2L * i);
    }

    /** T = 1: out[oOff + r] = Σ_c W[r, c]·x[xOff + c] for r in [r0, r1); W is f32 (rows × cols) at byte 0 of seg. */
    static void gemvF32(MemorySegment seg, int cols, float[] x, int xOff, float[] out, int oOff, int r0, int r1) {
        // four row streams far apart (quarters of [r0, r1)): the hardware prefetcher follows each
        // one, where four adjacent rows look like short streams it cannot run ahead of
        final long rowBytes = 4L * cols;
        final int q = (r1 - r0) / 4;
        if (q > 0) {
            final long o = r0 * rowBytes, qb = q * rowBytes;
            gemv4F32(seg, o, seg, o + qb, seg, o + 2 * qb, seg, o + 3 * qb, cols, x, xOff,
                    out, oOff + r0, out, oOff + r0 + q, out, oOff + r0 + 2 * q, out, oOff + r0 + 3 * q, q);
        }
        for (int r = r0 + 4 * q; r < r1; r++) gemv1F32(seg, r * rowBytes, cols, x, xOff, out, oOff + r);
    }

    /**
     * Four streams of n rows each, read side by side: stream k is the rows at bytes bk, bk + rowBytes, ...
     * of mk (a f32 matrix of {@code cols} columns); dk[ik + i] = row i of stream k · x[xOff ..].
     */
    static void gemv4F32(MemorySegment m0, long b0, MemorySegment m1, long b1, MemorySegment m2, long b2, MemorySegment m3, long b3,
                          int cols, float[] x, int xOff, float[] d0, int i0, float[] d1, int i1, float[] d2, int i2, float[] d3, int i3, int n) {
        final long rowBytes = 4L * cols;
        final int vb = cols - cols % L;
        for (int i = 0; i < n; i++) {
            final long p0 = b0 + i * rowBytes, p1 = b1 + i * rowBytes, p2 = b2 + i * rowBytes, p3 = b3 + i * rowBytes;
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
            for (int c = 0; c < vb; c += L) {
                FloatVector xv = FloatVector.fromArray(F, x, xOff + c);
                long cb = 4L * c;
                FloatVector w0 = FloatVector.fromMemorySegment(F, m0, p0 + cb, LE);
                a0 = w0.fma(xv, a0);
                FloatVector w1 = FloatVector.fromMemorySegment(F, m1, p1 + cb, LE);
                a1 = w1.fma(xv, a1);
                FloatVector w2 = FloatVector.fromMemorySegment(F, m2, p2 + cb, LE);
                a2 = w2.fma(xv, a2);
                FloatVector w3 = FloatVector.fromMemorySegment(F, m3, p3 + cb, LE);
                a3 = w3.fma(xv, a3);
            }
            float s0 = a0.reduceLanes(ADD), s1 = a1.reduceLanes(ADD), s2 = a2.reduceLanes(ADD), s3 = a3.reduceLanes(ADD);
            for (int c = vb; c < cols; c++) {
                float xc = x[xOff + c];
                long cb = 4L * c;
                s0 = Math.fma(f32s(m0, p0 + cb), xc, s0);
                s1 = Math.fma(f32s(m1, p1 + cb), xc, s1);
                s2 = Math.fma(f32s(m2, p2 + cb), xc, s2);
                s3 = Math.fma(f32s(m3, p3 + cb), xc, s3);
            }
            d0[i0 + i] = s0;
            d1[i1 + i] = s1;
            d2[i2 + i] = s2;
            d3[i3 + i] = s3;
        }
    }

    /** One row: out[oi] = (the f32 row at byte o0 of seg, cols long) · x[xOff ..]. */
    static void gemv1F32(MemorySegment seg, long o0, int cols, float[] x, int xOff, float[] out, int oi) {
        final int vb = cols - cols % L;
        FloatVector a0 = FloatVector.zero(F), a1 = a0;
        int c = 0;
        for (; c + 2 * L <= vb; c += 2 * L) {
            FloatVector w0 = FloatVector.fromMemorySegment(F, seg, o0 + 4L * c, LE);
            a0 = w0.fma(FloatVector.fromArray(F, x, xOff + c), a0);
            FloatVector w1 = FloatVector.fromMemorySegment(F, seg, o0 + 4L * (c + L), LE);
            a1 = w1.fma(FloatVector.fromArray(F, x, xOff + c + L), a1);
        }
        for (; c < vb; c += L) {
            FloatVector w0 = FloatVector.fromMemorySegment(F, seg, o0 + 4L * c, LE);
            a0 = w0.fma(FloatVector.fromArray(F, x, xOff + c), a0);
        }
        float s0 = a0.add(a1).reduceLanes(ADD);
        for (c = vb; c < cols; c++) s0 = Math.fma(f32s(seg, o0 + 4L * c), x[xOff + c], s0);
        out[oi] = s0;
    }

    /** dst[dOff + i] = fp32 of the f32 element at seg[off + 4·i], i &lt; n. */
    static void widenF32(MemorySegment seg, long off, float[] dst, int dOff, int n) {
        int i = 0;
        final int vb = n - n % L;
        for (; i < vb; i += L) {
            FloatVector v = FloatVector.fromMemorySegment(F, seg, off + 4L * i, LE);
            v.intoArray(dst, dOff + i);
        }
        for (; i < n; i++) dst[dOff + i] = f32s(seg, off + 4L * i);
    }


    /** Rows r..r+3 × 4 token(s), columns [c0, c1), bf16 widened in registers (no scratch):
     *  out[oo + j·os + i] += Σ_c W[r + i, c]·x[xo + j·xs + c]. */
    static void direct4x4Bf16(MemorySegment seg, int r, int cols, int c0, int c1, float[] x, int xo, int xs, float[] out, int oo, int os) {
        final long rowBytes = 2L * cols, o0 = r * rowBytes, o1 = o0 + rowBytes, o2 = o1 + rowBytes, o3 = o2 + rowBytes;
        final int vb = c0 + (c1 - c0) / L * L;
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00, a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        for (int c = c0; c < vb; c += L) {
            long cb = 2L * c;
            FloatVector w0 = ((IntVector) ShortVector.fromMemorySegment(S, seg, o0 + cb, LE).convertShape(S2I, I, 0)).lanewise(LSHL, 16).reinterpretAsFloats();
            FloatVector w1 = ((IntVector) ShortVector.fromMemorySegment(S, seg, o1 + cb, LE).convertShape(S2I, I, 0)).lanewise(LSHL, 16).reinterpretAsFloats();
            FloatVector w2 = ((IntVector) ShortVector.fromMemorySegment(S, seg, o2 + cb, LE).convertShape(S2I, I, 0)).lanewise(LSHL, 16).reinterpretAsFloats();
            FloatVector w3 = ((IntVector) ShortVector.fromMemorySegment(S, seg, o3 + cb, LE).convertShape(S2I, I, 0)).lanewise(LSHL, 16).reinterpretAsFloats();
            FloatVector x0 = FloatVector.fromArray(F, x, xo + c);
            a00 = w0.fma(x0, a00);
            a10 = w1.fma(x0, a10);
            a20 = w2.fma(x0, a20);
            a30 = w3.fma(x0, a30);
            FloatVector x1 = FloatVector.fromArray(F, x, xo + 1 * xs + c);
            a01 = w0.fma(x1, a01);
            a11 = w1.fma(x1, a11);
            a21 = w2.fma(x1, a21);
            a31 = w3.fma(x1, a31);
            FloatVector x2 = FloatVector.fromArray(F, x, xo + 2 * xs + c);
            a02 = w0.fma(x2, a02);
            a12 = w1.fma(x2, a12);
            a22 = w2.fma(x2, a22);
            a32 = w3.fma(x2, a32);
            FloatVector x3 = FloatVector.fromArray(F, x, xo + 3 * xs + c);
            a03 = w0.fma(x3, a03);
            a13 = w1.fma(x3, a13);
            a23 = w2.fma(x3, a23);
            a33 = w3.fma(x3, a33);
        }
        out[oo] += a00.reduceLanes(ADD) + tailDot(seg, o0, K_BF16, vb, c1, x, xo);
        out[oo + 1] += a10.reduceLanes(ADD) + tailDot(seg, o1, K_BF16, vb, c1, x, xo);
        out[oo + 2] += a20.reduceLanes(ADD) + tailDot(seg, o2, K_BF16, vb, c1, x, xo);
        out[oo + 3] += a30.reduceLanes(ADD) + tailDot(seg, o3, K_BF16, vb, c1, x, xo);
        out[oo + 1 * os] += a01.reduceLanes(ADD) + tailDot(seg, o0, K_BF16, vb, c1, x, xo + 1 * xs);
        out[oo + 1 * os + 1] += a11.reduceLanes(ADD) + tailDot(seg, o1, K_BF16, vb, c1, x, xo + 1 * xs);
        out[oo + 1 * os + 2] += a21.reduceLanes(ADD) + tailDot(seg, o2, K_BF16, vb, c1, x, xo + 1 * xs);
        out[oo + 1 * os + 3] += a31.reduceLanes(ADD) + tailDot(seg, o3, K_BF16, vb, c1, x, xo + 1 * xs);
        out[oo + 2 * os] += a02.reduceLanes(ADD) + tailDot(seg, o0, K_BF16, vb, c1, x, xo + 2 * xs);
        out[oo + 2 * os + 1] += a12.reduceLanes(ADD) + tailDot(seg, o1, K_BF16, vb, c1, x, xo + 2 * xs);
        out[oo + 2 * os + 2] += a22.reduceLanes(ADD) + tailDot(seg, o2, K_BF16, vb, c1, x, xo + 2 * xs);
        out[oo + 2 * os + 3] += a32.reduceLanes(ADD) + tailDot(seg, o3, K_BF16, vb, c1, x, xo + 2 * xs);
        out[oo + 3 * os] += a03.reduceLanes(ADD) + tailDot(seg, o0, K_BF16, vb, c1, x, xo + 3 * xs);
        out[oo + 3 * os + 1] += a13.reduceLanes(ADD) + tailDot(seg, o1, K_BF16, vb, c1, x, xo + 3 * xs);
        out[oo + 3 * os + 2] += a23.reduceLanes(ADD) + tailDot(seg, o2, K_BF16, vb, c1, x, xo + 3 * xs);
        out[oo + 3 * os + 3] += a33.reduceLanes(ADD) + tailDot(seg, o3, K_BF16, vb, c1, x, xo + 3 * xs);
    }

    /** Rows r..r+3 × 4 token(s), columns [c0, c1), f16 widened in registers (no scratch):
     *  out[oo + j·os + i] += Σ_c W[r + i, c]·x[xo + j·xs + c]. */
    static void direct4x4F16(MemorySegment seg, int r, int cols, int c0, int c1, float[] x, int xo, int xs, float[] out, int oo, int os) {
        final long rowBytes = 2L * cols, o0 = r * rowBytes, o1 = o0 + rowBytes, o2 = o1 + rowBytes, o3 = o2 + rowBytes;
        final int vb = c0 + (c1 - c0) / L * L;
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00, a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        for (int c = c0; c < vb; c += L) {
            long cb = 2L * c;
            IntVector h0 = (IntVector) ShortVector.fromMemorySegment(S, seg, o0 + cb, LE).convertShape(S2I, I, 0);
            IntVector e0 = h0.and(0x7fff);
            FloatVector w0 = e0.lanewise(LSHL, 13).add(IntVector.broadcast(I, 0x3800_0000).blend(0x7000_0000, e0.compare(GE, 0x7c00)))
                    .blend(e0.convert(I2F, 0).reinterpretAsFloats().mul(0x1p-24f).reinterpretAsInts(), e0.compare(LT, 0x0400))
                    .or(h0.lanewise(LSHL, 16).and(0x8000_0000)).reinterpretAsFloats();
            IntVector h1 = (IntVector) ShortVector.fromMemorySegment(S, seg, o1 + cb, LE).convertShape(S2I, I, 0);
            IntVector e1 = h1.and(0x7fff);
            FloatVector w1 = e1.lanewise(LSHL, 13).add(IntVector.broadcast(I, 0x3800_0000).blend(0x7000_0000, e1.compare(GE, 0x7c00)))
                    .blend(e1.convert(I2F, 0).reinterpretAsFloats().mul(0x1p-24f).reinterpretAsInts(), e1.compare(LT, 0x0400))
                    .or(h1.lanewise(LSHL, 16).and(0x8000_0000)).reinterpretAsFloats();
            IntVector h2 = (IntVector) ShortVector.fromMemorySegment(S, seg, o2 + cb, LE).convertShape(S2I, I, 0);
            IntVector e2 = h2.and(0x7fff);
            FloatVector w2 = e2.lanewise(LSHL, 13).add(IntVector.broadcast(I, 0x3800_0000).blend(0x7000_0000, e2.compare(GE, 0x7c00)))
                    .blend(e2.convert(I2F, 0).reinterpretAsFloats().mul(0x1p-24f).reinterpretAsInts(), e2.compare(LT, 0x0400))
                    .or(h2.lanewise(LSHL, 16).and(0x8000_0000)).reinterpretAsFloats();
            IntVector h3 = (IntVector) ShortVector.fromMemorySegment(S, seg, o3 + cb, LE).convertShape(S2I, I, 0);
            IntVector e3 = h3.and(0x7fff);
            FloatVector w3 = e3.lanewise(LSHL, 13).add(IntVector.broadcast(I, 0x3800_0000).blend(0x7000_0000, e3.compare(GE, 0x7c00)))
                    .blend(e3.convert(I2F, 0).reinterpretAsFloats().mul(0x1p-24f).reinterpretAsInts(), e3.compare(LT, 0x0400))
                    .or(h3.lanewise(LSHL, 16).and(0x8000_0000)).reinterpretAsFloats();
            FloatVector x0 = FloatVector.fromArray(F, x, xo + c);
            a00 = w0.fma(x0, a00);
            a10 = w1.fma(x0, a10);
            a20 = w2.fma(x0, a20);
            a30 = w3.fma(x0, a30);
            FloatVector x1 = FloatVector.fromArray(F, x, xo + 1 * xs + c);
            a01 = w0.fma(x1, a01);
            a11 = w1.fma(x1, a11);
            a21 = w2.fma(x1, a21);
            a31 = w3.fma(x1, a31);
            FloatVector x2 = FloatVector.fromArray(F, x, xo + 2 * xs + c);
            a02 = w0.fma(x2, a02);
            a12 = w1.fma(x2, a12);
            a22 = w2.fma(x2, a22);
            a32 = w3.fma(x2, a32);
            FloatVector x3 = FloatVector.fromArray(F, x, xo + 3 * xs + c);
            a03 = w0.fma(x3, a03);
            a13 = w1.fma(x3, a13);
            a23 = w2.fma(x3, a23);
            a33 = w3.fma(x3, a33);
        }
        out[oo] += a00.reduceLanes(ADD) + tailDot(seg, o0, K_F16, vb, c1, x, xo);
        out[oo + 1] += a10.reduceLanes(ADD) + tailDot(seg, o1, K_F16, vb, c1, x, xo);
        out[oo + 2] += a20.reduceLanes(ADD) + tailDot(seg, o2, K_F16, vb, c1, x, xo);
        out[oo + 3] += a30.reduceLanes(ADD) + tailDot(seg, o3, K_F16, vb, c1, x, xo);
        out[oo + 1 * os] += a01.reduceLanes(ADD) + tailDot(seg, o0, K_F16, vb, c1, x, xo + 1 * xs);
        out[oo + 1 * os + 1] += a11.reduceLanes(ADD) + tailDot(seg, o1, K_F16, vb, c1, x, xo + 1 * xs);
        out[oo + 1 * os + 2] += a21.reduceLanes(ADD) + tailDot(seg, o2, K_F16, vb, c1, x, xo + 1 * xs);
        out[oo + 1 * os + 3] += a31.reduceLanes(ADD) + tailDot(seg, o3, K_F16, vb, c1, x, xo + 1 * xs);
        out[oo + 2 * os] += a02.reduceLanes(ADD) + tailDot(seg, o0, K_F16, vb, c1, x, xo + 2 * xs);
        out[oo + 2 * os + 1] += a12.reduceLanes(ADD) + tailDot(seg, o1, K_F16, vb, c1, x, xo + 2 * xs);
        out[oo + 2 * os + 2] += a22.reduceLanes(ADD) + tailDot(seg, o2, K_F16, vb, c1, x, xo + 2 * xs);
        out[oo + 2 * os + 3] += a32.reduceLanes(ADD) + tailDot(seg, o3, K_F16, vb, c1, x, xo + 2 * xs);
        out[oo + 3 * os] += a03.reduceLanes(ADD) + tailDot(seg, o0, K_F16, vb, c1, x, xo + 3 * xs);
        out[oo + 3 * os + 1] += a13.reduceLanes(ADD) + tailDot(seg, o1, K_F16, vb, c1, x, xo + 3 * xs);
        out[oo + 3 * os + 2] += a23.reduceLanes(ADD) + tailDot(seg, o2, K_F16, vb, c1, x, xo + 3 * xs);
        out[oo + 3 * os + 3] += a33.reduceLanes(ADD) + tailDot(seg, o3, K_F16, vb, c1, x, xo + 3 * xs);
    }

    /** Rows r..r+3 × 4 token(s), columns [c0, c1), f32 widened in registers (no scratch):
     *  out[oo + j·os + i] += Σ_c W[r + i, c]·x[xo + j·xs + c]. */
    static void direct4x4F32(MemorySegment seg, int r, int cols, int c0, int c1, float[] x, int xo, int xs, float[] out, int oo, int os) {
        final long rowBytes = 4L * cols, o0 = r * rowBytes, o1 = o0 + rowBytes, o2 = o1 + rowBytes, o3 = o2 + rowBytes;
        final int vb = c0 + (c1 - c0) / L * L;
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00, a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        for (int c = c0; c < vb; c += L) {
            long cb = 4L * c;
            FloatVector w0 = FloatVector.fromMemorySegment(F, seg, o0 + cb, LE);
            FloatVector w1 = FloatVector.fromMemorySegment(F, seg, o1 + cb, LE);
            FloatVector w2 = FloatVector.fromMemorySegment(F, seg, o2 + cb, LE);
            FloatVector w3 = FloatVector.fromMemorySegment(F, seg, o3 + cb, LE);
            FloatVector x0 = FloatVector.fromArray(F, x, xo + c);
            a00 = w0.fma(x0, a00);
            a10 = w1.fma(x0, a10);
            a20 = w2.fma(x0, a20);
            a30 = w3.fma(x0, a30);
            FloatVector x1 = FloatVector.fromArray(F, x, xo + 1 * xs + c);
            a01 = w0.fma(x1, a01);
            a11 = w1.fma(x1, a11);
            a21 = w2.fma(x1, a21);
            a31 = w3.fma(x1, a31);
            FloatVector x2 = FloatVector.fromArray(F, x, xo + 2 * xs + c);
            a02 = w0.fma(x2, a02);
            a12 = w1.fma(x2, a12);
            a22 = w2.fma(x2, a22);
            a32 = w3.fma(x2, a32);
            FloatVector x3 = FloatVector.fromArray(F, x, xo + 3 * xs + c);
            a03 = w0.fma(x3, a03);
            a13 = w1.fma(x3, a13);
            a23 = w2.fma(x3, a23);
            a33 = w3.fma(x3, a33);
        }
        out[oo] += a00.reduceLanes(ADD) + tailDot(seg, o0, K_F32, vb, c1, x, xo);
        out[oo + 1] += a10.reduceLanes(ADD) + tailDot(seg, o1, K_F32, vb, c1, x, xo);
        out[oo + 2] += a20.reduceLanes(ADD) + tailDot(seg, o2, K_F32, vb, c1, x, xo);
        out[oo + 3] += a30.reduceLanes(ADD) + tailDot(seg, o3, K_F32, vb, c1, x, xo);
        out[oo + 1 * os] += a01.reduceLanes(ADD) + tailDot(seg, o0, K_F32, vb, c1, x, xo + 1 * xs);
        out[oo + 1 * os + 1] += a11.reduceLanes(ADD) + tailDot(seg, o1, K_F32, vb, c1, x, xo + 1 * xs);
        out[oo + 1 * os + 2] += a21.reduceLanes(ADD) + tailDot(seg, o2, K_F32, vb, c1, x, xo + 1 * xs);
        out[oo + 1 * os + 3] += a31.reduceLanes(ADD) + tailDot(seg, o3, K_F32, vb, c1, x, xo + 1 * xs);
        out[oo + 2 * os] += a02.reduceLanes(ADD) + tailDot(seg, o0, K_F32, vb, c1, x, xo + 2 * xs);
        out[oo + 2 * os + 1] += a12.reduceLanes(ADD) + tailDot(seg, o1, K_F32, vb, c1, x, xo + 2 * xs);
        out[oo + 2 * os + 2] += a22.reduceLanes(ADD) + tailDot(seg, o2, K_F32, vb, c1, x, xo + 2 * xs);
        out[oo + 2 * os + 3] += a32.reduceLanes(ADD) + tailDot(seg, o3, K_F32, vb, c1, x, xo + 2 * xs);
        out[oo + 3 * os] += a03.reduceLanes(ADD) + tailDot(seg, o0, K_F32, vb, c1, x, xo + 3 * xs);
        out[oo + 3 * os + 1] += a13.reduceLanes(ADD) + tailDot(seg, o1, K_F32, vb, c1, x, xo + 3 * xs);
        out[oo + 3 * os + 2] += a23.reduceLanes(ADD) + tailDot(seg, o2, K_F32, vb, c1, x, xo + 3 * xs);
        out[oo + 3 * os + 3] += a33.reduceLanes(ADD) + tailDot(seg, o3, K_F32, vb, c1, x, xo + 3 * xs);
    }

    /** Rows r..r+3 × 2 token(s), columns [c0, c1), bf16 widened in registers (no scratch):
     *  out[oo + j·os + i] += Σ_c W[r + i, c]·x[xo + j·xs + c]. */
    static void direct4x2Bf16(MemorySegment seg, int r, int cols, int c0, int c1, float[] x, int xo, int xs, float[] out, int oo, int os) {
        final long rowBytes = 2L * cols, o0 = r * rowBytes, o1 = o0 + rowBytes, o2 = o1 + rowBytes, o3 = o2 + rowBytes;
        final int vb = c0 + (c1 - c0) / L * L;
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
        for (int c = c0; c < vb; c += L) {
            long cb = 2L * c;
            FloatVector w0 = ((IntVector) ShortVector.fromMemorySegment(S, seg, o0 + cb, LE).convertShape(S2I, I, 0)).lanewise(LSHL, 16).reinterpretAsFloats();
            FloatVector w1 = ((IntVector) ShortVector.fromMemorySegment(S, seg, o1 + cb, LE).convertShape(S2I, I, 0)).lanewise(LSHL, 16).reinterpretAsFloats();
            FloatVector w2 = ((IntVector) ShortVector.fromMemorySegment(S, seg, o2 + cb, LE).convertShape(S2I, I, 0)).lanewise(LSHL, 16).reinterpretAsFloats();
            FloatVector w3 = ((IntVector) ShortVector.fromMemorySegment(S, seg, o3 + cb, LE).convertShape(S2I, I, 0)).lanewise(LSHL, 16).reinterpretAsFloats();
            FloatVector x0 = FloatVector.fromArray(F, x, xo + c);
            a00 = w0.fma(x0, a00);
            a10 = w1.fma(x0, a10);
            a20 = w2.fma(x0, a20);
            a30 = w3.fma(x0, a30);
            FloatVector x1 = FloatVector.fromArray(F, x, xo + 1 * xs + c);
            a01 = w0.fma(x1, a01);
            a11 = w1.fma(x1, a11);
            a21 = w2.fma(x1, a21);
            a31 = w3.fma(x1, a31);
        }
        out[oo] += a00.reduceLanes(ADD) + tailDot(seg, o0, K_BF16, vb, c1, x, xo);
        out[oo + 1] += a10.reduceLanes(ADD) + tailDot(seg, o1, K_BF16, vb, c1, x, xo);
        out[oo + 2] += a20.reduceLanes(ADD) + tailDot(seg, o2, K_BF16, vb, c1, x, xo);
        out[oo + 3] += a30.reduceLanes(ADD) + tailDot(seg, o3, K_BF16, vb, c1, x, xo);
        out[oo + 1 * os] += a01.reduceLanes(ADD) + tailDot(seg, o0, K_BF16, vb, c1, x, xo + 1 * xs);
        out[oo + 1 * os + 1] += a11.reduceLanes(ADD) + tailDot(seg, o1, K_BF16, vb, c1, x, xo + 1 * xs);
        out[oo + 1 * os + 2] += a21.reduceLanes(ADD) + tailDot(seg, o2, K_BF16, vb, c1, x, xo + 1 * xs);
        out[oo + 1 * os + 3] += a31.reduceLanes(ADD) + tailDot(seg, o3, K_BF16, vb, c1, x, xo + 1 * xs);
    }

    /** Rows r..r+3 × 2 token(s), columns [c0, c1), f16 widened in registers (no scratch):
     *  out[oo + j·os + i] += Σ_c W[r + i, c]·x[xo + j·xs + c]. */
    static void direct4x2F16(MemorySegment seg, int r, int cols, int c0, int c1, float[] x, int xo, int xs, float[] out, int oo, int os) {
        final long rowBytes = 2L * cols, o0 = r * rowBytes, o1 = o0 + rowBytes, o2 = o1 + rowBytes, o3 = o2 + rowBytes;
        final int vb = c0 + (c1 - c0) / L * L;
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
        for (int c = c0; c < vb; c += L) {
            long cb = 2L * c;
            IntVector h0 = (IntVector) ShortVector.fromMemorySegment(S, seg, o0 + cb, LE).convertShape(S2I, I, 0);
            IntVector e0 = h0.and(0x7fff);
            FloatVector w0 = e0.lanewise(LSHL, 13).add(IntVector.broadcast(I, 0x3800_0000).blend(0x7000_0000, e0.compare(GE, 0x7c00)))
                    .blend(e0.convert(I2F, 0).reinterpretAsFloats().mul(0x1p-24f).reinterpretAsInts(), e0.compare(LT, 0x0400))
                    .or(h0.lanewise(LSHL, 16).and(0x8000_0000)).reinterpretAsFloats();
            IntVector h1 = (IntVector) ShortVector.fromMemorySegment(S, seg, o1 + cb, LE).convertShape(S2I, I, 0);
            IntVector e1 = h1.and(0x7fff);
            FloatVector w1 = e1.lanewise(LSHL, 13).add(IntVector.broadcast(I, 0x3800_0000).blend(0x7000_0000, e1.compare(GE, 0x7c00)))
                    .blend(e1.convert(I2F, 0).reinterpretAsFloats().mul(0x1p-24f).reinterpretAsInts(), e1.compare(LT, 0x0400))
                    .or(h1.lanewise(LSHL, 16).and(0x8000_0000)).reinterpretAsFloats();
            IntVector h2 = (IntVector) ShortVector.fromMemorySegment(S, seg, o2 + cb, LE).convertShape(S2I, I, 0);
            IntVector e2 = h2.and(0x7fff);
            FloatVector w2 = e2.lanewise(LSHL, 13).add(IntVector.broadcast(I, 0x3800_0000).blend(0x7000_0000, e2.compare(GE, 0x7c00)))
                    .blend(e2.convert(I2F, 0).reinterpretAsFloats().mul(0x1p-24f).reinterpretAsInts(), e2.compare(LT, 0x0400))
                    .or(h2.lanewise(LSHL, 16).and(0x8000_0000)).reinterpretAsFloats();
            IntVector h3 = (IntVector) ShortVector.fromMemorySegment(S, seg, o3 + cb, LE).convertShape(S2I, I, 0);
            IntVector e3 = h3.and(0x7fff);
            FloatVector w3 = e3.lanewise(LSHL, 13).add(IntVector.broadcast(I, 0x3800_0000).blend(0x7000_0000, e3.compare(GE, 0x7c00)))
                    .blend(e3.convert(I2F, 0).reinterpretAsFloats().mul(0x1p-24f).reinterpretAsInts(), e3.compare(LT, 0x0400))
                    .or(h3.lanewise(LSHL, 16).and(0x8000_0000)).reinterpretAsFloats();
            FloatVector x0 = FloatVector.fromArray(F, x, xo + c);
            a00 = w0.fma(x0, a00);
            a10 = w1.fma(x0, a10);
            a20 = w2.fma(x0, a20);
            a30 = w3.fma(x0, a30);
            FloatVector x1 = FloatVector.fromArray(F, x, xo + 1 * xs + c);
            a01 = w0.fma(x1, a01);
            a11 = w1.fma(x1, a11);
            a21 = w2.fma(x1, a21);
            a31 = w3.fma(x1, a31);
        }
        out[oo] += a00.reduceLanes(ADD) + tailDot(seg, o0, K_F16, vb, c1, x, xo);
        out[oo + 1] += a10.reduceLanes(ADD) + tailDot(seg, o1, K_F16, vb, c1, x, xo);
        out[oo + 2] += a20.reduceLanes(ADD) + tailDot(seg, o2, K_F16, vb, c1, x, xo);
        out[oo + 3] += a30.reduceLanes(ADD) + tailDot(seg, o3, K_F16, vb, c1, x, xo);
        out[oo + 1 * os] += a01.reduceLanes(ADD) + tailDot(seg, o0, K_F16, vb, c1, x, xo + 1 * xs);
        out[oo + 1 * os + 1] += a11.reduceLanes(ADD) + tailDot(seg, o1, K_F16, vb, c1, x, xo + 1 * xs);
        out[oo + 1 * os + 2] += a21.reduceLanes(ADD) + tailDot(seg, o2, K_F16, vb, c1, x, xo + 1 * xs);
        out[oo + 1 * os + 3] += a31.reduceLanes(ADD) + tailDot(seg, o3, K_F16, vb, c1, x, xo + 1 * xs);
    }

    /** Rows r..r+3 × 2 token(s), columns [c0, c1), f32 widened in registers (no scratch):
     *  out[oo + j·os + i] += Σ_c W[r + i, c]·x[xo + j·xs + c]. */
    static void direct4x2F32(MemorySegment seg, int r, int cols, int c0, int c1, float[] x, int xo, int xs, float[] out, int oo, int os) {
        final long rowBytes = 4L * cols, o0 = r * rowBytes, o1 = o0 + rowBytes, o2 = o1 + rowBytes, o3 = o2 + rowBytes;
        final int vb = c0 + (c1 - c0) / L * L;
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
        for (int c = c0; c < vb; c += L) {
            long cb = 4L * c;
            FloatVector w0 = FloatVector.fromMemorySegment(F, seg, o0 + cb, LE);
            FloatVector w1 = FloatVector.fromMemorySegment(F, seg, o1 + cb, LE);
            FloatVector w2 = FloatVector.fromMemorySegment(F, seg, o2 + cb, LE);
            FloatVector w3 = FloatVector.fromMemorySegment(F, seg, o3 + cb, LE);
            FloatVector x0 = FloatVector.fromArray(F, x, xo + c);
            a00 = w0.fma(x0, a00);
            a10 = w1.fma(x0, a10);
            a20 = w2.fma(x0, a20);
            a30 = w3.fma(x0, a30);
            FloatVector x1 = FloatVector.fromArray(F, x, xo + 1 * xs + c);
            a01 = w0.fma(x1, a01);
            a11 = w1.fma(x1, a11);
            a21 = w2.fma(x1, a21);
            a31 = w3.fma(x1, a31);
        }
        out[oo] += a00.reduceLanes(ADD) + tailDot(seg, o0, K_F32, vb, c1, x, xo);
        out[oo + 1] += a10.reduceLanes(ADD) + tailDot(seg, o1, K_F32, vb, c1, x, xo);
        out[oo + 2] += a20.reduceLanes(ADD) + tailDot(seg, o2, K_F32, vb, c1, x, xo);
        out[oo + 3] += a30.reduceLanes(ADD) + tailDot(seg, o3, K_F32, vb, c1, x, xo);
        out[oo + 1 * os] += a01.reduceLanes(ADD) + tailDot(seg, o0, K_F32, vb, c1, x, xo + 1 * xs);
        out[oo + 1 * os + 1] += a11.reduceLanes(ADD) + tailDot(seg, o1, K_F32, vb, c1, x, xo + 1 * xs);
        out[oo + 1 * os + 2] += a21.reduceLanes(ADD) + tailDot(seg, o2, K_F32, vb, c1, x, xo + 1 * xs);
        out[oo + 1 * os + 3] += a31.reduceLanes(ADD) + tailDot(seg, o3, K_F32, vb, c1, x, xo + 1 * xs);
    }

    /** Rows r..r+3 × 1 token(s), columns [c0, c1), bf16 widened in registers (no scratch):
     *  out[oo + j·os + i] += Σ_c W[r + i, c]·x[xo + j·xs + c]. */
    static void direct4x1Bf16(MemorySegment seg, int r, int cols, int c0, int c1, float[] x, int xo, int xs, float[] out, int oo, int os) {
        final long rowBytes = 2L * cols, o0 = r * rowBytes, o1 = o0 + rowBytes, o2 = o1 + rowBytes, o3 = o2 + rowBytes;
        final int vb = c0 + (c1 - c0) / L * L;
        FloatVector a00 = FloatVector.zero(F), a10 = a00, a20 = a00, a30 = a00;
        for (int c = c0; c < vb; c += L) {
            long cb = 2L * c;
            FloatVector w0 = ((IntVector) ShortVector.fromMemorySegment(S, seg, o0 + cb, LE).convertShape(S2I, I, 0)).lanewise(LSHL, 16).reinterpretAsFloats();
            FloatVector w1 = ((IntVector) ShortVector.fromMemorySegment(S, seg, o1 + cb, LE).convertShape(S2I, I, 0)).lanewise(LSHL, 16).reinterpretAsFloats();
            FloatVector w2 = ((IntVector) ShortVector.fromMemorySegment(S, seg, o2 + cb, LE).convertShape(S2I, I, 0)).lanewise(LSHL, 16).reinterpretAsFloats();
            FloatVector w3 = ((IntVector) ShortVector.fromMemorySegment(S, seg, o3 + cb, LE).convertShape(S2I, I, 0)).lanewise(LSHL, 16).reinterpretAsFloats();
            FloatVector x0 = FloatVector.fromArray(F, x, xo + c);
            a00 = w0.fma(x0, a00);
            a10 = w1.fma(x0, a10);
            a20 = w2.fma(x0, a20);
            a30 = w3.fma(x0, a30);
        }
        out[oo] += a00.reduceLanes(ADD) + tailDot(seg, o0, K_BF16, vb, c1, x, xo);
        out[oo + 1] += a10.reduceLanes(ADD) + tailDot(seg, o1, K_BF16, vb, c1, x, xo);
        out[oo + 2] += a20.reduceLanes(ADD) + tailDot(seg, o2, K_BF16, vb, c1, x, xo);
        out[oo + 3] += a30.reduceLanes(ADD) + tailDot(seg, o3, K_BF16, vb, c1, x, xo);
    }

    /** Rows r..r+3 × 1 token(s), columns [c0, c1), f16 widened in registers (no scratch):
     *  out[oo + j·os + i] += Σ_c W[r + i, c]·x[xo + j·xs + c]. */
    static void direct4x1F16(MemorySegment seg, int r, int cols, int c0, int c1, float[] x, int xo, int xs, float[] out, int oo, int os) {
        final long rowBytes = 2L * cols, o0 = r * rowBytes, o1 = o0 + rowBytes, o2 = o1 + rowBytes, o3 = o2 + rowBytes;
        final int vb = c0 + (c1 - c0) / L * L;
        FloatVector a00 = FloatVector.zero(F), a10 = a00, a20 = a00, a30 = a00;
        for (int c = c0; c < vb; c += L) {
            long cb = 2L * c;
            IntVector h0 = (IntVector) ShortVector.fromMemorySegment(S, seg, o0 + cb, LE).convertShape(S2I, I, 0);
            IntVector e0 = h0.and(0x7fff);
            FloatVector w0 = e0.lanewise(LSHL, 13).add(IntVector.broadcast(I, 0x3800_0000).blend(0x7000_0000, e0.compare(GE, 0x7c00)))
                    .blend(e0.convert(I2F, 0).reinterpretAsFloats().mul(0x1p-24f).reinterpretAsInts(), e0.compare(LT, 0x0400))
                    .or(h0.lanewise(LSHL, 16).and(0x8000_0000)).reinterpretAsFloats();
            IntVector h1 = (IntVector) ShortVector.fromMemorySegment(S, seg, o1 + cb, LE).convertShape(S2I, I, 0);
            IntVector e1 = h1.and(0x7fff);
            FloatVector w1 = e1.lanewise(LSHL, 13).add(IntVector.broadcast(I, 0x3800_0000).blend(0x7000_0000, e1.compare(GE, 0x7c00)))
                    .blend(e1.convert(I2F, 0).reinterpretAsFloats().mul(0x1p-24f).reinterpretAsInts(), e1.compare(LT, 0x0400))
                    .or(h1.lanewise(LSHL, 16).and(0x8000_0000)).reinterpretAsFloats();
            IntVector h2 = (IntVector) ShortVector.fromMemorySegment(S, seg, o2 + cb, LE).convertShape(S2I, I, 0);
            IntVector e2 = h2.and(0x7fff);
            FloatVector w2 = e2.lanewise(LSHL, 13).add(IntVector.broadcast(I, 0x3800_0000).blend(0x7000_0000, e2.compare(GE, 0x7c00)))
                    .blend(e2.convert(I2F, 0).reinterpretAsFloats().mul(0x1p-24f).reinterpretAsInts(), e2.compare(LT, 0x0400))
                    .or(h2.lanewise(LSHL, 16).and(0x8000_0000)).reinterpretAsFloats();
            IntVector h3 = (IntVector) ShortVector.fromMemorySegment(S, seg, o3 + cb, LE).convertShape(S2I, I, 0);
            IntVector e3 = h3.and(0x7fff);
            FloatVector w3 = e3.lanewise(LSHL, 13).add(IntVector.broadcast(I, 0x3800_0000).blend(0x7000_0000, e3.compare(GE, 0x7c00)))
                    .blend(e3.convert(I2F, 0).reinterpretAsFloats().mul(0x1p-24f).reinterpretAsInts(), e3.compare(LT, 0x0400))
                    .or(h3.lanewise(LSHL, 16).and(0x8000_0000)).reinterpretAsFloats();
            FloatVector x0 = FloatVector.fromArray(F, x, xo + c);
            a00 = w0.fma(x0, a00);
            a10 = w1.fma(x0, a10);
            a20 = w2.fma(x0, a20);
            a30 = w3.fma(x0, a30);
        }
        out[oo] += a00.reduceLanes(ADD) + tailDot(seg, o0, K_F16, vb, c1, x, xo);
        out[oo + 1] += a10.reduceLanes(ADD) + tailDot(seg, o1, K_F16, vb, c1, x, xo);
        out[oo + 2] += a20.reduceLanes(ADD) + tailDot(seg, o2, K_F16, vb, c1, x, xo);
        out[oo + 3] += a30.reduceLanes(ADD) + tailDot(seg, o3, K_F16, vb, c1, x, xo);
    }

    /** Rows r..r+3 × 1 token(s), columns [c0, c1), f32 widened in registers (no scratch):
     *  out[oo + j·os + i] += Σ_c W[r + i, c]·x[xo + j·xs + c]. */
    static void direct4x1F32(MemorySegment seg, int r, int cols, int c0, int c1, float[] x, int xo, int xs, float[] out, int oo, int os) {
        final long rowBytes = 4L * cols, o0 = r * rowBytes, o1 = o0 + rowBytes, o2 = o1 + rowBytes, o3 = o2 + rowBytes;
        final int vb = c0 + (c1 - c0) / L * L;
        FloatVector a00 = FloatVector.zero(F), a10 = a00, a20 = a00, a30 = a00;
        for (int c = c0; c < vb; c += L) {
            long cb = 4L * c;
            FloatVector w0 = FloatVector.fromMemorySegment(F, seg, o0 + cb, LE);
            FloatVector w1 = FloatVector.fromMemorySegment(F, seg, o1 + cb, LE);
            FloatVector w2 = FloatVector.fromMemorySegment(F, seg, o2 + cb, LE);
            FloatVector w3 = FloatVector.fromMemorySegment(F, seg, o3 + cb, LE);
            FloatVector x0 = FloatVector.fromArray(F, x, xo + c);
            a00 = w0.fma(x0, a00);
            a10 = w1.fma(x0, a10);
            a20 = w2.fma(x0, a20);
            a30 = w3.fma(x0, a30);
        }
        out[oo] += a00.reduceLanes(ADD) + tailDot(seg, o0, K_F32, vb, c1, x, xo);
        out[oo + 1] += a10.reduceLanes(ADD) + tailDot(seg, o1, K_F32, vb, c1, x, xo);
        out[oo + 2] += a20.reduceLanes(ADD) + tailDot(seg, o2, K_F32, vb, c1, x, xo);
        out[oo + 3] += a30.reduceLanes(ADD) + tailDot(seg, o3, K_F32, vb, c1, x, xo);
    }

    /** Rows r..r+0 × 1 token(s), columns [c0, c1), bf16 widened in registers (no scratch):
     *  out[oo + j·os + i] += Σ_c W[r + i, c]·x[xo + j·xs + c]. */
    static void direct1x1Bf16(MemorySegment seg, int r, int cols, int c0, int c1, float[] x, int xo, int xs, float[] out, int oo, int os) {
        final long rowBytes = 2L * cols, o0 = r * rowBytes;
        final int vb = c0 + (c1 - c0) / L * L;
        FloatVector a00 = FloatVector.zero(F);
        for (int c = c0; c < vb; c += L) {
            long cb = 2L * c;
            FloatVector w0 = ((IntVector) ShortVector.fromMemorySegment(S, seg, o0 + cb, LE).convertShape(S2I, I, 0)).lanewise(LSHL, 16).reinterpretAsFloats();
            FloatVector x0 = FloatVector.fromArray(F, x, xo + c);
            a00 = w0.fma(x0, a00);
        }
        out[oo] += a00.reduceLanes(ADD) + tailDot(seg, o0, K_BF16, vb, c1, x, xo);
    }

    /** Rows r..r+0 × 1 token(s), columns [c0, c1), f16 widened in registers (no scratch):
     *  out[oo + j·os + i] += Σ_c W[r + i, c]·x[xo + j·xs + c]. */
    static void direct1x1F16(MemorySegment seg, int r, int cols, int c0, int c1, float[] x, int xo, int xs, float[] out, int oo, int os) {
        final long rowBytes = 2L * cols, o0 = r * rowBytes;
        final int vb = c0 + (c1 - c0) / L * L;
        FloatVector a00 = FloatVector.zero(F);
        for (int c = c0; c < vb; c += L) {
            long cb = 2L * c;
            IntVector h0 = (IntVector) ShortVector.fromMemorySegment(S, seg, o0 + cb, LE).convertShape(S2I, I, 0);
            IntVector e0 = h0.and(0x7fff);
            FloatVector w0 = e0.lanewise(LSHL, 13).add(IntVector.broadcast(I, 0x3800_0000).blend(0x7000_0000, e0.compare(GE, 0x7c00)))
                    .blend(e0.convert(I2F, 0).reinterpretAsFloats().mul(0x1p-24f).reinterpretAsInts(), e0.compare(LT, 0x0400))
                    .or(h0.lanewise(LSHL, 16).and(0x8000_0000)).reinterpretAsFloats();
            FloatVector x0 = FloatVector.fromArray(F, x, xo + c);
            a00 = w0.fma(x0, a00);
        }
        out[oo] += a00.reduceLanes(ADD) + tailDot(seg, o0, K_F16, vb, c1, x, xo);
    }

    /** Rows r..r+0 × 1 token(s), columns [c0, c1), f32 widened in registers (no scratch):
     *  out[oo + j·os + i] += Σ_c W[r + i, c]·x[xo + j·xs + c]. */
    static void direct1x1F32(MemorySegment seg, int r, int cols, int c0, int c1, float[] x, int xo, int xs, float[] out, int oo, int os) {
        final long rowBytes = 4L * cols, o0 = r * rowBytes;
        final int vb = c0 + (c1 - c0) / L * L;
        FloatVector a00 = FloatVector.zero(F);
        for (int c = c0; c < vb; c += L) {
            long cb = 4L * c;
            FloatVector w0 = FloatVector.fromMemorySegment(F, seg, o0 + cb, LE);
            FloatVector x0 = FloatVector.fromArray(F, x, xo + c);
            a00 = w0.fma(x0, a00);
        }
        out[oo] += a00.reduceLanes(ADD) + tailDot(seg, o0, K_F32, vb, c1, x, xo);
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
