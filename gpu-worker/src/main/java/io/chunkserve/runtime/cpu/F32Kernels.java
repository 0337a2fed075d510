package io.chunkserve.runtime.cpu;

import static io.chunkserve.runtime.cpu.MatKernels.K_F32;
import static io.chunkserve.runtime.cpu.MatKernels.f32s;
import static io.chunkserve.runtime.cpu.MatKernels.tailDot;
import static io.chunkserve.runtime.cpu.Vec.F;
import static io.chunkserve.runtime.cpu.Vec.L;
import static io.chunkserve.runtime.cpu.Vec.LE;
import static io.chunkserve.runtime.cpu.Vec.SUM1;
import static io.chunkserve.runtime.cpu.Vec.SUM2;
import static io.chunkserve.runtime.cpu.Vec.SUM3;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;

/**
 * The f32 weight kernels of {@link MatKernels}: one-token gemv (four far-apart row streams,
 * one row alone), widening a row slice to fp32, and the scratch-free 4×4 / 4×2 / 4×1 / 1×1 register
 * blocks of {@link MatKernels#direct}. Written out per dtype on purpose (see MatKernels: a shared
 * vector-returning widening helper is not inlined and boxes); keep the three dtype classes alike.
 */
final class F32Kernels {
    private F32Kernels() { }

    /** T = 1: out[oOff + r] = Σ_c W[r, c]·x[xOff + c] for r in [r0, r1); W is f32 (rows × cols) at byte 0 of seg. */
    static void gemv(MemorySegment seg, int cols, float[] x, int xOff, float[] out, int oOff, int r0, int r1) {
        // four row streams far apart (quarters of [r0, r1)): the hardware prefetcher follows each
        // one, where four adjacent rows look like short streams it cannot run ahead of
        final long rowBytes = 4L * cols;
        final int q = (r1 - r0) / 4;
        if (q > 0) {
            final long o = r0 * rowBytes, qb = q * rowBytes;
            gemv4(seg, o, seg, o + qb, seg, o + 2 * qb, seg, o + 3 * qb, cols, x, xOff,
                    out, oOff + r0, out, oOff + r0 + q, out, oOff + r0 + 2 * q, out, oOff + r0 + 3 * q, q);
        }
        for (int r = r0 + 4 * q; r < r1; r++) gemv1(seg, r * rowBytes, cols, x, xOff, out, oOff + r);
    }

