package io.chunkserve.sampling;

import java.util.Arrays;

/**
 * The stochastic half of the sampling pipeline: temperature, min_p, top_k and top_p over
 * penalized logits, then the inverse-CDF draw. See {@link Sampler} for the order and the
 * algorithms; nothing here sorts the vocabulary. Immutable; scratch comes from a
 * {@link SamplerWorkspace}.
 */
final class TokenFilters {
    private final float invTemperature;
    private final int topK;
    private final float topP;
    private final float minP;

    /** The filters of {@code params}, which must not be greedy. */
    TokenFilters(SamplingParams params) {
        this.invTemperature = (float) (1.0 / params.temperature());
        this.topK = params.topK();
        this.topP = (float) params.topP();
        this.minP = (float) params.minP();
    }

    /**
     * Draws a token from the penalized logits {@code w[wOff .. wOff + n)} whose maximum is
     * {@code max}, after temperature, min_p, top_k and top_p, by inverse CDF at {@code u}.
     *
     * @param u the step's one uniform draw in [0, 1)
     */
    int draw(float[] w, int wOff, int n, float max, double u, SamplerWorkspace ws) {
        float[] e = ws.probs(n);
        boolean useTopP = topP < 1f;

        if (topK > 0 && topK < n) {
            long[] keys = ws.keys(topK);
            int c = TopSelection.selectTop(w, wOff, n, topK, keys);
            double mass = 0;
            int kept = 0;
            for (int j = 0; j < c; j++) {
                int id = LogitKernels.id(keys[j]);
                float x = (float) Math.exp((w[wOff + id] - max) * invTemperature);
                if (x > 0f && x >= minP) { // min_p (commutes with top_k)
                    e[id] = x;
                    keys[kept++] = keys[j];
                    mass += x;
                }
            }
            if (useTopP) kept = TopSelection.nucleus(keys, kept, topP * mass, e);
            return drawFromKeys(keys, kept, e, u);
        }

        double[] blocks = ws.blockSums(n);
        double total = LogitKernels.expBlocks(w, wOff, n, max, invTemperature, minP, e, blocks);
        if (!useTopP) return drawFromBlocks(e, n, blocks, total, u);

        return topPFullVocabulary(w, wOff, n, e, total, u, ws);
    }

