package io.chunkserve.engine.sched;

import io.chunkserve.bench.sim.BenchArgs;
import io.chunkserve.bench.sim.CostModel;
import io.chunkserve.bench.sim.RunResult;
import io.chunkserve.bench.sim.SimEngine;
import io.chunkserve.bench.sim.Workload;
import io.chunkserve.bench.sim.Workloads;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The scheduler benchmark's simulator on small workloads, through the real policies and the real
 * PrefixCache (whose invariants it checks at the end of each run): every request finishes under
 * every policy, runs are deterministic, and locality shows where it should.
 */
class SchedulerBenchSmokeTest {
    private static final SimEngine.Limits LIMITS = new SimEngine.Limits(64, 4096, 65536, 64);

    private static RunResult run(Workload w, String policy) {
        return new SimEngine(w, SchedulerConfig.of(policy).withLpmMaxWaiting(1024), LIMITS, CostModel.LLAMA3_8B_H100).run();
    }

    @Test
    void everyRequestOfEveryWorkloadFinishesUnderEveryPolicy() {
        for (Workload w : Workloads.all(7, 0.08)) {
            for (String p : SchedulerConfig.POLICIES) {
                RunResult r = run(w, p);
                assertEquals(w.requests(), r.finished(), w.name() + "/" + p);
                assertTrue(r.throughput() > 0 && r.makespan() > 0, w.name() + "/" + p);
                assertTrue(r.hitRate() >= 0 && r.hitRate() <= 1, w.name() + "/" + p);
            }
        }
    }

    @Test
    void runsAreDeterministic() {
        for (Workload w : List.of(Workloads.treeOfThoughts(Workloads.Pattern.S1, 3, 0.1), Workloads.docQa(Workloads.Pattern.S2, 3, 0.1))) {
            RunResult a = run(w, "dlpm"), b = run(w, "dlpm");
            assertEquals(a.withSchedMicros(0), b.withSchedMicros(0)); // everything but the wall-clock field
        }
    }

    @Test
    void dlpmKeepsDocumentQaLocalityThatVtcLoses() {
        Workload w = Workloads.docQa(Workloads.Pattern.S1, 5, 0.25);
        RunResult dlpm = run(w, "dlpm"), vtc = run(w, "vtc");
        assertTrue(dlpm.hitRate() > vtc.hitRate() + 0.1, dlpm.hitRate() + " vs " + vtc.hitRate());
        assertTrue(dlpm.throughput() > 1.5 * vtc.throughput(), dlpm.throughput() + " vs " + vtc.throughput());
    }

    @Test
    void benchArgsParseAndJsonRender() {
        Map<String, String> d = new LinkedHashMap<>();
        d.put("seed", "1");
        d.put("policies", "dlpm");
        Map<String, String> a = BenchArgs.parse(new String[] {"--seed", "9", "--policies=vtc,fcfs"}, d);
        assertEquals("9", a.get("seed"));
        assertEquals("vtc,fcfs", a.get("policies"));
        assertThrows(IllegalArgumentException.class, () -> BenchArgs.parse(new String[] {"--sede", "9"}, d));
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("a\"b", List.of(1, 2.5, Double.NaN));
        m.put("c", null);
        assertEquals("{\"a\\\"b\":[1,2.5,null],\"c\":null}", BenchArgs.json(m));
    }
}
