package io.chunkserve.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.chunkserve.Fixtures;
import io.chunkserve.bench.RandomModel;
import io.chunkserve.kv.ChunkPool;
import io.chunkserve.kv.KvLayout;
import io.chunkserve.model.DType;
import io.chunkserve.model.Model;
import io.chunkserve.model.ModelConfig;
import io.chunkserve.model.ModelWeights;
import io.chunkserve.model.RopeScaling;
import io.chunkserve.runtime.cpu.CpuKernels;
import io.chunkserve.runtime.cpu.CpuModelRunner;
import io.chunkserve.runtime.cpu.CpuTuning;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Batch-1 decode with each layer split by heads over the threads ({@code CpuTuning} "tp") against the
 * row-split path and against Hugging Face: the o and down projections are summed as per-thread partials,
 * so logits may differ at fp32 rounding (within 1e-4 relative), greedy tokens not at all. Covers GQA, a
 * KV head shared by two threads (odd splits: 4 heads on 3 threads, 9 heads on 2, one KV head on 3),
 * q/k/v biases (Qwen2), q/k norms (Qwen3), bf16/f16 weights, and the one-token attention kernel's shapes
 * (head dim 64, SmolLM2's 9 query / 3 KV heads) on a random model.
 */
class HeadSplitForwardTest {
    @AfterEach
    void reset() { CpuTuning.set("tp", "false"); }

    /** Prefill, then greedy decode one token at a time (batch 1); returns the logits of every decode step (steps, vocab). */
    static float[] decode(CpuModelRunner r, ModelConfig c, int[] prompt, int steps, List<Integer> out, boolean split, List<Integer> forced) {
        int chunk = 16, vocab = c.vocabSize();
        try (var pool = new ChunkPool(new KvLayout(c.numLayers(), c.numKvHeads(), c.headDim(), chunk, DType.F32),
                (prompt.length + steps) / chunk + 2)) {
            int[] table = new int[(prompt.length + steps + chunk - 1) / chunk];
            for (int i = 0; i < table.length; i++) table[i] = pool.allocate();
            float[] logits = new float[vocab], all = new float[steps * vocab];
            ForwardBatch b = new ForwardBatch();
            CpuTuning.set("tp", "false"); // the prefill is T > 1 either way
            r.forward(b.clear().add(prompt, 0, prompt.length, 0, table, true), pool, logits);
            CpuTuning.set("tp", String.valueOf(split));
            long before = r.headSplitSteps();
            int pos = prompt.length;
            for (int i = 0; i < steps; i++) {
                int t = forced != null ? forced.get(i) : GoldenForwardTest.argmax(logits, 0, vocab); // forced: the same tokens as another run
                out.add(t);
                r.forward(b.clear().add(new int[]{t}, 0, 1, pos++, table, true), pool, logits);
                System.arraycopy(logits, 0, all, i * vocab, vocab);
            }
            assertEquals(split ? steps : 0, r.headSplitSteps() - before, "decode steps split by heads");
            return all;
        }
    }

    private static void assertClose(float[] got, float[] want, int vocab, String what) {
        for (int s = 0; s < want.length / vocab; s++) {
            double rel = PrefixReuseForwardTest.maxRel(got, s * vocab, want, s * vocab, vocab);
            assertTrue(rel < 1e-4, what + ", step " + s + ": logits relative difference " + rel);
        }
    }

    @ParameterizedTest
    @CsvSource({"tiny-llama3,2", "tiny-llama3,3", "tiny-qwen2,3", "tiny-qwen3,2", "tiny-mistral,3", "tiny-llama2,2",
            "tiny-llama3-bf16,2", "tiny-llama3-f16,3"})
    void splitByHeadsMatchesTheRowSplitAndTransformers(String name, int threads) {
        JsonNode golden = Fixtures.golden(name);
        try (Model m = Model.load(Fixtures.model(name)); CpuKernels k = new CpuKernels(threads);
             var r = new CpuModelRunner(m.config(), m.weights(), k)) {
            ModelConfig c = m.config();
            for (JsonNode p : golden.get("prompts")) {
                int[] ids = Fixtures.ints(p.get("ids"));
                int[] want = Fixtures.ints(p.get("greedy"));
                List<Integer> a = new ArrayList<>(), b = new ArrayList<>();
                float[] rows = decode(r, c, ids, want.length, a, false, null);
                float[] heads = decode(r, c, ids, want.length, b, true, null);
                String what = name + "/" + p.get("name").asText() + " on " + threads + " threads";
                assertArrayEquals(want, b.stream().mapToInt(Integer::intValue).toArray(), what + ": greedy continuation vs transformers");
                assertEquals(a, b, what);
                assertClose(heads, rows, c.vocabSize(), what);
            }
        }
    }

    @ParameterizedTest
    @CsvSource({"9,3,2", "9,3,3", "8,2,3", "4,1,2"})
    void splitByHeadsMatchesTheRowSplitOnTheOneTokenKernel(int heads, int kvHeads, int threads) {
        ModelConfig c = new ModelConfig("llama", 512, 128, 200, 2, heads, kvHeads, 64, 1e-5f, 4096, true,
                new RopeScaling("llama3", 500000, 32, 1, 4, 8192));
        try (Arena arena = Arena.ofShared(); CpuKernels k = new CpuKernels(threads)) {
            ModelWeights w = RandomModel.weights(c, DType.BF16, arena, 5);
            try (var r = new CpuModelRunner(c, w, k)) {
                int[] prompt = new int[70]; // past the one-token kernel's thresholds for a split by positions
                for (int i = 0; i < prompt.length; i++) prompt[i] = (i * 37 + 11) % c.vocabSize();
                List<Integer> a = new ArrayList<>(), b = new ArrayList<>();
                float[] rows = decode(r, c, prompt, 12, a, false, null);
                // random weights leave near-ties among the logits: both runs decode the same tokens
                float[] split = decode(r, c, prompt, 12, b, true, a);
                String what = heads + " heads, " + kvHeads + " KV heads on " + threads + " threads";
                assertClose(split, rows, c.vocabSize(), what);
            }
        }
    }
}
