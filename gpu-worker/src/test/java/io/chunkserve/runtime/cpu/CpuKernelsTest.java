package io.chunkserve.runtime.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.chunkserve.model.DType;
import io.chunkserve.model.Weight;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class CpuKernelsTest {
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final double TOL = 1e-5;

    static Arena arena;
    static CpuKernels[] kernels;

    @BeforeAll
    static void setUp() {
        arena = Arena.ofShared();
        kernels = new CpuKernels[] {new CpuKernels(1), new CpuKernels(2), new CpuKernels(3)};
    }

    @AfterAll
    static void tearDown() {
        for (CpuKernels k : kernels) k.close();
        arena.close();
    }

    /** A random weight stored as a slice at byte offset {@code skew} of a larger segment. */
    static Weight randomWeight(SplittableRandom rnd, DType dt, int rows, int cols, int skew, boolean heap) {
        long bytes = (long) rows * cols * dt.bytes();
        MemorySegment big = heap ? MemorySegment.ofArray(new byte[(int) (bytes + skew + 64)]) : arena.allocate(bytes + skew + 64, 64);
        MemorySegment seg = big.asSlice(skew, bytes);
        for (long i = 0; i < (long) rows * cols; i++) {
            float v = (float) (rnd.nextDouble() * 2 - 1);
            switch (dt) {
                case F32 -> seg.set(F32, 4 * i, v);
                case F16 -> seg.set(I16, 2 * i, Float.floatToFloat16(v));
                case BF16 -> seg.set(I16, 2 * i, DType.floatToBf16(v));
            }
        }
        // poison the bytes around the slice: reading outside it would show up as a wrong result
        big.asSlice(0, skew).fill((byte) 0x7f);
        big.asSlice(skew + bytes).fill((byte) 0x7f);
        return new Weight("w", seg, dt, rows, cols);
    }

    static float[] randomFloats(SplittableRandom rnd, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (rnd.nextDouble() * 2 - 1);
        return a;
    }

    /** Double-accumulated reference and Σ|w·x| (the scale of the rounding error) per output. */
    static double[][] reference(Weight w, float[] x, int T) {
        int rows = w.rows(), cols = w.cols();
        double[] ref = new double[T * rows], mag = new double[T * rows];
        float[] wr = new float[cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) wr[c] = w.get(r, c);
            for (int t = 0; t < T; t++) {
                double s = 0, m = 0;
                for (int c = 0; c < cols; c++) {
                    double p = (double) wr[c] * x[t * cols + c];
                    s += p;
                    m += Math.abs(p);
                }
                ref[t * rows + r] = s;
                mag[t * rows + r] = m;
            }
        }
        return new double[][] {ref, mag};
    }

    static void assertClose(double[][] ref, float[] got, int n, String what) {
        for (int i = 0; i < n; i++) {
            double err = Math.abs(got[i] - ref[0][i]);
            if (!(err <= TOL * ref[1][i] + 1e-30)) {
                fail(what + ": element " + i + " got " + got[i] + " want " + ref[0][i] + " (scale " + ref[1][i] + ")");
            }
        }
    }

    /**
     * Both kernels a batch of T tokens can take (the register-block kernels and the packed GEMM: which one depends on the
     * register file and the row length, {@link CpuTuning#directMaxT(int)}) match the reference at every T from 2 to 24,
     * alone and in a many-weights dispatch.
     */
    @Test
    void registerBlockAndPackedKernelsBothMatchTheReferenceAtEveryBatchUpTo24() {
        SplittableRandom rnd = new SplittableRandom(5);
        String before = CpuTuning.get("directmaxt");
        try {
            for (String bound : new String[] {"24", "1", "-1"}) {
                CpuTuning.set("directmaxt", bound);
                for (DType dt : DType.values()) {
                    Weight w = randomWeight(rnd, dt, 13, 70, 3, false), w2 = randomWeight(rnd, dt, 9, 70, 2, false);
                    for (int T = 2; T <= 24; T += 1 + T / 8) {
                        float[] x = randomFloats(rnd, T * 70);
                        for (CpuKernels k : kernels) {
                            float[] out = new float[T * 13], out2 = new float[T * 9];
                            k.matmul(w, x, T, out);
                            assertClose(reference(w, x, T), out, T * 13, dt + " bound " + bound + " T=" + T + " threads=" + k.threads());
                            float[] o1 = new float[T * 13];
                            k.matmulMany(new Weight[] {w, w2}, x, T, new float[][] {o1, out2});
                            assertClose(reference(w2, x, T), out2, T * 9, dt + " many bound " + bound + " T=" + T);
                        }
                    }
                }
            }
        } finally {
            CpuTuning.set("directmaxt", before);
        }
    }

    @Test
    void matmulMatchesReferenceForEveryDtypeShapeBatchAndThreadCount() {
        SplittableRandom rnd = new SplittableRandom(1);
        int[] colsList = {1, 7, 33, 250, 515};
        int[] rowsList = {1, 5, 13, 67};
        int[] Ts = {1, 3, 16, 70};
        for (DType dt : DType.values()) {
            for (int cols : colsList) {
                for (int rows : rowsList) {
                    int skew = 1 + rnd.nextInt(7);
                    Weight w = randomWeight(rnd, dt, rows, cols, skew, rnd.nextInt(4) == 0);
                    for (int T : Ts) {
                        float[] x = randomFloats(rnd, T * cols);
                        double[][] ref = reference(w, x, T);
                        for (CpuKernels k : kernels) {
                            float[] out = new float[T * rows + 3];
                            out[T * rows] = 42f; // must stay untouched
                            k.matmul(w, x, T, out);
                            assertClose(ref, out, T * rows, dt + " " + rows + "x" + cols + " T=" + T + " threads=" + k.threads());
                            assertEquals(42f, out[T * rows]);
                        }
                    }
                }
            }
        }
    }

    @Test
    void matmulSplitsLongRowsIntoColumnBlocks() {
        // cols above the column blocks (Gemm: 256 and 2048; direct: 16384): partial sums are
        // accumulated across blocks
        SplittableRandom rnd = new SplittableRandom(2);
        for (DType dt : DType.values()) {
            int rows = 37, cols = MatKernels.DIRECT_KC + 35;
            Weight w = randomWeight(rnd, dt, rows, cols, 3, false);
            for (int T : new int[] {1, 5, 130}) {
                float[] x = randomFloats(rnd, T * cols);
                double[][] ref = reference(w, x, T);
                for (CpuKernels k : kernels) {
                    float[] out = new float[T * rows];
                    java.util.Arrays.fill(out, Float.NaN); // must be overwritten, not accumulated into
                    k.matmul(w, x, T, out);
                    assertClose(ref, out, T * rows, dt + " long rows T=" + T + " threads=" + k.threads());
                }
            }
        }
    }

    @Test
    void matmulManyEqualsSeparateMatmuls() {
        SplittableRandom rnd = new SplittableRandom(3);
        int cols = 96;
        for (DType dt : DType.values()) {
            Weight[] ws = {
                randomWeight(rnd, dt, 96, cols, 1, false),
                randomWeight(rnd, dt, 33, cols, 2, false),
                randomWeight(rnd, dt, 33, cols, 5, true)};
            for (int T : new int[] {1, 3, 16, 70}) {
                float[] x = randomFloats(rnd, T * cols);
                for (CpuKernels k : kernels) {
                    float[][] outs = new float[ws.length][];
                    for (int i = 0; i < ws.length; i++) outs[i] = new float[T * ws[i].rows()];
                    k.matmulMany(ws, x, T, outs);
                    for (int i = 0; i < ws.length; i++) {
                        assertClose(reference(ws[i], x, T), outs[i], T * ws[i].rows(), dt + " many[" + i + "] T=" + T);
                    }
                }
            }
        }
        Weight a = randomWeight(rnd, DType.F32, 4, 8, 0, false), b = randomWeight(rnd, DType.F32, 4, 9, 0, false);
        assertThrows(IllegalArgumentException.class,
                () -> kernels[1].matmulMany(new Weight[] {a, b}, new float[9], 1, new float[][] {new float[4], new float[4]}));
    }

    @Test
    void oneTokenMatmulStreamsAcrossWeightBoundariesAndRowTails() {
        // q/k/v-like weights whose concatenated rows split into thread ranges, four streams each,
        // that cross weight boundaries, with rows left over after the four streams
        SplittableRandom rnd = new SplittableRandom(11);
        int[][] rowSets = {{97, 33, 35}, {1, 2, 3}, {5, 300, 7, 64}, {577}};
        for (DType dt : DType.values()) {
            for (int cols : new int[] {1, 17, 67, 579, 2085}) {
                for (int[] rows : rowSets) {
                    Weight[] ws = new Weight[rows.length];
                    for (int i = 0; i < rows.length; i++) ws[i] = randomWeight(rnd, dt, rows[i], cols, 1 + rnd.nextInt(7), rnd.nextInt(5) == 0);
                    float[] x = randomFloats(rnd, cols);
                    for (CpuKernels k : kernels) {
                        float[][] outs = new float[ws.length][];
                        for (int i = 0; i < ws.length; i++) outs[i] = new float[rows[i]];
                        k.matmulMany(ws, x, 1, outs);
                        for (int i = 0; i < ws.length; i++) {
                            assertClose(reference(ws[i], x, 1), outs[i], rows[i], dt + " cols=" + cols + " many[" + i + "] threads=" + k.threads());
                        }
                    }
                }
            }
        }
    }

    @Test
    void gemvPiecesComputesExactlyTheRowsOfEachPiece() {
        SplittableRandom rnd = new SplittableRandom(12);
        for (DType dt : DType.values()) {
            int cols = 45;
            Weight a = randomWeight(rnd, dt, 50, cols, 3, false), b = randomWeight(rnd, dt, 21, cols, 0, true);
            float[] x = randomFloats(rnd, cols);
            double[][] ra = reference(a, x, 1), rb = reference(b, x, 1);
            // pieces: rows [3, 41) of a, [0, 21) of b, [41, 50) of a: 68 rows = 4 streams of 17
            int[][] cases = {{3, 41, 0, 21, 41, 50}, {7, 8, 2, 19, 9, 10}, {0, 50, 0, 0, 0, 0}, {10, 13, 5, 6, 20, 27}};
            for (int[] c : cases) {
                float[] oa = new float[50], ob = new float[21];
                java.util.Arrays.fill(oa, Float.NaN);
                java.util.Arrays.fill(ob, Float.NaN);
                int pieces = c[3] > c[2] ? 3 : 1;
                Weight[] pw = pieces == 3 ? new Weight[] {a, b, a} : new Weight[] {a};
                float[][] po = pieces == 3 ? new float[][] {oa, ob, oa} : new float[][] {oa};
                int[] lo = pieces == 3 ? new int[] {c[0], c[2], c[4]} : new int[] {c[0]};
                int[] hi = pieces == 3 ? new int[] {c[1], c[3], c[5]} : new int[] {c[1]};
                MatKernels.gemvPieces(pw, po, lo, hi, pieces, x);
                for (int r = 0; r < 50; r++) {
                    boolean in = (r >= c[0] && r < c[1]) || (pieces == 3 && r >= c[4] && r < c[5]);
                    if (!in) {
                        assertTrue(Float.isNaN(oa[r]), dt + " row " + r + " of a written outside its pieces");
                    } else {
                        double err = Math.abs(oa[r] - ra[0][r]);
                        assertTrue(err <= TOL * ra[1][r] + 1e-30, dt + " a[" + r + "] got " + oa[r] + " want " + ra[0][r]);
                    }
                }
                for (int r = 0; r < 21; r++) {
                    boolean in = pieces == 3 && r >= c[2] && r < c[3];
                    if (!in) {
                        assertTrue(Float.isNaN(ob[r]), dt + " row " + r + " of b written outside its pieces");
                    } else {
                        double err = Math.abs(ob[r] - rb[0][r]);
                        assertTrue(err <= TOL * rb[1][r] + 1e-30, dt + " b[" + r + "] got " + ob[r] + " want " + rb[0][r]);
                    }
                }
            }
        }
    }

    @Test
    void matmulAddEqualsMatmulThenResidualAdd() {
        SplittableRandom rnd = new SplittableRandom(13);
        for (DType dt : DType.values()) {
            for (int[] shape : new int[][] {{576, 64}, {67, 33}, {3, 5}, {1031, 250}}) {
                int rows = shape[0], cols = shape[1];
                Weight w = randomWeight(rnd, dt, rows, cols, 1 + rnd.nextInt(7), false);
                for (int T : new int[] {1, 2, 30}) {
                    float[] x = randomFloats(rnd, T * cols), res0 = randomFloats(rnd, T * rows);
                    double[][] ref = reference(w, x, T);
                    for (CpuKernels k : kernels) {
                        float[] out = new float[T * rows], res = res0.clone();
                        k.matmulAdd(w, x, T, out, res);
                        assertClose(ref, out, T * rows, dt + " " + rows + "x" + cols + " T=" + T + " product");
                        for (int i = 0; i < T * rows; i++) {
                            assertEquals(res0[i] + out[i], res[i], 0f, dt + " residual " + i + " T=" + T + " threads=" + k.threads());
                        }
                    }
                }
            }
        }
    }

    @Test
    void gateUpSiluEqualsTheUnfusedProductsAndActivation() {
        SplittableRandom rnd = new SplittableRandom(14);
        for (DType dt : DType.values()) {
            for (int[] shape : new int[][] {{1536, 64}, {67, 33}, {5, 17}, {200, 579}}) {
                int rows = shape[0], cols = shape[1];
                Weight g = randomWeight(rnd, dt, rows, cols, 1, false), u = randomWeight(rnd, dt, rows, cols, 2, rnd.nextBoolean());
                for (int T : new int[] {1, 3, 30}) {
                    float[] x = randomFloats(rnd, T * cols);
                    double[][] rg = reference(g, x, T), ru = reference(u, x, T);
                    for (CpuKernels k : kernels) {
                        float[] gate = new float[T * rows], up = new float[T * rows];
                        k.gateUpSilu(g, u, x, T, gate, up);
                        assertClose(ru, up, T * rows, dt + " up T=" + T);
                        for (int i = 0; i < T * rows; i++) {
                            double gv = rg[0][i], uv = ru[0][i], want = gv / (1 + Math.exp(-gv)) * uv;
                            double tol = 1e-5 * ((rg[1][i] + Math.abs(gv)) * Math.abs(uv) + ru[1][i] * (Math.abs(gv) + 1)) + 1e-30;
                            if (!(Math.abs(gate[i] - want) <= tol)) {
                                fail(dt + " " + rows + "x" + cols + " T=" + T + " threads=" + k.threads() + " act " + i + " got " + gate[i] + " want " + want);
                            }
                        }
                    }
                }
            }
        }
        Weight a = randomWeight(rnd, DType.F32, 4, 8, 0, false), b = randomWeight(rnd, DType.F32, 5, 8, 0, false);
        assertThrows(IllegalArgumentException.class, () -> kernels[1].gateUpSilu(a, b, new float[8], 1, new float[5], new float[5]));
    }

    @Test
    void oneTokenMatmulWithTailRangesAboveTheTailThreshold() {
        // ≥ 8 MiB of weights per dispatch: one long range per thread plus the small tail ranges
        // (below that size a dispatch has no tail, which the smaller shapes above cover)
        SplittableRandom rnd = new SplittableRandom(21);
        int rows = 4099, cols = 1031;
        Weight w = randomWeight(rnd, DType.BF16, rows, cols, 3, false), small = randomWeight(rnd, DType.BF16, 77, cols, 5, false);
        float[] x = randomFloats(rnd, cols), res0 = randomFloats(rnd, rows);
        double[][] ref = reference(w, x, 1), refSmall = reference(small, x, 1);
        for (CpuKernels k : kernels) {
            float[] out = new float[rows];
            k.matmul(w, x, 1, out);
            assertClose(ref, out, rows, "tail matmul threads=" + k.threads());
            float[] out2 = new float[rows], res = res0.clone();
            k.matmulAdd(w, x, 1, out2, res);
            assertClose(ref, out2, rows, "tail matmulAdd threads=" + k.threads());
            for (int i = 0; i < rows; i++) assertEquals(res0[i] + out2[i], res[i], 0f, "tail residual " + i);
            float[][] outs = {new float[77], new float[rows]};
            k.matmulMany(new Weight[] {small, w}, x, 1, outs);
            assertClose(refSmall, outs[0], 77, "tail many[0] threads=" + k.threads());
            assertClose(ref, outs[1], rows, "tail many[1] threads=" + k.threads());
        }
    }

    @Test
    void matmulOnLargerWeightUsesAllThreadsCorrectly() {
        SplittableRandom rnd = new SplittableRandom(4);
        Weight w = randomWeight(rnd, DType.BF16, 1031, 576, 7, false);
        float[] x = randomFloats(rnd, 576 * 2);
        double[][] r1 = reference(w, x, 1), r2 = reference(w, x, 2);
        for (int rep = 0; rep < 200; rep++) {
            for (CpuKernels k : kernels) {
                float[] out = new float[1031];
                k.matmul(w, x, 1, out);
                assertClose(r1, out, 1031, "rep " + rep);
                float[] out2 = new float[2 * 1031];
                k.matmul(w, x, 2, out2);
                assertClose(r2, out2, 2 * 1031, "rep " + rep);
            }
        }
    }

    @Test
    void heapSegmentsNotBackedByBytesFallBackToScalar() {
        SplittableRandom rnd = new SplittableRandom(5);
        float[] data = randomFloats(rnd, 9 * 13);
        Weight w = new Weight("f", MemorySegment.ofArray(data), DType.F32, 9, 13);
        float[] x = randomFloats(rnd, 3 * 13);
        for (CpuKernels k : kernels) {
            float[] out = new float[27];
            k.matmul(w, x, 3, out);
            assertClose(reference(w, x, 3), out, 27, "float[]-backed");
        }
        float[] row = new float[13];
        CpuKernels.row(w, 4, row, 0);
        for (int c = 0; c < 13; c++) assertEquals(data[4 * 13 + c], row[c]);
    }

    @Test
    void halfConversionsAreBitExactForAll65536Values() {
        for (DType dt : new DType[] {DType.F16, DType.BF16}) {
            MemorySegment seg = arena.allocate(2 * 65536 + 1).asSlice(1, 2 * 65536);
            for (int i = 0; i < 65536; i++) seg.set(I16, 2L * i, (short) i);
            Weight w = new Weight("all", seg, dt, 1, 65536);
            float[] got = new float[65536 + 5];
            CpuKernels.row(w, 0, got, 5);
            for (int i = 0; i < 65536; i++) {
                float want = dt == DType.F16 ? Float.float16ToFloat((short) i) : DType.bf16ToFloat((short) i);
                float g = got[5 + i];
                if (Float.isNaN(want)) {
                    assertTrue(Float.isNaN(g), dt + " " + Integer.toHexString(i));
                } else {
                    assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(g), dt + " " + Integer.toHexString(i));
                }
            }
        }
    }

    @Test
    void rowMatchesWeightRow() {
        SplittableRandom rnd = new SplittableRandom(6);
        for (DType dt : DType.values()) {
            for (int cols : new int[] {1, 7, 33, 250}) {
                Weight w = randomWeight(rnd, dt, 3, cols, 3, false);
                float[] want = new float[cols + 2], got = new float[cols + 2];
                for (int r = 0; r < 3; r++) {
                    w.row(r, want, 2);
                    CpuKernels.row(w, r, got, 2);
                    assertEquals(java.util.Arrays.toString(want), java.util.Arrays.toString(got));
                }
            }
        }
    }

    @Test
    void rmsnormSiluMulAddDotAxpyMatchScalar() {
        SplittableRandom rnd = new SplittableRandom(7);
        for (int n : new int[] {1, 7, 33, 250, 576, 1031}) {
            int T = 3;
            float[] x = randomFloats(rnd, T * n), gamma = randomFloats(rnd, n), out = new float[T * n];
            CpuKernels.rmsnorm(out, x, gamma, T, 1e-5f);
            for (int t = 0; t < T; t++) {
                double ss = 0;
                for (int i = 0; i < n; i++) ss += (double) x[t * n + i] * x[t * n + i];
                double inv = 1.0 / Math.sqrt(ss / n + 1e-5f);
                for (int i = 0; i < n; i++) {
                    double want = x[t * n + i] * inv * gamma[i];
                    assertEquals(want, out[t * n + i], 1e-5 * Math.abs(want) + 1e-30, "rmsnorm n=" + n);
                }
            }

            float[] gate = randomFloats(rnd, n), up = randomFloats(rnd, n);
            for (int i = 0; i < n; i++) gate[i] *= 20; // both tails of the sigmoid
            float[] g2 = gate.clone();
            CpuKernels.siluMul(g2, up, n);
            for (int i = 0; i < n; i++) {
                double g = gate[i], want = g / (1 + Math.exp(-g)) * up[i];
                assertEquals(want, g2[i], 1e-5 * Math.abs(want) + 1e-30, "siluMul n=" + n + " g=" + g);
            }

            float[] a = randomFloats(rnd, n), b = randomFloats(rnd, n), a2 = a.clone();
            CpuKernels.add(a2, b, n);
            for (int i = 0; i < n; i++) assertEquals(a[i] + b[i], a2[i]);

            double d = 0, m = 0;
            for (int i = 0; i < n - 1; i++) {
                d += (double) a[i + 1] * b[i];
                m += Math.abs((double) a[i + 1] * b[i]);
            }
            assertEquals(d, CpuKernels.dot(a, 1, b, 0, n - 1), TOL * m + 1e-30, "dot n=" + n);

            float[] y = b.clone();
            CpuKernels.axpy(0.75f, a, 1, y, 0, n - 1);
            for (int i = 0; i < n - 1; i++) assertEquals(Math.fma(0.75f, a[i + 1], b[i]), y[i], "axpy n=" + n);
            assertEquals(b[n - 1], y[n - 1]);
        }
        float[] g = {Float.NEGATIVE_INFINITY, -1000f, 1000f, 0f, -0f, Float.NaN, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
        float[] up = new float[g.length];
        java.util.Arrays.fill(up, 1f);
        float[] want = g.clone();
        for (int i = 0; i < want.length; i++) want[i] = want[i] / (1f + (float) Math.exp(-want[i]));
        CpuKernels.siluMul(g, up, g.length);
        for (int i = 0; i < g.length; i++) {
            if (Float.isNaN(want[i])) assertTrue(Float.isNaN(g[i]), "silu " + i);
            else assertEquals(want[i], g[i], 1e-6f * Math.abs(want[i]), "silu " + i);
        }
    }

    @Test
    void packedXHasTheDocumentedLayout() {
        SplittableRandom rnd = new SplittableRandom(8);
        int L = Vec.L;
        for (int cols : new int[] {1, 7, 33, Gemm.KC + 3 * L + 5}) {
            for (int T : new int[] {1, L - 1, L, 2 * L, 2 * L + 1, 3 * L, 5 * L + 3}) {
                float[] x = randomFloats(rnd, T * cols);
                float[] xp = Gemm.pack(x, cols, T);
                int tPad = Gemm.padT(T);
                assertEquals(cols * tPad, xp.length);
                for (int kb = 0; kb < cols; kb += Gemm.KC) {
                    int kc = Math.min(Gemm.KC, cols - kb);
                    for (int tt = 0; tt < tPad; tt += Gemm.TILE) {
                        int width = Math.min(Gemm.TILE, tPad - tt);
                        for (int k = 0; k < kc; k++) {
                            for (int j = 0; j < width; j++) {
                                float want = tt + j < T ? x[(tt + j) * cols + kb + k] : 0f;
                                int at = kb * tPad + tt * kc + k * width + j;
                                if (xp[at] != want) fail("cols=" + cols + " T=" + T + " kb=" + kb + " tt=" + tt + " k=" + k + " j=" + j);
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void argumentChecks() {
        Weight w = new Weight("w", arena.allocate(4 * 12), DType.F32, 3, 4);
        assertThrows(IllegalArgumentException.class, () -> kernels[1].matmul(w, new float[7], 2, new float[6]));
        assertThrows(IllegalArgumentException.class, () -> kernels[1].matmul(w, new float[8], 2, new float[5]));
        kernels[1].matmul(w, new float[0], 0, new float[0]);
        // empty shapes
        for (CpuKernels k : kernels) {
            for (int T : new int[] {1, 3, 30}) {
                Weight noCols = new Weight("c0", arena.allocate(8), DType.BF16, 3, 0);
                float[] out = new float[3 * T];
                java.util.Arrays.fill(out, 1f);
                k.matmul(noCols, new float[0], T, out);
                for (float v : out) assertEquals(0f, v);
                Weight noRows = new Weight("r0", arena.allocate(8), DType.F16, 0, 5);
                k.matmul(noRows, new float[5 * T], T, new float[0]);
            }
        }
    }
}
