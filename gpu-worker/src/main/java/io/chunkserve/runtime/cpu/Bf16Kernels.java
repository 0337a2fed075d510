package io.chunkserve.runtime.cpu;

import static io.chunkserve.runtime.cpu.MatKernels.K_BF16;
import static io.chunkserve.runtime.cpu.MatKernels.bf16s;
import static io.chunkserve.runtime.cpu.MatKernels.tailDot;
import static io.chunkserve.runtime.cpu.Vec.F;
import static io.chunkserve.runtime.cpu.Vec.I;
import static io.chunkserve.runtime.cpu.Vec.L;
import static io.chunkserve.runtime.cpu.Vec.LE;
import static io.chunkserve.runtime.cpu.Vec.SUM1;
import static io.chunkserve.runtime.cpu.Vec.SUM2;
import static io.chunkserve.runtime.cpu.Vec.SUM3;
import static io.chunkserve.runtime.cpu.Vec.S;
import static io.chunkserve.runtime.cpu.Vec.S2;
import static jdk.incubator.vector.VectorOperators.LSHL;
import static jdk.incubator.vector.VectorOperators.S2I;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;

/**
 * The bf16 weight kernels of {@link MatKernels}: one-token gemv (four far-apart row streams,
 * one row alone), widening a row slice to fp32, and the scratch-free 4×4 / 4×2 / 4×1 / 1×1 register
 * blocks of {@link MatKernels#direct}. Written out per dtype on purpose (see MatKernels: a shared
 * vector-returning widening helper is not inlined and boxes); keep the three dtype classes alike.
 * The stream and register-block kernels read 2·L weights as L ints against x {@linkplain #pair paired} into even and
 * odd columns (session 13: no cross-lane widening, up to 2× on an AVX2 core); {@link #gemv4Widen} keeps the widening
 * one-token kernel for A/B ({@link CpuTuning#bf16Pairs}).
 */
final class Bf16Kernels {
    private Bf16Kernels() { }

    /** Upper halves of the int lanes: the odd-numbered bf16 of each pair, as fp32 bits. */
    private static final IntVector HIGH = IntVector.broadcast(I, 0xFFFF_0000);

    /** T = 1: out[oOff + r] = Σ_c W[r, c]·x[xOff + c] for r in [r0, r1); W is bf16 (rows × cols) at byte 0 of seg. */
    static void gemv(MemorySegment seg, int cols, float[] x, int xOff, float[] out, int oOff, int r0, int r1) {
        // four row streams far apart (quarters of [r0, r1)): the hardware prefetcher follows each
        // one, where four adjacent rows look like short streams it cannot run ahead of
        final long rowBytes = 2L * cols;
        final int q = (r1 - r0) / 4;
        if (q > 0) {
            final long o = r0 * rowBytes, qb = q * rowBytes;
            if (CpuTuning.bf16Pairs) {
                gemv4(seg, o, seg, o + qb, seg, o + 2 * qb, seg, o + 3 * qb, cols, pairRows(x, xOff, 1, cols, PAIRED.get()), 0,
                        out, oOff + r0, out, oOff + r0 + q, out, oOff + r0 + 2 * q, out, oOff + r0 + 3 * q, q);
            } else {
                gemv4Widen(seg, o, seg, o + qb, seg, o + 2 * qb, seg, o + 3 * qb, cols, x, xOff,
                        out, oOff + r0, out, oOff + r0 + q, out, oOff + r0 + 2 * q, out, oOff + r0 + 3 * q, q);
            }
        }
        for (int r = r0 + 4 * q; r < r1; r++) gemv1(seg, r * rowBytes, cols, x, xOff, out, oOff + r);
    }

    /** Per-thread scratch for the paired x of {@link #gemv} and {@link #pairRows(float[], int, int)} (grown on demand). */
    private static final ThreadLocal<float[][]> PAIRED = ThreadLocal.withInitial(() -> new float[1][0]);

    /**
     * T token rows of x (cols each, from xOff) in the order the kernels read them ({@link #pair}), into holder[0] (grown
     * to T·cols when shorter); returns that array.
     */
    static float[] pairRows(float[] x, int xOff, int T, int cols, float[][] holder) {
        if (holder[0].length < T * cols) holder[0] = new float[T * cols];
        float[] xp = holder[0];
        for (int t = 0; t < T; t++) pair(x, xOff + t * cols, cols, xp, t * cols);
        return xp;
    }

