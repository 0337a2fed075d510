package io.chunkserve.runtime.cpu;

import static io.chunkserve.runtime.cpu.Vec.F;
import static io.chunkserve.runtime.cpu.Vec.L;

import io.chunkserve.model.Weight;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;

/**
 * The large-T matmul (batched decode, prefill): a packed, cache-blocked GEMM in the
 * broadcast ("outer product") form, which needs no horizontal reductions.
 *
 * <p>x is packed once per call, transposed into token tiles of 2L (or a last L) tokens per
 * column block of KC: {@code xp[k][token]}, zero padded ({@link #packTile}; the parallel driver
 * packs tiles on all threads). For a task's rows [r0, r1) and a block of TB tokens: for each
 * piece of KW columns, for each block of RB rows, the W block is widened to fp32 into {@code wp}
 * (row-major, zero rows past r1); then per column block of KC inside it, R × 2L micro-tiles accumulate
 * {@code broadcast(W[r, k]) · xp[k, tokens]} in registers over KC, adding the result into a
 * transposed output block {@code ct[row][token]}. After the last column block ct is written to
 * out. Cache plan: the xp micro-panel (KC·2L floats, 32 KiB at L = 16) stays in L1, wp (RB·KW,
 * 512 KiB) in L2; W is read once per TB tokens, in KW-long pieces of rows (8192 measured ~15%
 * faster than 2048 on cold weights: longer streams for the hardware prefetcher).
 */
final class Gemm {
    private Gemm() { }

    /** Rows per micro-tile: 8 with 32 vector registers (16 accumulators), else 4. */
    static final int R = Vec.WIDE_REGISTER_FILE ? 8 : 4;
    /** Tokens per full micro-tile. */
    static final int TILE = 2 * L;
    static final int KC = Math.max(L, Integer.getInteger("chunkserve.cpu.gemm.kc", 256));
    /** Columns of W widened per row piece (a multiple of KC): long contiguous reads of W. */
    static final int KW = Math.max(1, Integer.getInteger("chunkserve.cpu.gemm.kw", 8192) / KC) * KC;
    /** Floats of the widened W block (RB rows × KW columns, RB = WP / KW). */
    static final int WP = Math.max(R * KW, Integer.getInteger("chunkserve.cpu.gemm.wp", 128 * 1024));
    static final int TB = Math.max(TILE, Integer.getInteger("chunkserve.cpu.gemm.tb", 128) / TILE * TILE);

    private static final class Scratch {
        final float[] wp = new float[WP];
        float[] ct = new float[0];
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /** Tokens rounded up to whole vectors: the packed x has this many token columns. */
    static int padT(int T) { return (T + L - 1) / L * L; }

    /** Token tiles of the packed x: 2L wide, the last one L wide when padT(T) is an odd number of L. */
    static int tiles(int T) { return (padT(T) + TILE - 1) / TILE; }

    static int columnBlocks(int cols) { return (cols + KC - 1) / KC; }

    /** Packs all of x (serially); see {@link #packTile}. */
    static float[] pack(float[] x, int cols, int T) {
        float[] xp = new float[cols * padT(T)];
        for (int b = 0, nb = columnBlocks(cols), nt = tiles(T); b < nb; b++) {
            for (int i = 0; i < nt; i++) packTile(x, cols, T, b, i, xp);
        }
        return xp;
    }

    /**
     * Packs token tile {@code tile} of column block {@code block}: with kb = block·KC,
     * kc = min(KC, cols − kb), tt = tile·2L and width 2L (or L for a last, half tile),
     * xp[kb·padT + tt·kc + k·width + j] = x[tt + j, kb + k], zero for tokens ≥ T.
     */
    static void packTile(float[] x, int cols, int T, int block, int tile, float[] xp) {
        final int tPad = padT(T), kb = block * KC, kc = Math.min(KC, cols - kb), tt = tile * TILE;
        final int width = Math.min(TILE, tPad - tt), base = kb * tPad + tt * kc;
        for (int h = 0; h < width; h += L) {
            final int t0 = tt + h;
            int k = 0;
            if (T - t0 >= L && (L == 16 || L == 8)) { // L whole tokens: transpose L × L blocks in registers
                for (; k + L <= kc; k += L) {
                    if (L == 16) transpose16(x, t0 * cols + kb + k, cols, xp, base + k * width + h, width);
                    else transpose8(x, t0 * cols + kb + k, cols, xp, base + k * width + h, width);
                }
            }
            for (int j = 0; j < L; j++) {
                final int t = t0 + j, o = base + h + j;
                if (t < T) {
                    final int src = t * cols + kb;
                    for (int kk = k; kk < kc; kk++) xp[o + kk * width] = x[src + kk];
                } else {
                    for (int kk = k; kk < kc; kk++) xp[o + kk * width] = 0f;
                }
            }
        }
    }

