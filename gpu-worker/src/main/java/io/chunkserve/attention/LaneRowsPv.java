package io.chunkserve.attention;

import jdk.incubator.vector.FloatVector;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

import static io.chunkserve.attention.LaneRowsTile.RG;
import static io.chunkserve.attention.LaneRowsTile.WIDE_REGS;
import static io.chunkserve.attention.VectorMath.F;
import static io.chunkserve.attention.VectorMath.V;

/**
 * The P·V register blocks of {@link LaneRowsTile}: for rows r0 .. r0 + 3 of row block rb, o[row, :] = cf[r]·o[row, :] +
 * Σ_t st[r, t]·v[t, :], head dims in lanes, each V load feeding the four rows. The tile's state is passed in: o (its
 * unnormalised outputs, (rows, dim) row-major), st (the block's probabilities, (V, ts) row-major), cf (the block's
 * rescale factors), vOff (where the chunk's V starts in vt, (tokens, dim) row-major).
 */
final class LaneRowsPv {
    private LaneRowsPv() { }

    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    /** {@link #pv4x4} (the whole head dim: dim = 4·V) over a V slab. */
    static void pv4x4Seg(float[] o, float[] st, float[] cf, int dim, int ts, MemorySegment vs, long vb0, int tn, int rb, int r0) {
        final int D = dim, TS = ts;
        final float[] s = st, out = o;
        final MemorySegment v = vs;
        final long RS = 4L * D, VB = 4L * V;
        int o0 = (rb * V + r0) * D, o1 = o0 + D, o2 = o1 + D, o3 = o2 + D;
        FloatVector c0 = FloatVector.broadcast(F, cf[r0]), c1 = FloatVector.broadcast(F, cf[r0 + 1]);
        FloatVector c2 = FloatVector.broadcast(F, cf[r0 + 2]), c3 = FloatVector.broadcast(F, cf[r0 + 3]);
        FloatVector a00 = FloatVector.fromArray(F, out, o0).mul(c0), a01 = FloatVector.fromArray(F, out, o0 + V).mul(c0);
        FloatVector a02 = FloatVector.fromArray(F, out, o0 + 2 * V).mul(c0), a03 = FloatVector.fromArray(F, out, o0 + 3 * V).mul(c0);
        FloatVector a10 = FloatVector.fromArray(F, out, o1).mul(c1), a11 = FloatVector.fromArray(F, out, o1 + V).mul(c1);
        FloatVector a12 = FloatVector.fromArray(F, out, o1 + 2 * V).mul(c1), a13 = FloatVector.fromArray(F, out, o1 + 3 * V).mul(c1);
        FloatVector a20 = FloatVector.fromArray(F, out, o2).mul(c2), a21 = FloatVector.fromArray(F, out, o2 + V).mul(c2);
        FloatVector a22 = FloatVector.fromArray(F, out, o2 + 2 * V).mul(c2), a23 = FloatVector.fromArray(F, out, o2 + 3 * V).mul(c2);
        FloatVector a30 = FloatVector.fromArray(F, out, o3).mul(c3), a31 = FloatVector.fromArray(F, out, o3 + V).mul(c3);
        FloatVector a32 = FloatVector.fromArray(F, out, o3 + 2 * V).mul(c3), a33 = FloatVector.fromArray(F, out, o3 + 3 * V).mul(c3);
        for (int t = 0; t < tn; t++) {
            long vb = vb0 + t * RS;
            int sb = r0 * TS + t;
            FloatVector v0 = FloatVector.fromMemorySegment(F, v, vb, LE), v1 = FloatVector.fromMemorySegment(F, v, vb + VB, LE);
            FloatVector v2 = FloatVector.fromMemorySegment(F, v, vb + 2 * VB, LE), v3 = FloatVector.fromMemorySegment(F, v, vb + 3 * VB, LE);
            FloatVector p = FloatVector.broadcast(F, s[sb]);
            a00 = v0.fma(p, a00);
            a01 = v1.fma(p, a01);
            a02 = v2.fma(p, a02);
            a03 = v3.fma(p, a03);
            p = FloatVector.broadcast(F, s[sb + TS]);
            a10 = v0.fma(p, a10);
            a11 = v1.fma(p, a11);
            a12 = v2.fma(p, a12);
            a13 = v3.fma(p, a13);
            p = FloatVector.broadcast(F, s[sb + 2 * TS]);
            a20 = v0.fma(p, a20);
            a21 = v1.fma(p, a21);
            a22 = v2.fma(p, a22);
            a23 = v3.fma(p, a23);
            p = FloatVector.broadcast(F, s[sb + 3 * TS]);
            a30 = v0.fma(p, a30);
            a31 = v1.fma(p, a31);
            a32 = v2.fma(p, a32);
            a33 = v3.fma(p, a33);
        }
        a00.intoArray(out, o0);
        a01.intoArray(out, o0 + V);
        a02.intoArray(out, o0 + 2 * V);
        a03.intoArray(out, o0 + 3 * V);
        a10.intoArray(out, o1);
        a11.intoArray(out, o1 + V);
        a12.intoArray(out, o1 + 2 * V);
        a13.intoArray(out, o1 + 3 * V);
        a20.intoArray(out, o2);
        a21.intoArray(out, o2 + V);
        a22.intoArray(out, o2 + 2 * V);
        a23.intoArray(out, o2 + 3 * V);
        a30.intoArray(out, o3);
        a31.intoArray(out, o3 + V);
        a32.intoArray(out, o3 + 2 * V);
        a33.intoArray(out, o3 + 3 * V);
    }

