package io.chunkserve.sampling;

import static io.chunkserve.sampling.SamplingTestSupport.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** Temperature, top-k, top-p (nucleus) and min-p: the draws follow the exactly filtered, renormalised distribution. */
class TokenFiltersTest {

    @Test
    void temperatureSamplingMatchesSoftmaxOfScaledLogits() {
        float[] logits = {1.0f, 2.0f, 0.5f, -1.0f, 1.7f};
        int draws = 20000;
        for (double t : new double[] {0.5, 1.0, 1.7}) {
            Sampler s = new Sampler(seeded(1234).temperature(t).build(), NO_PROMPT);
            assertMatches(histogram(s, logits, draws), softmax(logits, t), draws);
        }
    }

    @Test
    void distributionIsRightAcrossVectorBlocksAndTail() {
        // mass on ids in different 1024-blocks, in the vector tail, and at both ends
        int n = 3 * 1024 + 7;
        float[] logits = new float[n];
        Arrays.fill(logits, Float.NEGATIVE_INFINITY);
        int[] ids = {0, 1023, 1024, 2050, 3073, n - 1};
        float[] vals = {0.3f, 1.0f, -0.4f, 0.8f, 0.1f, 0.6f};
        for (int i = 0; i < ids.length; i++) logits[ids[i]] = vals[i];
        double[] p = softmax(logits, 0.8);
        int draws = 20000;
        Sampler s = new Sampler(seeded(77).temperature(0.8).build(), NO_PROMPT);
        assertMatches(histogram(s, logits, draws), p, draws);
        // and the same through the candidate (top_p) and heap (top_k) paths with no-op filters
        assertMatches(histogram(new Sampler(seeded(78).temperature(0.8).topP(0.999999).build(), NO_PROMPT),
                logits, draws), p, draws);
        assertMatches(histogram(new Sampler(seeded(79).temperature(0.8).topK(6).build(), NO_PROMPT),
                logits, draws), p, draws);
    }

    @Test
    void lowTemperatureConcentratesOnTheArgmax() {
        float[] logits = {1.0f, 1.1f, 0.9f};
        int[] h = histogram(new Sampler(seeded(1).temperature(0.01).build(), NO_PROMPT), logits, 2000);
        assertEquals(2000, h[1]);
    }

    @Test
    void topKNeverYieldsOutsideTheKBestAndRenormalises() {
        float[] logits = randomLogits(5000, 5, 1.0);
        Integer[] order = IntStream.range(0, logits.length).boxed().toArray(Integer[]::new);
        Arrays.sort(order, Comparator.comparingDouble((Integer i) -> -logits[i]).thenComparingInt(i -> i));
        for (int k : new int[] {1, 3, 10, 64}) {
            Set<Integer> best = new HashSet<>(Arrays.asList(order).subList(0, k));
            Sampler s = new Sampler(seeded(k).temperature(2.0).topK(k).build(), NO_PROMPT);
            Set<Integer> seen = new HashSet<>();
            for (int i = 0; i < 3000; i++) {
                int t = s.sample(logits, 0, logits.length).tokenId();
                assertTrue(best.contains(t), "k=" + k + " token " + t + " not among the k best");
                seen.add(t);
            }
            assertTrue(seen.size() >= Math.min(k, 10), "k=" + k + " saw " + seen.size());
        }
        // distribution within the top-3 of a small vocabulary
        float[] small = {0.1f, 1.2f, 0.9f, -0.3f, 0.8f, 0.85f};
        double[] p = softmax(new float[] {Float.NEGATIVE_INFINITY, 1.2f, 0.9f, Float.NEGATIVE_INFINITY,
                Float.NEGATIVE_INFINITY, 0.85f}, 1.0);
        int draws = 20000;
        assertMatches(histogram(new Sampler(seeded(3).topK(3).build(), NO_PROMPT), small, draws), p, draws);
    }

    @Test
    void topKTiesPreferLowerIds() {
        float[] logits = {1f, 5f, 3f, 5f, 5f, 0f};
        Sampler s = new Sampler(seeded(1).temperature(2).topK(2).build(), NO_PROMPT);
        Set<Integer> seen = new HashSet<>();
        for (int i = 0; i < 2000; i++) seen.add(s.sample(logits, 0, logits.length).tokenId());
        assertEquals(Set.of(1, 3), seen);
    }

