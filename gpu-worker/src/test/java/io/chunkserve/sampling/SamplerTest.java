package io.chunkserve.sampling;

import static io.chunkserve.sampling.SamplingTestSupport.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The sampler as a whole: seeding and reproducibility, greedy, slices, non-finite logits, tiny vocabularies, allocation. */
class SamplerTest {

    @Test
    void seededSamplingIsReproducibleAndSeedsDiffer() {
        float[] base = randomLogits(3000, 1, 2.0);
        SamplingParams p = seeded(42).temperature(1.0).topP(0.95).topK(200).minP(0.001)
                .frequencyPenalty(0.3).build();
        List<Integer> a = generate(new Sampler(p, new int[] {1, 2, 3}), base, 300);
        List<Integer> b = generate(new Sampler(p, new int[] {1, 2, 3}), base, 300);
        assertEquals(a, b);
        List<Integer> c = generate(new Sampler(p.toBuilder().seed(43L).build(), new int[] {1, 2, 3}), base, 300);
        assertNotEquals(a, c);
        assertTrue(new HashSet<>(a).size() > 50, "a flat-ish distribution should give varied tokens");

        // every pipeline branch is seeded: full vocab, min_p only, top_p only
        for (SamplingParams q : List.of(seeded(5).build(), seeded(5).minP(0.05).build(),
                seeded(5).topP(0.8).build(), seeded(5).temperature(0.3).build())) {
            assertEquals(generate(new Sampler(q, NO_PROMPT), base, 100),
                    generate(new Sampler(q, NO_PROMPT), base, 100), q.toString());
        }
    }

    @Test
    void seededResultIsIndependentOfBatchCompositionAndWorkspace() {
        float[] base = randomLogits(5000, 2, 1.5);
        SamplingParams p = seeded(7).topP(0.9).presencePenalty(0.5).build();
        List<Integer> alone = generate(new Sampler(p, NO_PROMPT, 0, new SamplerWorkspace()), base, 200);

        SamplerWorkspace shared = new SamplerWorkspace();
        Sampler a = new Sampler(p, NO_PROMPT, 0, shared);
        Sampler other1 = new Sampler(seeded(99).topK(5).build(), new int[] {4, 4, 9}, 0, shared);
        Sampler other2 = new Sampler(SamplingParams.builder().build(), NO_PROMPT, 0, shared);
        List<Integer> batched = new ArrayList<>();
        float[] wide = randomLogits(70000, 3, 3.0);
        for (int step = 0; step < 200; step++) {
            other1.accept(other1.sample(wide, 0, wide.length).tokenId());
            float[] l = base.clone();
            l[step % l.length] += 1f;
            int t = a.sample(l, 0, l.length).tokenId();
            a.accept(t);
            batched.add(t);
            other2.sample(wide, 100, 20000);
        }
        assertEquals(alone, batched);
    }

    @Test
    void samplesOfOneRequestGetDistinctDeterministicSeeds() {
        SamplingParams p = seeded(11).n(4).build();
        Sampler[] s1 = Sampler.forRequest(p, NO_PROMPT);
        Sampler[] s2 = Sampler.forRequest(p, NO_PROMPT);
        assertEquals(4, s1.length);
        Set<Long> seeds = new HashSet<>();
        float[] base = randomLogits(1000, 4, 2.0);
        Set<List<Integer>> streams = new HashSet<>();
        for (int i = 0; i < 4; i++) {
            assertEquals(Sampler.deriveSeed(11, i), s1[i].seed());
            assertEquals(s1[i].seed(), s2[i].seed());
            assertEquals(s1[i].seed(), new Sampler(p, NO_PROMPT, i).seed());
            seeds.add(s1[i].seed());
            List<Integer> g = generate(s1[i], base, 50);
            assertEquals(g, generate(s2[i], base, 50));
            streams.add(g);
        }
        assertEquals(4, seeds.size());
        assertEquals(4, streams.size());
        assertThrows(IllegalArgumentException.class, () -> new Sampler(p, NO_PROMPT, 4));
        // unseeded requests still differ between samples
        Sampler[] u = Sampler.forRequest(SamplingParams.builder().n(2).build(), NO_PROMPT);
        assertNotEquals(u[0].seed(), u[1].seed());
    }