    /**
     * Rows r0 .. r0+RG-1 of block rb: o[row, :] = cf[r] · o[row, :] + Σ_t st[t, r] · v[t, :].
     * Dims in lanes, blocks of 4 vectors (2 with 16 registers), then single vectors, then a scalar tail.
     */
    static void weightedSum(float[] o, float[] st, float[] cf, int dim, int ts, int vOff, float[] vt, int tn, int rb, int r0) {
        final int D = dim, dv = D - D % V;
        int d0 = 0;
        if (WIDE_REGS) {
            for (; d0 + 4 * V <= dv; d0 += 4 * V) pv4x4(o, st, cf, dim, ts, vOff, vt, tn, rb, r0, d0);
        } else {
            for (; d0 + 2 * V <= dv; d0 += 2 * V) pv4x2(o, st, cf, dim, ts, vOff, vt, tn, rb, r0, d0);
        }
        for (; d0 < dv; d0 += V) pv4x1(o, st, cf, dim, ts, vOff, vt, tn, rb, r0, d0);
        if (dv < D) pvScalar(o, st, cf, dim, ts, vOff, vt, tn, rb, r0, dv);
    }

    /** 4 rows × 4 vectors of dims from d0: 16 accumulators, per token 4 loads of V and 4 broadcasts for 16 FMAs. */
    private static void pv4x4(float[] o, float[] st, float[] cf, int dim, int ts, int vOff, float[] vt, int tn, int rb, int r0, int d0) {
        final int D = dim, TS = ts;
        final float[] v = vt, s = st, out = o;
        int o0 = (rb * V + r0) * D + d0, o1 = o0 + D, o2 = o1 + D, o3 = o2 + D;
        FloatVector c0 = FloatVector.broadcast(F, cf[r0]), c1 = FloatVector.broadcast(F, cf[r0 + 1]);
        FloatVector c2 = FloatVector.broadcast(F, cf[r0 + 2]), c3 = FloatVector.broadcast(F, cf[r0 + 3]);
        FloatVector a00 = FloatVector.fromArray(F, out, o0).mul(c0), a01 = FloatVector.fromArray(F, out, o0 + V).mul(c0);
        FloatVector a02 = FloatVector.fromArray(F, out, o0 + 2 * V).mul(c0), a03 = FloatVector.fromArray(F, out, o0 + 3 * V).mul(c0);
        FloatVector a10 = FloatVector.fromArray(F, out, o1).mul(c1), a11 = FloatVector.fromArray(F, out, o1 + V).mul(c1);
        FloatVector a12 = FloatVector.fromArray(F, out, o1 + 2 * V).mul(c1), a13 = FloatVector.fromArray(F, out, o1 + 3 * V).mul(c1);
        FloatVector a20 = FloatVector.fromArray(F, out, o2).mul(c2), a21 = FloatVector.fromArray(F, out, o2 + V).mul(c2);
        FloatVector a22 = FloatVector.fromArray(F, out, o2 + 2 * V).mul(c2), a23 = FloatVector.fromArray(F, out, o2 + 3 * V).mul(c2);
        FloatVector a30 = FloatVector.fromArray(F, out, o3).mul(c3), a31 = FloatVector.fromArray(F, out, o3 + V).mul(c3);
        FloatVector a32 = FloatVector.fromArray(F, out, o3 + 2 * V).mul(c3), a33 = FloatVector.fromArray(F, out, o3 + 3 * V).mul(c3);
        for (int t = 0; t < tn; t++) {
            int vb = vOff + t * D + d0, sb = r0 * TS + t;
            FloatVector v0 = FloatVector.fromArray(F, v, vb), v1 = FloatVector.fromArray(F, v, vb + V);
            FloatVector v2 = FloatVector.fromArray(F, v, vb + 2 * V), v3 = FloatVector.fromArray(F, v, vb + 3 * V);
            FloatVector p = FloatVector.broadcast(F, s[sb]);
            a00 = v0.fma(p, a00);
            a01 = v1.fma(p, a01);
            a02 = v2.fma(p, a02);
            a03 = v3.fma(p, a03);
            p = FloatVector.broadcast(F, s[sb + TS]);
            a10 = v0.fma(p, a10);
            a11 = v1.fma(p, a11);
            a12 = v2.fma(p, a12);
            a13 = v3.fma(p, a13);
            p = FloatVector.broadcast(F, s[sb + 2 * TS]);
            a20 = v0.fma(p, a20);
            a21 = v1.fma(p, a21);
            a22 = v2.fma(p, a22);
            a23 = v3.fma(p, a23);
            p = FloatVector.broadcast(F, s[sb + 3 * TS]);
            a30 = v0.fma(p, a30);
            a31 = v1.fma(p, a31);
            a32 = v2.fma(p, a32);
            a33 = v3.fma(p, a33);
        }
        a00.intoArray(out, o0);
        a01.intoArray(out, o0 + V);
        a02.intoArray(out, o0 + 2 * V);
        a03.intoArray(out, o0 + 3 * V);
        a10.intoArray(out, o1);
        a11.intoArray(out, o1 + V);
        a12.intoArray(out, o1 + 2 * V);
        a13.intoArray(out, o1 + 3 * V);
        a20.intoArray(out, o2);
        a21.intoArray(out, o2 + V);
        a22.intoArray(out, o2 + 2 * V);
        a23.intoArray(out, o2 + 3 * V);
        a30.intoArray(out, o3);
        a31.intoArray(out, o3 + V);
        a32.intoArray(out, o3 + 2 * V);
        a33.intoArray(out, o3 + 3 * V);
    }

