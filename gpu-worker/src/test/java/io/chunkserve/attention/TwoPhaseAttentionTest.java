package io.chunkserve.attention;

import io.chunkserve.kv.ChunkPool;
import io.chunkserve.kv.KvLayout;
import io.chunkserve.model.DType;
import io.chunkserve.runtime.cpu.Parallel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.LongStream;

import static io.chunkserve.attention.TestSupport.assertClose;
import static io.chunkserve.attention.TestSupport.gaussian;
import static io.chunkserve.attention.TestSupport.nans;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Two-phase decode on random prefix trees against the float64 reference and against a sharing-off run. */
class TwoPhaseAttentionTest {
    private static TestSupport.ExecutorParallel par;

    @BeforeAll
    static void start() { par = new TestSupport.ExecutorParallel(3); }

    @AfterAll
    static void stop() { par.close(); }

    static LongStream seeds() { return LongStream.rangeClosed(1, 60); }

    @ParameterizedTest
    @MethodSource("seeds")
    void randomTreeDecodeMatchesNaiveAndSharingOff(long seed) {
        Random rnd = new Random(seed * 1_000_003L);
        int[] chunks = {16, 32, 64, 128}, dims = {32, 64, 80, 128}, gs = {1, 2, 4, 8};
        int chunk = chunks[rnd.nextInt(4)], hd = dims[rnd.nextInt(4)], g = gs[rnd.nextInt(4)];
        int batch = 1 + rnd.nextInt(24), kvHeads = 1 + rnd.nextInt(2);
        DType dt = DType.values()[(int) (seed % 3)];
        runCase(seed, new KvLayout(2, kvHeads, hd, chunk, dt), g, batch, rnd);
    }

    static java.util.stream.Stream<org.junit.jupiter.params.provider.Arguments> sweep() {
        int[] chunks = {16, 32, 64, 128}, dims = {32, 64, 80, 128}, gs = {1, 2, 4, 8};
        java.util.List<org.junit.jupiter.params.provider.Arguments> out = new java.util.ArrayList<>();
        int i = 0;
        for (int chunk : chunks) {
            for (DType dt : DType.values()) {
                int batch = i % 3 == 0 ? 1 : i % 3 == 1 ? 24 : 7;
                out.add(org.junit.jupiter.params.provider.Arguments.of(chunk, dt, dims[i % 4], gs[(i / 4 + i) % 4], batch));
                i++;
            }
        }
        return out.stream();
    }

    /** Every chunk size × dtype once, head dims, GQA ratios and batch sizes 1 / 7 / 24 rotating through them. */
    @ParameterizedTest(name = "C={0} {1} d={2} g={3} B={4}")
    @MethodSource("sweep")
    void everyChunkSizeAndDtype(int chunk, DType dt, int hd, int g, int batch) {
        long seed = 1000L * chunk + 10L * dt.ordinal() + hd;
        runCase(seed, new KvLayout(2, 2, hd, chunk, dt), g, batch, new Random(seed));
    }

    /**
     * Shared groups whose row count (|group| × g) is not a multiple of the rows tile's 4-row P·V
     * block or of the vector width, with several KV heads per chunk-first task (the per-chunk
     * scratch copy of all the task's heads) and head dims of one and of two K panels.
     */
    @ParameterizedTest(name = "d={0} g={1} B={2}")
    @org.junit.jupiter.params.provider.CsvSource({"64,1,13", "64,3,11", "128,2,9", "80,1,21", "64,1,16"})
    void sharedRowsOddCountsManyHeads(int hd, int g, int batch) {
        for (DType dt : DType.values()) {
            long seed = 31L * hd + 7L * g + batch + dt.ordinal();
            runCase(seed, new KvLayout(2, 4, hd, 16 << (int) (seed % 4), dt), g, batch, new Random(seed));
        }
    }

    @Test
    void benchmarkShapeSmall() {
        // the benchmark's sharing pattern (one common prefix, private suffixes) at GQA 8/2
        Random rnd = new Random(99);
        KvLayout lay = new KvLayout(1, 2, 64, 16, DType.F32);
        int batch = 16;
        try (ChunkPool pool = new ChunkPool(lay, 8 + 3 * batch)) {
            int[] prefix = {pool.allocate(), pool.allocate(), pool.allocate(), pool.allocate()};
            int[][] t = new int[batch][];
            int[] len = new int[batch];
            for (int b = 0; b < batch; b++) {
                t[b] = new int[] {prefix[0], prefix[1], prefix[2], prefix[3], pool.allocate(), pool.allocate()};
                len[b] = 4 * 16 + 17 + b % 5;
            }
            TestSupport.fillRandom(pool, java.util.stream.IntStream.range(0, pool.numChunks()).toArray(), rnd);
            TwoPhasePlan plan = TwoPhasePlan.build(t, len, 16);
            assertEquals(1, plan.groupCount());
            assertEquals(batch, plan.groupSequences(0).length);
            compare(pool, 0, plan, t, len, 8, new TwoPhaseAttention(3), rnd, "bench-shape");
        }
    }