    /** Lane selections of the transpose stages: stage s swaps the off-diagonal 2^s blocks. */
    private static final float[] SEL_LO = selection(false), SEL_HI = selection(true);

    private static float[] selection(boolean hi) {
        int stages = Integer.numberOfTrailingZeros(L);
        float[] sel = new float[Math.max(1, stages) * L];
        for (int s = 0; s < stages; s++) {
            int b = 1 << s;
            for (int j = 0; j < L; j++) {
                boolean low = (j & b) == 0;
                sel[s * L + j] = hi ? (low ? j + b : L + j) : (low ? j : L + j - b);
            }
        }
        return sel;
    }

    /**
     * Packs a 16 × 16 block: xp[xo + k·width + j] = x[src + j·cols + k] for j, k &lt; 16. An
     * in-register transpose: log2(16) butterfly stages of two-source lane selections (VPERMT2PS).
     */
    private static void transpose16(float[] x, int src, int cols, float[] xp, int xo, int width) {
        FloatVector v0 = FloatVector.fromArray(F, x, src);
        FloatVector v1 = FloatVector.fromArray(F, x, src + 1 * cols);
        FloatVector v2 = FloatVector.fromArray(F, x, src + 2 * cols);
        FloatVector v3 = FloatVector.fromArray(F, x, src + 3 * cols);
        FloatVector v4 = FloatVector.fromArray(F, x, src + 4 * cols);
        FloatVector v5 = FloatVector.fromArray(F, x, src + 5 * cols);
        FloatVector v6 = FloatVector.fromArray(F, x, src + 6 * cols);
        FloatVector v7 = FloatVector.fromArray(F, x, src + 7 * cols);
        FloatVector v8 = FloatVector.fromArray(F, x, src + 8 * cols);
        FloatVector v9 = FloatVector.fromArray(F, x, src + 9 * cols);
        FloatVector v10 = FloatVector.fromArray(F, x, src + 10 * cols);
        FloatVector v11 = FloatVector.fromArray(F, x, src + 11 * cols);
        FloatVector v12 = FloatVector.fromArray(F, x, src + 12 * cols);
        FloatVector v13 = FloatVector.fromArray(F, x, src + 13 * cols);
        FloatVector v14 = FloatVector.fromArray(F, x, src + 14 * cols);
        FloatVector v15 = FloatVector.fromArray(F, x, src + 15 * cols);
        {
            FloatVector lo = FloatVector.fromArray(F, SEL_LO, 0 * L), hi = FloatVector.fromArray(F, SEL_HI, 0 * L);
            FloatVector n0 = lo.selectFrom(v0, v1), n1 = hi.selectFrom(v0, v1);
            v0 = n0;
            v1 = n1;
            FloatVector n2 = lo.selectFrom(v2, v3), n3 = hi.selectFrom(v2, v3);
            v2 = n2;
            v3 = n3;
            FloatVector n4 = lo.selectFrom(v4, v5), n5 = hi.selectFrom(v4, v5);
            v4 = n4;
            v5 = n5;
            FloatVector n6 = lo.selectFrom(v6, v7), n7 = hi.selectFrom(v6, v7);
            v6 = n6;
            v7 = n7;
            FloatVector n8 = lo.selectFrom(v8, v9), n9 = hi.selectFrom(v8, v9);
            v8 = n8;
            v9 = n9;
            FloatVector n10 = lo.selectFrom(v10, v11), n11 = hi.selectFrom(v10, v11);
            v10 = n10;
            v11 = n11;
            FloatVector n12 = lo.selectFrom(v12, v13), n13 = hi.selectFrom(v12, v13);
            v12 = n12;
            v13 = n13;
            FloatVector n14 = lo.selectFrom(v14, v15), n15 = hi.selectFrom(v14, v15);
            v14 = n14;
            v15 = n15;
        }
        {
            FloatVector lo = FloatVector.fromArray(F, SEL_LO, 1 * L), hi = FloatVector.fromArray(F, SEL_HI, 1 * L);
            FloatVector n0 = lo.selectFrom(v0, v2), n2 = hi.selectFrom(v0, v2);
            v0 = n0;
            v2 = n2;
            FloatVector n1 = lo.selectFrom(v1, v3), n3 = hi.selectFrom(v1, v3);
            v1 = n1;
            v3 = n3;
            FloatVector n4 = lo.selectFrom(v4, v6), n6 = hi.selectFrom(v4, v6);
            v4 = n4;
            v6 = n6;
            FloatVector n5 = lo.selectFrom(v5, v7), n7 = hi.selectFrom(v5, v7);
            v5 = n5;
            v7 = n7;
            FloatVector n8 = lo.selectFrom(v8, v10), n10 = hi.selectFrom(v8, v10);
            v8 = n8;
            v10 = n10;
            FloatVector n9 = lo.selectFrom(v9, v11), n11 = hi.selectFrom(v9, v11);
            v9 = n9;
            v11 = n11;
            FloatVector n12 = lo.selectFrom(v12, v14), n14 = hi.selectFrom(v12, v14);
            v12 = n12;
            v14 = n14;
            FloatVector n13 = lo.selectFrom(v13, v15), n15 = hi.selectFrom(v13, v15);
            v13 = n13;
            v15 = n15;
        }
        {
            FloatVector lo = FloatVector.fromArray(F, SEL_LO, 2 * L), hi = FloatVector.fromArray(F, SEL_HI, 2 * L);
            FloatVector n0 = lo.selectFrom(v0, v4), n4 = hi.selectFrom(v0, v4);
            v0 = n0;
            v4 = n4;
            FloatVector n1 = lo.selectFrom(v1, v5), n5 = hi.selectFrom(v1, v5);
            v1 = n1;
            v5 = n5;
            FloatVector n2 = lo.selectFrom(v2, v6), n6 = hi.selectFrom(v2, v6);
            v2 = n2;
            v6 = n6;
            FloatVector n3 = lo.selectFrom(v3, v7), n7 = hi.selectFrom(v3, v7);
            v3 = n3;
            v7 = n7;
            FloatVector n8 = lo.selectFrom(v8, v12), n12 = hi.selectFrom(v8, v12);
            v8 = n8;
            v12 = n12;
            FloatVector n9 = lo.selectFrom(v9, v13), n13 = hi.selectFrom(v9, v13);
            v9 = n9;
            v13 = n13;
            FloatVector n10 = lo.selectFrom(v10, v14), n14 = hi.selectFrom(v10, v14);
            v10 = n10;
            v14 = n14;
            FloatVector n11 = lo.selectFrom(v11, v15), n15 = hi.selectFrom(v11, v15);
            v11 = n11;
            v15 = n15;
        }
        {
            FloatVector lo = FloatVector.fromArray(F, SEL_LO, 3 * L), hi = FloatVector.fromArray(F, SEL_HI, 3 * L);
            FloatVector n0 = lo.selectFrom(v0, v8), n8 = hi.selectFrom(v0, v8);
            v0 = n0;
            v8 = n8;
            FloatVector n1 = lo.selectFrom(v1, v9), n9 = hi.selectFrom(v1, v9);
            v1 = n1;
            v9 = n9;
            FloatVector n2 = lo.selectFrom(v2, v10), n10 = hi.selectFrom(v2, v10);
            v2 = n2;
            v10 = n10;
            FloatVector n3 = lo.selectFrom(v3, v11), n11 = hi.selectFrom(v3, v11);
            v3 = n3;
            v11 = n11;
            FloatVector n4 = lo.selectFrom(v4, v12), n12 = hi.selectFrom(v4, v12);
            v4 = n4;
            v12 = n12;
            FloatVector n5 = lo.selectFrom(v5, v13), n13 = hi.selectFrom(v5, v13);
            v5 = n5;
            v13 = n13;
            FloatVector n6 = lo.selectFrom(v6, v14), n14 = hi.selectFrom(v6, v14);
            v6 = n6;
            v14 = n14;
            FloatVector n7 = lo.selectFrom(v7, v15), n15 = hi.selectFrom(v7, v15);
            v7 = n7;
            v15 = n15;
        }
        v0.intoArray(xp, xo);
        v1.intoArray(xp, xo + 1 * width);
        v2.intoArray(xp, xo + 2 * width);
        v3.intoArray(xp, xo + 3 * width);
        v4.intoArray(xp, xo + 4 * width);
        v5.intoArray(xp, xo + 5 * width);
        v6.intoArray(xp, xo + 6 * width);
        v7.intoArray(xp, xo + 7 * width);
        v8.intoArray(xp, xo + 8 * width);
        v9.intoArray(xp, xo + 9 * width);
        v10.intoArray(xp, xo + 10 * width);
        v11.intoArray(xp, xo + 11 * width);
        v12.intoArray(xp, xo + 12 * width);
        v13.intoArray(xp, xo + 13 * width);
        v14.intoArray(xp, xo + 14 * width);
        v15.intoArray(xp, xo + 15 * width);
    }

