package io.chunkserve.engine;

import io.chunkserve.Fixtures;
import io.chunkserve.engine.sched.SchedulerConfig;
import io.chunkserve.kv.ChunkPool;
import io.chunkserve.kv.KvLayout;
import io.chunkserve.kv.PrefixCache;
import io.chunkserve.model.DType;
import io.chunkserve.model.Model;
import io.chunkserve.model.ModelConfig;
import io.chunkserve.runtime.cpu.CpuKernels;
import io.chunkserve.runtime.cpu.CpuModelRunner;
import io.chunkserve.sampling.SamplingParams;
import io.chunkserve.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A step's host-sampled rows drawn on several threads give the same outputs as drawn one after another: each row's
 * sampler (its seeded RNG, penalties, filters) belongs to its choice alone. Sixteen seeded requests with every
 * sampling option run together, so most steps have more rows than the parallel threshold.
 */
class ParallelSamplingTest {
    @Test
    void samplerThreadsDoNotChangeTheTokens() throws Exception {
        Path dir = Fixtures.model("tiny-llama3");
        long[] parallel = new long[1];
        List<String> one = run(dir, 0, parallel);
        assertEquals(0, parallel[0]);
        List<String> three = run(dir, 3, parallel), again = run(dir, 3, parallel);
        assertTrue(parallel[0] >= 10, "steps sampled on several threads: " + parallel[0]);
        assertEquals(one, three);
        assertEquals(three, again);
        // the requests are really stochastic: different seeds give different tokens somewhere
        assertNotEquals(one.get(0).split("\\|")[1], one.get(1).split("\\|")[1]);
    }

    static List<String> run(Path dir, int threads, long[] parallel) throws Exception {
        try (Model m = Model.load(dir); Tokenizer tok = Tokenizer.load(dir); CpuKernels k = new CpuKernels(2)) {
            ModelConfig c = m.config();
            ChunkPool pool = new ChunkPool(new KvLayout(c.numLayers(), c.numKvHeads(), c.headDim(), 16, DType.F32), 64);
            Engine e = new Engine(new CpuModelRunner(c, m.weights(), k), new PrefixCache(pool), tok, new EngineConfig(16, 256),
                    SchedulerConfig.of("fcfs"));
            e.samplerThreads(threads);
            try {
                Random rnd = new Random(3);
                int[] system = rnd.ints(12, 3, 400).toArray();
                List<Collector> cs = new ArrayList<>();
                for (int i = 0; i < 16; i++) {
                    int[] p = Arrays.copyOf(system, system.length + 2 + i);
                    for (int j = system.length; j < p.length; j++) p[j] = 3 + rnd.nextInt(400);
                    SamplingParams.Builder sp = SamplingParams.builder().maxTokens(14).temperature(0.9).seed(100L + i).ignoreEos(true);
                    switch (i % 4) {
                        case 1 -> sp.topP(0.8);
                        case 2 -> sp.topK(20).minP(0.05);
                        case 3 -> sp.repetitionPenalty(1.2).presencePenalty(0.3).logprobs(true).topLogprobs(3);
                        default -> { }
                    }
                    Collector col = new Collector();
                    e.submit(new GenerationRequest("s" + i, "t", p, sp.build(), 0), col);
                    cs.add(col);
                }
                List<String> out = new ArrayList<>();
                for (Collector col : cs) {
                    Collector cc = col.await();
                    synchronized (col) {
                        out.add(cc.finish.get(0) + "|" + cc.ids.get(0) + "|" + cc.text.get(0));
                    }
                }
                parallel[0] += e.parallelSampledSteps();
                return out;
            } finally {
                e.close();
                pool.close();
            }
        }
    }
}
