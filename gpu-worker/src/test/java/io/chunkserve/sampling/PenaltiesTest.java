package io.chunkserve.sampling;

import static io.chunkserve.sampling.SamplingTestSupport.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Presence, frequency and repetition penalties against hand-computed logits. */
class PenaltiesTest {

    @Test
    void penaltiesMatchHandComputedLogits() {
        float[] logits = {2f, -1f, 3f, 0.5f, 1f};
        SamplingParams p = seeded(1).repetitionPenalty(1.5).presencePenalty(0.5).frequencyPenalty(0.25).build();
        Sampler s = new Sampler(p, new int[] {0, 2, 3, 2, 17}); // 17 is outside this vocabulary: ignored
        s.accept(1);
        s.accept(1);
        s.accept(3);
        s.accept(40);
        float[] expected = {
                2f / 1.5f,                  // prompt, positive: divided
                -1f * 1.5f - 0.25f * 2 - 0.5f, // output twice, negative: multiplied, then penalties
                3f / 1.5f,                  // prompt (twice, penalised once)
                0.5f / 1.5f - 0.25f - 0.5f, // prompt and output once: repetition applied once
                1f};                        // untouched
        assertArrayEquals(expected, s.penalizedLogits(logits, 0, logits.length), 1e-6f);
        // sampling at T = 1 must follow softmax of the penalized logits
        int draws = 20000;
        assertMatches(histogram(s, logits, draws), softmax(expected, 1.0), draws);
        assertArrayEquals(new float[] {2f, -1f, 3f, 0.5f, 1f}, logits, "logits must not be modified");
        assertEquals(2, s.outputCount(1));
        assertEquals(4, s.outputLength());
    }

    @Test
    void penaltiesAreRecomputedFromCountsEveryStep() {
        float[] logits = {1f, 1f, 1f, -1f};
        SamplingParams p = seeded(1).repetitionPenalty(2).presencePenalty(0.1).frequencyPenalty(0.2).build();
        Sampler s = new Sampler(p, new int[] {2});
        assertArrayEquals(new float[] {1f, 1f, 0.5f, -1f}, s.penalizedLogits(logits, 0, 4), 1e-6f);
        for (int k = 1; k <= 3; k++) {
            s.accept(3);
            // penalties never compound across steps: -1·2 − 0.2·k − 0.1
            assertArrayEquals(new float[] {1f, 1f, 0.5f, -2f - 0.2f * k - 0.1f},
                    s.penalizedLogits(logits, 0, 4), 1e-6f, "k=" + k);
        }
        s.accept(2); // in prompt and output: repetition once, then presence/frequency
        assertArrayEquals(new float[] {1f, 1f, 0.5f - 0.2f - 0.1f, -2f - 0.6f - 0.1f},
                s.penalizedLogits(logits, 0, 4), 1e-6f);
        // no penalties configured: nothing tracked, logits unchanged
        Sampler plain = new Sampler(seeded(1).build(), new int[] {0, 1});
        plain.accept(1);
        assertArrayEquals(logits, plain.penalizedLogits(logits, 0, 4));
    }

    @Test
    void penaltiesDecideGreedy() {
        float[] logits = {2.0f, 1.9f, -0.5f, -0.45f};
        // repetition penalty on a prompt token flips the argmax: 2.0 / 1.1 < 1.9
        assertEquals(0, new Sampler(SamplingParams.greedy(5), new int[] {0}).sample(logits, 0, 4).tokenId());
        SamplingParams rep = SamplingParams.greedy(5).toBuilder().repetitionPenalty(1.1).build();
        assertEquals(1, new Sampler(rep, new int[] {0}).sample(logits, 0, 4).tokenId());
        // negative logits are multiplied: -0.45 · 1.2 = -0.54 < -0.5
        float[] neg = {-0.5f, -0.45f};
        SamplingParams rep12 = SamplingParams.greedy(5).toBuilder().repetitionPenalty(1.2).build();
        assertEquals(1, new Sampler(rep12, NO_PROMPT).sample(neg, 0, 2).tokenId());
        Sampler s = new Sampler(rep12, NO_PROMPT);
        s.accept(1); // output tokens count for the repetition penalty too
        assertEquals(0, s.sample(neg, 0, 2).tokenId());
        // presence penalty: output tokens only, once
        SamplingParams pres = SamplingParams.greedy(5).toBuilder().presencePenalty(0.2).build();
        Sampler sp = new Sampler(pres, new int[] {0}); // prompt tokens are not affected
        assertEquals(0, sp.sample(logits, 0, 4).tokenId());
        sp.accept(0);
        assertEquals(1, sp.sample(logits, 0, 4).tokenId());
        // frequency penalty grows with the count: 2.0 − 0.04·k vs 1.9 flips after 3 occurrences
        SamplingParams freq = SamplingParams.greedy(5).toBuilder().frequencyPenalty(0.04).build();
        Sampler sf = new Sampler(freq, NO_PROMPT);
        for (int k = 0; k < 3; k++) {
            assertEquals(0, sf.sample(logits, 0, 4).tokenId(), "after " + k);
            sf.accept(0);
        }
        assertEquals(1, sf.sample(logits, 0, 4).tokenId());
        // negative penalties encourage repetition
        SamplingParams enc = SamplingParams.greedy(5).toBuilder().presencePenalty(-0.5).build();
        Sampler se = new Sampler(enc, NO_PROMPT);
        se.accept(3);
        assertEquals(3, se.sample(new float[] {0f, 0f, 0f, -0.4f}, 0, 4).tokenId());
    }

    @Test
    void manyDistinctOutputTokensAreCountedCorrectly() {
        Sampler s = new Sampler(seeded(1).frequencyPenalty(1).build(), NO_PROMPT);
        SplittableRandom r = new SplittableRandom(5);
        int[] counts = new int[50000];
        for (int i = 0; i < 20000; i++) {
            int t = r.nextInt(50000);
            counts[t]++;
            s.accept(t);
        }
        for (int t = 0; t < 50000; t++) assertEquals(counts[t], s.outputCount(t));
    }
}