    /**
     * Packs a 8 × 8 block: xp[xo + k·width + j] = x[src + j·cols + k] for j, k &lt; 8. An
     * in-register transpose: log2(8) butterfly stages of two-source lane selections (VPERMT2PS).
     */
    private static void transpose8(float[] x, int src, int cols, float[] xp, int xo, int width) {
        FloatVector v0 = FloatVector.fromArray(F, x, src);
        FloatVector v1 = FloatVector.fromArray(F, x, src + 1 * cols);
        FloatVector v2 = FloatVector.fromArray(F, x, src + 2 * cols);
        FloatVector v3 = FloatVector.fromArray(F, x, src + 3 * cols);
        FloatVector v4 = FloatVector.fromArray(F, x, src + 4 * cols);
        FloatVector v5 = FloatVector.fromArray(F, x, src + 5 * cols);
        FloatVector v6 = FloatVector.fromArray(F, x, src + 6 * cols);
        FloatVector v7 = FloatVector.fromArray(F, x, src + 7 * cols);
        {
            FloatVector lo = FloatVector.fromArray(F, SEL_LO, 0 * L), hi = FloatVector.fromArray(F, SEL_HI, 0 * L);
            FloatVector n0 = lo.selectFrom(v0, v1), n1 = hi.selectFrom(v0, v1);
            v0 = n0;
            v1 = n1;
            FloatVector n2 = lo.selectFrom(v2, v3), n3 = hi.selectFrom(v2, v3);
            v2 = n2;
            v3 = n3;
            FloatVector n4 = lo.selectFrom(v4, v5), n5 = hi.selectFrom(v4, v5);
            v4 = n4;
            v5 = n5;
            FloatVector n6 = lo.selectFrom(v6, v7), n7 = hi.selectFrom(v6, v7);
            v6 = n6;
            v7 = n7;
        }
        {
            FloatVector lo = FloatVector.fromArray(F, SEL_LO, 1 * L), hi = FloatVector.fromArray(F, SEL_HI, 1 * L);
            FloatVector n0 = lo.selectFrom(v0, v2), n2 = hi.selectFrom(v0, v2);
            v0 = n0;
            v2 = n2;
            FloatVector n1 = lo.selectFrom(v1, v3), n3 = hi.selectFrom(v1, v3);
            v1 = n1;
            v3 = n3;
            FloatVector n4 = lo.selectFrom(v4, v6), n6 = hi.selectFrom(v4, v6);
            v4 = n4;
            v6 = n6;
            FloatVector n5 = lo.selectFrom(v5, v7), n7 = hi.selectFrom(v5, v7);
            v5 = n5;
            v7 = n7;
        }
        {
            FloatVector lo = FloatVector.fromArray(F, SEL_LO, 2 * L), hi = FloatVector.fromArray(F, SEL_HI, 2 * L);
            FloatVector n0 = lo.selectFrom(v0, v4), n4 = hi.selectFrom(v0, v4);
            v0 = n0;
            v4 = n4;
            FloatVector n1 = lo.selectFrom(v1, v5), n5 = hi.selectFrom(v1, v5);
            v1 = n1;
            v5 = n5;
            FloatVector n2 = lo.selectFrom(v2, v6), n6 = hi.selectFrom(v2, v6);
            v2 = n2;
            v6 = n6;
            FloatVector n3 = lo.selectFrom(v3, v7), n7 = hi.selectFrom(v3, v7);
            v3 = n3;
            v7 = n7;
        }
        v0.intoArray(xp, xo);
        v1.intoArray(xp, xo + 1 * width);
        v2.intoArray(xp, xo + 2 * width);
        v3.intoArray(xp, xo + 3 * width);
        v4.intoArray(xp, xo + 4 * width);
        v5.intoArray(xp, xo + 5 * width);
        v6.intoArray(xp, xo + 6 * width);
        v7.intoArray(xp, xo + 7 * width);
    }

