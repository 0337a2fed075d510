package io.chunkserve.attention;

import io.chunkserve.kv.ChunkPool;
import io.chunkserve.kv.KvLayout;
import io.chunkserve.model.DType;
import io.chunkserve.runtime.cpu.Parallel;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static io.chunkserve.attention.TestSupport.assertClose;
import static io.chunkserve.attention.TestSupport.gaussian;
import static io.chunkserve.attention.TestSupport.nans;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The batch-1 decode path ({@link OneTokenDecode}) against the reference ({@link NaiveAttention}):
 * fp32 and bf16 slabs, GQA groups of 1–8 rows (one and two passes of 4, padded), 1–3 KV heads, head dims of one and two
 * dim blocks, chunk sizes of 4 vectors and of 1 (every piece in the one-vector tail loop), contexts on both sides of
 * the chunk and split thresholds, serial and on 2 and 3 threads (split by positions and by KV
 * heads; where the units do not divide, the hybrid split — whole KV heads first — and the plain one), with the
 * slots past the context poisoned; bf16 through the paired kernels (blocks of 2·V tokens, the rest in order) and the
 * widening ones. Reached through {@link SequenceAttention}.
 */
class OneTokenDecodeTest {
    @Test
    void matchesNaiveAcrossShapes() {
        int saved = OneTokenDecode.minPartTokens;
        boolean savedPairs = OneTokenDecode.pairs;
        try (TestSupport.ExecutorParallel two = new TestSupport.ExecutorParallel(2);
             TestSupport.ExecutorParallel three = new TestSupport.ExecutorParallel(3)) {
            Parallel[] pars = {Parallel.SERIAL, two, three};
            int[] lens = {1, 15, 16, 17, 40, 63, 64, 65, 100, 129, 191, 192, 193, 300};
            int n = 0;
            for (int minPart : new int[] {saved, 8}) {
                OneTokenDecode.minPartTokens = minPart;
                for (int hd : new int[] {4 * VectorMath.V, 8 * VectorMath.V}) {
                    for (int chunk : new int[] {64, 16}) {
                        for (int kvHeads = 1; kvHeads <= 3; kvHeads++) {
                            for (int g : new int[] {1, 2, 3, 4, 5, 8}) {
                                for (int len : lens) {
                                    Parallel p = pars[(n++) % pars.length];
                                    OneTokenDecode.hybrid = (n / pars.length) % 2 == 0; // both splits where units do not divide
                                    DType dt = (n / 2) % 2 == 0 ? DType.F32 : DType.BF16; // pairs of lens alternate, so both kernels see every len
                                    OneTokenDecode.pairs = (n / 4) % 2 == 0; // bf16: the paired and the widening kernels
                                    KvLayout lay = new KvLayout(2, kvHeads, hd, chunk, dt);
                                    assertTrue(OneTokenDecode.applies(lay));
                                    decodeCase(n * 131L + len, lay, g, len, p);
                                }
                            }
                        }
                    }
                }
            }
        } finally {
            OneTokenDecode.minPartTokens = saved;
            OneTokenDecode.hybrid = true;
            OneTokenDecode.pairs = savedPairs;
        }
    }

    /**
     * K and V read ahead a block at a time ({@link OneTokenDecode#blockBytes}: blocks of 1 and 3 chunks, so a head's
     * span is several blocks, and with a split by positions they start mid-chunk) give the reference's result and
     * exactly the sums of reading whole spans (0): the blocks end on chunk boundaries, so the kernels see the same pieces.
     */
    @Test
    void readAheadBlocksLeaveEverySumAsIs() {
        int saved = OneTokenDecode.blockBytes;
        try (TestSupport.ExecutorParallel two = new TestSupport.ExecutorParallel(2);
             TestSupport.ExecutorParallel three = new TestSupport.ExecutorParallel(3)) {
            Parallel[] pars = {two, three, Parallel.SERIAL};
            KvLayout[] lays = {new KvLayout(2, 2, 8 * VectorMath.V, 64, DType.BF16), new KvLayout(2, 3, 8 * VectorMath.V, 64, DType.BF16),
                    new KvLayout(2, 3, 4 * VectorMath.V, 16, DType.F32), new KvLayout(2, 2, 4 * VectorMath.V, 16, DType.BF16)};
            int n = 0;
            for (KvLayout lay : lays) {
                int chunkBytes = lay.chunkSize() * lay.headDim() * lay.dtype().bytes();
                for (int chunks : new int[] {1, 3}) {
                    for (int g : new int[] {1, 2, 3, 4}) {
                        for (int len : new int[] {129, 300, 701}) {
                            Parallel p = pars[(n++) % pars.length];
                            int blockBytes = chunks * chunkBytes;
                            String what = "threads " + p.threads() + " blocks of " + chunks + " chunks";
                            TestSupport.decodeVsNaive(n * 977L + len, lay, g, len, what, (pool, table, pos, qHeads, q, qOff, out, outOff) -> {
                                float[] whole = new float[out.length];
                                OneTokenDecode.blockBytes = 0;
                                SequenceAttention.attend(pool, 1, table, pos, 1, qHeads, q, qOff, whole, outOff, p);
                                OneTokenDecode.blockBytes = blockBytes;
                                SequenceAttention.attend(pool, 1, table, pos, 1, qHeads, q, qOff, out, outOff, p);
                                for (int i = outOff; i < outOff + qHeads * lay.headDim(); i++) {
                                    if (Float.floatToRawIntBits(out[i]) != Float.floatToRawIntBits(whole[i])) {
                                        throw new AssertionError("len " + len + " g " + g + " " + lay.dtype() + " " + what + ": element " + i
                                                + " " + out[i] + " with blocks, " + whole[i] + " without");
                                    }
                                }
                            });
                        }
                    }
                }
            }
        } finally {
            OneTokenDecode.blockBytes = saved;
        }
    }

