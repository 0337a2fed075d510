package io.chunkserve.service.ws;

import io.chunkserve.service.generation.StreamingGeneration.ChatPrompt;
import io.chunkserve.service.generation.StreamingGeneration.Prompt;
import io.chunkserve.service.generation.StreamingGeneration.TextPrompt;
import io.chunkserve.service.request.ChatMessages;
import io.chunkserve.service.request.Identity;
import io.chunkserve.service.request.InvalidParameter;
import io.chunkserve.service.request.JsonFields;
import io.chunkserve.service.request.RequestKind;
import io.chunkserve.service.request.RequestedSampling;
import io.chunkserve.service.request.SamplingFields;
import io.vertx.core.json.JsonObject;

/**
 * Reads a WebSocket {@code generate} message: a {@code prompt} (like /v1/completions) or
 * {@code messages} (like /v1/chat/completions), and the sampling fields, by the rules every front
 * end shares. One stream per generation: {@code n} must be 1 and log-probabilities are not
 * returned. Every problem throws {@link InvalidParameter}, ready for an error frame.
 */
final class WsRequests {
    private WsRequests() { }

    /** A parsed {@code generate} message. */
    record Generate(Prompt prompt, RequestedSampling sampling, String user) { }

    static Generate parse(JsonObject m, String servedModel) {
        JsonFields f = new JsonFields(m);
        Identity.checkModel(f.string("model"), servedModel);
        if (f.has("prompt") == f.has("messages")) throw InvalidParameter.of("exactly one of prompt and messages is required", "prompt");
        Prompt prompt;
        RequestKind kind;
        if (f.has("prompt")) {
            prompt = new TextPrompt(f.string("prompt"));
            kind = RequestKind.COMPLETION;
        } else {
            prompt = new ChatPrompt(ChatMessages.fromJson(f));
            kind = RequestKind.CHAT;
        }
        String user = Identity.checkUser(f.string("user"));
        return new Generate(prompt, SamplingFields.read(f, kind, SamplingFields.Capabilities.SINGLE_STREAM), user);
    }
}