    /** As above from x[0], into the calling thread's scratch. */
    static float[] pairRows(float[] x, int T, int cols) { return pairRows(x, 0, T, cols, PAIRED.get()); }

    /**
     * x[xOff .. xOff + cols) into xp[xpOff ..] in the order {@link #gemv4} reads it: per block of 2·L columns, first the
     * L even-numbered columns, then the L odd-numbered ones; the columns after the last whole block as they are.
     */
    static void pair(float[] x, int xOff, int cols, float[] xp, int xpOff) {
        final int vb2 = cols - cols % (2 * L);
        for (int b = 0; b < vb2; b += 2 * L) {
            for (int j = 0; j < L; j++) {
                xp[xpOff + b + j] = x[xOff + b + 2 * j];
                xp[xpOff + b + L + j] = x[xOff + b + 2 * j + 1];
            }
        }
        System.arraycopy(x, xOff + vb2, xp, xpOff + vb2, cols - vb2);
    }

    /**
     * Four streams of n rows each, read side by side: stream k is the rows at bytes bk, bk + rowBytes, ...
     * of mk (a bf16 matrix of {@code cols} columns); dk[ik + i] = row i of stream k · x, where xp[xpOff ..] is x
     * {@linkplain #pair paired}. No exit inside the row loop (the claims of a stoppable call are made between one-row
     * calls, {@link MatKernels#gemv4}): a data-dependent exit here let a failed loop predicate make C2 recompile the
     * kernel without loop predication, every segment access then bounds- and liveness-checked in the loop, 2-3x slower,
     * in some processes. Each row's two products are summed off its accumulator's chain ({@code a += fma(odd, xo,
     * even·xe)}): C2 unrolls the column loop four times, and with both products chained onto the accumulator that made
     * eight dependent FMAs per row per unrolled iteration (latency-bound; session 14: 7-8 % of a SmolLM2 step).
     */
    static void gemv4(MemorySegment m0, long b0, MemorySegment m1, long b1, MemorySegment m2, long b2, MemorySegment m3, long b3,
                      int cols, float[] xp, int xpOff, float[] d0, int i0, float[] d1, int i1, float[] d2, int i2, float[] d3, int i3, int n) {
        final long rowBytes = 2L * cols;
        final int vb2 = cols - cols % (2 * L);
        for (int i = 0; i < n; i++) {
            final long p0 = b0 + i * rowBytes, p1 = b1 + i * rowBytes, p2 = b2 + i * rowBytes, p3 = b3 + i * rowBytes;
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
            // 2·L bf16 as L ints: each int's low half (an even column) shifted up and its high half (the odd column
            // after it) masked are exact fp32 values, multiplied with x's even and odd columns (paired beforehand).
            // Two ALU operations per 2·L weights and no cross-lane widening: on an AVX2 core 1.3–2× the throughput of
            // widening shorts to ints (S2I); one accumulator per row measured ~10 % ahead of two (register pressure
            // with 16 vector registers)
            for (int c = 0; c < vb2; c += 2 * L) {
                FloatVector xe = FloatVector.fromArray(F, xp, xpOff + c), xo = FloatVector.fromArray(F, xp, xpOff + c + L);
                long cb = 2L * c;
                IntVector h0 = IntVector.fromMemorySegment(I, m0, p0 + cb, LE);
                a0 = a0.add(h0.and(HIGH).reinterpretAsFloats().fma(xo, h0.lanewise(LSHL, 16).reinterpretAsFloats().mul(xe)));
                IntVector h1 = IntVector.fromMemorySegment(I, m1, p1 + cb, LE);
                a1 = a1.add(h1.and(HIGH).reinterpretAsFloats().fma(xo, h1.lanewise(LSHL, 16).reinterpretAsFloats().mul(xe)));
                IntVector h2 = IntVector.fromMemorySegment(I, m2, p2 + cb, LE);
                a2 = a2.add(h2.and(HIGH).reinterpretAsFloats().fma(xo, h2.lanewise(LSHL, 16).reinterpretAsFloats().mul(xe)));
                IntVector h3 = IntVector.fromMemorySegment(I, m3, p3 + cb, LE);
                a3 = a3.add(h3.and(HIGH).reinterpretAsFloats().fma(xo, h3.lanewise(LSHL, 16).reinterpretAsFloats().mul(xe)));
            }
            float s0, s1, s2, s3;
            {   // lane sums in a fixed tree (Lanes): the same bits in every JIT tier
                FloatVector q0 = a0, q1 = a1, q2 = a2, q3 = a3;
                q0 = q0.add(q0.rearrange(SUM1)); q1 = q1.add(q1.rearrange(SUM1)); q2 = q2.add(q2.rearrange(SUM1)); q3 = q3.add(q3.rearrange(SUM1));
                if (L >= 8) { q0 = q0.add(q0.rearrange(SUM2)); q1 = q1.add(q1.rearrange(SUM2)); q2 = q2.add(q2.rearrange(SUM2)); q3 = q3.add(q3.rearrange(SUM2)); }
                if (L >= 16) { q0 = q0.add(q0.rearrange(SUM3)); q1 = q1.add(q1.rearrange(SUM3)); q2 = q2.add(q2.rearrange(SUM3)); q3 = q3.add(q3.rearrange(SUM3)); }
                s0 = q0.lane(0) + q0.lane(1); s1 = q1.lane(0) + q1.lane(1); s2 = q2.lane(0) + q2.lane(1); s3 = q3.lane(0) + q3.lane(1);
            }
            for (int c = vb2; c < cols; c++) { // after the last whole block xp holds x as it is
                float xc = xp[xpOff + c];
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

    /**
     * {@link #gemv4} on x as it is, the shorts widened to ints ({@link CpuTuning#bf16Pairs} false; for A/B). Picked by the
     * callers, not inside gemv4: with both kernels in one compiled method an A/B would time a method C2 compiles differently.
     */
    static void gemv4Widen(MemorySegment m0, long b0, MemorySegment m1, long b1, MemorySegment m2, long b2, MemorySegment m3, long b3,
                      int cols, float[] x, int xOff, float[] d0, int i0, float[] d1, int i1, float[] d2, int i2, float[] d3, int i3, int n) {
        final long rowBytes = 2L * cols;
        final int vb = cols - cols % L, vb2 = cols - cols % (2 * L);
        for (int i = 0; i < n; i++) {
            final long p0 = b0 + i * rowBytes, p1 = b1 + i * rowBytes, p2 = b2 + i * rowBytes, p3 = b3 + i * rowBytes;
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, e0 = a0, e1 = a0, e2 = a0, e3 = a0;
            int c = 0;
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
                a0 = ((IntVector) ShortVector.fromMemorySegment(S, m0, p0 + cb, LE).convertShape(S2I, I, 0)).lanewise(LSHL, 16).reinterpretAsFloats().fma(xv, a0);
                a1 = ((IntVector) ShortVector.fromMemorySegment(S, m1, p1 + cb, LE).convertShape(S2I, I, 0)).lanewise(LSHL, 16).reinterpretAsFloats().fma(xv, a1);
                a2 = ((IntVector) ShortVector.fromMemorySegment(S, m2, p2 + cb, LE).convertShape(S2I, I, 0)).lanewise(LSHL, 16).reinterpretAsFloats().fma(xv, a2);
                a3 = ((IntVector) ShortVector.fromMemorySegment(S, m3, p3 + cb, LE).convertShape(S2I, I, 0)).lanewise(LSHL, 16).reinterpretAsFloats().fma(xv, a3);
            }
            float s0, s1, s2, s3;
            {   // lane sums in a fixed tree (Lanes): the same bits in every JIT tier
                FloatVector q0 = a0.add(e0), q1 = a1.add(e1), q2 = a2.add(e2), q3 = a3.add(e3);
                q0 = q0.add(q0.rearrange(SUM1)); q1 = q1.add(q1.rearrange(SUM1)); q2 = q2.add(q2.rearrange(SUM1)); q3 = q3.add(q3.rearrange(SUM1));
                if (L >= 8) { q0 = q0.add(q0.rearrange(SUM2)); q1 = q1.add(q1.rearrange(SUM2)); q2 = q2.add(q2.rearrange(SUM2)); q3 = q3.add(q3.rearrange(SUM2)); }
                if (L >= 16) { q0 = q0.add(q0.rearrange(SUM3)); q1 = q1.add(q1.rearrange(SUM3)); q2 = q2.add(q2.rearrange(SUM3)); q3 = q3.add(q3.rearrange(SUM3)); }
                s0 = q0.lane(0) + q0.lane(1); s1 = q1.lane(0) + q1.lane(1); s2 = q2.lane(0) + q2.lane(1); s3 = q3.lane(0) + q3.lane(1);
            }
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
    static void gemv1(MemorySegment seg, long o0, int cols, float[] x, int xOff, float[] out, int oi) {
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
        float s0;
        {   // lane sums in a fixed tree (Lanes): the same bits in every JIT tier
            FloatVector q0 = a0.add(a1);
            q0 = q0.add(q0.rearrange(SUM1));
            if (L >= 8) { q0 = q0.add(q0.rearrange(SUM2)); }
            if (L >= 16) { q0 = q0.add(q0.rearrange(SUM3)); }
            s0 = q0.lane(0) + q0.lane(1);
        }
        for (c = vb; c < cols; c++) s0 = Math.fma(bf16s(seg, o0 + 2L * c), x[xOff + c], s0);
        out[oi] = s0;
    }

    /** dst[dOff + i] = fp32 of the bf16 element at seg[off + 2·i], i &lt; n. */
    static void widen(MemorySegment seg, long off, float[] dst, int dOff, int n) {
        int i = 0;
        final int vb = n - n % L;
        for (; i < vb; i += L) {
            FloatVector v = ((IntVector) ShortVector.fromMemorySegment(S, seg, off + 2L * i, LE).convertShape(S2I, I, 0)).lanewise(LSHL, 16).reinterpretAsFloats();
            v.intoArray(dst, dOff + i);
        }
        for (; i < n; i++) dst[dOff + i] = bf16s(seg, off + 2L * i);
    }

    /** Rows r..r+3 × 4 token(s), columns [c0, c1), on x {@linkplain #pair paired} per token row (2·L weights a load as L ints):
     *  out[oo + j·os + i] += Σ_c W[r + i, c]·x[xo + j·xs + c]. */
    static void direct4x4(MemorySegment seg, int r, int cols, int c0, int c1, float[] xp, int xo, int xs, float[] out, int oo, int os) {
        final long rowBytes = 2L * cols, o0 = r * rowBytes, o1 = o0 + rowBytes, o2 = o1 + rowBytes, o3 = o2 + rowBytes;
        final int vb = c0 + (c1 - c0) / (2 * L) * (2 * L);
        FloatVector z = FloatVector.zero(F), a00 = z, a01 = z, a02 = z, a03 = z, a10 = z, a11 = z, a12 = z, a13 = z, a20 = z, a21 = z, a22 = z, a23 = z, a30 = z, a31 = z, a32 = z, a33 = z;
        for (int c = c0; c < vb; c += 2 * L) {
            long cb = 2L * c;
            FloatVector xe0 = FloatVector.fromArray(F, xp, xo + c), xd0 = FloatVector.fromArray(F, xp, xo + c + L);
            FloatVector xe1 = FloatVector.fromArray(F, xp, xo + 1 * xs + c), xd1 = FloatVector.fromArray(F, xp, xo + 1 * xs + c + L);
            FloatVector xe2 = FloatVector.fromArray(F, xp, xo + 2 * xs + c), xd2 = FloatVector.fromArray(F, xp, xo + 2 * xs + c + L);
            FloatVector xe3 = FloatVector.fromArray(F, xp, xo + 3 * xs + c), xd3 = FloatVector.fromArray(F, xp, xo + 3 * xs + c + L);
            IntVector h0 = IntVector.fromMemorySegment(I, seg, o0 + cb, LE);
            FloatVector l0 = h0.lanewise(LSHL, 16).reinterpretAsFloats(), u0 = h0.and(HIGH).reinterpretAsFloats();
            a00 = u0.fma(xd0, l0.fma(xe0, a00));
            a01 = u0.fma(xd1, l0.fma(xe1, a01));
            a02 = u0.fma(xd2, l0.fma(xe2, a02));
            a03 = u0.fma(xd3, l0.fma(xe3, a03));
            IntVector h1 = IntVector.fromMemorySegment(I, seg, o1 + cb, LE);
            FloatVector l1 = h1.lanewise(LSHL, 16).reinterpretAsFloats(), u1 = h1.and(HIGH).reinterpretAsFloats();
            a10 = u1.fma(xd0, l1.fma(xe0, a10));
            a11 = u1.fma(xd1, l1.fma(xe1, a11));
            a12 = u1.fma(xd2, l1.fma(xe2, a12));
            a13 = u1.fma(xd3, l1.fma(xe3, a13));
            IntVector h2 = IntVector.fromMemorySegment(I, seg, o2 + cb, LE);
            FloatVector l2 = h2.lanewise(LSHL, 16).reinterpretAsFloats(), u2 = h2.and(HIGH).reinterpretAsFloats();
            a20 = u2.fma(xd0, l2.fma(xe0, a20));
            a21 = u2.fma(xd1, l2.fma(xe1, a21));
            a22 = u2.fma(xd2, l2.fma(xe2, a22));
            a23 = u2.fma(xd3, l2.fma(xe3, a23));
            IntVector h3 = IntVector.fromMemorySegment(I, seg, o3 + cb, LE);
            FloatVector l3 = h3.lanewise(LSHL, 16).reinterpretAsFloats(), u3 = h3.and(HIGH).reinterpretAsFloats();
            a30 = u3.fma(xd0, l3.fma(xe0, a30));
            a31 = u3.fma(xd1, l3.fma(xe1, a31));
            a32 = u3.fma(xd2, l3.fma(xe2, a32));
            a33 = u3.fma(xd3, l3.fma(xe3, a33));
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
        out[oo] += ra00 + tailDot(seg, o0, K_BF16, vb, c1, xp, xo);
        out[oo + 1] += ra10 + tailDot(seg, o1, K_BF16, vb, c1, xp, xo);
        out[oo + 2] += ra20 + tailDot(seg, o2, K_BF16, vb, c1, xp, xo);
        out[oo + 3] += ra30 + tailDot(seg, o3, K_BF16, vb, c1, xp, xo);
        out[oo + 1 * os] += ra01 + tailDot(seg, o0, K_BF16, vb, c1, xp, xo + 1 * xs);
        out[oo + 1 * os + 1] += ra11 + tailDot(seg, o1, K_BF16, vb, c1, xp, xo + 1 * xs);
        out[oo + 1 * os + 2] += ra21 + tailDot(seg, o2, K_BF16, vb, c1, xp, xo + 1 * xs);
        out[oo + 1 * os + 3] += ra31 + tailDot(seg, o3, K_BF16, vb, c1, xp, xo + 1 * xs);
        out[oo + 2 * os] += ra02 + tailDot(seg, o0, K_BF16, vb, c1, xp, xo + 2 * xs);
        out[oo + 2 * os + 1] += ra12 + tailDot(seg, o1, K_BF16, vb, c1, xp, xo + 2 * xs);
        out[oo + 2 * os + 2] += ra22 + tailDot(seg, o2, K_BF16, vb, c1, xp, xo + 2 * xs);
        out[oo + 2 * os + 3] += ra32 + tailDot(seg, o3, K_BF16, vb, c1, xp, xo + 2 * xs);
        out[oo + 3 * os] += ra03 + tailDot(seg, o0, K_BF16, vb, c1, xp, xo + 3 * xs);
        out[oo + 3 * os + 1] += ra13 + tailDot(seg, o1, K_BF16, vb, c1, xp, xo + 3 * xs);
        out[oo + 3 * os + 2] += ra23 + tailDot(seg, o2, K_BF16, vb, c1, xp, xo + 3 * xs);
        out[oo + 3 * os + 3] += ra33 + tailDot(seg, o3, K_BF16, vb, c1, xp, xo + 3 * xs);
    }

    /** Rows r..r+3 × 2 token(s), columns [c0, c1), on x {@linkplain #pair paired} per token row (2·L weights a load as L ints):
     *  out[oo + j·os + i] += Σ_c W[r + i, c]·x[xo + j·xs + c]. */
    static void direct4x2(MemorySegment seg, int r, int cols, int c0, int c1, float[] xp, int xo, int xs, float[] out, int oo, int os) {
        final long rowBytes = 2L * cols, o0 = r * rowBytes, o1 = o0 + rowBytes, o2 = o1 + rowBytes, o3 = o2 + rowBytes;
        final int vb = c0 + (c1 - c0) / (2 * L) * (2 * L);
        FloatVector z = FloatVector.zero(F), a00 = z, a01 = z, a10 = z, a11 = z, a20 = z, a21 = z, a30 = z, a31 = z;
        for (int c = c0; c < vb; c += 2 * L) {
            long cb = 2L * c;
            FloatVector xe0 = FloatVector.fromArray(F, xp, xo + c), xd0 = FloatVector.fromArray(F, xp, xo + c + L);
            FloatVector xe1 = FloatVector.fromArray(F, xp, xo + 1 * xs + c), xd1 = FloatVector.fromArray(F, xp, xo + 1 * xs + c + L);
            IntVector h0 = IntVector.fromMemorySegment(I, seg, o0 + cb, LE);
            FloatVector l0 = h0.lanewise(LSHL, 16).reinterpretAsFloats(), u0 = h0.and(HIGH).reinterpretAsFloats();
            a00 = u0.fma(xd0, l0.fma(xe0, a00));
            a01 = u0.fma(xd1, l0.fma(xe1, a01));
            IntVector h1 = IntVector.fromMemorySegment(I, seg, o1 + cb, LE);
            FloatVector l1 = h1.lanewise(LSHL, 16).reinterpretAsFloats(), u1 = h1.and(HIGH).reinterpretAsFloats();
            a10 = u1.fma(xd0, l1.fma(xe0, a10));
            a11 = u1.fma(xd1, l1.fma(xe1, a11));
            IntVector h2 = IntVector.fromMemorySegment(I, seg, o2 + cb, LE);
            FloatVector l2 = h2.lanewise(LSHL, 16).reinterpretAsFloats(), u2 = h2.and(HIGH).reinterpretAsFloats();
            a20 = u2.fma(xd0, l2.fma(xe0, a20));
            a21 = u2.fma(xd1, l2.fma(xe1, a21));
            IntVector h3 = IntVector.fromMemorySegment(I, seg, o3 + cb, LE);
            FloatVector l3 = h3.lanewise(LSHL, 16).reinterpretAsFloats(), u3 = h3.and(HIGH).reinterpretAsFloats();
            a30 = u3.fma(xd0, l3.fma(xe0, a30));
            a31 = u3.fma(xd1, l3.fma(xe1, a31));
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
        out[oo] += ra00 + tailDot(seg, o0, K_BF16, vb, c1, xp, xo);
        out[oo + 1] += ra10 + tailDot(seg, o1, K_BF16, vb, c1, xp, xo);
        out[oo + 2] += ra20 + tailDot(seg, o2, K_BF16, vb, c1, xp, xo);
        out[oo + 3] += ra30 + tailDot(seg, o3, K_BF16, vb, c1, xp, xo);
        out[oo + 1 * os] += ra01 + tailDot(seg, o0, K_BF16, vb, c1, xp, xo + 1 * xs);
        out[oo + 1 * os + 1] += ra11 + tailDot(seg, o1, K_BF16, vb, c1, xp, xo + 1 * xs);
        out[oo + 1 * os + 2] += ra21 + tailDot(seg, o2, K_BF16, vb, c1, xp, xo + 1 * xs);
        out[oo + 1 * os + 3] += ra31 + tailDot(seg, o3, K_BF16, vb, c1, xp, xo + 1 * xs);
    }

    /** Rows r..r+3 × 1 token(s), columns [c0, c1), on x {@linkplain #pair paired} per token row (2·L weights a load as L ints):
     *  out[oo + j·os + i] += Σ_c W[r + i, c]·x[xo + j·xs + c]. */
    static void direct4x1(MemorySegment seg, int r, int cols, int c0, int c1, float[] xp, int xo, int xs, float[] out, int oo, int os) {
        final long rowBytes = 2L * cols, o0 = r * rowBytes, o1 = o0 + rowBytes, o2 = o1 + rowBytes, o3 = o2 + rowBytes;
        final int vb = c0 + (c1 - c0) / (2 * L) * (2 * L);
        FloatVector z = FloatVector.zero(F), a00 = z, a10 = z, a20 = z, a30 = z;
        for (int c = c0; c < vb; c += 2 * L) {
            long cb = 2L * c;
            FloatVector xe0 = FloatVector.fromArray(F, xp, xo + c), xd0 = FloatVector.fromArray(F, xp, xo + c + L);
            IntVector h0 = IntVector.fromMemorySegment(I, seg, o0 + cb, LE);
            FloatVector l0 = h0.lanewise(LSHL, 16).reinterpretAsFloats(), u0 = h0.and(HIGH).reinterpretAsFloats();
            a00 = u0.fma(xd0, l0.fma(xe0, a00));
            IntVector h1 = IntVector.fromMemorySegment(I, seg, o1 + cb, LE);
            FloatVector l1 = h1.lanewise(LSHL, 16).reinterpretAsFloats(), u1 = h1.and(HIGH).reinterpretAsFloats();
            a10 = u1.fma(xd0, l1.fma(xe0, a10));
            IntVector h2 = IntVector.fromMemorySegment(I, seg, o2 + cb, LE);
            FloatVector l2 = h2.lanewise(LSHL, 16).reinterpretAsFloats(), u2 = h2.and(HIGH).reinterpretAsFloats();
            a20 = u2.fma(xd0, l2.fma(xe0, a20));
            IntVector h3 = IntVector.fromMemorySegment(I, seg, o3 + cb, LE);
            FloatVector l3 = h3.lanewise(LSHL, 16).reinterpretAsFloats(), u3 = h3.and(HIGH).reinterpretAsFloats();
            a30 = u3.fma(xd0, l3.fma(xe0, a30));
        }
        float ra00, ra10, ra20, ra30;
        {   // lane sums in a fixed tree (Lanes): the same bits in every JIT tier
            FloatVector q0 = a00, q1 = a10, q2 = a20, q3 = a30;
            q0 = q0.add(q0.rearrange(SUM1)); q1 = q1.add(q1.rearrange(SUM1)); q2 = q2.add(q2.rearrange(SUM1)); q3 = q3.add(q3.rearrange(SUM1));
            if (L >= 8) { q0 = q0.add(q0.rearrange(SUM2)); q1 = q1.add(q1.rearrange(SUM2)); q2 = q2.add(q2.rearrange(SUM2)); q3 = q3.add(q3.rearrange(SUM2)); }
            if (L >= 16) { q0 = q0.add(q0.rearrange(SUM3)); q1 = q1.add(q1.rearrange(SUM3)); q2 = q2.add(q2.rearrange(SUM3)); q3 = q3.add(q3.rearrange(SUM3)); }
            ra00 = q0.lane(0) + q0.lane(1); ra10 = q1.lane(0) + q1.lane(1); ra20 = q2.lane(0) + q2.lane(1); ra30 = q3.lane(0) + q3.lane(1);
        }
        out[oo] += ra00 + tailDot(seg, o0, K_BF16, vb, c1, xp, xo);
        out[oo + 1] += ra10 + tailDot(seg, o1, K_BF16, vb, c1, xp, xo);
        out[oo + 2] += ra20 + tailDot(seg, o2, K_BF16, vb, c1, xp, xo);
        out[oo + 3] += ra30 + tailDot(seg, o3, K_BF16, vb, c1, xp, xo);
    }

    /** Rows r × 1 token(s), columns [c0, c1), on x {@linkplain #pair paired} per token row (2·L weights a load as L ints):
     *  out[oo + j·os + i] += Σ_c W[r + i, c]·x[xo + j·xs + c]. */
    static void direct1x1(MemorySegment seg, int r, int cols, int c0, int c1, float[] xp, int xo, int xs, float[] out, int oo, int os) {
        final long rowBytes = 2L * cols, o0 = r * rowBytes;
        final int vb = c0 + (c1 - c0) / (2 * L) * (2 * L);
        FloatVector z = FloatVector.zero(F), a00 = z;
        for (int c = c0; c < vb; c += 2 * L) {
            long cb = 2L * c;
            FloatVector xe0 = FloatVector.fromArray(F, xp, xo + c), xd0 = FloatVector.fromArray(F, xp, xo + c + L);
            IntVector h0 = IntVector.fromMemorySegment(I, seg, o0 + cb, LE);
            FloatVector l0 = h0.lanewise(LSHL, 16).reinterpretAsFloats(), u0 = h0.and(HIGH).reinterpretAsFloats();
            a00 = u0.fma(xd0, l0.fma(xe0, a00));
        }
        float ra00;
        {   // lane sums in a fixed tree (Lanes): the same bits in every JIT tier
            FloatVector q0 = a00;
            q0 = q0.add(q0.rearrange(SUM1));
            if (L >= 8) { q0 = q0.add(q0.rearrange(SUM2)); }
            if (L >= 16) { q0 = q0.add(q0.rearrange(SUM3)); }
            ra00 = q0.lane(0) + q0.lane(1);
        }
        out[oo] += ra00 + tailDot(seg, o0, K_BF16, vb, c1, xp, xo);
    }
}
