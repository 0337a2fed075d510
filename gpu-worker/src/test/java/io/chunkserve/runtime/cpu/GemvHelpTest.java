package io.chunkserve.runtime.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.chunkserve.model.DType;
import io.chunkserve.model.Weight;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Helping in the one-token matmuls ({@link GemvJob}): a task done with its own rows takes the far half of what the
 * next task has not claimed, again and again. Whatever order and timing the tasks run in — one after the other (the
 * first then takes nearly all of the second's rows), the other way round, or on threads started at random moments —
 * every output row is written, by the same code wherever it runs, so the q/k/v, residual and gate/up dispatches give
 * the values of the dispatch without helping.
 */
class GemvHelpTest {
    @BeforeAll
    static void setUp() { CpuKernelsTest.setUp(); }

    @AfterAll
    static void tearDown() {
        CpuTuning.set("help", "true");
        CpuTuning.set("claimdiv", "2");
        CpuKernelsTest.tearDown();
    }

    /** One dispatch kind: a job on fresh outputs (NaN), its outputs, and what the plain path computes. */
    private interface Case {
        GemvJob job(CpuKernels k);

        float[][] outputs();

        /** The outputs the plain path (CpuKernels, helping off) computes. */
        float[][] plain(CpuKernels k);
    }

    @Test
    void anyOrderAndTimingOfTheTasksGivesTheSameRows() throws Exception {
        CpuTuning.set("claimdiv", "2"); // the owners claim half of what they have left (the default)
        sameRowsInAnyOrder("2");
    }

    @Test
    void withFixedClaimsToo() throws Exception {
        CpuTuning.set("claimdiv", "0"); // the owners claim CpuTuning.claimBytes at a time
        try {
            sameRowsInAnyOrder("0");
        } finally {
            CpuTuning.set("claimdiv", "2");
        }
    }

    private void sameRowsInAnyOrder(String div) throws Exception {
        SplittableRandom rnd = new SplittableRandom(21);
        for (DType dt : DType.values()) {
            for (CpuKernels k : new CpuKernels[] {CpuKernelsTest.kernels[1], CpuKernelsTest.kernels[2]}) {
                int cols = 40 + rnd.nextInt(400), q = 200 + rnd.nextInt(300), kv = 1 + rnd.nextInt(90), inter = 150 + rnd.nextInt(400);
                Weight wq = CpuKernelsTest.randomWeight(rnd, dt, q, cols, 2, false);
                Weight wk = CpuKernelsTest.randomWeight(rnd, dt, kv, cols, 0, false);
                Weight wv = CpuKernelsTest.randomWeight(rnd, dt, kv, cols, 6, false);
                Weight gate = CpuKernelsTest.randomWeight(rnd, dt, inter, cols, 0, false);
                Weight up = CpuKernelsTest.randomWeight(rnd, dt, inter, cols, 4, false);
                Weight wo = CpuKernelsTest.randomWeight(rnd, dt, cols, q, 0, false);
                float[] x = CpuKernelsTest.randomFloats(rnd, cols), xo = CpuKernelsTest.randomFloats(rnd, q);
                float[] res0 = CpuKernelsTest.randomFloats(rnd, cols);
                Weight[] qkv = {wq, wk, wv};
                List<Case> cases = new ArrayList<>();
                cases.add(many(qkv, x));
                cases.add(residual(wo, xo, res0));
                cases.add(gateUp(gate, up, x));
                for (Case c : cases) {
                    CpuTuning.set("help", "false");
                    float[][] want = c.plain(k);
                    CpuTuning.set("help", "true");
                    String what = dt + (div.equals("0") ? " fixed claims" : " guided claims") + " on " + k.threads() + " threads, " + (cases.indexOf(c) == 0 ? "q/k/v" : cases.indexOf(c) == 1 ? "residual" : "gate/up");
                    // the tasks one after the other: the first takes most of the second's rows
                    GemvJob j = c.job(k);
                    assertEquals(k.threads(), j.tasks(), what);
                    j.accept(0);
                    if (j.mode != GemvJob.MANY) { // one output of all the rows
                        int stolen = 0;
                        for (int r = j.bound(1); r < j.bound(2); r++) if (!Float.isNaN(c.outputs()[0][r])) stolen++;
                        assertTrue(stolen >= (j.bound(2) - j.bound(1)) / 2, what + ": task 0 took " + stolen + " rows of task 1");
                    }
                    for (int t = 1; t < j.tasks(); t++) j.accept(t);
                    j.finish();
                    same(want, c.outputs(), what + ", in order");
                    // the other way round
                    j = c.job(k);
                    for (int t = j.tasks() - 1; t >= 0; t--) j.accept(t);
                    j.finish();
                    same(want, c.outputs(), what + ", reversed");
                    // on threads started at random moments
                    for (int rep = 0; rep < 20; rep++) {
                        GemvJob jc = c.job(k);
                        CountDownLatch go = new CountDownLatch(1);
                        Thread[] ts = new Thread[jc.tasks()];
                        long[] delay = new long[ts.length];
                        for (int t = 0; t < ts.length; t++) delay[t] = rnd.nextInt(4) == 0 ? 0 : rnd.nextLong(200_000);
                        for (int t = 0; t < ts.length; t++) {
                            final int task = t;
                            ts[t] = new Thread(() -> {
                                try {
                                    go.await();
                                } catch (InterruptedException e) {
                                    return;
                                }
                                long s = System.nanoTime();
                                while (System.nanoTime() - s < delay[task]) Thread.onSpinWait();
                                jc.accept(task);
                            });
                            ts[t].start();
                        }
                        go.countDown();
                        for (Thread t : ts) t.join();
                        jc.finish();
                        same(want, c.outputs(), what + ", threads, rep " + rep + " delays " + Arrays.toString(delay));
                    }
                }
            }
        }
    }

    /**
     * Equal up to JIT-tier rounding (a row computed by C1 or interpreted code reduces its lanes in another order and
     * takes Math.exp for the vector exp; see CpuTuningTest): a row computed wrongly or not at all differs by far more.
     */
    private static void same(float[][] want, float[][] got, String what) {
        for (int a = 0; a < want.length; a++) {
            for (int r = 0; r < want[a].length; r++) {
                assertFalse(Float.isNaN(got[a][r]), what + ": output " + a + " row " + r + " never written");
                assertEquals(want[a][r], got[a][r], 2e-5 * (Math.abs(want[a][r]) + 1), what + ": output " + a + " row " + r);
            }
        }
    }

    private static float[] nan(int n) {
        float[] a = new float[n];
        Arrays.fill(a, Float.NaN);
        return a;
    }

    private static Case many(Weight[] ws, float[] x) {
        return new Case() {
            float[][] outs;

            public GemvJob job(CpuKernels k) {
                outs = new float[ws.length][];
                for (int i = 0; i < ws.length; i++) outs[i] = nan(ws[i].rows());
                return k.planMany(ws).many(ws, ws.length, x, outs, k.threads());
            }

            public float[][] outputs() { return outs; }

            public float[][] plain(CpuKernels k) {
                float[][] o = new float[ws.length][];
                for (int i = 0; i < ws.length; i++) o[i] = new float[ws[i].rows()];
                k.matmulMany(ws, x, 1, o);
                return o;
            }
        };
    }

    private static Case residual(Weight w, float[] x, float[] res0) {
        return new Case() {
            float[] out, res;

            public GemvJob job(CpuKernels k) {
                out = nan(w.rows());
                res = res0.clone();
                return k.planResidual(w).residual(w, x, out, res, k.threads());
            }

            public float[][] outputs() { return new float[][] {out, res}; }

            public float[][] plain(CpuKernels k) {
                float[] o = new float[w.rows()], r = res0.clone();
                k.matmulAdd(w, x, 1, o, r);
                return new float[][] {o, r};
            }
        };
    }

    private static Case gateUp(Weight gate, Weight up, float[] x) {
        return new Case() {
            float[] g, u;

            public GemvJob job(CpuKernels k) {
                g = nan(gate.rows());
                u = nan(up.rows());
                return k.planGateUp(gate, up).gateUp(gate, up, x, g, u, k.threads());
            }

            public float[][] outputs() { return new float[][] {g, u}; }

            public float[][] plain(CpuKernels k) {
                float[] a = new float[gate.rows()], b = new float[up.rows()];
                k.gateUpSilu(gate, up, x, 1, a, b);
                return new float[][] {a, b};
            }
        };
    }
}
