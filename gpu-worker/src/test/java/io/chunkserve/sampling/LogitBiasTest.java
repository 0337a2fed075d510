package io.chunkserve.sampling;

import static io.chunkserve.sampling.SamplingTestSupport.NO_PROMPT;
import static io.chunkserve.sampling.SamplingTestSupport.randomLogits;
import static io.chunkserve.sampling.SamplingTestSupport.seeded;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * OpenAI's {@code logit_bias}: validation, and the sampler against a reference that adds the bias to the logits
 * itself (vLLM v1's order: the bias first, then the penalties; the log-probabilities stay the raw model's).
 */
class LogitBiasTest {

    @Test
    void validationAndNormalForm() {
        assertTrue(LogitBias.of(null).isEmpty());
        assertTrue(LogitBias.of(Map.of()).isEmpty());
        assertTrue(LogitBias.of(Map.of(5, 0.0)).isEmpty(), "a zero bias changes nothing and is dropped");
        LogitBias b = LogitBias.of(new LinkedHashMap<>(Map.of(9, -100.0, 2, 3.5, 4, 100.0)));
        assertEquals(3, b.size());
        assertEquals(2, b.id(0));
        assertEquals(3.5f, b.value(0));
        assertEquals(9, b.maxId());
        assertEquals(b, LogitBias.of(Map.of(4, 100.0, 9, -100.0, 2, 3.5)));
        for (double bad : new double[] {100.001, -101, Double.NaN, Double.POSITIVE_INFINITY}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LogitBias.of(Map.of(1, bad)));
            assertTrue(e.getMessage().startsWith("logit_bias "), e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> LogitBias.of(Map.of(-1, 1.0)));
        Map<Integer, Double> many = new HashMap<>();
        for (int i = 0; i <= LogitBias.MAX_ENTRIES; i++) many.put(i, 1.0);
        assertThrows(IllegalArgumentException.class, () -> LogitBias.of(many));
        many.remove(0);
        assertEquals(LogitBias.MAX_ENTRIES, LogitBias.of(many).size());

        SamplingParams p = SamplingParams.builder().logitBias(Map.of(3, 2.0)).build();
        assertTrue(p.hasLogitBias());
        assertEquals(p, p.toBuilder().build(), "toBuilder keeps the bias");
        assertFalse(SamplingParams.builder().build().hasLogitBias());
        assertEquals(LogitBias.NONE, SamplingParams.builder().logitBias((LogitBias) null).build().logitBias());
    }

    @Test
    void greedyPicksTheArgmaxOfTheBiasedLogits() {
        float[] l = randomLogits(4000, 11, 3.0);
        int argmax = argmax(l), argmin = argmin(l);
        Sampler forced = new Sampler(SamplingParams.builder().temperature(0).logitBias(Map.of(argmin, 100.0)).build(), NO_PROMPT);
        // the scale-3 logits span less than 100: +100 on the smallest makes it the largest
        assertEquals(argmin, forced.sample(l, 0, l.length).tokenId());
        Sampler banned = new Sampler(SamplingParams.builder().temperature(0).logitBias(Map.of(argmax, -100.0)).build(), NO_PROMPT);
        float[] without = l.clone();
        without[argmax] = Float.NEGATIVE_INFINITY;
        assertEquals(argmax(without), banned.sample(l, 0, l.length).tokenId());
        assertNotEquals(argmax, argmax(without));
        assertEquals(argmax, new Sampler(SamplingParams.greedy(5), NO_PROMPT).sample(l, 0, l.length).tokenId());
    }

