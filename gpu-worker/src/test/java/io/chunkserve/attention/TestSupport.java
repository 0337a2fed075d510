package io.chunkserve.attention;

import io.chunkserve.kv.ChunkPool;
import io.chunkserve.kv.KvLayout;
import io.chunkserve.runtime.cpu.Parallel;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntConsumer;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Shared helpers of the attention tests: random KV contents, an executor-backed Parallel, comparisons. */
final class TestSupport {
    private TestSupport() { }

    /** A Parallel over a fixed executor; tasks are claimed from a shared counter by every worker. */
    static final class ExecutorParallel implements Parallel, AutoCloseable {
        private final ExecutorService pool;
        private final int threads;

        ExecutorParallel(int threads) {
            this.threads = threads;
            this.pool = Executors.newFixedThreadPool(threads, r -> { Thread t = new Thread(r, "attn-test"); t.setDaemon(true); return t; });
        }

        @Override
        public void forRange(int n, IntConsumer task) {
            AtomicInteger next = new AtomicInteger();
            List<Future<?>> fs = new ArrayList<>();
            for (int w = 0; w < threads; w++) {
                fs.add(pool.submit(() -> { for (int i; (i = next.getAndIncrement()) < n; ) task.accept(i); }));
            }
            try {
                for (Future<?> f : fs) f.get();
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        }

        @Override
        public int threads() { return threads; }

        @Override
        public void close() { pool.shutdownNow(); }
    }

    /** Fills every slot of the given chunks (all layers, K and V) with N(0,1) values. */
    static void fillRandom(ChunkPool pool, int[] chunks, Random rnd) {
        KvLayout lay = pool.layout();
        int w = lay.kvHeads() * lay.headDim();
        float[] k = new float[w], v = new float[w];
        for (int l = 0; l < lay.layers(); l++) {
            for (int c : chunks) {
                for (int t = 0; t < lay.chunkSize(); t++) {
                    for (int i = 0; i < w; i++) { k[i] = (float) rnd.nextGaussian(); v[i] = (float) rnd.nextGaussian(); }
                    pool.write(l, c, t, k, 0, v, 0);
                }
            }
        }
    }

    /** Writes fresh N(0,1) K and V into one slot (all layers): a token appended to a tail. */
    static void fillSlot(ChunkPool pool, int chunk, int slot, Random rnd) {
        KvLayout lay = pool.layout();
        int w = lay.kvHeads() * lay.headDim();
        float[] k = gaussian(w, 1, rnd), v = gaussian(w, 1, rnd);
        for (int l = 0; l < lay.layers(); l++) pool.write(l, chunk, slot, k, 0, v, 0);
    }

    /** Writes NaN into slots [from, chunkSize) of a chunk: attention must never read past a length. */
    static void poisonTail(ChunkPool pool, int chunk, int from) {
        KvLayout lay = pool.layout();
        float[] nan = new float[lay.kvHeads() * lay.headDim()];
        Arrays.fill(nan, Float.NaN);
        for (int l = 0; l < lay.layers(); l++) {
            for (int t = from; t < lay.chunkSize(); t++) pool.write(l, chunk, t, nan, 0, nan, 0);
        }
    }

    static float[] gaussian(int n, double sigma, Random rnd) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (rnd.nextGaussian() * sigma);
        return x;
    }

    static float[] nans(int n) {
        float[] x = new float[n];
        Arrays.fill(x, Float.NaN);
        return x;
    }

    /** A one-token decode path under test: query rows of qHeads heads at q[qOff..], output into out[outOff..]. */
    interface DecodeOne {
        void attend(ChunkPool pool, int[] table, int pos, int qHeads, float[] q, int qOff, float[] out, int outOff);
    }

    /**
     * One decode token at position len − 1 of layer 1 (over a descending, non-contiguous chunk table with random
     * K/V and the slots past the context poisoned) through {@code path} vs {@link NaiveAttention}, within 1e-5.
     */
    static void decodeVsNaive(long seed, KvLayout lay, int g, int len, String what, DecodeOne path) {
        Random rnd = new Random(seed);
        int chunk = lay.chunkSize(), hd = lay.headDim(), nChunks = (len + chunk - 1) / chunk, qHeads = lay.kvHeads() * g;
        try (ChunkPool pool = new ChunkPool(lay, 2 * nChunks + 1)) {
            int[] table = new int[nChunks];
            for (int i = 0; i < nChunks; i++) { pool.allocate(); table[nChunks - 1 - i] = pool.allocate(); } // descending, non-contiguous
            fillRandom(pool, table, rnd);
            if (len % chunk != 0) poisonTail(pool, table[nChunks - 1], len % chunk);
            float[] q = gaussian(qHeads * hd + 2, rnd.nextBoolean() ? 1 : 4, rnd);
            float[] want = new float[qHeads * hd];
            NaiveAttention.attend(pool, 1, table, len - 1, 1, qHeads, q, 2, want, 0);
            float[] got = nans(qHeads * hd + 1);
            path.attend(pool, table, len - 1, qHeads, q, 2, got, 1);
            assertClose(want, Arrays.copyOfRange(got, 1, got.length), hd, 1e-5,
                    "len " + len + " g " + g + " kv " + lay.kvHeads() + " hd " + hd + " chunk " + chunk + " " + lay.dtype() + " " + what);
        }
    }

    /**
     * Asserts got ≈ want per head vector of width hd: |got − want| ≤ tol · max|want over that vector|
     * (plus a tiny absolute floor), and that got holds no NaN.
     */
    static void assertClose(float[] want, float[] got, int hd, double tol, String what) {
        for (int v = 0; v * hd < want.length; v++) {
            double scale = 1e-6;
            for (int d = 0; d < hd; d++) scale = Math.max(scale, Math.abs(want[v * hd + d]));
            for (int d = 0; d < hd; d++) {
                int i = v * hd + d;
                assertFalse(Float.isNaN(got[i]), () -> what + ": NaN at " + i);
                double err = Math.abs(got[i] - want[i]) / scale;
                if (err > tol) {
                    assertTrue(false, what + ": element " + i + " (vector " + v + ", dim " + d + ") got " + got[i]
                            + " want " + want[i] + " rel err " + err + " > " + tol);
                }
            }
        }
    }

    static double maxRelErr(float[] want, float[] got, int hd) {
        double worst = 0;
        for (int v = 0; v * hd < want.length; v++) {
            double scale = 1e-6;
            for (int d = 0; d < hd; d++) scale = Math.max(scale, Math.abs(want[v * hd + d]));
            for (int d = 0; d < hd; d++) worst = Math.max(worst, Math.abs(got[v * hd + d] - want[v * hd + d]) / scale);
        }
        return worst;
    }
}
