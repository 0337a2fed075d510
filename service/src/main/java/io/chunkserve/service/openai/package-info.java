/**
 * The OpenAI-compatible HTTP API ({@code /v1/chat/completions}, {@code /v1/completions}), framed
 * exactly as OpenAI frames it, streamed (SSE) or not.
 *
 * <p>{@link io.chunkserve.service.openai.OpenAiApi} mounts the routes. Per request:
 * {@code RequestParser} validates the body into an {@code ApiRequest} (400/404 as
 * {@link io.chunkserve.service.openai.OpenAiError}), {@code GenerationCall} runs admission,
 * tokenization (worker pool), the context check and submission, and a {@code Responder} — SSE
 * with bounded, coalescing backpressure ({@code SseResponder}) or one JSON object
 * ({@code JsonResponder}) — writes what the engine produces, on the request's event loop.
 * See {@code service/API.md} for the wire format.
 */
package io.chunkserve.service.openai;