    /** Rows [r0, r1) of out (T, rows) = x · Wᵀ, with x packed by {@link #pack}/{@link #packTile}. */
    static void gemm(Weight w, float[] xp, int T, float[] out, int r0, int r1) {
        final Scratch s = SCRATCH.get();
        final float[] wp = s.wp;
        final int rows = w.rows(), cols = w.cols(), tPad = padT(T);
        final int nr = r1 - r0, nrPad = (nr + R - 1) / R * R;
        final int kw = Math.max(1, Math.min(KW, cols));
        final int rbMax = Math.max(R, Math.min(256, wp.length / kw / R * R));
        for (int tb = 0; tb < tPad; tb += TB) {
            final int te = Math.min(tPad, tb + TB), tn = te - tb;
            if (s.ct.length < nrPad * tn) s.ct = new float[nrPad * tn];
            final float[] ct = s.ct;
            Arrays.fill(ct, 0, nrPad * tn, 0f);
            for (int k0 = 0; k0 < cols; k0 += kw) {
                final int kwn = Math.min(kw, cols - k0);
                for (int rb = 0; rb < nrPad; rb += rbMax) {
                    final int rbn = Math.min(rbMax, nrPad - rb);
                    final int real = Math.min(rbn, nr - rb);
                    // widen whole KW-long row pieces: long contiguous reads of W
                    for (int i = 0; i < real; i++) MatKernels.widen(w, r0 + rb + i, k0, wp, i * kwn, kwn);
                    if (real < rbn) Arrays.fill(wp, real * kwn, rbn * kwn, 0f);
                    for (int kb = k0; kb < k0 + kwn; kb += KC) {
                        final int kc = Math.min(KC, cols - kb);
                        for (int tt = tb; tt < te; ) {
                            final boolean wide = te - tt >= TILE;
                            final int xo = kb * tPad + tt * kc;
                            for (int rt = 0; rt < rbn; rt += R) {
                                final int co = (rb + rt) * tn + (tt - tb), wo = rt * kwn + (kb - k0);
                                if (R == 8) {
                                    if (wide) micro8x2(wp, wo, kwn, kc, xp, xo, ct, co, tn);
                                    else micro8x1(wp, wo, kwn, kc, xp, xo, ct, co, tn);
                                } else {
                                    if (wide) micro4x2(wp, wo, kwn, kc, xp, xo, ct, co, tn);
                                    else micro4x1(wp, wo, kwn, kc, xp, xo, ct, co, tn);
                                }
                            }
                            tt += wide ? TILE : L;
                        }
                    }
                }
            }
            // ct[row][token] → out[token][row]: contiguous stores, strided loads from L2
            final int tReal = Math.min(T, te) - tb;
            for (int j = 0; j < tReal; j++) {
                final int o = (tb + j) * rows + r0;
                for (int i = 0; i < nr; i++) out[o + i] = ct[i * tn + j];
            }
        }
    }

