package io.chunkserve.sampling;

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

/** Shared by the sampling tests: random logits, exact softmax, histograms and the chi-square check, a brute-force nucleus. */
final class SamplingTestSupport {
    private SamplingTestSupport() { }

    static final int[] NO_PROMPT = new int[0];

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

    static Set<Integer> bruteForceNucleus(float[] logits, double t, double p) {
        return bruteForceNucleus(logits, t, p, logits.length);
    }

    /** Full sort; top_p over the top_k survivors renormalised (vLLM order). */
    static Set<Integer> bruteForceNucleus(float[] logits, double t, double p, int topK) {
        return bruteForceNucleus(logits, t, p, topK, sortedOrder(logits));
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

    /** Ids by descending logit, ties by ascending id. */
    static Integer[] sortedOrder(float[] logits) {
        Integer[] order = IntStream.range(0, logits.length).boxed().toArray(Integer[]::new);
        Arrays.sort(order, Comparator.comparingDouble((Integer i) -> -logits[i]).thenComparingInt(i -> i));
        return order;
    }
}