    /** {@link #pv4x2} for head dim 64 and tn a multiple of 2: constant strides, two tokens an iteration. */
    static void pv4x2D64(float[] o, float[] st, float[] cf, int ts, int vOff, float[] vt, int tn, int rb, int r0, int d0) {
        final int TS = ts;
        final float[] v = vt, p = st, out = o;
        final int o0 = (rb * V + r0) * 64 + d0, o1 = o0 + 64, o2 = o1 + 64, o3 = o2 + 64;
        final int vb0 = vOff + d0, sb0 = r0 * TS;
        float f0 = cf[r0], f1 = cf[r0 + 1], f2 = cf[r0 + 2], f3 = cf[r0 + 3];
        FloatVector a00 = FloatVector.fromArray(F, out, o0).mul(f0), a01 = FloatVector.fromArray(F, out, o0 + 8).mul(f0);
        FloatVector a10 = FloatVector.fromArray(F, out, o1).mul(f1), a11 = FloatVector.fromArray(F, out, o1 + 8).mul(f1);
        FloatVector a20 = FloatVector.fromArray(F, out, o2).mul(f2), a21 = FloatVector.fromArray(F, out, o2 + 8).mul(f2);
        FloatVector a30 = FloatVector.fromArray(F, out, o3).mul(f3), a31 = FloatVector.fromArray(F, out, o3 + 8).mul(f3);
        for (int t = 0; t < tn; t++) {
            int vb = vb0 + t * 64, sb = sb0 + t;
            FloatVector v0 = FloatVector.fromArray(F, v, vb), v1 = FloatVector.fromArray(F, v, vb + 8);
            FloatVector x = FloatVector.broadcast(F, p[sb]);
            a00 = v0.fma(x, a00);
            a01 = v1.fma(x, a01);
            x = FloatVector.broadcast(F, p[sb + TS]);
            a10 = v0.fma(x, a10);
            a11 = v1.fma(x, a11);
            x = FloatVector.broadcast(F, p[sb + 2 * TS]);
            a20 = v0.fma(x, a20);
            a21 = v1.fma(x, a21);
            x = FloatVector.broadcast(F, p[sb + 3 * TS]);
            a30 = v0.fma(x, a30);
            a31 = v1.fma(x, a31);
        }
        a00.intoArray(out, o0);
        a01.intoArray(out, o0 + 8);
        a10.intoArray(out, o1);
        a11.intoArray(out, o1 + 8);
        a20.intoArray(out, o2);
        a21.intoArray(out, o2 + 8);
        a30.intoArray(out, o3);
        a31.intoArray(out, o3 + 8);
    }