    @Test
    void topPYieldsExactlyTheSmallestSetReachingP() {
        // probabilities 0.5, 0.25, 0.15, 0.07, 0.03 (shuffled ids)
        float[] logits = logitsFromProbs(0.07, 0.25, 0.03, 0.5, 0.15);
        int draws = 20000;
        // p = 0.8: 0.5 + 0.25 = 0.75 < 0.8 ≤ 0.9 → {3, 1, 4}
        int[] h = histogram(new Sampler(seeded(8).topP(0.8).build(), NO_PROMPT), logits, draws);
        assertMatches(h, new double[] {0, 0.25 / 0.9, 0, 0.5 / 0.9, 0.15 / 0.9}, draws);
        // p = 0.5 → {3} only (0.5 ≥ 0.5 is allowed up to float rounding; use 0.49)
        h = histogram(new Sampler(seeded(9).topP(0.49).build(), NO_PROMPT), logits, 2000);
        assertEquals(2000, h[3]);
        // p = 0.95 → four tokens
        h = histogram(new Sampler(seeded(10).topP(0.95).build(), NO_PROMPT), logits, draws);
        assertMatches(h, new double[] {0.07 / 0.97, 0.25 / 0.97, 0, 0.5 / 0.97, 0.15 / 0.97}, draws);
        // top_p is renormalised after top_k (vLLM): top_k=2 leaves {0.5, 0.25} → 2/3, 1/3, so
        // p=0.66 keeps only token 3 although 0.5 < 0.66 in the original distribution
        h = histogram(new Sampler(seeded(11).topK(2).topP(0.6).build(), NO_PROMPT), logits, 2000);
        assertEquals(2000, h[3]);
        h = histogram(new Sampler(seeded(12).topK(2).topP(0.66).build(), NO_PROMPT), logits, 2000);
        assertEquals(2000, h[3]);
        h = histogram(new Sampler(seeded(13).topK(2).topP(0.68).build(), NO_PROMPT), logits, draws);
        assertMatches(h, new double[] {0, 1.0 / 3, 0, 2.0 / 3, 0}, draws);
    }

    @Test
    void topPOnLargeVocabularyStaysInsideTheBruteForceNucleus() {
        for (int trial = 0; trial < 4; trial++) {
            float[] logits = randomLogits(60000, 100 + trial, 2.5);
            double t = 0.7 + 0.3 * trial;
            double pTop = new double[] {0.5, 0.8, 0.9, 0.97}[trial];
            Set<Integer> nucleus = bruteForceNucleus(logits, t, pTop);
            Sampler s = new Sampler(seeded(trial).temperature(t).topP(pTop).build(), NO_PROMPT);
            Set<Integer> seen = new HashSet<>();
            for (int i = 0; i < 1000; i++) {
                int tok = s.sample(logits, 0, logits.length).tokenId();
                assertTrue(nucleus.contains(tok), "trial " + trial + ": token outside nucleus");
                seen.add(tok);
            }
            assertTrue(seen.size() > Math.min(nucleus.size(), 100) / 4, seen.size() + " of " + nucleus.size());
        }
    }

    @Test
    void topPDrawsExactlyTheNucleusOnLargeVocabularyIncludingTies() {
        int n = 152064;
        float[] logits = randomLogits(n, 31, 1.0);
        for (int i = 0; i < n; i++) logits[i] -= 8f; // a low background carrying ~5% of the mass
        SplittableRandom r = new SplittableRandom(32);
        // 40 strong tokens at scattered ids, 12 of them tied exactly
        List<Integer> strong = new ArrayList<>();
        while (strong.size() < 40) {
            int id = r.nextInt(n);
            if (!strong.contains(id)) strong.add(id);
        }
        for (int j = 0; j < 40; j++) logits[strong.get(j)] = j < 12 ? 4.0f : 3.5f + (float) r.nextDouble();
        Integer[] order = sortedOrder(logits);
        for (double pTop : new double[] {0.3, 0.55, 0.8}) {
            for (int topK : new int[] {-1, 1000}) { // the full-vocabulary path and the top_k path
                Set<Integer> nucleus = bruteForceNucleus(logits, 1.0, pTop, topK > 0 ? topK : n, order);
                assertTrue(nucleus.size() >= 5 && nucleus.size() <= 40, "nucleus " + nucleus.size());
                Sampler s = new Sampler(seeded(33).topP(pTop).topK(topK).build(), NO_PROMPT);
                Set<Integer> seen = new HashSet<>();
                for (int i = 0; i < 40 * nucleus.size(); i++) seen.add(s.sample(logits, 0, n).tokenId());
                assertEquals(nucleus, seen, "p=" + pTop + " top_k=" + topK);
            }
        }
        // only ties: 10 equal tokens of probability 0.1; p = 0.45 needs 5 → the 5 lowest ids
        float[] flat = new float[n];
        Arrays.fill(flat, Float.NEGATIVE_INFINITY);
        int[] ids = {150000, 7, 99999, 3, 60000, 1024, 1023, 42, 151999, 88888};
        for (int id : ids) flat[id] = 2f;
        Sampler s = new Sampler(seeded(34).topP(0.45).build(), NO_PROMPT);
        Set<Integer> seen = new HashSet<>();
        for (int i = 0; i < 500; i++) seen.add(s.sample(flat, 0, n).tokenId());
        assertEquals(Set.of(3, 7, 42, 1023, 1024), seen);
    }

