package io.chunkserve.service.openai;

import io.chunkserve.engine.RequestOutput;

/**
 * Writes one request's response from the engine's outputs: as SSE ({@link SseResponder}) or as one
 * JSON object ({@link JsonResponder}). Every method runs on the request's event loop.
 */
interface Responder {
    /** Called once the request is in the engine: a stream sends its headers and first chunks. */
    void start();

    /** One engine step's output for this request; the last one has {@code finished()} set. */
    void onOutput(RequestOutput output);

    /** Ends the response with an error (a stream sends it as an event, then {@code [DONE]}). */
    void fail(OpenAiError error);
}