    /**
     * The two-phase private phase ({@link OneTokenDecode#partial}: a sequence's private chunks from an offset in its
     * table, KV heads h0..h1−1) with blocks of 1 and 3 chunks: the same unnormalised outputs, maxima and sums, bit for bit,
     * as with each head's whole span read first.
     */
    @Test
    void privatePhaseBlocksLeaveEverySumAsIs() {
        int saved = OneTokenDecode.blockBytes;
        try {
            Random rnd = new Random(5);
            for (KvLayout lay : new KvLayout[] {new KvLayout(2, 3, 8 * VectorMath.V, 64, DType.BF16), new KvLayout(2, 2, 4 * VectorMath.V, 16, DType.F32)}) {
                int hd = lay.headDim(), chunkBytes = lay.chunkSize() * hd * lay.dtype().bytes();
                for (int g : new int[] {1, 3, 4, 6}) {
                    for (int len : new int[] {77, 450, 900}) {
                        int from = 2, nChunks = from + (len + lay.chunkSize() - 1) / lay.chunkSize(), qHeads = lay.kvHeads() * g;
                        try (ChunkPool pool = new ChunkPool(lay, nChunks + 1)) {
                            int[] table = new int[nChunks];
                            for (int i = 0; i < nChunks; i++) table[nChunks - 1 - i] = pool.allocate();
                            TestSupport.fillRandom(pool, table, rnd);
                            float[] q = gaussian(qHeads * hd, 2, rnd);
                            float[][] o = new float[3][], m = new float[3][], l = new float[3][];
                            int[] blocks = {0, chunkBytes, 3 * chunkBytes};
                            for (int v = 0; v < 3; v++) {
                                OneTokenDecode.blockBytes = blocks[v];
                                o[v] = new float[(qHeads + 1) * hd];
                                m[v] = new float[qHeads + 1];
                                l[v] = new float[qHeads + 1];
                                OneTokenDecode.partial(pool, 1, table, from, len, qHeads, 1, lay.kvHeads(), q, 0, o[v], m[v], l[v], 1);
                            }
                            for (int v = 1; v < 3; v++) {
                                String what = lay.dtype() + " g " + g + " len " + len + " blocks of " + blocks[v] + " bytes";
                                for (int i = 0; i < o[0].length; i++) {
                                    if (Float.floatToRawIntBits(o[v][i]) != Float.floatToRawIntBits(o[0][i])) throw new AssertionError(what + ": o[" + i + "]");
                                }
                                for (int i = 0; i < m[0].length; i++) {
                                    if (Float.floatToRawIntBits(m[v][i]) != Float.floatToRawIntBits(m[0][i])
                                            || Float.floatToRawIntBits(l[v][i]) != Float.floatToRawIntBits(l[0][i])) throw new AssertionError(what + ": m/l[" + i + "]");
                                }
                            }
                            assertTrue(l[0][qHeads] > 0, "the last row has its sum");   // rows of KV heads 1.. were written
                        }
                    }
                }
            }
        } finally {
            OneTokenDecode.blockBytes = saved;
        }
    }

    @Test
    void otherDtypesAndHeadDimsTakeTheGeneralPaths() {
        assertTrue(OneTokenDecode.applies(new KvLayout(1, 2, 64, 64, DType.BF16)));
        assertFalse(OneTokenDecode.applies(new KvLayout(1, 2, 64, 64, DType.F16)));
        assertFalse(OneTokenDecode.applies(new KvLayout(1, 2, 4 * VectorMath.V + 8, 64, DType.F32)));
    }

    /** One decode token through SequenceAttention (the route to OneTokenDecode) with the given Parallel vs the reference. */
    private static void decodeCase(long seed, KvLayout lay, int g, int len, Parallel p) {
        TestSupport.decodeVsNaive(seed, lay, g, len, "threads " + p.threads() + " minPart " + OneTokenDecode.minPartTokens
                + " hybrid " + OneTokenDecode.hybrid, (pool, table, pos, qHeads, q, qOff, out, outOff) ->
                SequenceAttention.attend(pool, 1, table, pos, 1, qHeads, q, qOff, out, outOff, p));
    }
}