    /** 8 rows × 2·L tokens, no reductions: ct[co + i·cs + j] += Σ_k&lt;kc wp[wo + i·ws + k] · xp[xo + k·2L + j]. */
    static void micro8x2(float[] wp, int wo, int ws, int kc, float[] xp, int xo, float[] ct, int co, int cs) {
        FloatVector a0_0 = FloatVector.zero(F), a0_1 = a0_0, a1_0 = a0_0, a1_1 = a0_0, a2_0 = a0_0, a2_1 = a0_0, a3_0 = a0_0, a3_1 = a0_0, a4_0 = a0_0, a4_1 = a0_0, a5_0 = a0_0, a5_1 = a0_0, a6_0 = a0_0, a6_1 = a0_0, a7_0 = a0_0, a7_1 = a0_0;
        final int w0 = wo;
        final int w1 = wo + 1 * ws;
        final int w2 = wo + 2 * ws;
        final int w3 = wo + 3 * ws;
        final int w4 = wo + 4 * ws;
        final int w5 = wo + 5 * ws;
        final int w6 = wo + 6 * ws;
        final int w7 = wo + 7 * ws;
        for (int k = 0, xk = xo; k < kc; k++, xk += 2 * L) {
            FloatVector x0 = FloatVector.fromArray(F, xp, xk);
            FloatVector x1 = FloatVector.fromArray(F, xp, xk + 1 * L);
            FloatVector b0 = FloatVector.broadcast(F, wp[w0 + k]);
            a0_0 = b0.fma(x0, a0_0);
            a0_1 = b0.fma(x1, a0_1);
            FloatVector b1 = FloatVector.broadcast(F, wp[w1 + k]);
            a1_0 = b1.fma(x0, a1_0);
            a1_1 = b1.fma(x1, a1_1);
            FloatVector b2 = FloatVector.broadcast(F, wp[w2 + k]);
            a2_0 = b2.fma(x0, a2_0);
            a2_1 = b2.fma(x1, a2_1);
            FloatVector b3 = FloatVector.broadcast(F, wp[w3 + k]);
            a3_0 = b3.fma(x0, a3_0);
            a3_1 = b3.fma(x1, a3_1);
            FloatVector b4 = FloatVector.broadcast(F, wp[w4 + k]);
            a4_0 = b4.fma(x0, a4_0);
            a4_1 = b4.fma(x1, a4_1);
            FloatVector b5 = FloatVector.broadcast(F, wp[w5 + k]);
            a5_0 = b5.fma(x0, a5_0);
            a5_1 = b5.fma(x1, a5_1);
            FloatVector b6 = FloatVector.broadcast(F, wp[w6 + k]);
            a6_0 = b6.fma(x0, a6_0);
            a6_1 = b6.fma(x1, a6_1);
            FloatVector b7 = FloatVector.broadcast(F, wp[w7 + k]);
            a7_0 = b7.fma(x0, a7_0);
            a7_1 = b7.fma(x1, a7_1);
        }
        FloatVector.fromArray(F, ct, co).add(a0_0).intoArray(ct, co);
        FloatVector.fromArray(F, ct, co + 1 * L).add(a0_1).intoArray(ct, co + 1 * L);
        FloatVector.fromArray(F, ct, co + 1 * cs).add(a1_0).intoArray(ct, co + 1 * cs);
        FloatVector.fromArray(F, ct, co + 1 * cs + 1 * L).add(a1_1).intoArray(ct, co + 1 * cs + 1 * L);
        FloatVector.fromArray(F, ct, co + 2 * cs).add(a2_0).intoArray(ct, co + 2 * cs);
        FloatVector.fromArray(F, ct, co + 2 * cs + 1 * L).add(a2_1).intoArray(ct, co + 2 * cs + 1 * L);
        FloatVector.fromArray(F, ct, co + 3 * cs).add(a3_0).intoArray(ct, co + 3 * cs);
        FloatVector.fromArray(F, ct, co + 3 * cs + 1 * L).add(a3_1).intoArray(ct, co + 3 * cs + 1 * L);
        FloatVector.fromArray(F, ct, co + 4 * cs).add(a4_0).intoArray(ct, co + 4 * cs);
        FloatVector.fromArray(F, ct, co + 4 * cs + 1 * L).add(a4_1).intoArray(ct, co + 4 * cs + 1 * L);
        FloatVector.fromArray(F, ct, co + 5 * cs).add(a5_0).intoArray(ct, co + 5 * cs);
        FloatVector.fromArray(F, ct, co + 5 * cs + 1 * L).add(a5_1).intoArray(ct, co + 5 * cs + 1 * L);
        FloatVector.fromArray(F, ct, co + 6 * cs).add(a6_0).intoArray(ct, co + 6 * cs);
        FloatVector.fromArray(F, ct, co + 6 * cs + 1 * L).add(a6_1).intoArray(ct, co + 6 * cs + 1 * L);
        FloatVector.fromArray(F, ct, co + 7 * cs).add(a7_0).intoArray(ct, co + 7 * cs);
        FloatVector.fromArray(F, ct, co + 7 * cs + 1 * L).add(a7_1).intoArray(ct, co + 7 * cs + 1 * L);
    }

