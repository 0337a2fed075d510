package io.chunkserve.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.chunkserve.Fixtures;
import io.chunkserve.kv.ChunkPool;
import io.chunkserve.kv.KvLayout;
import io.chunkserve.kv.PrefixCache;
import io.chunkserve.model.DType;
import io.chunkserve.model.Model;
import io.chunkserve.model.ModelConfig;
import io.chunkserve.runtime.cpu.CpuKernels;
import io.chunkserve.runtime.cpu.CpuModelRunner;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The touch-ahead of the next one-token matmul (threads waiting at a dispatch's end read the next
 * weights' first rows) only reads: greedy decode gives the same tokens and the same logits with it on
 * and off, on 2 and 3 threads.
 *
 * <p>"The same" is within 1e-5 relative, not bit for bit: the Vector API's {@code reduceLanes(ADD)}
 * and {@code lanewise(EXP)} round differently in the interpreter/C1 and in C2, so two identical
 * forwards in one JVM can differ in the last bits when C2 finishes compiling a kernel between them
 * (measured: up to ~7e-6; see the determinism note in BENCHMARKS.md, issue 2). A touch-ahead that
 * wrote anything would change logits by far more.
 */
class TouchAheadForwardTest {
    @ParameterizedTest
    @CsvSource({"tiny-llama3,2", "tiny-qwen2,3", "tiny-qwen3,2"})
    void decodeIsBitIdenticalWithAndWithoutTouchAhead(String name, int threads) {
        try (Model m = Model.load(Fixtures.model(name)); CpuKernels kernels = new CpuKernels(threads)) {
            ModelConfig c = m.config();
            int[] prompt = Fixtures.ints(Fixtures.golden(name).get("prompts").get(2).get("ids"));
            float[][] logits = new float[2][];
            List<List<Integer>> tokens = new ArrayList<>();
            for (int on = 0; on < 2; on++) {
                try (var r = new CpuModelRunner(c, m.weights(), kernels);
                     var pool = new ChunkPool(new KvLayout(c.numLayers(), c.numKvHeads(), c.headDim(), 16, DType.F32), 64)) {
                    r.setTouchAhead(on == 1);
                    List<Integer> out = new ArrayList<>();
                    logits[on] = PrefixReuseForwardTest.generate(r, new PrefixCache(pool), prompt, 16, out);
                    tokens.add(out);
                }
            }
            assertEquals(tokens.get(0), tokens.get(1));
            assertEquals(logits[0].length, logits[1].length);
            for (int i = 0; i < logits[0].length; i++) {
                float a = logits[0][i], b = logits[1][i];
                assertEquals(a, b, 1e-5f * Math.max(1f, Math.abs(a)), "logit " + i + " with touch-ahead off and on");
            }
        }
    }
}
