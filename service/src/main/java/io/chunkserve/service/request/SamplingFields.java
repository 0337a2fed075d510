package io.chunkserve.service.request;

import io.chunkserve.sampling.LogitBias;
import io.chunkserve.sampling.SamplingParams;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The one mapping from request fields to the engine's {@link SamplingParams}, with one set of
 * rules and messages for every front end. Fields follow the OpenAI API: {@code temperature},
 * {@code top_p}, {@code seed}, {@code presence_penalty}, {@code frequency_penalty}, {@code stop},
 * {@code max_tokens} ({@code max_completion_tokens} in chat, where it wins), {@code n},
 * {@code logprobs} (a boolean with {@code top_logprobs} in chat, an integer in completions); and
 * vLLM's extensions {@code top_k}, {@code min_p}, {@code repetition_penalty},
 * {@code stop_token_ids}, {@code ignore_eos}; {@code logit_bias} (token id strings to values in
 * [-100, 100]). Features this server cannot honour ({@code best_of} other than {@code n}) are
 * refused, not silently dropped.
 * Range rules are {@link SamplingParams}'s; its messages start with the field's wire name.
 */
public final class SamplingFields {
    private SamplingFields() { }

    /**
     * What a front end can deliver.
     *
     * @param maxN     the largest {@code n} (1 where a stream has no choice index)
     * @param logprobs whether it can return log-probabilities
     */
    public record Capabilities(int maxN, boolean logprobs) {
        /** One sequence of tokens, no log-probabilities (the WebSocket and gRPC streams). */
        public static final Capabilities SINGLE_STREAM = new Capabilities(1, false);
    }