    /** 8 rows × 1·L tokens, no reductions: ct[co + i·cs + j] += Σ_k&lt;kc wp[wo + i·ws + k] · xp[xo + k·1L + j]. */
    static void micro8x1(float[] wp, int wo, int ws, int kc, float[] xp, int xo, float[] ct, int co, int cs) {
        FloatVector a0_0 = FloatVector.zero(F), a1_0 = a0_0, a2_0 = a0_0, a3_0 = a0_0, a4_0 = a0_0, a5_0 = a0_0, a6_0 = a0_0, a7_0 = a0_0;
        final int w0 = wo;
        final int w1 = wo + 1 * ws;
        final int w2 = wo + 2 * ws;
        final int w3 = wo + 3 * ws;
        final int w4 = wo + 4 * ws;
        final int w5 = wo + 5 * ws;
        final int w6 = wo + 6 * ws;
        final int w7 = wo + 7 * ws;
        for (int k = 0, xk = xo; k < kc; k++, xk += 1 * L) {
            FloatVector x0 = FloatVector.fromArray(F, xp, xk);
            FloatVector b0 = FloatVector.broadcast(F, wp[w0 + k]);
            a0_0 = b0.fma(x0, a0_0);
            FloatVector b1 = FloatVector.broadcast(F, wp[w1 + k]);
            a1_0 = b1.fma(x0, a1_0);
            FloatVector b2 = FloatVector.broadcast(F, wp[w2 + k]);
            a2_0 = b2.fma(x0, a2_0);
            FloatVector b3 = FloatVector.broadcast(F, wp[w3 + k]);
            a3_0 = b3.fma(x0, a3_0);
            FloatVector b4 = FloatVector.broadcast(F, wp[w4 + k]);
            a4_0 = b4.fma(x0, a4_0);
            FloatVector b5 = FloatVector.broadcast(F, wp[w5 + k]);
            a5_0 = b5.fma(x0, a5_0);
            FloatVector b6 = FloatVector.broadcast(F, wp[w6 + k]);
            a6_0 = b6.fma(x0, a6_0);
            FloatVector b7 = FloatVector.broadcast(F, wp[w7 + k]);
            a7_0 = b7.fma(x0, a7_0);
        }
        FloatVector.fromArray(F, ct, co).add(a0_0).intoArray(ct, co);
        FloatVector.fromArray(F, ct, co + 1 * cs).add(a1_0).intoArray(ct, co + 1 * cs);
        FloatVector.fromArray(F, ct, co + 2 * cs).add(a2_0).intoArray(ct, co + 2 * cs);
        FloatVector.fromArray(F, ct, co + 3 * cs).add(a3_0).intoArray(ct, co + 3 * cs);
        FloatVector.fromArray(F, ct, co + 4 * cs).add(a4_0).intoArray(ct, co + 4 * cs);
        FloatVector.fromArray(F, ct, co + 5 * cs).add(a5_0).intoArray(ct, co + 5 * cs);
        FloatVector.fromArray(F, ct, co + 6 * cs).add(a6_0).intoArray(ct, co + 6 * cs);
        FloatVector.fromArray(F, ct, co + 7 * cs).add(a7_0).intoArray(ct, co + 7 * cs);
    }

