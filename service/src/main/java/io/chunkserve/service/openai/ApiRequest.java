package io.chunkserve.service.openai;

import io.chunkserve.sampling.SamplingParams;
import io.chunkserve.service.request.RequestedSampling;
import io.chunkserve.tokenizer.ChatMessage;

import java.util.List;

/**
 * A chat or completion request, parsed and validated, not yet tokenized.
 *
 * @param endpoint      which endpoint it came to
 * @param messages      the conversation (chat), else null
 * @param promptText    the prompt text (completions with a text prompt), else null
 * @param promptIds     the prompt token ids (completions with a token-id prompt), else null
 * @param sampling      validated sampling parameters; {@code max_tokens} is settled by
 *                      {@link RequestedSampling#forPrompt} once the prompt length is known
 * @param stream        SSE response
 * @param includeUsage  {@code stream_options.include_usage}
 * @param user          the {@code user} field, or null
 */
record ApiRequest(Endpoint endpoint, List<ChatMessage> messages, String promptText, int[] promptIds, RequestedSampling sampling,
                  boolean stream, boolean includeUsage, String user) {

    /** The sampling parameters; {@code maxTokens} is provisional (see {@link #sampling}). */
    SamplingParams params() { return sampling.params(); }
}
