package io.chunkserve.sampling;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
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

class SamplerTest {

    private static final int[] NO_PROMPT = new int[0];

    // ------------------------------------------------------------------ helpers

    static float[] randomLogits(int n, long seed, double scale) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] l = new float[n];
        for (int i = 0; i < n; i++) l[i] = (float) (r.nextGaussian() * scale);
        return l;
    }

    /** softmax(l / T) in double. */
    static double[] softmax(float[] l, double t) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : l) max = Math.max(max, v);
        double[] p = new double[l.length];
        double s = 0;
        for (int i = 0; i < l.length; i++) s += p[i] = Math.exp((l[i] - max) / t);
        for (int i = 0; i < l.length; i++) p[i] /= s;
        return p;
    }

    static float[] logitsFromProbs(double... p) {
        float[] l = new float[p.length];
        for (int i = 0; i < p.length; i++) l[i] = (float) Math.log(p[i]);
        return l;
    }

    static int[] histogram(Sampler s, float[] logits, int draws) {
        int[] h = new int[logits.length];
        for (int i = 0; i < draws; i++) h[s.sample(logits, 0, logits.length).tokenId()]++;
        return h;
    }

    /** Pearson chi-square statistic of the histogram against expected probabilities (> 0). */
    static double chiSquare(int[] h, double[] p, int draws) {
        double chi = 0;
        for (int i = 0; i < h.length; i++) {
            if (p[i] == 0) {
                assertEquals(0, h[i], "token " + i + " has probability 0 but was drawn");
                continue;
            }
            double exp = p[i] * draws;
            chi += (h[i] - exp) * (h[i] - exp) / exp;
        }
        return chi;
    }

    static double maxAbsError(int[] h, double[] p, int draws) {
        double err = 0;
        for (int i = 0; i < h.length; i++) err = Math.max(err, Math.abs((double) h[i] / draws - p[i]));
        return err;
    }

    /** Upper 0.1% point of chi-square with df degrees of freedom (Wilson–Hilferty). */
    static double chiSquareCritical(int df) {
        double z = 3.090232; // one-sided 0.999 normal quantile
        double a = 2.0 / (9 * df);
        return df * Math.pow(1 - a + z * Math.sqrt(a), 3);
    }

    static void assertMatches(int[] h, double[] p, int draws) {
        int df = (int) Arrays.stream(p).filter(x -> x > 0).count() - 1;
        double chi = chiSquare(h, p, draws);
        assertTrue(chi < chiSquareCritical(Math.max(df, 1)),
                "chi2=" + chi + " df=" + df + " hist=" + Arrays.toString(h) + " p=" + Arrays.toString(p));
        assertTrue(maxAbsError(h, p, draws) < 0.012, "hist=" + Arrays.toString(h) + " p=" + Arrays.toString(p));
    }

    static SamplingParams.Builder seeded(long seed) {
        return SamplingParams.builder().seed(seed).maxTokens(1000);
    }

    static List<Integer> generate(Sampler s, float[] base, int steps) {
        List<Integer> out = new ArrayList<>();
        for (int step = 0; step < steps; step++) {
            float[] l = base.clone();
            l[step % l.length] += 1f; // logits that change with the step
            int t = s.sample(l, 0, l.length).tokenId();
            s.accept(t);
            out.add(t);
        }
        return out;
    }

    // ------------------------------------------------------------------ seeds

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

    // ------------------------------------------------------------------ distributions

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

    static Set<Integer> bruteForceNucleus(float[] logits, double t, double p) {
        return bruteForceNucleus(logits, t, p, logits.length);
    }

    /** Full sort; top_p over the top_k survivors renormalised (vLLM order). */
    static Set<Integer> bruteForceNucleus(float[] logits, double t, double p, int topK) {
        return bruteForceNucleus(logits, t, p, topK, sortedOrder(logits));
    }

    /** Ids by descending logit, ties by ascending id. */
    static Integer[] sortedOrder(float[] logits) {
        Integer[] order = IntStream.range(0, logits.length).boxed().toArray(Integer[]::new);
        Arrays.sort(order, Comparator.comparingDouble((Integer i) -> -logits[i]).thenComparingInt(i -> i));
        return order;
    }

    static Set<Integer> bruteForceNucleus(float[] logits, double t, double p, int topK, Integer[] order) {
        double[] prob = softmax(logits, t);
        int k = Math.min(topK, order.length);
        double kept = 0;
        for (int j = 0; j < k; j++) kept += prob[order[j]];
        Set<Integer> out = new HashSet<>();
        double cum = 0;
        for (int j = 0; j < k; j++) {
            out.add(order[j]);
            cum += prob[order[j]];
            if (cum >= p * kept) break;
        }
        return out;
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

    // ------------------------------------------------------------------ penalties

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

    // ------------------------------------------------------------------ greedy

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
    void lowTemperatureConcentratesOnTheArgmax() {
        float[] logits = {1.0f, 1.1f, 0.9f};
        int[] h = histogram(new Sampler(seeded(1).temperature(0.01).build(), NO_PROMPT), logits, 2000);
        assertEquals(2000, h[1]);
    }

    // ------------------------------------------------------------------ logprobs

    @Test
    void logprobsAreRawLogSoftmaxAndSumToOne() {
        float[] logits = randomLogits(20, 9, 3.0);
        SamplingParams p = seeded(2).logprobs(true).topLogprobs(20).temperature(0.3)
                .repetitionPenalty(1.3).presencePenalty(1).build();
        Sampler s = new Sampler(p, new int[] {0, 1, 2});
        double[] ref = softmax(logits, 1.0);
        for (int step = 0; step < 20; step++) {
            SampledToken t = s.sample(logits, 0, logits.length);
            s.accept(t.tokenId());
            assertEquals(20, t.topTokenIds().length);
            double sum = 0;
            for (float lp : t.topLogprobs()) sum += Math.exp(lp);
            assertEquals(1.0, sum, 1e-5);
            // raw: independent of penalties and temperature
            assertEquals(Math.log(ref[t.tokenId()]), t.logprob(), 1e-5);
            for (int j = 0; j < 20; j++) {
                assertEquals(Math.log(ref[t.topTokenIds()[j]]), t.topLogprobs()[j], 1e-5);
            }
        }
    }

    @Test
    void topLogprobsAreTheTrueTopKSortedWithTiesById() {
        int n = 152064;
        float[] logits = randomLogits(n, 10, 2.0);
        logits[777] = 15f;
        logits[5] = 15f;      // tie with 777: lower id first
        logits[n - 1] = 14.5f; // in the vector tail
        double max = 15.0, sum = 0;
        for (float v : logits) sum += Math.exp(v - max);
        double lse = max + Math.log(sum);

        Integer[] order = IntStream.range(0, n).boxed().toArray(Integer[]::new);
        Arrays.sort(order, Comparator.comparingDouble((Integer i) -> -logits[i]).thenComparingInt(i -> i));
        SamplingParams p = seeded(3).logprobs(true).topLogprobs(7).topK(50).build();
        SampledToken t = new Sampler(p, NO_PROMPT).sample(logits, 0, n);
        int[] want = new int[7];
        for (int j = 0; j < 7; j++) want[j] = order[j];
        assertArrayEquals(want, t.topTokenIds());
        assertEquals(5, t.topTokenIds()[0]);
        assertEquals(777, t.topTokenIds()[1]);
        for (int j = 0; j < 7; j++) {
            assertEquals(logits[want[j]] - lse, t.topLogprobs()[j], 1e-4);
            if (j > 0) assertTrue(t.topLogprobs()[j - 1] >= t.topLogprobs()[j]);
        }
        assertEquals(logits[t.tokenId()] - lse, t.logprob(), 1e-4);

        // logprobs=true with top_logprobs=0: only the chosen token's
        SampledToken only = new Sampler(seeded(3).logprobs(true).build(), NO_PROMPT).sample(logits, 0, n);
        assertEquals(0, only.topTokenIds().length);
        assertEquals(logits[only.tokenId()] - lse, only.logprob(), 1e-4);
        // not requested: NaN
        SampledToken none = new Sampler(seeded(3).build(), NO_PROMPT).sample(logits, 0, n);
        assertFalse(none.hasLogprob());
        assertEquals(0, none.topLogprobs().length);
    }

    // ------------------------------------------------------------------ input handling

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
            assertEquals(y, x);
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
