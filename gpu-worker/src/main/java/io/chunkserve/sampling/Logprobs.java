package io.chunkserve.sampling;

import java.util.Arrays;

/**
 * Log-probabilities as vLLM v1 reports them by default ({@code raw_logprobs}): log-softmax of the
 * raw logits, before penalties and temperature. One extra vectorised pass (sum-exp) plus a
 * bounded heap for the top alternatives; only computed when {@link SamplingParams#logprobs()}.
 */
final class Logprobs {
    private Logprobs() { }

    /**
     * {@code token} with its log-probability and the {@code topLogprobs} most likely
     * alternatives, from the raw logits {@code raw[rawOff .. rawOff + n)} whose maximum is {@code rawMax}.
     */
    static SampledToken of(int token, float[] raw, int rawOff, int n, float rawMax, int topLogprobs,
                           SamplerWorkspace ws) {
        double logSumExp = rawMax + Math.log(LogitKernels.sumExp(raw, rawOff, n, rawMax));
        float logprob = (float) (raw[rawOff + token] - logSumExp);
        int k = topLogprobs;
        if (k == 0) return new SampledToken(token, logprob, SampledToken.NO_IDS, SampledToken.NO_LOGPROBS);
        long[] heap = ws.topHeap;
        k = TopSelection.selectTop(raw, rawOff, n, k, heap);
        Arrays.sort(heap, 0, k); // ascending key = descending logit, ties by id
        int[] ids = new int[k];
        float[] lps = new float[k];
        for (int j = 0; j < k; j++) {
            int id = LogitKernels.id(heap[j]);
            ids[j] = id;
            lps[j] = (float) (raw[rawOff + id] - logSumExp);
        }
        return new SampledToken(token, logprob, ids, lps);
    }
}
