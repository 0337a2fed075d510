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
    @ValueSource(ints = {1, 2, 4, 8})
    void singleTokenDecodeMatchesNaive(int g) {
        for (DType dt : DType.values()) {
            check(100 + g, 64, 64, 2, g, dt, 130, 1);
            check(200 + g, 16, 80, 1, g, dt, 0, 1);   // one-token sequence
            check(300 + g, 32, 32, 1, g, dt, 63, 1);  // last token fills its chunk
        }
    }

    /**
     * The rows-in-lanes tile's edges: head dims that are not one K panel (16, 40: a partial panel;
     * 96, 144: two or three panels, 40 and 144 with a scalar P·V tail), row counts (tokens × g)
     * that are not multiples of its 4-row P·V block or of the vector width, and token counts
     * that leave 4-token and single-token score tails.
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

    @Test
    void longPrefillSpansManyBlocks() {
        check(42, 32, 64, 2, 2, DType.F32, 50, 150);
        check(43, 128, 128, 1, 8, DType.BF16, 0, 300);
    }
}