    /** @throws InvalidParameter naming the first field it refuses */
    public static RequestedSampling read(RequestFields f, RequestKind kind, Capabilities caps) {
        refuseUnsupported(f);
        String maxParam = kind == RequestKind.CHAT && f.has("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
        Integer maxTokens = int32(f, maxParam);
        SamplingParams.Builder b = SamplingParams.builder().maxTokens(maxTokens == null ? 1 : maxTokens);
        Double d;
        Integer i;
        if ((d = f.number("temperature")) != null) b.temperature(d);
        if ((d = f.number("top_p")) != null) b.topP(d);
        if ((i = int32(f, "top_k")) != null) b.topK(i);
        if ((d = f.number("min_p")) != null) b.minP(d);
        if ((d = f.number("presence_penalty")) != null) b.presencePenalty(d);
        if ((d = f.number("frequency_penalty")) != null) b.frequencyPenalty(d);
        if ((d = f.number("repetition_penalty")) != null) b.repetitionPenalty(d);
        Long seed = f.integer("seed");
        if (seed != null) b.seed(seed);
        Boolean ignoreEos = f.bool("ignore_eos");
        if (ignoreEos != null) b.ignoreEos(ignoreEos);
        b.stop(f.strings("stop"));
        b.stopTokenIds(stopTokenIds(f));
        b.logitBias(logitBias(f));
        Integer n = int32(f, "n");
        if (n != null) b.n(checkN(n, caps.maxN()));
        logprobs(f, kind, caps, b);
        return new RequestedSampling(build(b, maxParam), maxTokens != null, kind);
    }

    private static void refuseUnsupported(RequestFields f) {
        Integer bestOf = int32(f, "best_of");
        Integer n = int32(f, "n");
        if (bestOf != null && bestOf != (n == null ? 1 : n)) throw InvalidParameter.unsupported("best_of");
    }

    private static int checkN(int n, int maxN) {
        if (n <= maxN) return n; // n < 1 is SamplingParams's to refuse
        if (maxN == 1) throw InvalidParameter.of("n must be 1 on this API, got " + n + " (send several requests instead)", "n");
        throw InvalidParameter.of("n must be at most " + maxN + ", got " + n, "n");
    }

    private static List<Integer> stopTokenIds(RequestFields f) {
        List<Long> ids = f.integers("stop_token_ids");
        if (ids == null) return List.of();
        List<Integer> out = new ArrayList<>(ids.size());
        for (long id : ids) {
            if (id < 0 || id > Integer.MAX_VALUE) {
                throw InvalidParameter.of("stop_token_ids must contain token ids in [0, " + Integer.MAX_VALUE + "], got " + id,
                        "stop_token_ids");
            }
            out.add((int) id);
        }
        return out;
    }

    /** OpenAI's map of token ids (as strings: JSON keys) to biases; range rules are {@link LogitBias#of}'s. */
    private static LogitBias logitBias(RequestFields f) {
        Map<String, Object> raw = f.map("logit_bias");
        if (raw == null || raw.isEmpty()) return LogitBias.NONE;
        Map<Integer, Double> bias = new HashMap<>(raw.size() * 2);
        for (Map.Entry<String, Object> e : raw.entrySet()) {
            long id;
            try {
                id = Long.parseLong(e.getKey());
            } catch (NumberFormatException x) {
                throw InvalidParameter.of("logit_bias keys must be token ids (integers), got \"" + e.getKey() + "\"", "logit_bias");
            }
            if (id < 0 || id > Integer.MAX_VALUE) {
                throw InvalidParameter.of("logit_bias keys must be token ids in [0, " + Integer.MAX_VALUE + "], got " + e.getKey(), "logit_bias");
            }
            if (!(e.getValue() instanceof Number v)) {
                throw InvalidParameter.of("logit_bias values must be numbers in [-100, 100], got " + e.getValue() + " for token " + e.getKey(),
                        "logit_bias");
            }
            bias.put((int) id, v.doubleValue());
        }
        try {
            return LogitBias.of(bias);
        } catch (IllegalArgumentException x) {
            throw InvalidParameter.of(x.getMessage(), "logit_bias");
        }
    }

    private static void logprobs(RequestFields f, RequestKind kind, Capabilities caps, SamplingParams.Builder b) {
        if (kind == RequestKind.CHAT) {
            Boolean lp = f.bool("logprobs");
            Integer top = int32(f, "top_logprobs");
            if (!caps.logprobs() && (Boolean.TRUE.equals(lp) || top != null && top != 0)) throw logprobsUnavailable(lp != null ? "logprobs" : "top_logprobs");
            b.logprobs(Boolean.TRUE.equals(lp)).topLogprobs(top == null ? 0 : top);
            return;
        }
        Integer lp = int32(f, "logprobs");
        if (lp == null) return;
        if (!caps.logprobs()) throw logprobsUnavailable("logprobs");
        if (lp < 0 || lp > SamplingParams.MAX_TOP_LOGPROBS) {
            throw InvalidParameter.of("logprobs must be in [0, " + SamplingParams.MAX_TOP_LOGPROBS + "], got " + lp, "logprobs");
        }
        b.logprobs(true).topLogprobs(lp);
    }

    private static InvalidParameter logprobsUnavailable(String param) {
        return InvalidParameter.of(param + " is not available on this API (the OpenAI HTTP API returns log-probabilities)", param);
    }

    /** Builds, turning SamplingParams's refusal into an InvalidParameter named as the client wrote it. */
    private static SamplingParams build(SamplingParams.Builder b, String maxParam) {
        try {
            return b.build();
        } catch (IllegalArgumentException e) {
            String msg = e.getMessage();
            String param = leadingName(msg);
            if ("max_tokens".equals(param) && !maxParam.equals(param)) {
                msg = maxParam + msg.substring(param.length());
                param = maxParam;
            }
            throw InvalidParameter.of(msg, param);
        }
    }

    private static Integer int32(RequestFields f, String name) {
        Long v = f.integer(name);
        if (v != null && v != v.intValue()) throw InvalidParameter.outOfRange(name, v);
        return v == null ? null : v.intValue();
    }

    /**
     * The parameter an engine refusal at submission names: {@code logit_bias} when it names a token outside the
     * vocabulary, else the request's input ({@code prompt} / {@code messages}: too long, too big for the KV cache).
     */
    public static String engineRefusalParam(String message, String inputParam) {
        return message != null && message.startsWith("logit_bias ") ? "logit_bias" : inputParam;
    }

    /** SamplingParams messages start with the parameter's wire name. */
    static String leadingName(String message) {
        if (message == null) return null;
        int end = 0;
        while (end < message.length() && (Character.isLetterOrDigit(message.charAt(end)) || message.charAt(end) == '_')) end++;
        return end == 0 ? null : message.substring(0, end);
    }
}