    /** 4 rows × 2 vectors of dims from d0 (8 accumulators, for 16-register machines). */
    private static void pv4x2(float[] o, float[] st, float[] cf, int dim, int ts, int vOff, float[] vt, int tn, int rb, int r0, int d0) {
        final int D = dim, TS = ts;
        int o0 = (rb * V + r0) * D + d0, o1 = o0 + D, o2 = o1 + D, o3 = o2 + D;
        float f0 = cf[r0], f1 = cf[r0 + 1], f2 = cf[r0 + 2], f3 = cf[r0 + 3];
        FloatVector a00 = FloatVector.fromArray(F, o, o0).mul(f0), a01 = FloatVector.fromArray(F, o, o0 + V).mul(f0);
        FloatVector a10 = FloatVector.fromArray(F, o, o1).mul(f1), a11 = FloatVector.fromArray(F, o, o1 + V).mul(f1);
        FloatVector a20 = FloatVector.fromArray(F, o, o2).mul(f2), a21 = FloatVector.fromArray(F, o, o2 + V).mul(f2);
        FloatVector a30 = FloatVector.fromArray(F, o, o3).mul(f3), a31 = FloatVector.fromArray(F, o, o3 + V).mul(f3);
        for (int t = 0; t < tn; t++) {
            int vb = vOff + t * D + d0, sb = r0 * TS + t;
            FloatVector v0 = FloatVector.fromArray(F, vt, vb), v1 = FloatVector.fromArray(F, vt, vb + V);
            FloatVector p = FloatVector.broadcast(F, st[sb]);
            a00 = v0.fma(p, a00);
            a01 = v1.fma(p, a01);
            p = FloatVector.broadcast(F, st[sb + TS]);
            a10 = v0.fma(p, a10);
            a11 = v1.fma(p, a11);
            p = FloatVector.broadcast(F, st[sb + 2 * TS]);
            a20 = v0.fma(p, a20);
            a21 = v1.fma(p, a21);
            p = FloatVector.broadcast(F, st[sb + 3 * TS]);
            a30 = v0.fma(p, a30);
            a31 = v1.fma(p, a31);
        }
        a00.intoArray(o, o0);
        a01.intoArray(o, o0 + V);
        a10.intoArray(o, o1);
        a11.intoArray(o, o1 + V);
        a20.intoArray(o, o2);
        a21.intoArray(o, o2 + V);
        a30.intoArray(o, o3);
        a31.intoArray(o, o3 + V);
    }

    /** 4 rows × 1 vector of dims from d0. */
    private static void pv4x1(float[] o, float[] st, float[] cf, int dim, int ts, int vOff, float[] vt, int tn, int rb, int r0, int d0) {
        final int D = dim, TS = ts;
        int o0 = (rb * V + r0) * D + d0, o1 = o0 + D, o2 = o1 + D, o3 = o2 + D;
        FloatVector a0 = FloatVector.fromArray(F, o, o0).mul(cf[r0]), a1 = FloatVector.fromArray(F, o, o1).mul(cf[r0 + 1]);
        FloatVector a2 = FloatVector.fromArray(F, o, o2).mul(cf[r0 + 2]), a3 = FloatVector.fromArray(F, o, o3).mul(cf[r0 + 3]);
        for (int t = 0; t < tn; t++) {
            FloatVector v0 = FloatVector.fromArray(F, vt, vOff + t * D + d0);
            int sb = r0 * TS + t;
            a0 = v0.fma(FloatVector.broadcast(F, st[sb]), a0);
            a1 = v0.fma(FloatVector.broadcast(F, st[sb + TS]), a1);
            a2 = v0.fma(FloatVector.broadcast(F, st[sb + 2 * TS]), a2);
            a3 = v0.fma(FloatVector.broadcast(F, st[sb + 3 * TS]), a3);
        }
        a0.intoArray(o, o0);
        a1.intoArray(o, o1);
        a2.intoArray(o, o2);
        a3.intoArray(o, o3);
    }

    /** Dims d0 .. dim-1 (fewer than V) of rows r0 .. r0+RG-1, scalar. */
    private static void pvScalar(float[] o, float[] st, float[] cf, int dim, int ts, int vOff, float[] vt, int tn, int rb, int r0, int d0) {
        final int D = dim, TS = ts;
        for (int r = r0; r < r0 + RG; r++) {
            int ob = (rb * V + r) * D;
            for (int d = d0; d < D; d++) {
                float a = o[ob + d] * cf[r];
                for (int t = 0; t < tn; t++) a += st[r * TS + t] * vt[vOff + t * D + d];
                o[ob + d] = a;
            }
        }
    }
}
