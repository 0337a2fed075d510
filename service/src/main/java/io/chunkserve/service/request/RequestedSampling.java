package io.chunkserve.service.request;

import io.chunkserve.sampling.SamplingParams;

/**
 * A request's validated sampling settings. {@code max_tokens} is settled by {@link #forPrompt}
 * once the prompt's length is known: the value given, else the rest of the context (as vLLM).
 *
 * @param params         validated; its {@code maxTokens} is the value given, or 1 when none was
 * @param maxTokensGiven whether the client set {@code max_tokens} (or {@code max_completion_tokens})
 * @param kind           the request's shape (names the input in context-length errors)
 */
public record RequestedSampling(SamplingParams params, boolean maxTokensGiven, RequestKind kind) {

    /**
     * The final parameters for a prompt of {@code promptTokens} in a model of {@code contextLength}.
     *
     * @throws InvalidParameter ({@link InvalidParameter#CONTEXT_LENGTH_EXCEEDED}) when the prompt
     *                          leaves no room, or the prompt plus {@code max_tokens} exceeds the context
     */
    public SamplingParams forPrompt(int promptTokens, int contextLength) {
        String input = kind.inputParam;
        if (promptTokens >= contextLength) {
            throw new InvalidParameter("This model's maximum context length is " + contextLength + " tokens. However, your "
                    + input + " resulted in " + promptTokens + " tokens. Please reduce the length of the " + input + ".",
                    input, InvalidParameter.CONTEXT_LENGTH_EXCEEDED);
        }
        int room = contextLength - promptTokens;
        int max = params.maxTokens();
        if (!maxTokensGiven) return params.toBuilder().maxTokens(room).build();
        if (max > room) {
            throw new InvalidParameter("This model's maximum context length is " + contextLength + " tokens. However, you requested "
                    + ((long) promptTokens + max) + " tokens (" + promptTokens + " in the " + input + ", " + max
                    + " in the completion). Please reduce the length of the " + input + " or completion.",
                    input, InvalidParameter.CONTEXT_LENGTH_EXCEEDED);
        }
        return params;
    }
}
