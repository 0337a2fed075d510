package io.chunkserve.service.grpc;

import io.chunkserve.sampling.SamplingParams;
import io.chunkserve.tokenizer.ChatMessage;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Converts the protobuf request fields into the engine's types. Problems throw
 * {@link IllegalArgumentException} naming the field (answered as INVALID_ARGUMENT).
 */
final class GrpcRequests {
    private GrpcRequests() { }

    /** Sampling settings except max_tokens; unset fields keep the OpenAI defaults. */
    static SamplingParams.Builder params(io.chunkserve.service.grpc.v1.SamplingParams p) {
        SamplingParams.Builder b = SamplingParams.builder();
        if (p.hasTemperature()) b.temperature(p.getTemperature());
        if (p.hasTopP()) b.topP(p.getTopP());
        if (p.hasTopK()) b.topK(p.getTopK());
        if (p.hasMinP()) b.minP(p.getMinP());
        if (p.hasSeed()) b.seed(p.getSeed());
        if (p.hasPresencePenalty()) b.presencePenalty(p.getPresencePenalty());
        if (p.hasFrequencyPenalty()) b.frequencyPenalty(p.getFrequencyPenalty());
        if (p.hasRepetitionPenalty()) b.repetitionPenalty(p.getRepetitionPenalty());
        b.stop(p.getStopList());
        List<Integer> stopIds = new ArrayList<>(p.getStopTokenIdsCount());
        for (int id : p.getStopTokenIdsList()) {
            if (id < 0) throw new IllegalArgumentException("stop_token_ids must be below 2^31, got " + Integer.toUnsignedString(id));
            stopIds.add(id);
        }
        b.stopTokenIds(stopIds);
        b.ignoreEos(p.getIgnoreEos());
        return b;
    }

    /** max_tokens, or null (the rest of the context) when unset. */
    static Integer maxTokens(io.chunkserve.service.grpc.v1.SamplingParams p) {
        if (!p.hasMaxTokens()) return null;
        int v = p.getMaxTokens(); // uint32 arrives as a signed int
        if (v <= 0) throw new IllegalArgumentException("max_tokens must be in [1, 2^31), got " + Integer.toUnsignedString(v));
        return v;
    }

    static List<ChatMessage> messages(List<io.chunkserve.service.grpc.v1.ChatMessage> in) {
        List<ChatMessage> out = new ArrayList<>(in.size());
        for (int i = 0; i < in.size(); i++) {
            io.chunkserve.service.grpc.v1.ChatMessage m = in.get(i);
            if (m.getRole().isEmpty()) throw new IllegalArgumentException("messages[" + i + "].role must be set");
            out.add(new ChatMessage(m.getRole(), m.getContent(), m.getName().isEmpty() ? Map.of() : Map.of("name", m.getName())));
        }
        return out;
    }
}