    private static void runCase(long seed, KvLayout lay, int g, int batch, Random rnd) {
        try (ChunkPool pool = new ChunkPool(lay, RandomTree.chunksNeeded(batch) + 4)) {
            RandomTree tree = RandomTree.generate(pool, batch, rnd);
            TestSupport.fillRandom(pool, tree.chunks(), rnd);
            for (int b = 0; b < batch; b++) {
                int tail = tree.lengths()[b] % lay.chunkSize();
                if (tail != 0) TestSupport.poisonTail(pool, tree.tables()[b][tree.tables()[b].length - 1], tail);
            }
            TwoPhasePlan plan = TwoPhasePlan.build(tree.tables(), tree.lengths(), lay.chunkSize());
            checkPlan(plan, tree, lay.chunkSize());
            String what = "seed " + seed + " B=" + batch + " C=" + lay.chunkSize() + " d=" + lay.headDim() + " kv=" + lay.kvHeads()
                    + " g=" + g + " " + lay.dtype() + " " + plan;
            TwoPhaseAttention attn = new TwoPhaseAttention(3);
            compare(pool, 1, plan, tree.tables(), tree.lengths(), g * lay.kvHeads(), attn, rnd, what);
            // the same instance and plan after one more token in every tail that has room
            int[] longer = tree.lengths().clone();
            boolean grew = false;
            for (int b = 0; b < batch; b++) {
                if (longer[b] % lay.chunkSize() != 0 && (longer[b] + 1) % lay.chunkSize() != 0) { longer[b]++; grew = true; }
            }
            if (grew) {
                for (int b = 0; b < batch; b++) {
                    int[] tb = tree.tables()[b];
                    int tail = longer[b] % lay.chunkSize();
                    if (tail != 0) TestSupport.fillSlot(pool, tb[tb.length - 1], tail - 1, rnd);
                }
                TwoPhasePlan next = TwoPhasePlan.reuseOrBuild(plan, tree.tables(), longer, lay.chunkSize());
                assertEquals(plan.version(), next.version(), "tail growth must keep the plan");
                compare(pool, 1, next, tree.tables(), longer, g * lay.kvHeads(), attn, rnd, what + " (grown)");
            }
        }
    }

    /** Two-phase (sharing on, both tile kinds, serial and parallel) vs naive, and vs sharing off. */
    private static void compare(ChunkPool pool, int layer, TwoPhasePlan plan, int[][] tables, int[] lengths, int qHeads,
                                TwoPhaseAttention attn, Random rnd, String what) {
        int hd = pool.layout().headDim(), batch = lengths.length, n = batch * qHeads * hd;
        float[] q = gaussian(n, rnd.nextBoolean() ? 1 : 5, rnd);
        float[] want = new float[n];
        NaiveAttention.decode(pool, layer, tables, lengths, qHeads, q, want);
        float[] shared = nans(n);
        attn.decode(pool, layer, plan, qHeads, q, shared, par);
        assertClose(want, shared, hd, 1e-5, what + " sharing on");
        // the paths without software prefetch (another machine, -Dchunkserve.prefetch=false); not compared
        // bitwise with the above: the JIT tier a call runs in can change the order of a horizontal sum
        Prefetch.enabled = false;
        try {
            float[] plain = nans(n);
            attn.decode(pool, layer, plan, qHeads, q, plain, par);
            assertClose(want, plain, hd, 1e-5, what + " prefetch off");
        } finally {
            Prefetch.enabled = true;
        }
        // prefetch on, but the rows tile copies V into scratch and tasks do not warm their first block
        // (the path before session 5's direct V reads; still the one for bf16/f16 and other head dims)
        Workspace.DIRECT_V = false;
        Workspace.WARM_FIRST = false;
        try {
            float[] copied = nans(n);
            attn.decode(pool, layer, plan, qHeads, q, copied, par);
            assertClose(want, copied, hd, 1e-5, what + " V copied, no warm-up");
        } finally {
            Workspace.DIRECT_V = true;
            Workspace.WARM_FIRST = true;
        }
        // the schedule of sessions 3–6: 2 chunk-first pieces a thread, interleaved among the private tasks
        int perThread = TwoPhaseAttention.SHARED_TASKS_PER_THREAD;
        boolean sharedFirst = TwoPhaseAttention.SHARED_FIRST;
        TwoPhaseAttention.SHARED_TASKS_PER_THREAD = 2;
        TwoPhaseAttention.SHARED_FIRST = false;
        try {
            float[] interleaved = nans(n);
            new TwoPhaseAttention(3).decode(pool, layer, plan, qHeads, q, interleaved, par);
            assertClose(want, interleaved, hd, 1e-5, what + " 2 pieces a thread, interleaved");
        } finally {
            TwoPhaseAttention.SHARED_TASKS_PER_THREAD = perThread;
            TwoPhaseAttention.SHARED_FIRST = sharedFirst;
        }
        float[] serial = nans(n);
        new TwoPhaseAttention(1).decode(pool, layer, plan, qHeads, q, serial, Parallel.SERIAL);
        assertClose(want, serial, hd, 1e-5, what + " serial");
        for (int wideMin : new int[] {1, Integer.MAX_VALUE}) {
            float[] forced = nans(n);
            new TwoPhaseAttention(2, wideMin).decode(pool, layer, plan, qHeads, q, forced, par);
            assertClose(want, forced, hd, 1e-5, what + " wideMin=" + wideMin);
        }
        TwoPhasePlan off = TwoPhasePlan.build(tables, lengths, plan.chunkSize(), false);
        float[] unaware = nans(n);
        attn.decode(pool, layer, off, qHeads, q, unaware, par);
        assertClose(want, unaware, hd, 1e-5, what + " sharing off");
        assertClose(unaware, shared, hd, 1e-5, what + " sharing on vs off"); // not bitwise: merge order differs
    }