    @Test
    void greedyIsArgmaxWithTiesToLowestId() {
        Sampler s = new Sampler(SamplingParams.greedy(10), NO_PROMPT);
        assertEquals(1, s.sample(new float[] {1f, 5f, 5f, 2f}, 0, 4).tokenId());
        assertEquals(0, s.sample(new float[] {3f, 3f, 3f}, 0, 3).tokenId());
        for (int n : new int[] {1, 15, 16, 17, 1000, 152064}) {
            float[] l = randomLogits(n, n, 1.0);
            int expected = 0;
            for (int i = 1; i < n; i++) if (l[i] > l[expected]) expected = i;
            assertEquals(expected, s.sample(l, 0, n).tokenId(), "n=" + n);
            l[n - 1] = l[expected]; // a tie at the very end (vector tail) must not win
            assertEquals(expected, s.sample(l, 0, n).tokenId(), "n=" + n);
        }
        // filters are irrelevant to greedy; very low temperature is greedy too
        SamplingParams p = SamplingParams.builder().temperature(1e-6).topK(1).topP(0.1).minP(0.9).build();
        assertEquals(2, new Sampler(p, NO_PROMPT).sample(new float[] {0f, 1f, 2f, 2f}, 0, 4).tokenId());
    }

    @Test
    void readsOnlyTheGivenSliceAndNeverModifiesIt() {
        int n = 1000;
        float[] logits = randomLogits(n, 12, 2.0);
        float[] packed = new float[3 * n];
        Arrays.fill(packed, Float.NaN);
        System.arraycopy(logits, 0, packed, n, n);
        float[] before = packed.clone();
        SamplingParams p = seeded(4).topP(0.9).repetitionPenalty(1.2).frequencyPenalty(0.5)
                .logprobs(true).topLogprobs(5).build();
        Sampler a = new Sampler(p, new int[] {1, 2, 3});
        Sampler b = new Sampler(p, new int[] {1, 2, 3});
        for (int step = 0; step < 50; step++) {
            SampledToken x = a.sample(packed, n, n);
            SampledToken y = b.sample(logits, 0, n);
            // same token and candidates; log-probabilities to 1e-5, not bit for bit: C2 may compile the log-sum-exp kernel
            // between the two calls, and its vector sums and exp round differently from the interpreter's (LogitKernels)
            assertEquals(y.tokenId(), x.tokenId(), "step " + step);
            assertArrayEquals(y.topTokenIds(), x.topTokenIds(), "step " + step);
            assertEquals(y.logprob(), x.logprob(), 1e-5f, "step " + step);
            assertArrayEquals(y.topLogprobs(), x.topLogprobs(), 1e-5f, "step " + step);
            a.accept(x.tokenId());
            b.accept(y.tokenId());
        }
        assertArrayEquals(before, packed);
        assertThrows(IndexOutOfBoundsException.class, () -> a.sample(packed, 2 * n + 1, n));
        assertThrows(IllegalArgumentException.class, () -> a.sample(packed, 0, 0));
    }

