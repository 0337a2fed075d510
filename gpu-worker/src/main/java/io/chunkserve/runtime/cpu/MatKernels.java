package io.chunkserve.runtime.cpu;

import static io.chunkserve.runtime.cpu.Vec.F;
import static io.chunkserve.runtime.cpu.Vec.I;
import static io.chunkserve.runtime.cpu.Vec.L;
import static io.chunkserve.runtime.cpu.Vec.LE;
import static io.chunkserve.runtime.cpu.Vec.S;
import static jdk.incubator.vector.VectorOperators.ADD;
import static jdk.incubator.vector.VectorOperators.GE;
import static jdk.incubator.vector.VectorOperators.I2F;
import static jdk.incubator.vector.VectorOperators.LSHL;
import static jdk.incubator.vector.VectorOperators.LT;
import static jdk.incubator.vector.VectorOperators.S2I;

import io.chunkserve.model.DType;
import io.chunkserve.model.Weight;
import java.lang.foreign.MemorySegment;
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
 *   <li>T &gt; 1 ({@link #gemm}): blocked over tokens (TB), columns (KC) and rows (RB). A RB × KC
 *       block of W is widened once into a per-thread fp32 scratch (L2-resident) and then applied
 *       to every token of the block by 4 × TT register-blocked micro-kernels, so W is read from
 *       memory once per TB tokens and widened once per TB tokens.</li>
 * </ul>
 * The per-dtype kernels are written out, conversion included, rather than calling a shared
 * widening helper: a helper that C2 has already compiled on its own is too big to inline
 * ("already compiled into a big method"), and a non-inlined method returning a vector boxes it —
 * measured as a 3× slowdown of the f16 kernel. Keep every vector-valued call in these loops to
 * JDK methods (which are force-inlined).
 */
final class MatKernels {
    private MatKernels() { }

    /** Token tile of the register block: 4 with 32 vector registers, else 2. */
    static final int TT = Integer.getInteger("chunkserve.cpu.tt", Vec.WIDE_REGISTER_FILE ? 4 : 2);
    /** Tokens per W pass. */
    static final int TB = Integer.getInteger("chunkserve.cpu.tb", 128);
    /** Largest column block (a multiple of every vector length). */
    static final int KC_MAX = Integer.getInteger("chunkserve.cpu.kc", 2048) & ~63;
    /** Floats of the per-thread scratch holding a widened RB × KC block of W. */
    static final int SCRATCH_FLOATS = Integer.getInteger("chunkserve.cpu.scratch", 32 * 1024);

    private static final ThreadLocal<float[]> SCRATCH = ThreadLocal.withInitial(() -> new float[scratchFloats()]);

    private static int scratchFloats() { return Math.max(SCRATCH_FLOATS, 4 * (KC_MAX + L)); }

    static float bf16s(MemorySegment seg, long off) { return DType.bf16ToFloat(seg.get(Vec.I16_LE, off)); }

    static float f16s(MemorySegment seg, long off) { return Float.float16ToFloat(seg.get(Vec.I16_LE, off)); }

    static float f32s(MemorySegment seg, long off) { return seg.get(Vec.F32_LE, off); }

    /** Rows [r0, r1) of out = x · Wᵀ, any T ≥ 1. x: (T, cols) at 0; out: (T, rows) at 0. */
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
        } else {
            gemm(w, x, T, out, r0, r1, SCRATCH.get());
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

    static void gemm(Weight w, float[] x, int T, float[] out, int r0, int r1, float[] scratch) {
        final int rows = w.rows(), cols = w.cols();
        final int kcMax = cols <= KC_MAX ? cols : KC_MAX;
        final int kcPad = (kcMax + L - 1) / L * L;
        final int rb = Math.max(4, Math.min(64, (scratch.length / kcPad) & ~3));
        for (int t = 0; t < T; t++) java.util.Arrays.fill(out, t * rows + r0, t * rows + r1, 0f);
        for (int t0 = 0; t0 < T; t0 += TB) {
            final int t1 = Math.min(T, t0 + TB);
            for (int k0 = 0; k0 < cols; k0 += kcMax) {
                final int kc = Math.min(kcMax, cols - k0), kv = kc - kc % L;
                for (int b0 = r0; b0 < r1; b0 += rb) {
                    final int bn = Math.min(rb, r1 - b0);
                    for (int i = 0; i < bn; i++) widen(w, b0 + i, k0, scratch, i * kcPad, kc);
                    for (int t = t0; t < t1; ) {
                        int tn = Math.min(TT, t1 - t);
                        if (tn >= 4) tn = 4; else if (tn >= 2) tn = 2; else tn = 1;
                        final int xo = t * cols + k0;
                        int i = 0;
                        for (; i + 4 <= bn; i += 4) {
                            int oo = t * rows + b0 + i, wo = i * kcPad;
                            switch (tn) {
                                case 4 -> micro4x4(scratch, wo, kcPad, x, xo, cols, kv, out, oo, rows);
                                case 2 -> micro4x2(scratch, wo, kcPad, x, xo, cols, kv, out, oo, rows);
                                default -> micro4x1(scratch, wo, kcPad, x, xo, cols, kv, out, oo, rows);
                            }
                        }
                        for (; i < bn; i++) {
                            int oo = t * rows + b0 + i, wo = i * kcPad;
                            if (tn == 4) {
                                micro1x4(scratch, wo, kcPad, x, xo, cols, kv, out, oo, rows);
                            } else {
                                for (int j = 0; j < tn; j++) {
                                    micro1x1(scratch, wo, kcPad, x, xo + j * cols, cols, kv, out, oo + j * rows, rows);
                                }
                            }
                        }
                        if (kv < kc) tail(scratch, 0, kcPad, x, xo, cols, kv, kc, out, t * rows + b0, rows, bn, tn);
                        t += tn;
                    }
                }
            }
        }
    }

    /** T = 1: out[oOff + r] = Σ_c W[r, c]·x[xOff + c] for r in [r0, r1); W is bf16 (rows × cols) at byte 0 of seg. */
    static void gemvBf16(MemorySegment seg, int cols, float[] x, int xOff, float[] out, int oOff, int r0, int r1) {
        final long rowBytes = 2L * cols;
        final int vb = cols - cols % L;
        int r = r0;
        for (; r + 4 <= r1; r += 4) {
            final long o0 = r * rowBytes, o1 = o0 + rowBytes, o2 = o1 + rowBytes, o3 = o2 + rowBytes;
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
            for (int c = 0; c < vb; c += L) {
                FloatVector xv = FloatVector.fromArray(F, x, xOff + c);
                long cb = 2L * c;
                FloatVector w0 = ((IntVector) ShortVector.fromMemorySegment(S, seg, o0 + cb, LE).convertShape(S2I, I, 0)).lanewise(LSHL, 16).reinterpretAsFloats();
                a0 = w0.fma(xv, a0);
                FloatVector w1 = ((IntVector) ShortVector.fromMemorySegment(S, seg, o1 + cb, LE).convertShape(S2I, I, 0)).lanewise(LSHL, 16).reinterpretAsFloats();
                a1 = w1.fma(xv, a1);
                FloatVector w2 = ((IntVector) ShortVector.fromMemorySegment(S, seg, o2 + cb, LE).convertShape(S2I, I, 0)).lanewise(LSHL, 16).reinterpretAsFloats();
                a2 = w2.fma(xv, a2);
                FloatVector w3 = ((IntVector) ShortVector.fromMemorySegment(S, seg, o3 + cb, LE).convertShape(S2I, I, 0)).lanewise(LSHL, 16).reinterpretAsFloats();
                a3 = w3.fma(xv, a3);
            }
            float s0 = a0.reduceLanes(ADD), s1 = a1.reduceLanes(ADD), s2 = a2.reduceLanes(ADD), s3 = a3.reduceLanes(ADD);
            for (int c = vb; c < cols; c++) {
                float xc = x[xOff + c];
                long cb = 2L * c;
                s0 = Math.fma(bf16s(seg, o0 + cb), xc, s0);
                s1 = Math.fma(bf16s(seg, o1 + cb), xc, s1);
                s2 = Math.fma(bf16s(seg, o2 + cb), xc, s2);
                s3 = Math.fma(bf16s(seg, o3 + cb), xc, s3);
            }
            out[oOff + r] = s0;
            out[oOff + r + 1] = s1;
            out[oOff + r + 2] = s2;
            out[oOff + r + 3] = s3;
        }
        for (; r < r1; r++) {
            final long o0 = r * rowBytes;
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
            out[oOff + r] = s0;
        }
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
        final long rowBytes = 2L * cols;
        final int vb = cols - cols % L;
        int r = r0;
        for (; r + 4 <= r1; r += 4) {
            final long o0 = r * rowBytes, o1 = o0 + rowBytes, o2 = o1 + rowBytes, o3 = o2 + rowBytes;
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
            for (int c = 0; c < vb; c += L) {
                FloatVector xv = FloatVector.fromArray(F, x, xOff + c);
                long cb = 2L * c;
                IntVector h0 = (IntVector) ShortVector.fromMemorySegment(S, seg, o0 + cb, LE).convertShape(S2I, I, 0);
                IntVector e0 = h0.and(0x7fff);
                FloatVector w0 = e0.lanewise(LSHL, 13).add(IntVector.broadcast(I, 0x3800_0000).blend(0x7000_0000, e0.compare(GE, 0x7c00)))
                        .blend(e0.convert(I2F, 0).reinterpretAsFloats().mul(0x1p-24f).reinterpretAsInts(), e0.compare(LT, 0x0400))
                        .or(h0.lanewise(LSHL, 16).and(0x8000_0000)).reinterpretAsFloats();
                a0 = w0.fma(xv, a0);
                IntVector h1 = (IntVector) ShortVector.fromMemorySegment(S, seg, o1 + cb, LE).convertShape(S2I, I, 0);
                IntVector e1 = h1.and(0x7fff);
                FloatVector w1 = e1.lanewise(LSHL, 13).add(IntVector.broadcast(I, 0x3800_0000).blend(0x7000_0000, e1.compare(GE, 0x7c00)))
                        .blend(e1.convert(I2F, 0).reinterpretAsFloats().mul(0x1p-24f).reinterpretAsInts(), e1.compare(LT, 0x0400))
                        .or(h1.lanewise(LSHL, 16).and(0x8000_0000)).reinterpretAsFloats();
                a1 = w1.fma(xv, a1);
                IntVector h2 = (IntVector) ShortVector.fromMemorySegment(S, seg, o2 + cb, LE).convertShape(S2I, I, 0);
                IntVector e2 = h2.and(0x7fff);
                FloatVector w2 = e2.lanewise(LSHL, 13).add(IntVector.broadcast(I, 0x3800_0000).blend(0x7000_0000, e2.compare(GE, 0x7c00)))
                        .blend(e2.convert(I2F, 0).reinterpretAsFloats().mul(0x1p-24f).reinterpretAsInts(), e2.compare(LT, 0x0400))
                        .or(h2.lanewise(LSHL, 16).and(0x8000_0000)).reinterpretAsFloats();
                a2 = w2.fma(xv, a2);
                IntVector h3 = (IntVector) ShortVector.fromMemorySegment(S, seg, o3 + cb, LE).convertShape(S2I, I, 0);
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
                s0 = Math.fma(f16s(seg, o0 + cb), xc, s0);
                s1 = Math.fma(f16s(seg, o1 + cb), xc, s1);
                s2 = Math.fma(f16s(seg, o2 + cb), xc, s2);
                s3 = Math.fma(f16s(seg, o3 + cb), xc, s3);
            }
            out[oOff + r] = s0;
            out[oOff + r + 1] = s1;
            out[oOff + r + 2] = s2;
            out[oOff + r + 3] = s3;
        }
        for (; r < r1; r++) {
            final long o0 = r * rowBytes;
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
            out[oOff + r] = s0;
        }
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
        final long rowBytes = 4L * cols;
        final int vb = cols - cols % L;
        int r = r0;
        for (; r + 4 <= r1; r += 4) {
            final long o0 = r * rowBytes, o1 = o0 + rowBytes, o2 = o1 + rowBytes, o3 = o2 + rowBytes;
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
            for (int c = 0; c < vb; c += L) {
                FloatVector xv = FloatVector.fromArray(F, x, xOff + c);
                long cb = 4L * c;
                FloatVector w0 = FloatVector.fromMemorySegment(F, seg, o0 + cb, LE);
                a0 = w0.fma(xv, a0);
                FloatVector w1 = FloatVector.fromMemorySegment(F, seg, o1 + cb, LE);
                a1 = w1.fma(xv, a1);
                FloatVector w2 = FloatVector.fromMemorySegment(F, seg, o2 + cb, LE);
                a2 = w2.fma(xv, a2);
                FloatVector w3 = FloatVector.fromMemorySegment(F, seg, o3 + cb, LE);
                a3 = w3.fma(xv, a3);
            }
            float s0 = a0.reduceLanes(ADD), s1 = a1.reduceLanes(ADD), s2 = a2.reduceLanes(ADD), s3 = a3.reduceLanes(ADD);
            for (int c = vb; c < cols; c++) {
                float xc = x[xOff + c];
                long cb = 4L * c;
                s0 = Math.fma(f32s(seg, o0 + cb), xc, s0);
                s1 = Math.fma(f32s(seg, o1 + cb), xc, s1);
                s2 = Math.fma(f32s(seg, o2 + cb), xc, s2);
                s3 = Math.fma(f32s(seg, o3 + cb), xc, s3);
            }
            out[oOff + r] = s0;
            out[oOff + r + 1] = s1;
            out[oOff + r + 2] = s2;
            out[oOff + r + 3] = s3;
        }
        for (; r < r1; r++) {
            final long o0 = r * rowBytes;
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
            out[oOff + r] = s0;
        }
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

    /** 4×4 register block over the vector part kv (a multiple of L) of the columns:
     *  out[oo + j·os + i] += Σ_k&lt;kv w[wo + i·ws + k]·x[xo + j·xs + k]. */
    static void micro4x4(float[] w, int wo, int ws, float[] x, int xo, int xs, int kv,
                           float[] out, int oo, int os) {
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00, a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        for (int k = 0; k < kv; k += L) {
            FloatVector w0 = FloatVector.fromArray(F, w, wo + k);
            FloatVector w1 = FloatVector.fromArray(F, w, wo + 1 * ws + k);
            FloatVector w2 = FloatVector.fromArray(F, w, wo + 2 * ws + k);
            FloatVector w3 = FloatVector.fromArray(F, w, wo + 3 * ws + k);
            FloatVector x0 = FloatVector.fromArray(F, x, xo + k);
            a00 = w0.fma(x0, a00);
            a10 = w1.fma(x0, a10);
            a20 = w2.fma(x0, a20);
            a30 = w3.fma(x0, a30);
            FloatVector x1 = FloatVector.fromArray(F, x, xo + 1 * xs + k);
            a01 = w0.fma(x1, a01);
            a11 = w1.fma(x1, a11);
            a21 = w2.fma(x1, a21);
            a31 = w3.fma(x1, a31);
            FloatVector x2 = FloatVector.fromArray(F, x, xo + 2 * xs + k);
            a02 = w0.fma(x2, a02);
            a12 = w1.fma(x2, a12);
            a22 = w2.fma(x2, a22);
            a32 = w3.fma(x2, a32);
            FloatVector x3 = FloatVector.fromArray(F, x, xo + 3 * xs + k);
            a03 = w0.fma(x3, a03);
            a13 = w1.fma(x3, a13);
            a23 = w2.fma(x3, a23);
            a33 = w3.fma(x3, a33);
        }
        out[oo] += a00.reduceLanes(ADD);
        out[oo + 1] += a10.reduceLanes(ADD);
        out[oo + 2] += a20.reduceLanes(ADD);
        out[oo + 3] += a30.reduceLanes(ADD);
        out[oo + 1 * os] += a01.reduceLanes(ADD);
        out[oo + 1 * os + 1] += a11.reduceLanes(ADD);
        out[oo + 1 * os + 2] += a21.reduceLanes(ADD);
        out[oo + 1 * os + 3] += a31.reduceLanes(ADD);
        out[oo + 2 * os] += a02.reduceLanes(ADD);
        out[oo + 2 * os + 1] += a12.reduceLanes(ADD);
        out[oo + 2 * os + 2] += a22.reduceLanes(ADD);
        out[oo + 2 * os + 3] += a32.reduceLanes(ADD);
        out[oo + 3 * os] += a03.reduceLanes(ADD);
        out[oo + 3 * os + 1] += a13.reduceLanes(ADD);
        out[oo + 3 * os + 2] += a23.reduceLanes(ADD);
        out[oo + 3 * os + 3] += a33.reduceLanes(ADD);
    }

    /** 4×2 register block over the vector part kv (a multiple of L) of the columns:
     *  out[oo + j·os + i] += Σ_k&lt;kv w[wo + i·ws + k]·x[xo + j·xs + k]. */
    static void micro4x2(float[] w, int wo, int ws, float[] x, int xo, int xs, int kv,
                           float[] out, int oo, int os) {
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
        for (int k = 0; k < kv; k += L) {
            FloatVector w0 = FloatVector.fromArray(F, w, wo + k);
            FloatVector w1 = FloatVector.fromArray(F, w, wo + 1 * ws + k);
            FloatVector w2 = FloatVector.fromArray(F, w, wo + 2 * ws + k);
            FloatVector w3 = FloatVector.fromArray(F, w, wo + 3 * ws + k);
            FloatVector x0 = FloatVector.fromArray(F, x, xo + k);
            a00 = w0.fma(x0, a00);
            a10 = w1.fma(x0, a10);
            a20 = w2.fma(x0, a20);
            a30 = w3.fma(x0, a30);
            FloatVector x1 = FloatVector.fromArray(F, x, xo + 1 * xs + k);
            a01 = w0.fma(x1, a01);
            a11 = w1.fma(x1, a11);
            a21 = w2.fma(x1, a21);
            a31 = w3.fma(x1, a31);
        }
        out[oo] += a00.reduceLanes(ADD);
        out[oo + 1] += a10.reduceLanes(ADD);
        out[oo + 2] += a20.reduceLanes(ADD);
        out[oo + 3] += a30.reduceLanes(ADD);
        out[oo + 1 * os] += a01.reduceLanes(ADD);
        out[oo + 1 * os + 1] += a11.reduceLanes(ADD);
        out[oo + 1 * os + 2] += a21.reduceLanes(ADD);
        out[oo + 1 * os + 3] += a31.reduceLanes(ADD);
    }

    /** 4×1 register block over the vector part kv (a multiple of L) of the columns:
     *  out[oo + j·os + i] += Σ_k&lt;kv w[wo + i·ws + k]·x[xo + j·xs + k]. */
    static void micro4x1(float[] w, int wo, int ws, float[] x, int xo, int xs, int kv,
                           float[] out, int oo, int os) {
        FloatVector a00 = FloatVector.zero(F), a10 = a00, a20 = a00, a30 = a00;
        for (int k = 0; k < kv; k += L) {
            FloatVector w0 = FloatVector.fromArray(F, w, wo + k);
            FloatVector w1 = FloatVector.fromArray(F, w, wo + 1 * ws + k);
            FloatVector w2 = FloatVector.fromArray(F, w, wo + 2 * ws + k);
            FloatVector w3 = FloatVector.fromArray(F, w, wo + 3 * ws + k);
            FloatVector x0 = FloatVector.fromArray(F, x, xo + k);
            a00 = w0.fma(x0, a00);
            a10 = w1.fma(x0, a10);
            a20 = w2.fma(x0, a20);
            a30 = w3.fma(x0, a30);
        }
        out[oo] += a00.reduceLanes(ADD);
        out[oo + 1] += a10.reduceLanes(ADD);
        out[oo + 2] += a20.reduceLanes(ADD);
        out[oo + 3] += a30.reduceLanes(ADD);
    }

    /** 1×4 register block over the vector part kv (a multiple of L) of the columns:
     *  out[oo + j·os + i] += Σ_k&lt;kv w[wo + i·ws + k]·x[xo + j·xs + k]. */
    static void micro1x4(float[] w, int wo, int ws, float[] x, int xo, int xs, int kv,
                           float[] out, int oo, int os) {
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00;
        for (int k = 0; k < kv; k += L) {
            FloatVector w0 = FloatVector.fromArray(F, w, wo + k);
            FloatVector x0 = FloatVector.fromArray(F, x, xo + k);
            a00 = w0.fma(x0, a00);
            FloatVector x1 = FloatVector.fromArray(F, x, xo + 1 * xs + k);
            a01 = w0.fma(x1, a01);
            FloatVector x2 = FloatVector.fromArray(F, x, xo + 2 * xs + k);
            a02 = w0.fma(x2, a02);
            FloatVector x3 = FloatVector.fromArray(F, x, xo + 3 * xs + k);
            a03 = w0.fma(x3, a03);
        }
        out[oo] += a00.reduceLanes(ADD);
        out[oo + 1 * os] += a01.reduceLanes(ADD);
        out[oo + 2 * os] += a02.reduceLanes(ADD);
        out[oo + 3 * os] += a03.reduceLanes(ADD);
    }

    /** 1×1 register block over the vector part kv (a multiple of L) of the columns:
     *  out[oo + j·os + i] += Σ_k&lt;kv w[wo + i·ws + k]·x[xo + j·xs + k]. */
    static void micro1x1(float[] w, int wo, int ws, float[] x, int xo, int xs, int kv,
                           float[] out, int oo, int os) {
        FloatVector a00 = FloatVector.zero(F);
        for (int k = 0; k < kv; k += L) {
            FloatVector w0 = FloatVector.fromArray(F, w, wo + k);
            FloatVector x0 = FloatVector.fromArray(F, x, xo + k);
            a00 = w0.fma(x0, a00);
        }
        out[oo] += a00.reduceLanes(ADD);
    }

    /** Adds the scalar tail columns [kv, kc) of an R×N block (the micro-kernels stop at kv). */
    static void tail(float[] w, int wo, int ws, float[] x, int xo, int xs, int kv, int kc,
                     float[] out, int oo, int os, int R, int N) {
        for (int j = 0; j < N; j++) {
            for (int i = 0; i < R; i++) {
                float s = 0;
                for (int k = kv; k < kc; k++) s = Math.fma(w[wo + i * ws + k], x[xo + j * xs + k], s);
                out[oo + j * os + i] += s;
            }
        }
    }
}
