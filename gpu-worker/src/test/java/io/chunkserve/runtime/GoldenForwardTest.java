package io.chunkserve.runtime;

import com.fasterxml.jackson.databind.JsonNode;
import io.chunkserve.Fixtures;
import io.chunkserve.kv.ChunkPool;
import io.chunkserve.kv.KvLayout;
import io.chunkserve.model.DType;
import io.chunkserve.model.Model;
import io.chunkserve.model.ModelConfig;
import io.chunkserve.runtime.cpu.CpuKernels;
import io.chunkserve.runtime.cpu.CpuModelRunner;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The CPU forward pass against Hugging Face transformers' logits and greedy continuations. */
class GoldenForwardTest {
    static CpuKernels kernels;

    @BeforeAll
    static void start() { kernels = new CpuKernels(2); }

    @AfterAll
    static void stop() { kernels.close(); }

    /** ‖a − b‖ / ‖b‖. */
    static double relError(float[] a, float[] b) {
        double num = 0, den = 0;
        for (int i = 0; i < b.length; i++) {
            num += (a[i] - b[i]) * (double) (a[i] - b[i]);
            den += b[i] * (double) b[i];
        }
        return Math.sqrt(num / den);
    }

    static int argmax(float[] a, int off, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) if (a[off + i] > a[off + best]) best = i;
        return best;
    }

    /** Prefill the prompt, then decode greedily one token at a time through the KV cache. */
    static float[] prefillAndGreedy(Model m, int[] prompt, int steps, List<Integer> out, int chunkSize, int prefillPiece) {
        ModelConfig c = m.config();
        try (var runner = new CpuModelRunner(c, m.weights(), kernels);
             var pool = new ChunkPool(new KvLayout(c.numLayers(), c.numKvHeads(), c.headDim(), chunkSize, DType.F32), 64)) {
            int total = prompt.length + steps;
            int[] table = new int[(total + chunkSize - 1) / chunkSize];
            for (int i = 0; i < table.length; i++) table[i] = pool.allocate();
            float[] logits = new float[c.vocabSize()];
            float[] first = null;
            ForwardBatch b = new ForwardBatch();
            for (int pos = 0; pos < prompt.length; pos += prefillPiece) {
                int n = Math.min(prefillPiece, prompt.length - pos);
                runner.forward(b.clear().add(prompt, pos, n, pos, table, pos + n == prompt.length), pool, logits);
            }
            first = logits.clone();
            int pos = prompt.length;
            for (int i = 0; i < steps; i++) {
                int t = argmax(logits, 0, c.vocabSize());
                out.add(t);
                runner.forward(b.clear().add(new int[]{t}, 0, 1, pos++, table, true), pool, logits);
            }
            return first;
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-llama3", "tiny-qwen2", "tiny-qwen3", "tiny-llama2", "tiny-mistral", "tiny-llama3-bf16", "tiny-llama3-f16"})
    void logitsAndGreedyMatchTransformers(String name) {
        JsonNode golden = Fixtures.golden(name);
        try (Model m = Model.load(Fixtures.model(name))) {
            for (JsonNode p : golden.get("prompts")) {
                int[] ids = Fixtures.ints(p.get("ids"));
                float[] ref = Fixtures.floats(p.get("last_logits"));
                List<Integer> gen = new ArrayList<>();
                float[] got = prefillAndGreedy(m, ids, 24, gen, 16, ids.length);
                double err = relError(got, ref);
                assertTrue(err < 1e-4, name + "/" + p.get("name").asText() + ": logits relative error " + err);
                int[] want = Fixtures.ints(p.get("greedy"));
                assertArrayEquals(want, gen.stream().mapToInt(Integer::intValue).toArray(),
                        name + "/" + p.get("name").asText() + " greedy continuation");
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 5, 16, 33})
    void chunkedPrefillGivesTheSameLogits(int piece) {
        JsonNode p = Fixtures.golden("tiny-qwen3").get("prompts").get(3);
        int[] ids = Fixtures.ints(p.get("ids"));
        try (Model m = Model.load(Fixtures.model("tiny-qwen3"))) {
            float[] got = prefillAndGreedy(m, ids, 0, new ArrayList<>(), 32, piece);
            assertTrue(relError(got, Fixtures.floats(p.get("last_logits"))) < 1e-4, Arrays.toString(Arrays.copyOf(got, 4)));
        }
    }
}