    @Test
    void nonFiniteLogits() {
        float[] l = {Float.NaN, 1f, Float.NEGATIVE_INFINITY, 0.5f};
        Sampler s = new Sampler(seeded(1).temperature(1.5).logprobs(true).build(), NO_PROMPT);
        for (int i = 0; i < 500; i++) {
            int t = s.sample(l, 0, 4).tokenId();
            assertTrue(t == 1 || t == 3, "NaN and -inf tokens are never sampled");
        }
        float[] inf = {0f, Float.POSITIVE_INFINITY, 3f, Float.POSITIVE_INFINITY};
        Set<Integer> seen = new HashSet<>();
        for (int i = 0; i < 200; i++) seen.add(s.sample(inf, 0, 4).tokenId());
        assertEquals(Set.of(1, 3), seen);
        // the same through the penalized copy (+inf / 0.5 must not become a NaN-producing +inf)
        Sampler pen = new Sampler(seeded(2).repetitionPenalty(0.5).frequencyPenalty(1).build(), new int[] {1});
        pen.accept(0);
        seen.clear();
        for (int i = 0; i < 200; i++) seen.add(pen.sample(inf, 0, 4).tokenId());
        assertEquals(Set.of(1, 3), seen);
        for (int i = 0; i < 200; i++) {
            int t = pen.sample(l, 0, 4).tokenId();
            assertTrue(t == 1 || t == 3, "NaN and -inf tokens are never sampled");
        }
        float[] dead = {Float.NEGATIVE_INFINITY, Float.NaN};
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> s.sample(dead, 0, 2));
        assertEquals("logits contain no finite value", e.getMessage());
        assertEquals(1, new Sampler(SamplingParams.greedy(1), NO_PROMPT)
                .sample(new float[] {Float.NaN, 2f, 1f}, 0, 3).tokenId());
    }

    @Test
    void tinyVocabulariesAndVectorTails() {
        List<SamplingParams> configs = List.of(seeded(1).build(), seeded(2).topP(0.7).build(),
                seeded(3).topK(2).build(), seeded(4).minP(0.2).build(),
                seeded(5).topK(3).topP(0.5).minP(0.1).logprobs(true).topLogprobs(5).build(),
                seeded(6).repetitionPenalty(1.3).presencePenalty(0.4).build(), SamplingParams.greedy(3));
        SplittableRandom r = new SplittableRandom(8);
        for (int n = 1; n <= 70; n++) {
            float[] l = randomLogits(n, n, 2.0);
            if (n > 2) l[r.nextInt(n)] = Float.NEGATIVE_INFINITY;
            for (SamplingParams p : configs) {
                Sampler s = new Sampler(p, new int[] {0, n - 1});
                for (int i = 0; i < 30; i++) {
                    SampledToken t = s.sample(l, 0, n);
                    assertTrue(t.tokenId() >= 0 && t.tokenId() < n, "n=" + n);
                    assertTrue(l[t.tokenId()] > Float.NEGATIVE_INFINITY, "masked token drawn, n=" + n);
                    assertEquals(Math.min(n, p.topLogprobs()), t.topTokenIds().length);
                    s.accept(t.tokenId());
                }
            }
        }
    }

    @Test
    void steadyStateSamplingAllocatesOnlyItsResult() {
        var mx = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        long tid = Thread.currentThread().threadId();
        int n = 152064;
        float[] logits = randomLogits(n, 13, 2.0);
        SamplerWorkspace ws = new SamplerWorkspace();
        List<SamplingParams> configs = List.of(
                seeded(1).build(),
                seeded(2).topP(0.9).build(),
                seeded(3).topK(40).minP(0.02).build(),
                seeded(4).repetitionPenalty(1.1).frequencyPenalty(0.2).build(),
                SamplingParams.greedy(1000));
        for (SamplingParams p : configs) {
            Sampler s = new Sampler(p, new int[] {5, 6, 7}, 0, ws);
            for (int i = 0; i < 20; i++) s.accept(i); // tracked tokens are fixed from here on
            for (int i = 0; i < 1000; i++) s.sample(logits, 0, n); // warm up (JIT)
            // Until C2 has compiled the vector loops, FloatVector objects are really allocated;
            // on a busy machine that can take longer, so measure in rounds and require that
            // allocation *settles* at the result size. A single vocabulary-sized array would be
            // ≥ 600 kB per call; the limit allows the result plus measurement noise.
            long perCall = Long.MAX_VALUE;
            for (int round = 0; round < 20 && perCall >= 2048; round++) {
                long before = mx.getThreadAllocatedBytes(tid);
                int calls = 200;
                for (int i = 0; i < calls; i++) s.sample(logits, 0, n);
                perCall = (mx.getThreadAllocatedBytes(tid) - before) / calls;
            }
            assertTrue(perCall < 2048, p + ": " + perCall + " bytes per call");
        }
    }
}
