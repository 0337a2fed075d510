package io.chunkserve.engine;

import io.chunkserve.sampling.FinishReason;

import java.util.List;

/**
 * What one engine step produced for one request: a delta per choice that advanced, batched so a
 * listener receives at most one of these per request per step.
 *
 * @param requestId the request
 * @param choices   deltas of the choices that produced text or finished this step
 * @param finished  true on the last output of the request (every choice finished)
 * @param usage     token counts; final on the last output
 * @param error     set when the request failed (then finished is true)
 */
public record RequestOutput(String requestId, List<ChoiceDelta> choices, boolean finished, Usage usage, String error) {

    /**
     * New tokens of one choice.
     *
     * @param index     the choice (0 .. n−1)
     * @param tokenIds  the tokens sampled this step
     * @param text      the text they completed (may be empty while a UTF-8 sequence or a possible stop string is pending)
     * @param logprobs  one entry per token when logprobs were requested, else empty
     * @param finish    why the choice ended, or null while it runs
     */
    public record ChoiceDelta(int index, int[] tokenIds, String text, List<TokenLogprob> logprobs, FinishReason finish) { }

    /**
     * @param id       token id
     * @param token    its text
     * @param logprob  its log-probability under the model (raw logits, before penalties and temperature)
     * @param top      the most likely alternatives, most likely first
     * @param bytes    the bytes the token stands for ({@link io.chunkserve.tokenizer.Tokenizer#tokenBytes}), or null
     *                 for the UTF-8 of {@code token}; not to be modified
     */
    public record TokenLogprob(int id, String token, float logprob, List<TokenLogprob> top, byte[] bytes) {
        public TokenLogprob(int id, String token, float logprob, List<TokenLogprob> top) {
            this(id, token, logprob, top, null);
        }

        /** The token's bytes: {@link #bytes} when known, else the UTF-8 of its text. */
        public byte[] utf8() {
            return bytes != null ? bytes : token.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof TokenLogprob t && id == t.id && Float.compare(logprob, t.logprob) == 0 && token.equals(t.token)
                    && top.equals(t.top) && java.util.Arrays.equals(utf8(), t.utf8());
        }

        @Override
        public int hashCode() {
            return java.util.Objects.hash(id, token, logprob, top);
        }
    }

    /**
     * @param promptTokens     prompt length
     * @param completionTokens tokens generated over all choices
     * @param cachedTokens     prompt tokens whose KV came from the prefix cache
     */
    public record Usage(int promptTokens, int completionTokens, int cachedTokens) { }
}