    /**
     * A biased sampler on logits L draws exactly what an unbiased one with the same seed and penalties draws on
     * L + bias, step after step (the penalties then see the same tokens); its log-probabilities are L's.
     */
    @Test
    void drawsAsTheUnbiasedSamplerOnBiasedLogitsWithPenaltiesAfterTheBias() {
        SplittableRandom rnd = new SplittableRandom(5);
        int vocab = 3001;
        for (int trial = 0; trial < 12; trial++) {
            Map<Integer, Double> bias = new HashMap<>();
            for (int i = 0; i < 1 + rnd.nextInt(40); i++) bias.put(rnd.nextInt(vocab), rnd.nextDouble(-8, 8));
            bias.put(rnd.nextInt(vocab), trial % 2 == 0 ? 100.0 : -100.0);
            SamplingParams.Builder common = seeded(100 + trial).temperature(trial % 3 == 0 ? 0 : 0.4 + 0.2 * (trial % 4))
                    .topP(trial % 4 == 1 ? 0.9 : 1).topK(trial % 5 == 2 ? 50 : -1).minP(trial % 3 == 2 ? 0.01 : 0)
                    .repetitionPenalty(trial % 2 == 0 ? 1.3 : 1).presencePenalty(trial % 3 == 1 ? 0.7 : 0).frequencyPenalty(0.2)
                    .logprobs(true).topLogprobs(3);
            int[] prompt = java.util.stream.IntStream.concat(java.util.stream.IntStream.of(1, 7, 7, 42),
                    bias.keySet().stream().mapToInt(Integer::intValue).limit(6)).toArray(); // biased tokens under the repetition penalty
            Sampler biased = new Sampler(common.logitBias(bias).build(), prompt);
            Sampler reference = new Sampler(common.logitBias(Map.of()).build(), prompt);
            LogitBias b = LogitBias.of(bias);
            float[] base = randomLogits(vocab, 1000 + trial, 2.5);
            List<Integer> got = new ArrayList<>(), want = new ArrayList<>();
            for (int step = 0; step < 60; step++) {
                float[] l = base.clone();
                l[(step * 37) % vocab] += 1.5f;
                float[] shifted = l.clone();
                for (int i = 0; i < b.size(); i++) shifted[b.id(i)] += b.value(i);
                assertArrayEquals(reference.penalizedLogits(shifted, 0, vocab), biased.penalizedLogits(l, 0, vocab), "bias, then penalties");
                SampledToken g = biased.sample(l, 0, vocab), w = reference.sample(shifted, 0, vocab);
                assertEquals(w.tokenId(), g.tokenId(), "trial " + trial + " step " + step);
                SampledToken raw = SamplingReference.logprobs(l, 0, vocab, g.tokenId(), 3);
                assertEquals(raw.logprob(), g.logprob(), "the raw model's log-probability");
                assertArrayEquals(raw.topTokenIds(), g.topTokenIds());
                biased.accept(g.tokenId());
                reference.accept(w.tokenId());
                got.add(g.tokenId());
                want.add(w.tokenId());
            }
            assertEquals(want, got);
        }
    }

    @Test
    void aBiasedSequenceIsLeftToARunnerOnlyWhenItAddsTheBias() {
        SamplingParams p = seeded(1).temperature(0.8).logitBias(Map.of(3, 1.0)).build();
        assertFalse(new Sampler(p, NO_PROMPT).runnerSamplable(true, true));
        assertFalse(new Sampler(p, NO_PROMPT).runnerSamplable(true, true, false));
        assertTrue(new Sampler(p, NO_PROMPT).runnerSamplable(true, true, true));
        assertTrue(new Sampler(p.toBuilder().logitBias(Map.of()).build(), NO_PROMPT).runnerSamplable(true, true));
    }

    @Test
    void applyToAddsInARowAtItsOffsetClampsInfinityAndSkipsIdsBeyondTheRow() {
        float[] w = {9f, 9f, 1f, Float.MAX_VALUE, -2f, Float.NEGATIVE_INFINITY, 9f};
        LogitBias.of(Map.of(0, 0.5, 1, 100.0, 3, -1.5, 5, 7.0)).applyTo(w, 2, 4);   // the row is w[2 .. 6)
        assertArrayEquals(new float[] {9f, 9f, 1.5f, Float.MAX_VALUE, -2f, Float.NEGATIVE_INFINITY, 9f}, w,
                "FLT_MAX + 100 rounds back to FLT_MAX, -inf stays, id 5 is beyond the 4-wide row");
        float[] big = {Float.MAX_VALUE};
        LogitBias.of(Map.of(0, 100.0)).applyTo(big, 0, 1);
        assertEquals(Float.MAX_VALUE, big[0]);
        float[] inf = {Float.POSITIVE_INFINITY};
        LogitBias.of(Map.of(0, -1.0)).applyTo(inf, 0, 1);
        assertEquals(Float.MAX_VALUE, inf[0], "+inf clamped as the penalties clamp it");
    }

    @Test
    void idsBeyondTheRowAreIgnoredAndTheBiasIsNotAppliedTwice() {
        float[] l = {0f, 1f, 2f, 3f};
        Sampler s = new Sampler(SamplingParams.builder().temperature(0).logitBias(Map.of(0, 2.5, 9, 100.0)).build(), NO_PROMPT);
        assertArrayEquals(new float[] {2.5f, 1f, 2f, 3f}, s.penalizedLogits(l, 0, 4));
        assertEquals(3, s.sample(l, 0, 4).tokenId());
        assertArrayEquals(new float[] {0f, 1f, 2f, 3f}, l, "the logits are only read");
        assertEquals(3, s.sample(l, 0, 4).tokenId());
    }

    private static int argmax(float[] l) {
        int best = 0;
        for (int i = 1; i < l.length; i++) if (l[i] > l[best]) best = i;
        return best;
    }

    private static int argmin(float[] l) {
        int best = 0;
        for (int i = 1; i < l.length; i++) if (l[i] < l[best]) best = i;
        return best;
    }
}
