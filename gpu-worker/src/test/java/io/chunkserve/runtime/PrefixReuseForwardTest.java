package io.chunkserve.runtime;

import io.chunkserve.Fixtures;
import io.chunkserve.kv.ChunkPool;
import io.chunkserve.kv.KvLayout;
import io.chunkserve.kv.KvSequence;
import io.chunkserve.kv.PrefixCache;
import io.chunkserve.model.DType;
import io.chunkserve.model.Model;
import io.chunkserve.model.ModelConfig;
import io.chunkserve.runtime.cpu.CpuKernels;
import io.chunkserve.runtime.cpu.CpuModelRunner;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The model on the prefix-aware cache: reusing a cached prefix, and decoding many sequences that
 * share chunks through the two-phase kernel, change nothing but the work done.
 */
class PrefixReuseForwardTest {
    static CpuKernels kernels;

    @BeforeAll
    static void start() { kernels = new CpuKernels(2); }

    @AfterAll
    static void stop() { kernels.close(); }

    static double maxRel(float[] a, int aOff, float[] b, int bOff, int n) {
        double num = 0, den = 0;
        for (int i = 0; i < n; i++) {
            num = Math.max(num, Math.abs(a[aOff + i] - b[bOff + i]));
            den = Math.max(den, Math.abs(b[bOff + i]));
        }
        return num / den;
    }

    /** Prefill what the cache does not hold, then greedy-decode; returns logits of every step (steps+1, vocab). */
    static float[] generate(CpuModelRunner r, PrefixCache cache, int[] prompt, int steps, List<Integer> out) {
        int vocab = r.config().vocabSize();
        float[] all = new float[(steps + 1) * vocab];
        float[] logits = new float[vocab];
        KvSequence s = cache.open(prompt, 0);
        int[] tokens = Arrays.copyOf(prompt, prompt.length + steps);
        int size = prompt.length;
        ForwardBatch b = new ForwardBatch();
        for (int step = 0; step <= steps; step++) {
            int n = size - s.length();
            assertTrue(cache.reserve(s, n));
            r.forward(b.clear().add(tokens, s.length(), n, s.length(), s.chunkTable(), true), cache.pool(), logits);
            cache.commit(s, tokens, s.length(), n);
            System.arraycopy(logits, 0, all, step * vocab, vocab);
            if (step == steps) break;
            int t = GoldenForwardTest.argmax(logits, 0, vocab);
            out.add(t);
            tokens[size++] = t;
        }
        cache.release(s);
        return all;
    }

    @ParameterizedTest
    @CsvSource({"tiny-llama3,16,F32", "tiny-qwen3,32,F32", "tiny-llama2,64,F32", "tiny-qwen2,16,BF16"})
    void reusingAPrefixGivesTheSameTokensAndLogits(String name, int chunk, String kvDtype) {
        try (Model m = Model.load(Fixtures.model(name))) {
            ModelConfig c = m.config();
            int[] prompt = Fixtures.ints(Fixtures.golden(name).get("prompts").get(3).get("ids"));
            try (var r = new CpuModelRunner(c, m.weights(), kernels);
                 var pool = new ChunkPool(new KvLayout(c.numLayers(), c.numKvHeads(), c.headDim(), chunk, DType.valueOf(kvDtype)), 64)) {
                PrefixCache cache = new PrefixCache(pool);
                List<Integer> cold = new ArrayList<>(), warm = new ArrayList<>();
                float[] a = generate(r, cache, prompt, 12, cold);
                long hitsBefore = cache.stats().hitTokens();
                float[] b = generate(r, cache, prompt, 12, warm);
                assertEquals((prompt.length - 1) / chunk * chunk, cache.stats().hitTokens() - hitsBefore, "prefix reused");
                assertEquals(cold, warm);
                assertTrue(maxRel(b, 0, a, 0, a.length) < 1e-5, "logits with and without reuse: " + maxRel(b, 0, a, 0, a.length));
            }
        }
    }