    /** 4 rows × 2·L tokens, no reductions: ct[co + i·cs + j] += Σ_k&lt;kc wp[wo + i·ws + k] · xp[xo + k·2L + j]. */
    static void micro4x2(float[] wp, int wo, int ws, int kc, float[] xp, int xo, float[] ct, int co, int cs) {
        FloatVector a0_0 = FloatVector.zero(F), a0_1 = a0_0, a1_0 = a0_0, a1_1 = a0_0, a2_0 = a0_0, a2_1 = a0_0, a3_0 = a0_0, a3_1 = a0_0;
        final int w0 = wo;
        final int w1 = wo + 1 * ws;
        final int w2 = wo + 2 * ws;
        final int w3 = wo + 3 * ws;
        for (int k = 0, xk = xo; k < kc; k++, xk += 2 * L) {
            FloatVector x0 = FloatVector.fromArray(F, xp, xk);
            FloatVector x1 = FloatVector.fromArray(F, xp, xk + 1 * L);
            FloatVector b0 = FloatVector.broadcast(F, wp[w0 + k]);
            a0_0 = b0.fma(x0, a0_0);
            a0_1 = b0.fma(x1, a0_1);
            FloatVector b1 = FloatVector.broadcast(F, wp[w1 + k]);
            a1_0 = b1.fma(x0, a1_0);
            a1_1 = b1.fma(x1, a1_1);
            FloatVector b2 = FloatVector.broadcast(F, wp[w2 + k]);
            a2_0 = b2.fma(x0, a2_0);
            a2_1 = b2.fma(x1, a2_1);
            FloatVector b3 = FloatVector.broadcast(F, wp[w3 + k]);
            a3_0 = b3.fma(x0, a3_0);
            a3_1 = b3.fma(x1, a3_1);
        }
        FloatVector.fromArray(F, ct, co).add(a0_0).intoArray(ct, co);
        FloatVector.fromArray(F, ct, co + 1 * L).add(a0_1).intoArray(ct, co + 1 * L);
        FloatVector.fromArray(F, ct, co + 1 * cs).add(a1_0).intoArray(ct, co + 1 * cs);
        FloatVector.fromArray(F, ct, co + 1 * cs + 1 * L).add(a1_1).intoArray(ct, co + 1 * cs + 1 * L);
        FloatVector.fromArray(F, ct, co + 2 * cs).add(a2_0).intoArray(ct, co + 2 * cs);
        FloatVector.fromArray(F, ct, co + 2 * cs + 1 * L).add(a2_1).intoArray(ct, co + 2 * cs + 1 * L);
        FloatVector.fromArray(F, ct, co + 3 * cs).add(a3_0).intoArray(ct, co + 3 * cs);
        FloatVector.fromArray(F, ct, co + 3 * cs + 1 * L).add(a3_1).intoArray(ct, co + 3 * cs + 1 * L);
    }

