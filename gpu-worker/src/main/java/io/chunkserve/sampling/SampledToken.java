package io.chunkserve.sampling;

import java.util.Arrays;

/**
 * One sampled token and, when requested, its log-probabilities.
 *
 * <p>Log-probabilities follow vLLM v1's default ({@code logprobs_mode = raw_logprobs}): they are
 * the log-softmax of the model's <em>raw</em> logits, before penalties, temperature and filters,
 * so they describe the model rather than the sampling configuration.
 *
 * <p>The arrays are owned by this result (freshly allocated per call, never reused by the
 * sampler); they are exposed without copying for the hot path, so callers must not mutate them.
 * {@code equals}/{@code hashCode}/{@code toString} compare array contents.
 *
 * @param tokenId      the chosen token id
 * @param logprob      its raw log-probability, or {@code NaN} if logprobs were not requested
 * @param topTokenIds  the {@code top_logprobs} most likely token ids by raw logit, sorted by
 *                     descending log-probability, ties by ascending id; empty if not requested
 *                     (the chosen token may or may not be among them, as in OpenAI)
 * @param topLogprobs  their raw log-probabilities, same order and length as {@code topTokenIds}
 */
public record SampledToken(int tokenId, float logprob, int[] topTokenIds, float[] topLogprobs) {

    static final int[] NO_IDS = new int[0];
    static final float[] NO_LOGPROBS = new float[0];

    public SampledToken {
        if (topTokenIds == null) topTokenIds = NO_IDS;
        if (topLogprobs == null) topLogprobs = NO_LOGPROBS;
        if (topTokenIds.length != topLogprobs.length) {
            throw new IllegalArgumentException("topTokenIds and topLogprobs differ in length");
        }
    }

    /** A result without log-probabilities. */
    public static SampledToken of(int tokenId) {
        return new SampledToken(tokenId, Float.NaN, NO_IDS, NO_LOGPROBS);
    }

    /** Whether {@link #logprob()} was computed. */
    public boolean hasLogprob() {
        return !Float.isNaN(logprob);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SampledToken t && t.tokenId == tokenId
                && Float.compare(t.logprob, logprob) == 0
                && Arrays.equals(t.topTokenIds, topTokenIds)
                && Arrays.equals(t.topLogprobs, topLogprobs);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * (31 * tokenId + Float.hashCode(logprob)) + Arrays.hashCode(topTokenIds))
                + Arrays.hashCode(topLogprobs);
    }

    @Override
    public String toString() {
        return "SampledToken[tokenId=" + tokenId + ", logprob=" + logprob
                + ", top=" + Arrays.toString(topTokenIds) + " " + Arrays.toString(topLogprobs) + "]";
    }
}