    /**
     * Four streams of n rows each, read side by side: stream k is the rows at bytes bk, bk + rowBytes, ...
     * of mk (a f32 matrix of {@code cols} columns); dk[ik + i] = row i of stream k · x[xOff ..].
     * No exit inside the row loop (the claims of a stoppable call are made between one-row calls, {@link
     * MatKernels#gemv4}): a data-dependent exit here let a failed loop predicate make C2 recompile the kernel without
     * loop predication, every segment access then bounds- and liveness-checked in the loop, 2-3x slower, in some processes.
     */
    static void gemv4(MemorySegment m0, long b0, MemorySegment m1, long b1, MemorySegment m2, long b2, MemorySegment m3, long b3,
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
            float s0, s1, s2, s3;
            {   // lane sums in a fixed tree (Lanes): the same bits in every JIT tier
                FloatVector q0 = a0, q1 = a1, q2 = a2, q3 = a3;
                q0 = q0.add(q0.rearrange(SUM1)); q1 = q1.add(q1.rearrange(SUM1)); q2 = q2.add(q2.rearrange(SUM1)); q3 = q3.add(q3.rearrange(SUM1));
                if (L >= 8) { q0 = q0.add(q0.rearrange(SUM2)); q1 = q1.add(q1.rearrange(SUM2)); q2 = q2.add(q2.rearrange(SUM2)); q3 = q3.add(q3.rearrange(SUM2)); }
                if (L >= 16) { q0 = q0.add(q0.rearrange(SUM3)); q1 = q1.add(q1.rearrange(SUM3)); q2 = q2.add(q2.rearrange(SUM3)); q3 = q3.add(q3.rearrange(SUM3)); }
                s0 = q0.lane(0) + q0.lane(1); s1 = q1.lane(0) + q1.lane(1); s2 = q2.lane(0) + q2.lane(1); s3 = q3.lane(0) + q3.lane(1);
            }
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
    static void gemv1(MemorySegment seg, long o0, int cols, float[] x, int xOff, float[] out, int oi) {
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
        float s0;
        {   // lane sums in a fixed tree (Lanes): the same bits in every JIT tier
            FloatVector q0 = a0.add(a1);
            q0 = q0.add(q0.rearrange(SUM1));
            if (L >= 8) { q0 = q0.add(q0.rearrange(SUM2)); }
            if (L >= 16) { q0 = q0.add(q0.rearrange(SUM3)); }
            s0 = q0.lane(0) + q0.lane(1);
        }
        for (c = vb; c < cols; c++) s0 = Math.fma(f32s(seg, o0 + 4L * c), x[xOff + c], s0);
        out[oi] = s0;
    }

    /** dst[dOff + i] = fp32 of the f32 element at seg[off + 4·i], i &lt; n. */
    static void widen(MemorySegment seg, long off, float[] dst, int dOff, int n) {
        int i = 0;
        final int vb = n - n % L;
        for (; i < vb; i += L) {
            FloatVector v = FloatVector.fromMemorySegment(F, seg, off + 4L * i, LE);
            v.intoArray(dst, dOff + i);
        }
        for (; i < n; i++) dst[dOff + i] = f32s(seg, off + 4L * i);
    }

    /** Rows r..r+3 × 4 token(s), columns [c0, c1), f32 widened in registers (no scratch):
     *  out[oo + j·os + i] += Σ_c W[r + i, c]·x[xo + j·xs + c]. */
    static void direct4x4(MemorySegment seg, int r, int cols, int c0, int c1, float[] x, int xo, int xs, float[] out, int oo, int os) {
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
        float ra00, ra10, ra20, ra30;
        {   // lane sums in a fixed tree (Lanes): the same bits in every JIT tier
            FloatVector q0 = a00, q1 = a10, q2 = a20, q3 = a30;
            q0 = q0.add(q0.rearrange(SUM1)); q1 = q1.add(q1.rearrange(SUM1)); q2 = q2.add(q2.rearrange(SUM1)); q3 = q3.add(q3.rearrange(SUM1));
            if (L >= 8) { q0 = q0.add(q0.rearrange(SUM2)); q1 = q1.add(q1.rearrange(SUM2)); q2 = q2.add(q2.rearrange(SUM2)); q3 = q3.add(q3.rearrange(SUM2)); }
            if (L >= 16) { q0 = q0.add(q0.rearrange(SUM3)); q1 = q1.add(q1.rearrange(SUM3)); q2 = q2.add(q2.rearrange(SUM3)); q3 = q3.add(q3.rearrange(SUM3)); }
            ra00 = q0.lane(0) + q0.lane(1); ra10 = q1.lane(0) + q1.lane(1); ra20 = q2.lane(0) + q2.lane(1); ra30 = q3.lane(0) + q3.lane(1);
        }
        float ra01, ra11, ra21, ra31;
        {   // lane sums in a fixed tree (Lanes): the same bits in every JIT tier
            FloatVector q0 = a01, q1 = a11, q2 = a21, q3 = a31;
            q0 = q0.add(q0.rearrange(SUM1)); q1 = q1.add(q1.rearrange(SUM1)); q2 = q2.add(q2.rearrange(SUM1)); q3 = q3.add(q3.rearrange(SUM1));
            if (L >= 8) { q0 = q0.add(q0.rearrange(SUM2)); q1 = q1.add(q1.rearrange(SUM2)); q2 = q2.add(q2.rearrange(SUM2)); q3 = q3.add(q3.rearrange(SUM2)); }
            if (L >= 16) { q0 = q0.add(q0.rearrange(SUM3)); q1 = q1.add(q1.rearrange(SUM3)); q2 = q2.add(q2.rearrange(SUM3)); q3 = q3.add(q3.rearrange(SUM3)); }
            ra01 = q0.lane(0) + q0.lane(1); ra11 = q1.lane(0) + q1.lane(1); ra21 = q2.lane(0) + q2.lane(1); ra31 = q3.lane(0) + q3.lane(1);
        }
        float ra02, ra12, ra22, ra32;
        {   // lane sums in a fixed tree (Lanes): the same bits in every JIT tier
            FloatVector q0 = a02, q1 = a12, q2 = a22, q3 = a32;
            q0 = q0.add(q0.rearrange(SUM1)); q1 = q1.add(q1.rearrange(SUM1)); q2 = q2.add(q2.rearrange(SUM1)); q3 = q3.add(q3.rearrange(SUM1));
            if (L >= 8) { q0 = q0.add(q0.rearrange(SUM2)); q1 = q1.add(q1.rearrange(SUM2)); q2 = q2.add(q2.rearrange(SUM2)); q3 = q3.add(q3.rearrange(SUM2)); }
            if (L >= 16) { q0 = q0.add(q0.rearrange(SUM3)); q1 = q1.add(q1.rearrange(SUM3)); q2 = q2.add(q2.rearrange(SUM3)); q3 = q3.add(q3.rearrange(SUM3)); }
            ra02 = q0.lane(0) + q0.lane(1); ra12 = q1.lane(0) + q1.lane(1); ra22 = q2.lane(0) + q2.lane(1); ra32 = q3.lane(0) + q3.lane(1);
        }
        float ra03, ra13, ra23, ra33;
        {   // lane sums in a fixed tree (Lanes): the same bits in every JIT tier
            FloatVector q0 = a03, q1 = a13, q2 = a23, q3 = a33;
            q0 = q0.add(q0.rearrange(SUM1)); q1 = q1.add(q1.rearrange(SUM1)); q2 = q2.add(q2.rearrange(SUM1)); q3 = q3.add(q3.rearrange(SUM1));
            if (L >= 8) { q0 = q0.add(q0.rearrange(SUM2)); q1 = q1.add(q1.rearrange(SUM2)); q2 = q2.add(q2.rearrange(SUM2)); q3 = q3.add(q3.rearrange(SUM2)); }
            if (L >= 16) { q0 = q0.add(q0.rearrange(SUM3)); q1 = q1.add(q1.rearrange(SUM3)); q2 = q2.add(q2.rearrange(SUM3)); q3 = q3.add(q3.rearrange(SUM3)); }
            ra03 = q0.lane(0) + q0.lane(1); ra13 = q1.lane(0) + q1.lane(1); ra23 = q2.lane(0) + q2.lane(1); ra33 = q3.lane(0) + q3.lane(1);
        }
        out[oo] += ra00 + tailDot(seg, o0, K_F32, vb, c1, x, xo);
        out[oo + 1] += ra10 + tailDot(seg, o1, K_F32, vb, c1, x, xo);
        out[oo + 2] += ra20 + tailDot(seg, o2, K_F32, vb, c1, x, xo);
        out[oo + 3] += ra30 + tailDot(seg, o3, K_F32, vb, c1, x, xo);
        out[oo + 1 * os] += ra01 + tailDot(seg, o0, K_F32, vb, c1, x, xo + 1 * xs);
        out[oo + 1 * os + 1] += ra11 + tailDot(seg, o1, K_F32, vb, c1, x, xo + 1 * xs);
        out[oo + 1 * os + 2] += ra21 + tailDot(seg, o2, K_F32, vb, c1, x, xo + 1 * xs);
        out[oo + 1 * os + 3] += ra31 + tailDot(seg, o3, K_F32, vb, c1, x, xo + 1 * xs);
        out[oo + 2 * os] += ra02 + tailDot(seg, o0, K_F32, vb, c1, x, xo + 2 * xs);
        out[oo + 2 * os + 1] += ra12 + tailDot(seg, o1, K_F32, vb, c1, x, xo + 2 * xs);
        out[oo + 2 * os + 2] += ra22 + tailDot(seg, o2, K_F32, vb, c1, x, xo + 2 * xs);
        out[oo + 2 * os + 3] += ra32 + tailDot(seg, o3, K_F32, vb, c1, x, xo + 2 * xs);
        out[oo + 3 * os] += ra03 + tailDot(seg, o0, K_F32, vb, c1, x, xo + 3 * xs);
        out[oo + 3 * os + 1] += ra13 + tailDot(seg, o1, K_F32, vb, c1, x, xo + 3 * xs);
        out[oo + 3 * os + 2] += ra23 + tailDot(seg, o2, K_F32, vb, c1, x, xo + 3 * xs);
        out[oo + 3 * os + 3] += ra33 + tailDot(seg, o3, K_F32, vb, c1, x, xo + 3 * xs);
    }

    /** Rows r..r+3 × 2 token(s), columns [c0, c1), f32 widened in registers (no scratch):
     *  out[oo + j·os + i] += Σ_c W[r + i, c]·x[xo + j·xs + c]. */
    static void direct4x2(MemorySegment seg, int r, int cols, int c0, int c1, float[] x, int xo, int xs, float[] out, int oo, int os) {
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
        float ra00, ra10, ra20, ra30;
        {   // lane sums in a fixed tree (Lanes): the same bits in every JIT tier
            FloatVector q0 = a00, q1 = a10, q2 = a20, q3 = a30;
            q0 = q0.add(q0.rearrange(SUM1)); q1 = q1.add(q1.rearrange(SUM1)); q2 = q2.add(q2.rearrange(SUM1)); q3 = q3.add(q3.rearrange(SUM1));
            if (L >= 8) { q0 = q0.add(q0.rearrange(SUM2)); q1 = q1.add(q1.rearrange(SUM2)); q2 = q2.add(q2.rearrange(SUM2)); q3 = q3.add(q3.rearrange(SUM2)); }
            if (L >= 16) { q0 = q0.add(q0.rearrange(SUM3)); q1 = q1.add(q1.rearrange(SUM3)); q2 = q2.add(q2.rearrange(SUM3)); q3 = q3.add(q3.rearrange(SUM3)); }
            ra00 = q0.lane(0) + q0.lane(1); ra10 = q1.lane(0) + q1.lane(1); ra20 = q2.lane(0) + q2.lane(1); ra30 = q3.lane(0) + q3.lane(1);
        }
        float ra01, ra11, ra21, ra31;
        {   // lane sums in a fixed tree (Lanes): the same bits in every JIT tier
            FloatVector q0 = a01, q1 = a11, q2 = a21, q3 = a31;
            q0 = q0.add(q0.rearrange(SUM1)); q1 = q1.add(q1.rearrange(SUM1)); q2 = q2.add(q2.rearrange(SUM1)); q3 = q3.add(q3.rearrange(SUM1));
            if (L >= 8) { q0 = q0.add(q0.rearrange(SUM2)); q1 = q1.add(q1.rearrange(SUM2)); q2 = q2.add(q2.rearrange(SUM2)); q3 = q3.add(q3.rearrange(SUM2)); }
            if (L >= 16) { q0 = q0.add(q0.rearrange(SUM3)); q1 = q1.add(q1.rearrange(SUM3)); q2 = q2.add(q2.rearrange(SUM3)); q3 = q3.add(q3.rearrange(SUM3)); }
            ra01 = q0.lane(0) + q0.lane(1); ra11 = q1.lane(0) + q1.lane(1); ra21 = q2.lane(0) + q2.lane(1); ra31 = q3.lane(0) + q3.lane(1);
        }
        out[oo] += ra00 + tailDot(seg, o0, K_F32, vb, c1, x, xo);
        out[oo + 1] += ra10 + tailDot(seg, o1, K_F32, vb, c1, x, xo);
        out[oo + 2] += ra20 + tailDot(seg, o2, K_F32, vb, c1, x, xo);
        out[oo + 3] += ra30 + tailDot(seg, o3, K_F32, vb, c1, x, xo);
        out[oo + 1 * os] += ra01 + tailDot(seg, o0, K_F32, vb, c1, x, xo + 1 * xs);
        out[oo + 1 * os + 1] += ra11 + tailDot(seg, o1, K_F32, vb, c1, x, xo + 1 * xs);
        out[oo + 1 * os + 2] += ra21 + tailDot(seg, o2, K_F32, vb, c1, x, xo + 1 * xs);
        out[oo + 1 * os + 3] += ra31 + tailDot(seg, o3, K_F32, vb, c1, x, xo + 1 * xs);
    }

    /** Rows r..r+3 × 1 token(s), columns [c0, c1), f32 widened in registers (no scratch):
     *  out[oo + j·os + i] += Σ_c W[r + i, c]·x[xo + j·xs + c]. */
    static void direct4x1(MemorySegment seg, int r, int cols, int c0, int c1, float[] x, int xo, int xs, float[] out, int oo, int os) {
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
        float ra00, ra10, ra20, ra30;
        {   // lane sums in a fixed tree (Lanes): the same bits in every JIT tier
            FloatVector q0 = a00, q1 = a10, q2 = a20, q3 = a30;
            q0 = q0.add(q0.rearrange(SUM1)); q1 = q1.add(q1.rearrange(SUM1)); q2 = q2.add(q2.rearrange(SUM1)); q3 = q3.add(q3.rearrange(SUM1));
            if (L >= 8) { q0 = q0.add(q0.rearrange(SUM2)); q1 = q1.add(q1.rearrange(SUM2)); q2 = q2.add(q2.rearrange(SUM2)); q3 = q3.add(q3.rearrange(SUM2)); }
            if (L >= 16) { q0 = q0.add(q0.rearrange(SUM3)); q1 = q1.add(q1.rearrange(SUM3)); q2 = q2.add(q2.rearrange(SUM3)); q3 = q3.add(q3.rearrange(SUM3)); }
            ra00 = q0.lane(0) + q0.lane(1); ra10 = q1.lane(0) + q1.lane(1); ra20 = q2.lane(0) + q2.lane(1); ra30 = q3.lane(0) + q3.lane(1);
        }
        out[oo] += ra00 + tailDot(seg, o0, K_F32, vb, c1, x, xo);
        out[oo + 1] += ra10 + tailDot(seg, o1, K_F32, vb, c1, x, xo);
        out[oo + 2] += ra20 + tailDot(seg, o2, K_F32, vb, c1, x, xo);
        out[oo + 3] += ra30 + tailDot(seg, o3, K_F32, vb, c1, x, xo);
    }

    /** Rows r..r+0 × 1 token(s), columns [c0, c1), f32 widened in registers (no scratch):
     *  out[oo + j·os + i] += Σ_c W[r + i, c]·x[xo + j·xs + c]. */
    static void direct1x1(MemorySegment seg, int r, int cols, int c0, int c1, float[] x, int xo, int xs, float[] out, int oo, int os) {
        final long rowBytes = 4L * cols, o0 = r * rowBytes;
        final int vb = c0 + (c1 - c0) / L * L;
        FloatVector a00 = FloatVector.zero(F);
        for (int c = c0; c < vb; c += L) {
            long cb = 4L * c;
            FloatVector w0 = FloatVector.fromMemorySegment(F, seg, o0 + cb, LE);
            FloatVector x0 = FloatVector.fromArray(F, x, xo + c);
            a00 = w0.fma(x0, a00);
        }
        float ra00;
        {   // lane sums in a fixed tree (Lanes): the same bits in every JIT tier
            FloatVector q0 = a00;
            q0 = q0.add(q0.rearrange(SUM1));
            if (L >= 8) { q0 = q0.add(q0.rearrange(SUM2)); }
            if (L >= 16) { q0 = q0.add(q0.rearrange(SUM3)); }
            ra00 = q0.lane(0) + q0.lane(1);
        }
        out[oo] += ra00 + tailDot(seg, o0, K_F32, vb, c1, x, xo);
    }
}