    @Test
    void nucleusSelectionEqualsSortedPrefix() {
        SplittableRandom r = new SplittableRandom(3);
        for (int trial = 0; trial < 300; trial++) {
            int n = 1 + r.nextInt(trial < 200 ? 60 : 3000);
            float[] w = new float[n];
            float[] e = new float[n];
            for (int i = 0; i < n; i++) {
                w[i] = r.nextInt(3) == 0 ? r.nextInt(4) : (float) r.nextGaussian(); // many ties
                e[i] = (float) Math.exp(w[i]);
            }
            long[] keys = new long[n];
            double total = 0;
            for (int i = 0; i < n; i++) {
                keys[i] = LogitKernels.key(w[i], i);
                total += e[i];
            }
            double target = r.nextDouble() * total;
            long[] sorted = keys.clone();
            Arrays.sort(sorted);
            int expected = 0;
            double cum = 0;
            while (expected < n && cum < target) cum += e[LogitKernels.id(sorted[expected++])];
            expected = Math.max(expected, 1);
            // shuffle the input order
            for (int i = n - 1; i > 0; i--) {
                int j = r.nextInt(i + 1);
                long tmp = keys[i];
                keys[i] = keys[j];
                keys[j] = tmp;
            }
            int m = TopSelection.nucleus(keys, n, target, e);
            long[] got = Arrays.copyOf(keys, m);
            Arrays.sort(got);
            // always a prefix of the sorted order ...
            assertArrayEquals(Arrays.copyOf(sorted, m), got, "trial " + trial + " n=" + n);
            // ... of exactly the expected length, unless the boundary is within rounding
            if (m != expected) {
                double a = 0;
                for (int i = 0; i < Math.min(m, expected); i++) a += e[LogitKernels.id(sorted[i])];
                assertTrue(Math.abs(a - target) < 1e-9 * total, "trial " + trial + ": " + m + " vs " + expected);
            }
        }
    }

    @Test
    void keyOrderIsDescendingLogitThenAscendingId() {
        float[] v = {Float.NEGATIVE_INFINITY, -3f, -0.0f, 0.0f, 1e-30f, 2f, Float.MAX_VALUE};
        for (int i = 0; i < v.length; i++) {
            for (int j = 0; j < v.length; j++) {
                long a = LogitKernels.key(v[i], 5), b = LogitKernels.key(v[j], 5);
                assertEquals(-Float.compare(v[i] + 0.0f, v[j] + 0.0f), Long.signum(Long.compare(a, b)),
                        v[i] + " vs " + v[j]);
            }
        }
        assertTrue(LogitKernels.key(1f, 3) < LogitKernels.key(1f, 4));
        assertEquals(123456, LogitKernels.id(LogitKernels.key(-7f, 123456)));
    }

    @Test
    void minPDropsTokensBelowTheScaledMaximum() {
        // p = 0.5, 0.2, 0.1, 0.04, 0.16; min_p 0.3 → threshold 0.15 → {0, 1, 4}
        float[] logits = logitsFromProbs(0.5, 0.2, 0.1, 0.04, 0.16);
        int draws = 20000;
        int[] h = histogram(new Sampler(seeded(21).minP(0.3).build(), NO_PROMPT), logits, draws);
        assertMatches(h, new double[] {0.5 / 0.86, 0.2 / 0.86, 0, 0, 0.16 / 0.86}, draws);
        // min_p is applied after temperature: at T=0.5 probabilities are ∝ p², so min_p 0.1 keeps
        // p² ≥ 0.1·0.25: {0.25, 0.04, 0.0256} and drops 0.01 (which it would keep at T=1)
        h = histogram(new Sampler(seeded(22).minP(0.1).temperature(0.5).build(), NO_PROMPT), logits, draws);
        double z = 0.25 + 0.04 + 0.0256;
        assertMatches(h, new double[] {0.25 / z, 0.04 / z, 0, 0, 0.0256 / z}, draws);
        // min_p = 1 keeps only the argmax; together with top_k and top_p
        h = histogram(new Sampler(seeded(23).minP(1).build(), NO_PROMPT), logits, 1000);
        assertEquals(1000, h[0]);
        h = histogram(new Sampler(seeded(24).minP(0.3).topK(2).topP(0.99).build(), NO_PROMPT), logits, draws);
        assertMatches(h, new double[] {0.5 / 0.7, 0.2 / 0.7, 0, 0, 0}, draws);
    }
}
