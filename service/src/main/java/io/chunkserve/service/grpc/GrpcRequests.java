package io.chunkserve.service.grpc;

import io.chunkserve.service.generation.StreamingGeneration.ChatPrompt;
import io.chunkserve.service.generation.StreamingGeneration.TextPrompt;
import io.chunkserve.service.grpc.v1.ChatRequest;
import io.chunkserve.service.grpc.v1.GenerateRequest;
import io.chunkserve.service.request.ChatMessages;
import io.chunkserve.service.request.Identity;
import io.chunkserve.service.request.InvalidParameter;
import io.chunkserve.service.request.RequestKind;
import io.chunkserve.service.request.SamplingFields;
import io.chunkserve.tokenizer.ChatMessage;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Converts the protobuf requests into the engine's terms by the rules every front end shares.
 * Proto3 cannot tell an empty string from an unset one, so an empty {@code model} or {@code user}
 * is absent and an empty {@code prompt} or {@code role} is missing. Problems throw
 * {@link InvalidParameter} (answered as INVALID_ARGUMENT, or NOT_FOUND for an unknown model).
 */
final class GrpcRequests {
    private GrpcRequests() { }

    static GenerationCall.Parsed generate(GenerateRequest r, String servedModel) {
        Identity.checkModel(emptyToNull(r.getModel()), servedModel);
        if (r.getPrompt().isEmpty()) throw InvalidParameter.missing("prompt");
        return new GenerationCall.Parsed(user(r.getUser()), new TextPrompt(r.getPrompt()),
                SamplingFields.read(new ProtoSamplingFields(r.getParams()), RequestKind.COMPLETION, SamplingFields.Capabilities.SINGLE_STREAM));
    }

    static GenerationCall.Parsed chat(ChatRequest r, String servedModel) {
        Identity.checkModel(emptyToNull(r.getModel()), servedModel);
        ChatPrompt prompt = new ChatPrompt(messages(r.getMessagesList()));
        return new GenerationCall.Parsed(user(r.getUser()), prompt,
                SamplingFields.read(new ProtoSamplingFields(r.getParams()), RequestKind.CHAT, SamplingFields.Capabilities.SINGLE_STREAM));
    }

    private static List<ChatMessage> messages(List<io.chunkserve.service.grpc.v1.ChatMessage> in) {
        ChatMessages.requireSome(in.size());
        List<ChatMessage> out = new ArrayList<>(in.size());
        for (int i = 0; i < in.size(); i++) {
            io.chunkserve.service.grpc.v1.ChatMessage m = in.get(i);
            Map<String, Object> extra = m.getName().isEmpty() ? Map.of() : Map.of("name", m.getName());
            out.add(ChatMessages.of(emptyToNull(m.getRole()), m.getContent(), extra, "messages[" + i + "]"));
        }
        return out;
    }

    private static String user(String user) {
        return emptyToNull(Identity.checkUser(user));
    }

    private static String emptyToNull(String s) {
        return s.isEmpty() ? null : s;
    }
}
