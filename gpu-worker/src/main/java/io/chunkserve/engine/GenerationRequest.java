package io.chunkserve.engine;

import io.chunkserve.sampling.SamplingParams;

/**
 * What the engine needs to run one request: already tokenized, already validated.
 *
 * @param id         unique request id (used to abort it)
 * @param tenant     the tenant it is charged to (scheduling fairness, metrics)
 * @param promptIds  prompt token ids
 * @param params     sampling parameters; {@code params.n()} samples share the prompt's KV
 * @param cacheSalt  prefix-cache salt: requests with different salts never share KV
 */
public record GenerationRequest(String id, String tenant, int[] promptIds, SamplingParams params, long cacheSalt) {
    public GenerationRequest {
        if (promptIds.length == 0) throw new IllegalArgumentException("the prompt is empty");
    }

    @Override
    public String toString() {
        // Never the prompt text or ids: logs must not leak tenants' data.
        return "GenerationRequest[id=" + id + ", tenant=" + tenant + ", promptTokens=" + promptIds.length + ", n=" + params.n() + "]";
    }
}
