package io.chunkserve.bench;

import io.chunkserve.Fixtures;
import io.chunkserve.bench.sim.RealRun;
import io.chunkserve.bench.sim.RunResult;
import io.chunkserve.bench.sim.Workload;
import io.chunkserve.bench.sim.Workloads;
import io.chunkserve.engine.sched.SchedulerConfig;
import io.chunkserve.model.ModelConfig;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code bench scheduler --real}: a tiny workload with follow-ups and shared prefixes through the
 * real engine on the tiny fixture model under two policies, and the checks and options around it.
 */
class SchedulerBenchRealTest {
    private static final Path MODEL = Fixtures.model("tiny-llama3");

    private static void assertFraction(double x, String what) {
        assertTrue(Double.isFinite(x) && x >= 0 && x <= 1, what + " = " + x + ", want a number in [0, 1]");
    }

    private static void assertPositive(double x, String what) {
        assertTrue(Double.isFinite(x) && x > 0, what + " = " + x + ", want a finite number > 0");
    }

    @Test
    void tinyChatCompletesUnderTwoPoliciesWithSaneMetrics() {
        ModelConfig mc = ModelConfig.load(MODEL);
        // Four 4-6 turn sessions per tenant, all first turns at t=0; 4 running at most, so every tenant
        // has sessions waiting at the start (the fairness window) and turns reuse their history's KV.
        Workload w = Workloads.chat(Workloads.Pattern.S2, 11, 0.03, Workloads.Sizes.tiny(mc.vocabSize()));
        RealRun.Options o = new RealRun.Options(MODEL, 2, 16, 1024, 4, 256, 0, 120);
        for (String policy : new String[] {"dlpm", "vtc"}) {
            RealRun.Result x = RealRun.run(w, SchedulerConfig.of(policy).withQuantum(256), o);
            RunResult r = x.run();
            String at = w.name() + "/" + policy + ": ";
            assertEquals(policy, r.policy());
            assertEquals(w.requests(), r.finished(), at + "every request finished");
            assertPositive(r.throughput(), at + "throughput");
            assertPositive(r.makespan(), at + "makespan");
            assertFraction(r.hitRate(), at + "hit rate");
            assertTrue(r.hitRate() > 0.2, at + "later turns reuse the conversation's KV: hit rate " + r.hitRate());
            assertFraction(x.hitRateKv(), at + "KV hit rate");
            // The fairness window (every tenant has a request waiting) is wall-clock dependent: on a
            // warm JIT this tiny workload can drain some tenant's queue before a second step starts, and
            // then there is no window and the fairness figures are NaN by definition. Either way they
            // must agree with the window.
            assertTrue(r.windowSeconds() >= 0 && r.windowSeconds() <= r.makespan() + 1e-9, at + "window " + r.windowSeconds());
            if (r.windowSeconds() > 0) {
                assertFraction(r.jain(), at + "jain");
                assertFraction(r.jainFullPrompt(), at + "jain (full prompt)");
                assertTrue(Double.isFinite(r.maxGap()) && r.maxGap() >= 0, at + "gap " + r.maxGap());
            } else {
                assertTrue(Double.isNaN(r.jain()) && Double.isNaN(r.jainFullPrompt()) && Double.isNaN(r.maxGap()),
                        at + "no window, yet fairness figures " + r);
            }
            assertPositive(r.p50(), at + "p50");
            assertTrue(Double.isFinite(r.p99()) && r.p99() >= r.p50(), at + "p99 " + r.p99() + " vs p50 " + r.p50());
            assertTrue(r.steps() > 0 && r.preemptions() >= 0 && x.evictions() >= 0 && x.fcfsPasses() == 0, at + x);
        }
    }

    @Test
    void everyTinyWorkloadFitsTheModel() {
        ModelConfig mc = ModelConfig.load(MODEL);
        for (Workload w : Workloads.all(42, 0.2, Workloads.Sizes.tiny(mc.vocabSize()))) {
            RealRun.checkFits(w, mc.vocabSize(), mc.maxPositions()); // throws otherwise
            assertTrue(w.requests() >= 300 && w.requests() <= 1000, w.name() + ": " + w.requests() + " requests");
        }
        Workload paper = Workloads.docQa(Workloads.Pattern.S1, 42, 0.01);
        assertThrows(IllegalArgumentException.class, () -> RealRun.checkFits(paper, mc.vocabSize(), mc.maxPositions()));
    }

    @Test
    void optionsFollowTheMode() {
        Map<String, String> sim = SchedulerBench.parseOptions(new String[] {"--seed", "7"});
        assertEquals("false", sim.get("real"));
        assertEquals("7", sim.get("seed"));
        assertEquals("131072", sim.get("kv-tokens"));
        assertTrue(!sim.containsKey("model"));
        Map<String, String> real = SchedulerBench.parseOptions(new String[] {"--real", "--model", "/m", "--scale=0.05"});
        assertEquals("true", real.get("real"));
        assertEquals("/m", real.get("model"));
        assertEquals("0.05", real.get("scale"));
        assertEquals("2048", real.get("kv-tokens"));
        assertEquals("burst", real.get("arrivals"));
        assertThrows(IllegalArgumentException.class, () -> SchedulerBench.parseOptions(new String[] {"--model", "/m"}));
        assertThrows(IllegalArgumentException.class, () -> SchedulerBench.parseOptions(new String[] {"--real", "--bogus", "1"}));
    }
}
