package io.chunkserve.attention;

import io.chunkserve.kv.ChunkPool;
import io.chunkserve.kv.KvLayout;
import io.chunkserve.model.DType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Random;

import static io.chunkserve.attention.TestSupport.assertClose;
import static io.chunkserve.attention.TestSupport.gaussian;
import static io.chunkserve.attention.TestSupport.nans;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** SequenceAttention (prefill with a cached prefix, and single-token decode) against the float64 reference. */
class SequenceAttentionTest {
    private static TestSupport.ExecutorParallel par;

    @BeforeAll
    static void start() { par = new TestSupport.ExecutorParallel(3); }

    @AfterAll
    static void stop() { par.close(); }

    /** One random case: layout, cached prefix, n new tokens; both tile kinds, serial and parallel. */
    private static void check(long seed, int chunk, int hd, int kvHeads, int g, DType dt, int start, int n) {
        Random rnd = new Random(seed);
        KvLayout lay = new KvLayout(2, kvHeads, hd, chunk, dt);
        int len = start + n, nChunks = (len + chunk - 1) / chunk;
        try (ChunkPool pool = new ChunkPool(lay, 2 * nChunks + 3)) {
            int[] table = new int[nChunks];
            for (int i = 0; i < nChunks; i++) { pool.allocate(); table[i] = pool.allocate(); } // non-contiguous ids
            TestSupport.fillRandom(pool, table, rnd);
            if (len % chunk != 0) TestSupport.poisonTail(pool, table[nChunks - 1], len % chunk);
            int qHeads = kvHeads * g, layer = 1;
            float[] q = gaussian(n * qHeads * hd + 5, rnd.nextBoolean() ? 1 : 4, rnd);
            int qOff = 5; // a non-zero offset into q and out
            float[] want = new float[n * qHeads * hd];
            NaiveAttention.attend(pool, layer, table, start, n, qHeads, q, qOff, want, 0);
            String what = "seed " + seed + " C=" + chunk + " d=" + hd + " kv=" + kvHeads + " g=" + g + " " + dt + " start=" + start + " n=" + n;
            for (int wideMin : new int[] {1, Integer.MAX_VALUE, Workspace.DEFAULT_WIDE_MIN_ROWS}) {
                for (var p : new io.chunkserve.runtime.cpu.Parallel[] {io.chunkserve.runtime.cpu.Parallel.SERIAL, par}) {
                    float[] got = nans(n * qHeads * hd + 3);
                    SequenceAttention.attend(pool, layer, table, start, n, qHeads, q, qOff, got, 3, p, wideMin);
                    float[] gotv = java.util.Arrays.copyOfRange(got, 3, got.length);
                    assertClose(want, gotv, hd, 1e-5, what + " wideMin=" + wideMin);
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
    void prefillWithCachedPrefixMatchesNaive(long seed) {
        Random rnd = new Random(seed * 7919);
        int[] chunks = {16, 32, 64, 128}, dims = {32, 64, 80, 128}, gs = {1, 2, 4, 8};
        DType[] dts = DType.values();
        int chunk = chunks[rnd.nextInt(4)], hd = dims[rnd.nextInt(4)], g = gs[rnd.nextInt(4)];
        int start = rnd.nextInt(4) == 0 ? 0 : rnd.nextInt(3 * chunk);
        if (rnd.nextInt(4) == 0) start = chunk * (1 + rnd.nextInt(2)); // prefix ends on a chunk boundary
        int n = 2 + rnd.nextInt(rnd.nextBoolean() ? 12 : 2 * chunk);
        check(seed, chunk, hd, 1 + rnd.nextInt(2), g, dts[rnd.nextInt(3)], start, n);
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 4, 5, 8})
    void singleTokenDecodeMatchesNaive(int g) {
        for (DType dt : DType.values()) {
            check(100 + g, 64, 64, 2, g, dt, 130, 1);
            check(200 + g, 16, 80, 1, g, dt, 0, 1);   // one-token sequence
            check(300 + g, 32, 32, 1, g, dt, 63, 1);  // last token fills its chunk
        }
    }

    /**
     * The rows tile's edges: head dims that are not a multiple of the 4-vector P·V block (16, 40,
     * 96, 144; 40 and 144 with a scalar P·V tail), row counts (tokens × g) that are not multiples
     * of its 4-row register block or of the vector width, and token counts that leave 2-vector
     * and single-vector score tails (keys in lanes) and partly used vectors of tokens.
     */
    @ParameterizedTest
    @ValueSource(ints = {16, 40, 96, 144})
    void rowsTileOddShapesMatchNaive(int hd) {
        Random rnd = new Random(hd);
        int[] chunks = {16, 32, 64, 128};
        for (int i = 0; i < 8; i++) {
            int chunk = chunks[i % 4], g = 1 + rnd.nextInt(3), n = 1 + rnd.nextInt(70 / g);
            check(hd * 100L + i, chunk, hd, 1 + rnd.nextInt(2), g, DType.values()[i % 3], rnd.nextInt(2 * chunk + 1), n);
        }
    }

    /**
     * K is dim-major per (chunk, head) block and the score kernels load whole vectors of tokens,
     * reading past a partial chunk's last slot (ignored lanes). With the tail in the pool's last
     * chunk id, its unused slots NaN, those reads touch the slab's end: every tile, the split
     * decode (3 KV heads on 2 threads) and prefill still match the reference, for every dtype.
     */
    @Test
    void tailInThePoolsLastChunkMatchesNaive() {
        try (TestSupport.ExecutorParallel two = new TestSupport.ExecutorParallel(2)) {
            for (DType dt : DType.values()) {
                for (int chunk : new int[] {16, 64}) {
                    for (int len : new int[] {chunk + 1, 2 * chunk - 1, 2 * chunk + 7}) {
                        for (int hd : new int[] {32, 64, 80}) {
                            Random rnd = new Random(len * 31L + hd + chunk);
                            int kvHeads = 3, g = 2, qHeads = kvHeads * g, nChunks = (len + chunk - 1) / chunk;
                            KvLayout lay = new KvLayout(1, kvHeads, hd, chunk, dt);
                            try (ChunkPool pool = new ChunkPool(lay, nChunks)) {
                                int[] table = new int[nChunks];
                                for (int i = 0; i < nChunks; i++) table[i] = pool.allocate();
                                java.util.Arrays.sort(table);
                                TestSupport.fillRandom(pool, table, rnd);
                                TestSupport.poisonTail(pool, table[nChunks - 1], (len - 1) % chunk + 1);
                                for (int n : new int[] {1, 5}) {
                                    int start = len - n;
                                    float[] q = gaussian(n * qHeads * hd, 2, rnd), want = new float[q.length];
                                    NaiveAttention.attend(pool, 0, table, start, n, qHeads, q, 0, want, 0);
                                    for (int wideMin : new int[] {1, Integer.MAX_VALUE}) {
                                        for (var p : new io.chunkserve.runtime.cpu.Parallel[] {io.chunkserve.runtime.cpu.Parallel.SERIAL, two}) {
                                            float[] got = nans(q.length);
                                            SequenceAttention.attend(pool, 0, table, start, n, qHeads, q, 0, got, 0, p, wideMin);
                                            assertClose(want, got, hd, 1e-5, dt + " C=" + chunk + " len=" + len + " d=" + hd + " n=" + n + " wideMin=" + wideMin);
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /**
     * The split decode ({@link SplitDecode}: token ranges over the threads, partials merged by
     * log-sum-exp) at context lengths around its part and chunk boundaries, 2 and 3 threads, GQA
     * groups of 1–4 rows (3: the three-row pass of the dims-in-lanes tile), against the reference;
     * the serial path (one part) is checked by {@link #check} beside it.
     */
    @Test
    void splitDecodeAcrossLengthsMatchesNaive() {
        int[] lens = {1, 31, 32, 33, 47, 63, 64, 65, 96, 100, 129, 130, 200, 257};
        try (TestSupport.ExecutorParallel two = new TestSupport.ExecutorParallel(2)) {
            for (DType dt : new DType[] {DType.F32, DType.BF16}) {
                for (int g = 1; g <= 4; g++) {
                    for (int len : lens) {
                        for (int kvHeads : new int[] {1, 3}) {
                            for (var p : new TestSupport.ExecutorParallel[] {two, par}) {
                                KvLayout lay = new KvLayout(2, kvHeads, 64, 64, dt);
                                assertTrue(SplitDecode.applies(lay, kvHeads * g, Workspace.DEFAULT_WIDE_MIN_ROWS));
                                if (len >= 2 * SplitDecode.MIN_PART_TOKENS) assertTrue(SplitDecode.parts(len, p.threads()) > 1);
                                decodeCase(len * 31L + g * 7L + kvHeads + p.threads(), lay, g, len, p);
                            }
                        }
                    }
                }
            }
        }
    }

    /** One decode token through SplitDecode with the given Parallel vs the reference. */
    private static void decodeCase(long seed, KvLayout lay, int g, int len, io.chunkserve.runtime.cpu.Parallel p) {
        TestSupport.decodeVsNaive(seed, lay, g, len, "threads " + p.threads(), (pool, table, pos, qHeads, q, qOff, out, outOff) ->
                SplitDecode.attend(pool, 1, table, pos, qHeads, q, qOff, out, outOff, p));
    }

    /**
     * Odd row counts (tokens × g) start with the dims-in-lanes tile's three-row pass; with several
     * tokens its rows have different causal limits (the pass falls back to single rows, or zeroes
     * the tokens a row may not see), at chunk starts, middles and ends.
     */
    @Test
    void oddRowCountsMatchNaive() {
        for (int n : new int[] {1, 3, 5, 7}) {
            for (int start : new int[] {0, 13, 29, 30, 31, 64}) {
                check(1000L + n * 100 + start, 32, 64, 1, 1, DType.F32, start, n);
                check(2000L + n * 100 + start, 32, 64, 2, 3, DType.BF16, start, n);
            }
        }
    }

    @Test
    void longPrefillSpansManyBlocks() {
        check(42, 32, 64, 2, 2, DType.F32, 50, 150);
        check(43, 128, 128, 1, 8, DType.BF16, 0, 300);
    }
}
