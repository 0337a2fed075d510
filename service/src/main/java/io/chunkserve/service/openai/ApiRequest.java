package io.chunkserve.service.openai;

import io.chunkserve.sampling.SamplingParams;
import io.chunkserve.tokenizer.ChatMessage;

import java.util.List;

/**
 * A chat or completion request, parsed and validated, not yet tokenized.
 *
 * @param endpoint      which endpoint it came to
 * @param messages      the conversation (chat), else null
 * @param promptText    the prompt text (completions with a text prompt), else null
 * @param promptIds     the prompt token ids (completions with a token-id prompt), else null
 * @param params        validated sampling parameters; {@code maxTokens} is provisional until the
 *                      prompt length is known (see {@link #maxTokensGiven})
 * @param maxTokensGiven whether the client set max_tokens / max_completion_tokens (else the default
 *                      is the rest of the context)
 * @param stream        SSE response
 * @param includeUsage  {@code stream_options.include_usage}
 * @param user          the {@code user} field, or null
 */
record ApiRequest(Endpoint endpoint, List<ChatMessage> messages, String promptText, int[] promptIds, SamplingParams params,
                  boolean maxTokensGiven, boolean stream, boolean includeUsage, String user) { }
