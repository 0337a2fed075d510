package io.chunkserve.sampling;

import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The compact penalty list a runner applies ({@link Sampler#penaltyEntries}, {@link PenaltyList}) against the host
 * sampler's penalized logits and against a naive definition from the raw prompt and outputs, bit for bit — with the
 * list as it is before the latest token is counted plus that token as the runner's "extra" (a step built ahead of
 * its predecessor's pick), and without.
 */
class PenaltyListTest {

    /** HF repetition over prompt ∪ output, then OpenAI presence/frequency over output counts; each token once. */
    static float[] naive(float[] raw, int[] prompt, int[] out, int nOut, float rep, float pres, float freq) {
        float[] w = raw.clone();
        Map<Integer, Integer> cnt = new HashMap<>();
        for (int i = 0; i < nOut; i++) cnt.merge(out[i], 1, Integer::sum);
        Set<Integer> seen = new HashSet<>(cnt.keySet());
        if (rep != 1f) for (int t : prompt) seen.add(t);
        for (int t : seen) {
            if (t >= w.length) continue;
            float v = w[t];
            if (rep != 1f) {
                v = v > 0f ? v / rep : v * rep;
                if (v == Float.POSITIVE_INFINITY) v = Float.MAX_VALUE;
            }
            int c = cnt.getOrDefault(t, 0);
            if (c > 0 && (pres != 0f || freq != 0f)) {
                v = v - freq * c - pres;
                if (v == Float.POSITIVE_INFINITY) v = Float.MAX_VALUE;
            }
            w[t] = v;
        }
        return w;
    }

    @Test
    void listPlusExtraTokenEqualsTheHostSamplerBitForBit() {
        SplittableRandom rnd = new SplittableRandom(21);
        double[][] sets = {{1.3, 0, 0}, {1, 0.7, 0.25}, {1.15, 0.4, 0.3}, {0.8, 0, 0.5}, {1, 0, 0.1}, {1, 1.5, 0}};
        for (int trial = 0; trial < 60; trial++) {
            double[] set = sets[trial % sets.length];
            int vocab = trial % 3 == 0 ? 40 : 700;   // small vocabularies repeat tokens often
            int[] prompt = rnd.ints(rnd.nextInt(0, 50), 0, vocab + (trial % 5 == 0 ? 5 : 0)).toArray();   // ids ≥ vocab ignored
            SamplingParams p = SamplingParams.builder().temperature(trial % 2 == 0 ? 0 : 0.9).seed(3L)
                    .repetitionPenalty(set[0]).presencePenalty(set[1]).frequencyPenalty(set[2]).build();
            Sampler s = new Sampler(p, prompt);
            assertTrue(s.penalized());
            float[] raw = new float[vocab];
            for (int i = 0; i < vocab; i++) {
                raw[i] = (float) (rnd.nextGaussian() * 3);
                if (rnd.nextInt(10) == 0) raw[i] = 0f;
                if (rnd.nextInt(50) == 0) raw[i] = rnd.nextBoolean() ? Float.MAX_VALUE : -Float.MAX_VALUE;
            }
            float rep = (float) set[0], pres = (float) set[1], freq = (float) set[2];
            int[] out = new int[40];
            for (int k = 0; k < out.length; k++) {
                // the list before token k is counted, applied with token k as the runner's extra token
                int tok = rnd.nextInt(3) == 0 && k > 0 ? out[rnd.nextInt(k)] : rnd.nextInt(4) == 0 && prompt.length > 0 ? prompt[rnd.nextInt(prompt.length)] % vocab : rnd.nextInt(vocab);
                out[k] = tok;
                float[] ahead = raw.clone();
                PenaltyList.apply(ahead, 0, vocab, s.repetitionPenalty(), s.presencePenalty(), s.frequencyPenalty(),
                        s.penaltyIds(), s.penaltyCounts(), s.penaltyEntries(), tok);
                s.accept(tok);
                float[] host = s.penalizedLogits(raw, 0, vocab);
                float[] now = raw.clone();
                PenaltyList.apply(now, 0, vocab, rep, pres, freq, s.penaltyIds(), s.penaltyCounts(), s.penaltyEntries(), -1);
                float[] ref = naive(raw, prompt, out, k + 1, rep, pres, freq);
                String at = "trial " + trial + " step " + k;
                assertArrayEquals(bits(ref), bits(host), at + ": host sampler vs the naive definition");
                assertArrayEquals(bits(host), bits(now), at + ": the list");
                assertArrayEquals(bits(host), bits(ahead), at + ": the list one token behind plus the extra token");
                // the list: distinct ids, the prompt (with repetition) and the outputs, counts = occurrences
                Map<Integer, Integer> want = new HashMap<>();
                if (rep != 1f) for (int t : prompt) want.put(t, 0);
                for (int i = 0; i <= k; i++) want.merge(out[i], 1, Integer::sum);
                Map<Integer, Integer> got = new HashMap<>();
                for (int i = 0; i < s.penaltyEntries(); i++) assertEquals(null, got.put(s.penaltyIds()[i], s.penaltyCounts()[i]), at + ": duplicate id");
                assertEquals(want, got, at + ": entries");
            }
        }
    }

    @Test
    void extraTokenOnAnEmptyListAndOffsetRows() {
        // presence only, nothing generated yet: the list is empty and only the extra token is penalized
        Sampler s = new Sampler(SamplingParams.builder().temperature(0).presencePenalty(0.5).build(), new int[] {1, 2});
        assertEquals(0, s.penaltyEntries());
        float[] rows = {9f, 9f, 1f, 2f, 3f, 4f};   // a second row at offset 3
        PenaltyList.apply(rows, 3, 3, 1f, 0.5f, 0f, s.penaltyIds(), s.penaltyCounts(), 0, 2);
        assertArrayEquals(new float[] {9f, 9f, 1f, 2f, 3f, 3.5f}, rows);
        // an extra token outside the vocabulary is ignored; so is -1
        PenaltyList.apply(rows, 3, 3, 1f, 0.5f, 0f, s.penaltyIds(), s.penaltyCounts(), 0, 7);
        PenaltyList.apply(rows, 3, 3, 1f, 0.5f, 0f, s.penaltyIds(), s.penaltyCounts(), 0, -1);
        assertArrayEquals(new float[] {9f, 9f, 1f, 2f, 3f, 3.5f}, rows);
    }

    @Test
    void runnerSamplableFollowsConfiguredPenalties() {
        SamplingParams pres = SamplingParams.builder().temperature(0.8).presencePenalty(0.5).build();
        Sampler s = new Sampler(pres, new int[] {1});
        // a presence penalty changes nothing before the first token, but a step built ahead may need it: not samplable
        assertTrue(!s.runnerSamplable() && s.runnerSamplable(true));
        assertTrue(new Sampler(SamplingParams.builder().temperature(0.8).build(), new int[] {1}).runnerSamplable());
        assertTrue(!new Sampler(pres.toBuilder().logprobs(true).build(), new int[] {1}).runnerSamplable(true));
        assertTrue(!new Sampler(SamplingParams.builder().temperature(0).presencePenalty(0.5).build(), new int[] {1}).runnerSamplable(true));
    }

    static int[] bits(float[] a) {
        int[] b = new int[a.length];
        for (int i = 0; i < a.length; i++) b[i] = Float.floatToRawIntBits(a[i]);
        return b;
    }
}