    /** 4 rows × 1·L tokens, no reductions: ct[co + i·cs + j] += Σ_k&lt;kc wp[wo + i·ws + k] · xp[xo + k·1L + j]. */
    static void micro4x1(float[] wp, int wo, int ws, int kc, float[] xp, int xo, float[] ct, int co, int cs) {
        FloatVector a0_0 = FloatVector.zero(F), a1_0 = a0_0, a2_0 = a0_0, a3_0 = a0_0;
        final int w0 = wo;
        final int w1 = wo + 1 * ws;
        final int w2 = wo + 2 * ws;
        final int w3 = wo + 3 * ws;
        for (int k = 0, xk = xo; k < kc; k++, xk += 1 * L) {
            FloatVector x0 = FloatVector.fromArray(F, xp, xk);
            FloatVector b0 = FloatVector.broadcast(F, wp[w0 + k]);
            a0_0 = b0.fma(x0, a0_0);
            FloatVector b1 = FloatVector.broadcast(F, wp[w1 + k]);
            a1_0 = b1.fma(x0, a1_0);
            FloatVector b2 = FloatVector.broadcast(F, wp[w2 + k]);
            a2_0 = b2.fma(x0, a2_0);
            FloatVector b3 = FloatVector.broadcast(F, wp[w3 + k]);
            a3_0 = b3.fma(x0, a3_0);
        }
        FloatVector.fromArray(F, ct, co).add(a0_0).intoArray(ct, co);
        FloatVector.fromArray(F, ct, co + 1 * cs).add(a1_0).intoArray(ct, co + 1 * cs);
        FloatVector.fromArray(F, ct, co + 2 * cs).add(a2_0).intoArray(ct, co + 2 * cs);
        FloatVector.fromArray(F, ct, co + 3 * cs).add(a3_0).intoArray(ct, co + 3 * cs);
    }
}
