package io.chunkserve.sampling;

import java.util.Arrays;

/**
 * The definition of a runner's own stochastic draw (the CUDA runner's {@code cs_sample}), written plainly for
 * tests and checks: the same distribution as {@link Sampler} without penalties — temperature, then top_k (the
 * first k tokens by descending logit, ties by lower id), min_p ({@code exp((l − max)/T) ≥ min_p}), top_p (the
 * shortest prefix of that order whose mass reaches top_p of what is left) — and one inverse-CDF draw that walks
 * the kept tokens in id order to {@code u ·} their mass. Sorts the vocabulary: not for the hot path.
 */
public final class SamplingReference {
    private SamplingReference() { }

    /** The kept tokens' weights (0 for the others), or null when the maximum logit is not finite. */
    public static double[] keptWeights(float[] logits, int off, int vocab, float invT, int topK, float topP, float minP) {
        float m = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) {
            float v = logits[off + i];
            if (!Float.isFinite(v)) return null;
            m = Math.max(m, v);
        }
        Integer[] order = new Integer[vocab];
        for (int i = 0; i < vocab; i++) order[i] = i;
        Arrays.sort(order, (a, b) -> {
            int c = Float.compare(logits[off + b] + 0.0f, logits[off + a] + 0.0f);
            return c != 0 ? c : Integer.compare(a, b);
        });
        boolean[] kept = new boolean[vocab];
        int k = topK > 0 && topK < vocab ? topK : vocab;
        for (int j = 0; j < k; j++) kept[order[j]] = true;
        double[] e = new double[vocab];
        double s = 0;
        for (int i = 0; i < vocab; i++) {
            float x = (float) Math.exp((logits[off + i] - m) * invT);
            if (kept[i] && x > 0f && x >= minP) {
                e[i] = x;
                s += x;
            }
        }
        if (topP < 1f) {
            double target = (double) topP * s, acc = 0;
            boolean in = true;
            for (int j = 0; j < vocab; j++) {
                int id = order[j];
                if (e[id] == 0) continue;
                if (!in) {
                    e[id] = 0;
                    continue;
                }
                acc += e[id];
                if (acc >= target) in = false;
            }
        }
        return e;
    }

    /** The token drawn at u in [0, 1), or -1 when the maximum logit is not finite. */
    public static int pick(float[] logits, int off, int vocab, float invT, int topK, float topP, float minP, double u) {
        double[] e = keptWeights(logits, off, vocab, invT, topK, topP, minP);
        if (e == null) return -1;
        return draw(e, u);
    }

    /**
     * The log-probabilities the host sampler reports for {@code token} ({@link Sampler#sample} with logprobs on): the
     * log-softmax of the raw logits {@code logits[off .. off + vocab)} (all finite), the token's and the
     * {@code topLogprobs} largest (descending, ties by lower id). The same code as the host sampler's.
     */
    public static SampledToken logprobs(float[] logits, int off, int vocab, int token, int topLogprobs) {
        return Logprobs.of(token, logits, off, vocab, LogitKernels.max(logits, off, vocab), topLogprobs, new SamplerWorkspace());
    }

    /** Inverse CDF over weights in id order at u · their sum. */
    public static int draw(double[] e, double u) {
        double total = 0;
        int last = -1;
        for (int i = 0; i < e.length; i++) {
            if (e[i] > 0) {
                total += e[i];
                last = i;
            }
        }
        double x = u * total, acc = 0;
        for (int i = 0; i < e.length; i++) {
            if (e[i] <= 0) continue;
            acc += e[i];
            if (x < acc) return i;
        }
        return last;
    }
}