    /**
     * top_p without top_k, over the whole vocabulary, in four steps that never sort:
     * <ol>
     *   <li>Pre-filter: tokens with {@code e < τ = (1 − p)·S / V} are never in the nucleus, since
     *       all of them together weigh less than {@code (1 − p)·S}. τ is taken at half this
     *       bound, which leaves a margin of {@code (1 − p)·S / 2} for the rounding of S.</li>
     *   <li>One pass builds a mass histogram of the survivors over 2^(1/16)-wide buckets of
     *       {@code e} (float exponent + 4 mantissa bits), skipping vectors without survivors
     *       ({@link LogitKernels#massHistogram}). Walking it from the top finds the boundary
     *       bucket: every token above it is in the nucleus. Buckets above τ's own are exact;
     *       τ's own may also hold sub-τ lanes of hit vectors, but it is only reached when the
     *       survivors in it are needed, and then only they are collected. If rounding ever put
     *       the boundary below τ's bucket, the histogram is redone over all tokens.</li>
     *   <li>Only the boundary bucket's tokens get keys; a mass-aware quickselect
     *       ({@link TopSelection#nucleus}) picks the prefix of them that completes the mass.</li>
     *   <li>The draw walks either the tokens above the boundary (vectorised membership test
     *       {@code e >= bucket top}, in id order) or the selected boundary tokens.</li>
     * </ol>
     * Steps 3 and 4 visit only the vectors in which step 2 found a survivor, so for a peaked
     * distribution they cost next to nothing.
     * Bucket membership is monotone in the penalized logit, so "above the boundary bucket" is a
     * prefix of the (logit desc, id asc) order and the result is exactly the nucleus.
     */
    private int topPFullVocabulary(float[] w, int wOff, int n, float[] e, double total, double u,
                                   SamplerWorkspace ws) {
        double target = topP * total;
        double[] hist = ws.histogram;
        // τ at half the bound leaves a margin of (1 − p)·S/2 for the rounding of S
        float tau = (float) (0.5 * (1.0 - topP) * total / n);
        if (!(tau > 0f)) tau = Float.MIN_VALUE;
        int[] hitVectors = ws.hitVectors(n);
        int hits = LogitKernels.massHistogram(e, n, tau, hist, hitVectors);
        int top = LogitKernels.BUCKETS - 1; // bucket of e = 1, the maximum
        int boundary = -1;
        double above = 0;
        for (int b = top; b >= 0; b--) {
            if (above + hist[b] >= target) {
                boundary = b;
                break;
            }
            above += hist[b];
        }
        if (boundary < 0 || Float.intBitsToFloat((boundary + 1) << LogitKernels.BUCKET_SHIFT) <= tau) {
            // only through rounding: redo over every token (a hit everywhere, exact buckets)
            Arrays.fill(hist, 0.0);
            tau = Float.MIN_VALUE;
            hits = LogitKernels.massHistogram(e, n, 0f, hist, hitVectors);
            above = 0;
            boundary = 0;
            for (int b = top; b > 0; b--) {
                if (above + hist[b] >= target) {
                    boundary = b;
                    break;
                }
                above += hist[b];
            }
        }
        Arrays.fill(hist, 0.0); // restore the all-zero invariant (16 kB)
        float lo = Math.max(tau, Float.intBitsToFloat(boundary << LogitKernels.BUCKET_SHIFT));
        float hi = Float.intBitsToFloat((boundary + 1) << LogitKernels.BUCKET_SHIFT);

        long[] keys = ws.keys(n);
        int c = LogitKernels.collectRange(e, n, lo, hi, w, wOff, hitVectors, hits, keys, 0);
        int m = TopSelection.nucleus(keys, c, target - above, e);
        double selected = 0;
        for (int j = 0; j < m; j++) selected += e[LogitKernels.id(keys[j])];

        double x = u * (above + selected);
        if (x < above) {
            int id = LogitKernels.walkAtLeast(e, n, hi, x, hitVectors, hits);
            if (id >= 0) return id;
        }
        return drawFromKeys(keys, m, e, Math.min(1.0, Math.max(0.0, (x - above) / selected)));
    }

    /** Inverse CDF over the vocabulary: choose the block by its sum, then walk inside it. */
    private static int drawFromBlocks(float[] e, int n, double[] blocks, double total, double u01) {
        double u = u01 * total;
        for (int b = 0, start = 0; start < n; b++, start += LogitKernels.BLOCK) {
            double bs = blocks[b];
            if (u < bs) {
                int end = Math.min(n, start + LogitKernels.BLOCK);
                double acc = 0;
                int last = -1;
                for (int i = start; i < end; i++) {
                    float x = e[i];
                    acc += x; // a zero (min_p) entry cannot make u < acc become true
                    if (u < acc) return i;
                    last = x > 0f ? i : last;
                }
                if (last >= 0) return last; // rounding: the block's walk fell short of its sum
            }
            u -= bs;
        }
        for (int i = n - 1; i >= 0; i--) if (e[i] > 0f) return i; // rounding at the very end
        throw new IllegalStateException("no token with positive probability");
    }

    /** Inverse CDF over the candidate keys (all with positive mass) in their array order. */
    private static int drawFromKeys(long[] keys, int c, float[] e, double u01) {
        double total = 0;
        for (int j = 0; j < c; j++) total += e[LogitKernels.id(keys[j])];
        double u = u01 * total;
        double acc = 0;
        for (int j = 0; j < c; j++) {
            int id = LogitKernels.id(keys[j]);
            acc += e[id];
            if (u < acc) return id;
        }
        return LogitKernels.id(keys[c - 1]);
    }
}