    @ParameterizedTest
    @CsvSource({"tiny-llama3,16,7", "tiny-qwen3,16,12", "tiny-mistral,32,5"})
    void batchedDecodeOverSharedAndDivergentPrefixesMatchesEachSequenceAlone(String name, int chunk, long seed) {
        Random rnd = new Random(seed);
        try (Model m = Model.load(Fixtures.model(name))) {
            ModelConfig c = m.config();
            int vocab = c.vocabSize();
            // A random tree of prompts: a common system prefix, some branches sharing more, private suffixes.
            int[] system = rnd.ints(2 * chunk + rnd.nextInt(chunk), 3, vocab - 3).toArray();
            int[] branch = rnd.ints(chunk + rnd.nextInt(2 * chunk), 3, vocab - 3).toArray();
            int B = 6 + rnd.nextInt(5);
            List<int[]> prompts = new ArrayList<>();
            for (int i = 0; i < B; i++) {
                int[] head = rnd.nextInt(3) == 0 ? system : concat(system, branch);
                prompts.add(concat(head, rnd.ints(1 + rnd.nextInt(2 * chunk), 3, vocab - 3).toArray()));
            }
            if (rnd.nextBoolean()) prompts.set(0, rnd.ints(chunk + 3, 3, vocab - 3).toArray()); // one shares nothing
            try (var r = new CpuModelRunner(c, m.weights(), kernels);
                 var pool = new ChunkPool(new KvLayout(c.numLayers(), c.numKvHeads(), c.headDim(), chunk, DType.F32), 256)) {
                PrefixCache cache = new PrefixCache(pool);
                // Alone: each prompt's greedy continuation and logits.
                List<float[]> alone = new ArrayList<>();
                List<List<Integer>> aloneTokens = new ArrayList<>();
                for (int[] p : prompts) {
                    List<Integer> out = new ArrayList<>();
                    alone.add(generate(r, cache, p, 6, out));
                    aloneTokens.add(out);
                }
                cache.clear();
                // Together: prefill each (sharing full chunks through the tree), then decode all in one batch per step.
                KvSequence[] seqs = new KvSequence[B];
                int[][] toks = new int[B][];
                int[] sizes = new int[B];
                float[] logits = new float[B * vocab];
                ForwardBatch fb = new ForwardBatch();
                fb.clear();
                for (int i = 0; i < B; i++) {
                    seqs[i] = cache.open(prompts.get(i), 0);
                    toks[i] = Arrays.copyOf(prompts.get(i), prompts.get(i).length + 6);
                    sizes[i] = prompts.get(i).length;
                    int n = sizes[i] - seqs[i].length();
                    assertTrue(cache.reserve(seqs[i], n));
                    r.forward(fb.clear().add(toks[i], seqs[i].length(), n, seqs[i].length(), seqs[i].chunkTable(), true), pool, logits);
                    cache.commit(seqs[i], toks[i], seqs[i].length(), n);
                    int t = GoldenForwardTest.argmax(logits, 0, vocab);
                    assertEquals(aloneTokens.get(i).get(0), t);
                    toks[i][sizes[i]++] = t;
                }
                assertTrue(cache.stats().referencedChunks() < totalChunks(prompts, chunk), "shared chunks held once");
                for (int step = 1; step <= 6; step++) {
                    fb.clear();
                    for (int i = 0; i < B; i++) {
                        assertTrue(cache.reserve(seqs[i], 1));
                        fb.add(toks[i], seqs[i].length(), 1, seqs[i].length(), seqs[i].chunkTable(), true);
                    }
                    r.forward(fb, pool, logits);
                    for (int i = 0; i < B; i++) {
                        cache.commit(seqs[i], toks[i], seqs[i].length(), 1);
                        double err = maxRel(logits, i * vocab, alone.get(i), step * vocab, vocab);
                        assertTrue(err < 1e-5, "sequence " + i + " step " + step + ": " + err);
                        if (step < 6) {
                            int t = GoldenForwardTest.argmax(logits, i * vocab, vocab);
                            assertEquals(aloneTokens.get(i).get(step), t);
                            toks[i][sizes[i]++] = t;
                        }
                    }
                }
                for (KvSequence s : seqs) cache.release(s);
                cache.checkInvariants();
            }
        }
    }

    static int totalChunks(List<int[]> prompts, int chunk) {
        int n = 0;
        for (int[] p : prompts) n += (p.length + chunk) / chunk;
        return n;
    }

    static int[] concat(int[] a, int[] b) {
        int[] r = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