    /** Brute-force check of a random plan: exact holder sets, maximal runs, every entry covered once. */
    private static void checkPlan(TwoPhasePlan plan, RandomTree tree, int c) {
        int[][] t = tree.tables();
        int[] len = tree.lengths();
        int batch = t.length;
        int[][] seen = new int[batch][];
        for (int b = 0; b < batch; b++) seen[b] = new int[t[b].length];
        for (int g = 0; g < plan.groupCount(); g++) {
            int[] ids = plan.groupChunks(g), seqs = plan.groupSequences(g);
            int d0 = plan.groupDepth(g);
            assertTrue(seqs.length >= 2, "group of one");
            for (int k = 0; k < ids.length; k++) {
                Set<Integer> holders = holders(t, len, c, d0 + k, ids[k]);
                assertEquals(toSet(seqs), holders, "holders of group " + g + " chunk " + k);
                for (int b : seqs) {
                    assertTrue((d0 + k + 1) * c <= len[b], "shared chunk not full");
                    seen[b][d0 + k]++;
                }
            }
            int b0 = seqs[0];
            for (int edge : new int[] {d0 - 1, d0 + ids.length}) { // maximal: neighbours are held by another set
                if (edge < 0 || edge >= t[b0].length || (edge + 1) * c > len[b0]) continue;
                Set<Integer> h = holders(t, len, c, edge, t[b0][edge]);
                boolean fullForAll = h.stream().allMatch(b -> (edge + 1) * c <= len[b]);
                assertTrue(!fullForAll || !h.equals(toSet(seqs)), "group " + g + " not maximal");
            }
        }
        for (int b = 0; b < batch; b++) {
            for (int id : plan.privateChunks(b)) {
                int i = indexOf(t[b], id);
                seen[b][i]++;
                Set<Integer> h = holders(t, len, c, i, id);
                boolean fullForAll = h.stream().allMatch(x -> (i + 1) * c <= len[x]);
                assertTrue(h.size() == 1 || !fullForAll, "chunk " + id + " of " + b + " should be shared");
            }
            for (int i = 0; i < t[b].length; i++) assertEquals(1, seen[b][i], "entry (" + b + ", " + i + ") covered once");
        }
    }

    private static Set<Integer> holders(int[][] t, int[] len, int c, int index, int id) {
        Set<Integer> s = new TreeSet<>();
        for (int b = 0; b < t.length; b++) if (index < t[b].length && t[b][index] == id) s.add(b);
        return s;
    }

    private static Set<Integer> toSet(int[] a) {
        Set<Integer> s = new TreeSet<>();
        for (int x : a) s.add(x);
        return s;
    }

    private static int indexOf(int[] a, int x) {
        for (int i = 0; i < a.length; i++) if (a[i] == x) return i;
        return -1;
    }

}
