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
 * column block, for each block of RB rows, the W block is widened to fp32 into {@code wp}
 * (row-major, zero rows past r1), and R × 2L micro-tiles accumulate
 * {@code broadcast(W[r, k]) · xp[k, tokens]} in registers over KC, adding the result into a
 * transposed output block {@code ct[row][token]}. After the last column block ct is written to
 * out. Cache plan: the xp micro-panel (KC·2L floats, 32 KiB at L = 16) stays in L1, wp (RB·KC)
 * and the xp block (TB·KC) in L2; W is read once per TB tokens.
 */
final class Gemm {
    private Gemm() { }

    /** Rows per micro-tile: 8 with 32 vector registers (16 accumulators), else 4. */
    static final int R = Vec.WIDE_REGISTER_FILE ? 8 : 4;
    /** Tokens per full micro-tile. */
    static final int TILE = 2 * L;
    static final int KC = Math.max(L, Integer.getInteger("chunkserve.cpu.gemm.kc", 256));
    static final int RB = Math.max(R, Integer.getInteger("chunkserve.cpu.gemm.rb", 128) / R * R);
    static final int TB = Math.max(TILE, Integer.getInteger("chunkserve.cpu.gemm.tb", 128) / TILE * TILE);

    private static final class Scratch {
        final float[] wp = new float[RB * KC];
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
        for (int j = 0; j < width; j++) {
            final int t = tt + j;
            if (t < T) {
                final int src = t * cols + kb;
                for (int k = 0; k < kc; k++) xp[base + k * width + j] = x[src + k];
            } else {
                for (int k = 0; k < kc; k++) xp[base + k * width + j] = 0f;
            }
        }
    }

    /** Rows [r0, r1) of out (T, rows) = x · Wᵀ, with x packed by {@link #pack}/{@link #packTile}. */
    static void gemm(Weight w, float[] xp, int T, float[] out, int r0, int r1) {
        final Scratch s = SCRATCH.get();
        final float[] wp = s.wp;
        final int rows = w.rows(), cols = w.cols(), tPad = padT(T);
        final int nr = r1 - r0, nrPad = (nr + R - 1) / R * R;
        for (int tb = 0; tb < tPad; tb += TB) {
            final int te = Math.min(tPad, tb + TB), tn = te - tb;
            if (s.ct.length < nrPad * tn) s.ct = new float[nrPad * tn];
            final float[] ct = s.ct;
            Arrays.fill(ct, 0, nrPad * tn, 0f);
            for (int kb = 0; kb < cols; kb += KC) {
                final int kc = Math.min(KC, cols - kb);
                for (int rb = 0; rb < nrPad; rb += RB) {
                    final int rbn = Math.min(RB, nrPad - rb);
                    final int real = Math.min(rbn, nr - rb);
                    for (int i = 0; i < real; i++) MatKernels.widen(w, r0 + rb + i, kb, wp, i * kc, kc);
                    if (real < rbn) Arrays.fill(wp, real * kc, rbn * kc, 0f);
                    for (int tt = tb; tt < te; ) {
                        final boolean wide = te - tt >= TILE;
                        final int xo = kb * tPad + tt * kc;
                        for (int rt = 0; rt < rbn; rt += R) {
                            final int co = (rb + rt) * tn + (tt - tb);
                            if (R == 8) {
                                if (wide) micro8x2(wp, rt * kc, kc, xp, xo, ct, co, tn);
                                else micro8x1(wp, rt * kc, kc, xp, xo, ct, co, tn);
                            } else {
                                if (wide) micro4x2(wp, rt * kc, kc, xp, xo, ct, co, tn);
                                else micro4x1(wp, rt * kc, kc, xp, xo, ct, co, tn);
                            }
                        }
                        tt += wide ? TILE : L;
                    }
                }
            }
            final int tReal = Math.min(T, te) - tb;
            for (int i = 0; i < nr; i++) {
                final int c = i * tn, o = tb * rows + r0 + i;
                for (int j = 0; j < tReal; j++) out[o + j * rows] = ct[c + j];
            }
        }
    }

    /** 8 rows × 2·L tokens, no reductions: ct[co + i·cs + j] += Σ_k wp[wo + i·kc + k] · xp[xo + k·2L + j]. */
    static void micro8x2(float[] wp, int wo, int kc, float[] xp, int xo, float[] ct, int co, int cs) {
        FloatVector a0_0 = FloatVector.zero(F), a0_1 = a0_0, a1_0 = a0_0, a1_1 = a0_0, a2_0 = a0_0, a2_1 = a0_0, a3_0 = a0_0, a3_1 = a0_0, a4_0 = a0_0, a4_1 = a0_0, a5_0 = a0_0, a5_1 = a0_0, a6_0 = a0_0, a6_1 = a0_0, a7_0 = a0_0, a7_1 = a0_0;
        final int w0 = wo;
        final int w1 = wo + 1 * kc;
        final int w2 = wo + 2 * kc;
        final int w3 = wo + 3 * kc;
        final int w4 = wo + 4 * kc;
        final int w5 = wo + 5 * kc;
        final int w6 = wo + 6 * kc;
        final int w7 = wo + 7 * kc;
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

    /** 8 rows × 1·L tokens, no reductions: ct[co + i·cs + j] += Σ_k wp[wo + i·kc + k] · xp[xo + k·1L + j]. */
    static void micro8x1(float[] wp, int wo, int kc, float[] xp, int xo, float[] ct, int co, int cs) {
        FloatVector a0_0 = FloatVector.zero(F), a1_0 = a0_0, a2_0 = a0_0, a3_0 = a0_0, a4_0 = a0_0, a5_0 = a0_0, a6_0 = a0_0, a7_0 = a0_0;
        final int w0 = wo;
        final int w1 = wo + 1 * kc;
        final int w2 = wo + 2 * kc;
        final int w3 = wo + 3 * kc;
        final int w4 = wo + 4 * kc;
        final int w5 = wo + 5 * kc;
        final int w6 = wo + 6 * kc;
        final int w7 = wo + 7 * kc;
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

    /** 4 rows × 2·L tokens, no reductions: ct[co + i·cs + j] += Σ_k wp[wo + i·kc + k] · xp[xo + k·2L + j]. */
    static void micro4x2(float[] wp, int wo, int kc, float[] xp, int xo, float[] ct, int co, int cs) {
        FloatVector a0_0 = FloatVector.zero(F), a0_1 = a0_0, a1_0 = a0_0, a1_1 = a0_0, a2_0 = a0_0, a2_1 = a0_0, a3_0 = a0_0, a3_1 = a0_0;
        final int w0 = wo;
        final int w1 = wo + 1 * kc;
        final int w2 = wo + 2 * kc;
        final int w3 = wo + 3 * kc;
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

    /** 4 rows × 1·L tokens, no reductions: ct[co + i·cs + j] += Σ_k wp[wo + i·kc + k] · xp[xo + k·1L + j]. */
    static void micro4x1(float[] wp, int wo, int kc, float[] xp, int xo, float[] ct, int co, int cs) {
        FloatVector a0_0 = FloatVector.zero(F), a1_0 = a0_0, a2_0 = a0_0, a3_0 = a0_0;
        final int w0 = wo;
        final int w1 = wo + 1 * kc;
        final int w2 = wo + 2 * kc;
        final int w3 = wo + 3 * kc;
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
