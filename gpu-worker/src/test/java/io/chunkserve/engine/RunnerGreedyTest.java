package io.chunkserve.engine;

import io.chunkserve.Fixtures;
import io.chunkserve.engine.sched.SchedulerConfig;
import io.chunkserve.kv.ChunkPool;
import io.chunkserve.kv.KvLayout;
import io.chunkserve.kv.PrefixCache;
import io.chunkserve.model.DType;
import io.chunkserve.model.Model;
import io.chunkserve.model.ModelConfig;
import io.chunkserve.runtime.ForwardBatch;
import io.chunkserve.runtime.ModelRunner;
import io.chunkserve.runtime.cpu.CpuKernels;
import io.chunkserve.runtime.cpu.CpuModelRunner;
import io.chunkserve.sampling.SamplingParams;
import io.chunkserve.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A runner that picks plain-greedy tokens itself (as the CUDA one does on the device) and leaves those logits
 * rows as NaN (a greedy request with a penalty, log-probabilities or a logit_bias is not plain): the engine must use the picked ids for exactly those rows and sample the others from the logits,
 * giving the same tokens as the CPU runner that writes every row.
 */
class RunnerGreedyTest {
    /** The CPU runner, then for rows marked greedy: the argmax into setSampled and NaN into the logits row. */
    static final class PickingRunner implements ModelRunner {
        final CpuModelRunner inner;
        int picked, sampledRows;

        PickingRunner(CpuModelRunner inner) { this.inner = inner; }

        @Override public ModelConfig config() { return inner.config(); }

        @Override
        public void forward(ForwardBatch b, ChunkPool pool, float[] logits) {
            inner.forward(b, pool, logits);
            int v = config().vocabSize();
            for (int s = 0; s < b.size(); s++) {
                if (!b.wantsLogits(s)) continue;
                if (!b.isGreedy(s)) {
                    sampledRows++;
                    continue;
                }
                int best = 0;
                for (int i = 1; i < v; i++) if (logits[s * v + i] > logits[s * v + best]) best = i;
                b.setSampled(s, best);
                Arrays.fill(logits, s * v, (s + 1) * v, Float.NaN);
                picked++;
            }
        }
    }

    @Test
    void pickedTokensEqualHostSampling() throws Exception {
        var dir = Fixtures.model("tiny-qwen2");
        List<List<Integer>> ref = run(dir, false, null), got;
        PickingRunner[] holder = new PickingRunner[1];
        got = run(dir, true, holder);
        assertTrue(holder[0].picked > 20, "device-style picks happened: " + holder[0].picked);
        assertTrue(holder[0].sampledRows > 5, "non-greedy rows kept their logits: " + holder[0].sampledRows);
        for (int i = 0; i < ref.size(); i++) {
            assertArrayEquals(ref.get(i).stream().mapToInt(Integer::intValue).toArray(),
                    got.get(i).stream().mapToInt(Integer::intValue).toArray(), "request " + i);
        }
    }

    static List<List<Integer>> run(java.nio.file.Path dir, boolean picking, PickingRunner[] holder) {
        try (Model m = Model.load(dir); Tokenizer tok = Tokenizer.load(dir); CpuKernels k = new CpuKernels(2)) {
            ModelConfig c = m.config();
            ChunkPool pool = new ChunkPool(new KvLayout(c.numLayers(), c.numKvHeads(), c.headDim(), 16, DType.F32), 256);
            ModelRunner r = new CpuModelRunner(c, m.weights(), k);
            if (picking) r = holder[0] = new PickingRunner((CpuModelRunner) r);
            Engine e = new Engine(r, new PrefixCache(pool), tok, new EngineConfig(8, 64), SchedulerConfig.of("fcfs"));
            try {
                Random rnd = new Random(9);
                int[] system = rnd.ints(20, 3, c.vocabSize() - 3).toArray();
                List<Collector> cs = new ArrayList<>();
                for (int i = 0; i < 6; i++) {
                    int[] p = Arrays.copyOf(system, system.length + 3 + i);
                    for (int j = system.length; j < p.length; j++) p[j] = 3 + rnd.nextInt(c.vocabSize() - 6);
                    SamplingParams.Builder sp = SamplingParams.builder().maxTokens(10).ignoreEos(true);
                    // greedy, greedy with a penalty, greedy with logprobs, seeded sampling: only the first is plain
                    switch (i % 4) {
                        case 0 -> sp.temperature(0);
                        case 1 -> sp.temperature(0).repetitionPenalty(1.3);
                        case 2 -> sp.temperature(0).logprobs(true);
                        default -> sp.temperature(0.8).seed(42L + i);
                    }
                    if (i == 4) sp.n(2);
                    if (i == 5) sp.repetitionPenalty(1).logitBias(java.util.Map.of(p[0], 100.0)); // greedy with a bias: not plain
                    Collector col = new Collector();
                    e.submit(new GenerationRequest("r" + i, "t", p, sp.build(), 0), col);
                    cs.add(col);
                }
                List<List<Integer>> out = new ArrayList<>();
                for (Collector col : cs) {
                    col.await();
                    for (List<Integer> ids : col.ids) out.add(ids);
                }
                return out;
            } finally {
                e.close();
                pool.close();
            }
        }
    }
}
