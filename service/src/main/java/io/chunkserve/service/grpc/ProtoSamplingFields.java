package io.chunkserve.service.grpc;

import io.chunkserve.service.grpc.v1.SamplingParams;
import io.chunkserve.service.request.RequestFields;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The protobuf {@link SamplingParams} seen as request fields by their OpenAI wire names. Protobuf
 * fixes the types; an unset optional field reads as absent, and the unsigned fields
 * ({@code max_tokens}, {@code stop_token_ids}) read as the unsigned values sent, so range errors
 * quote what the client wrote ({@code logit_bias}'s uint32 keys too). Fields the message lacks ({@code n}, {@code logprobs}, ...) are absent.
 */
final class ProtoSamplingFields implements RequestFields {
    private final SamplingParams p;

    ProtoSamplingFields(SamplingParams p) {
        this.p = p;
    }

    @Override
    public boolean has(String name) {
        return switch (name) {
            case "stop" -> p.getStopCount() > 0;
            case "stop_token_ids" -> p.getStopTokenIdsCount() > 0;
            case "logit_bias" -> p.getLogitBiasCount() > 0;
            default -> number(name) != null || integer(name) != null || bool(name) != null;
        };
    }

    @Override
    public Double number(String name) {
        return switch (name) {
            case "temperature" -> p.hasTemperature() ? p.getTemperature() : null;
            case "top_p" -> p.hasTopP() ? p.getTopP() : null;
            case "min_p" -> p.hasMinP() ? p.getMinP() : null;
            case "presence_penalty" -> p.hasPresencePenalty() ? p.getPresencePenalty() : null;
            case "frequency_penalty" -> p.hasFrequencyPenalty() ? p.getFrequencyPenalty() : null;
            case "repetition_penalty" -> p.hasRepetitionPenalty() ? p.getRepetitionPenalty() : null;
            default -> null;
        };
    }

    @Override
    public Long integer(String name) {
        return switch (name) {
            case "max_tokens" -> p.hasMaxTokens() ? Integer.toUnsignedLong(p.getMaxTokens()) : null; // uint32
            case "top_k" -> p.hasTopK() ? (long) p.getTopK() : null;
            case "seed" -> p.hasSeed() ? p.getSeed() : null;
            default -> null;
        };
    }

    @Override
    public Boolean bool(String name) {
        return name.equals("ignore_eos") ? p.getIgnoreEos() : null;
    }

    @Override
    public List<String> strings(String name) {
        return name.equals("stop") ? p.getStopList() : null;
    }

    @Override
    public List<Long> integers(String name) {
        if (!name.equals("stop_token_ids")) return null;
        List<Long> out = new ArrayList<>(p.getStopTokenIdsCount());
        for (int id : p.getStopTokenIdsList()) out.add(Integer.toUnsignedLong(id)); // uint32
        return out;
    }

    @Override
    public Map<String, Object> map(String name) {
        if (!name.equals("logit_bias")) return null;
        Map<String, Object> out = new LinkedHashMap<>();
        for (Map.Entry<Integer, Double> e : p.getLogitBiasMap().entrySet()) out.put(Integer.toUnsignedString(e.getKey()), e.getValue()); // uint32
        return out;
    }
}
