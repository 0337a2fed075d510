package io.chunkserve.service.openai;

/**
 * The two generation endpoints and how OpenAI names their objects.
 */
enum Endpoint {
    CHAT("/v1/chat/completions", "chat.completion", "chat.completion.chunk", "chatcmpl-", "messages"),
    COMPLETION("/v1/completions", "text_completion", "text_completion", "cmpl-", "prompt");

    final String path;
    /** {@code object} of a non-streamed response. */
    final String object;
    /** {@code object} of a streamed chunk. */
    final String chunkObject;
    final String idPrefix;
    /** The parameter that carries the input (named in errors about it). */
    final String inputParam;

    Endpoint(String path, String object, String chunkObject, String idPrefix, String inputParam) {
        this.path = path;
        this.object = object;
        this.chunkObject = chunkObject;
        this.idPrefix = idPrefix;
        this.inputParam = inputParam;
    }
}
