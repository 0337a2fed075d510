package io.chunkserve.service.request;

/**
 * The two shapes of a generation request, as OpenAI's two endpoints define them. The shape
 * decides which field names apply ({@code max_completion_tokens}, the two forms of
 * {@code logprobs}) and which field errors about the input name.
 */
public enum RequestKind {
    /** Messages through the chat template (/v1/chat/completions, a WebSocket {@code messages}, gRPC Chat). */
    CHAT("messages"),
    /** A raw prompt (/v1/completions, a WebSocket {@code prompt}, gRPC Generate). */
    COMPLETION("prompt");

    /** The field that carries the input. */
    public final String inputParam;

    RequestKind(String inputParam) {
        this.inputParam = inputParam;
    }
}
