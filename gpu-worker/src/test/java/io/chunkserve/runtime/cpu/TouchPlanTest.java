package io.chunkserve.runtime.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.chunkserve.model.DType;
import io.chunkserve.model.Weight;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The touch-ahead of the next one-token matmul: each participant's plan touches exactly the
 * heads of the four row streams that its task of that dispatch reads (checked against the rows
 * the task actually writes), and the pool's idle hook runs on waiting threads without changing
 * what the jobs compute.
 */
class TouchPlanTest {
    static CpuKernels k2, k3;

    @BeforeAll
    static void setUp() {
        CpuKernelsTest.setUp();
        k2 = new CpuKernels(2);
        k3 = new CpuKernels(3);
    }

    @AfterAll
    static void tearDown() {
        k2.close();
        k3.close();
        CpuKernelsTest.tearDown();
    }

    /** Rows of the concatenated pieces that task t writes, in order: {piece, row} (outputs start as NaN). */
    static List<int[]> rowsWritten(GemvJob j, int t, float[][] outs) {
        for (float[] o : outs) Arrays.fill(o, Float.NaN);
        j.accept(t);
        List<int[]> rows = new ArrayList<>();
        for (int p = 0; p < outs.length; p++) {
            for (int r = 0; r < outs[p].length; r++) if (!Float.isNaN(outs[p][r])) rows.add(new int[] {p, r});
        }
        return rows;
    }

    static void checkPlan(CpuKernels k, GemvJob j, Weight[] ws, float[][] outs, long budget, String what) {
        int threads = k.threads();
        TouchPlan.Heads tp = TouchPlan.of(j, threads, budget).heads();
        for (int t = 0; t < threads; t++) {
            List<int[]> rows = t < j.tasks() ? rowsWritten(j, t, outs) : List.of();
            // gate/up: both products of a row are written; the streams run over the gate rows, then the up rows
            int q = rows.size() / 4;
            for (int s = 0; s < 4; s++) {
                long start = tp.off[t][s], end = tp.end[t][s];
                if (q == 0) {
                    assertTrue(end <= start, what + " task " + t + " stream " + s + ": nothing to touch");
                    continue;
                }
                int[] first = rows.get(s * q);
                Weight w = ws[first[0]];
                long rowBytes = (long) w.dtype().bytes() * w.cols();
                assertSame(w.data(), tp.seg[t][s], what + " task " + t + " stream " + s + ": weight");
                assertEquals(first[1] * rowBytes, start, what + " task " + t + " stream " + s + ": first byte");
                assertTrue(end > start && end - start <= budget, what + " task " + t + " stream " + s + ": length " + (end - start));
                // every touched byte lies in rows of the same weight that the task itself reads, after the stream's start
                for (long b = start; b < end; b += rowBytes) {
                    int row = (int) (b / rowBytes);
                    int idx = s * q + (row - first[1]);
                    assertTrue(idx < rows.size() && rows.get(idx)[0] == first[0] && rows.get(idx)[1] == row,
                            what + " task " + t + " stream " + s + ": byte " + b + " outside the task's stream");
                }
            }
        }
    }

    @Test
    void planTouchesTheHeadsOfEachTasksFourStreams() {
        try {
            // without helping; with helping and stealing off, so that a task run alone writes exactly its own rows
            for (boolean help : new boolean[] {false, true}) {
                CpuTuning.set("help", String.valueOf(help));
                CpuTuning.set("steal", String.valueOf(Integer.MAX_VALUE));
                planTouchesTheHeads(help);
            }
        } finally {
            CpuTuning.set("help", "true");
            CpuTuning.set("steal", "-1");
        }
    }

    private void planTouchesTheHeads(boolean help) {
        SplittableRandom rnd = new SplittableRandom(11);
        for (CpuKernels k : new CpuKernels[] {k2, k3}) {
            for (int rep = 0; rep < 6; rep++) {
                int cols = 32 + rnd.nextInt(300), q = 16 + rnd.nextInt(400), kv = 1 + rnd.nextInt(120);
                DType dt = DType.values()[rep % 3];
                Weight wq = CpuKernelsTest.randomWeight(rnd, dt, q, cols, 2, false);
                Weight wk = CpuKernelsTest.randomWeight(rnd, dt, kv, cols, 0, false);
                Weight wv = CpuKernelsTest.randomWeight(rnd, dt, kv, cols, 6, false);
                float[] x = CpuKernelsTest.randomFloats(rnd, cols);
                Weight[] qkv = {wq, wk, wv};
                float[][] outs = {new float[q], new float[kv], new float[kv]};
                long budget = 64L * (1 + rnd.nextInt(64));
                String what = "help " + help + " threads " + k.threads() + " rep " + rep;
                checkPlan(k, k.planMany(qkv).many(qkv, 3, x, outs, k.threads()), qkv, outs, budget, what + " q/k/v");
                float[][] one = {new float[q]};
                checkPlan(k, k.planResidual(wq).residual(wq, x, one[0], new float[q], k.threads()), new Weight[] {wq}, one, budget,
                        what + " residual");
                Weight up = CpuKernelsTest.randomWeight(rnd, dt, q, cols, 0, false);
                float[][] gu = {new float[q], new float[q]};
                // gate/up writes silu(gate)·up into gate: its rows are those of both pieces
                checkPlan(k, k.planGateUp(wq, up).gateUp(wq, up, x, gu[0], gu[1], k.threads()), new Weight[] {wq, up}, gu, 1 << 20,
                        what + " gate/up");
                checkPlan(k, k.planMany(new Weight[] {wq}).many(new Weight[] {wq}, 1, x, one, k.threads()), new Weight[] {wq}, one, 1L << 40,
                        what + " unbounded");
            }
        }
    }

    @Test
    void idleHookRunsOnWaitingThreadsAndJobsStayExact() {
        ConcurrentHashMap<Integer, AtomicInteger> calls = new ConcurrentHashMap<>();
        AtomicInteger budget = new AtomicInteger(200_000);
        WorkerPool.Idle idle = p -> {
            calls.computeIfAbsent(p, x -> new AtomicInteger()).incrementAndGet();
            return budget.decrementAndGet() > 0; // some steps report more work, later ones none
        };
        try (WorkerPool pool = new WorkerPool(2, "touch-test-", 200_000L, idle)) {
            java.util.concurrent.atomic.AtomicIntegerArray counts = new java.util.concurrent.atomic.AtomicIntegerArray(64);
            int reps = 5000;
            for (int rep = 0; rep < reps; rep++) {
                int n = 1 + rep % 64;
                pool.run(n, i -> {
                    counts.incrementAndGet(i);
                    if (i % 7 == 0) { // uneven tasks: the others wait
                        long until = System.nanoTime() + 2_000;
                        while (System.nanoTime() < until) Thread.onSpinWait();
                    }
                });
            }
            for (int i = 0; i < 64; i++) {
                int expect = 0;
                for (int rep = 0; rep < reps; rep++) if (i < 1 + rep % 64) expect++;
                assertEquals(expect, counts.get(i), "index " + i);
            }
            // wait (bounded) until a worker has spun idle at least once: it does between jobs
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (calls.keySet().stream().noneMatch(p -> p > 0) && System.nanoTime() < deadline) Thread.onSpinWait();
        }
        for (int p : calls.keySet()) assertTrue(p >= 0 && p <= 2, "participant " + p);
        assertTrue(calls.keySet().stream().anyMatch(p -> p > 0), "workers call the idle hook: " + calls);
    }
}
