package io.chunkserve.service.openai;

import io.chunkserve.sampling.SamplingParams;
import io.chunkserve.tokenizer.ChatMessage;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Turns a request body into an {@link ApiRequest}, or throws {@link OpenAiError} (400, or 404 for
 * an unknown model) naming the offending parameter. Parameters follow the OpenAI API; vLLM's
 * extensions ({@code top_k}, {@code min_p}, {@code repetition_penalty}, {@code stop_token_ids},
 * {@code ignore_eos}) are accepted too. Unknown fields are ignored, as vLLM does, but known OpenAI
 * features this server cannot honour ({@code echo}, {@code suffix}, {@code logit_bias},
 * {@code tools}, structured {@code response_format}, ...) are refused rather than silently dropped.
 */
final class RequestParser {
    private static final Set<String> ROLES = Set.of("system", "developer", "user", "assistant", "tool");
    private static final int MAX_USER_CHARS = 256;

    private final String modelName;
    private final int vocabSize;
    private final int maxN;

    /**
     * @param modelName the served model's name ({@code model} must match it when given)
     * @param vocabSize token ids of a prompt must be below it
     * @param maxN      the largest {@code n} (the engine's batch of sequences)
     */
    RequestParser(String modelName, int vocabSize, int maxN) {
        this.modelName = modelName;
        this.vocabSize = vocabSize;
        this.maxN = maxN;
    }

    ApiRequest parse(Endpoint endpoint, JsonObject body) {
        JsonArgs a = new JsonArgs(body);
        String model = a.string("model");
        if (model != null && !model.equals(modelName)) {
            throw new OpenAiError(404, "invalid_request_error", "The model `" + model + "` does not exist. This server serves `"
                    + modelName + "`.", "model", "model_not_found");
        }
        refuseUnsupported(a);
        List<ChatMessage> messages = null;
        String promptText = null;
        int[] promptIds = null;
        if (endpoint == Endpoint.CHAT) {
            messages = messages(a);
        } else {
            Object p = prompt(a);
            if (p instanceof String s) promptText = s;
            else promptIds = (int[]) p;
        }
        boolean stream = Boolean.TRUE.equals(a.bool("stream"));
        JsonObject so = a.object("stream_options");
        boolean includeUsage = false;
        if (so != null) {
            if (!stream) throw OpenAiError.invalid("The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options");
            Object iu = so.getValue("include_usage");
            if (iu != null && !(iu instanceof Boolean)) throw OpenAiError.invalidType("stream_options.include_usage", "a boolean", iu);
            includeUsage = Boolean.TRUE.equals(iu);
        }
        String user = a.string("user");
        if (user != null && user.length() > MAX_USER_CHARS) {
            throw OpenAiError.invalid("'user' must be at most " + MAX_USER_CHARS + " characters", "user");
        }
        Integer maxTokens = endpoint == Endpoint.CHAT && a.has("max_completion_tokens")
                ? a.integer("max_completion_tokens") : a.integer("max_tokens");
        String maxParam = endpoint == Endpoint.CHAT && a.has("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
        SamplingParams params = sampling(endpoint, a, maxTokens, maxParam);
        return new ApiRequest(endpoint, messages, promptText, promptIds, params, maxTokens != null, stream, includeUsage, user);
    }

    private SamplingParams sampling(Endpoint endpoint, JsonArgs a, Integer maxTokens, String maxParam) {
        SamplingParams.Builder b = SamplingParams.builder().maxTokens(maxTokens == null ? 1 : maxTokens);
        Double d;
        Integer i;
        if ((d = a.number("temperature")) != null) b.temperature(d);
        if ((d = a.number("top_p")) != null) b.topP(d);
        if ((i = a.integer("top_k")) != null) b.topK(i);
        if ((d = a.number("min_p")) != null) b.minP(d);
        if ((d = a.number("presence_penalty")) != null) b.presencePenalty(d);
        if ((d = a.number("frequency_penalty")) != null) b.frequencyPenalty(d);
        if ((d = a.number("repetition_penalty")) != null) b.repetitionPenalty(d);
        Long seed = a.longInteger("seed");
        if (seed != null) b.seed(seed);
        Boolean ignoreEos = a.bool("ignore_eos");
        if (ignoreEos != null) b.ignoreEos(ignoreEos);
        b.stop(stops(a));
        b.stopTokenIds(stopTokenIds(a));
        Integer n = a.integer("n");
        if (n != null) {
            if (n > maxN) throw OpenAiError.invalid("n must be at most " + maxN + ", got " + n, "n");
            b.n(n);
        }
        if (endpoint == Endpoint.CHAT) {
            Boolean lp = a.bool("logprobs");
            Integer top = a.integer("top_logprobs");
            b.logprobs(Boolean.TRUE.equals(lp)).topLogprobs(top == null ? 0 : top);
        } else {
            Integer lp = a.integer("logprobs");
            if (lp != null) {
                if (lp < 0 || lp > SamplingParams.MAX_TOP_LOGPROBS) {
                    throw OpenAiError.invalid("logprobs must be in [0, " + SamplingParams.MAX_TOP_LOGPROBS + "], got " + lp, "logprobs");
                }
                b.logprobs(true).topLogprobs(lp);
            }
        }
        try {
            return b.build();
        } catch (IllegalArgumentException e) {
            String param = leadingName(e.getMessage());
            String msg = e.getMessage();
            if ("max_tokens".equals(param) && !maxParam.equals(param)) {
                msg = maxParam + msg.substring(param.length());
                param = maxParam;
            }
            throw OpenAiError.invalid(msg, param);
        }
    }

    /** SamplingParams messages start with the parameter's wire name. */
    static String leadingName(String message) {
        if (message == null) return null;
        int end = 0;
        while (end < message.length() && (Character.isLetterOrDigit(message.charAt(end)) || message.charAt(end) == '_')) end++;
        return end == 0 ? null : message.substring(0, end);
    }

    private static List<String> stops(JsonArgs a) {
        Object v = a.raw("stop");
        if (v == null) return List.of();
        if (v instanceof String s) return List.of(s);
        if (v instanceof JsonArray arr) {
            List<String> out = new ArrayList<>(arr.size());
            for (int k = 0; k < arr.size(); k++) {
                if (!(arr.getValue(k) instanceof String s)) throw OpenAiError.invalidType("stop[" + k + "]", "a string", arr.getValue(k));
                out.add(s);
            }
            return out;
        }
        throw OpenAiError.invalidType("stop", "a string or an array of strings", v);
    }

    private static List<Integer> stopTokenIds(JsonArgs a) {
        JsonArray arr = a.array("stop_token_ids");
        if (arr == null) return List.of();
        List<Integer> out = new ArrayList<>(arr.size());
        for (int k = 0; k < arr.size(); k++) {
            Long v = JsonArgs.toLong("stop_token_ids[" + k + "]", arr.getValue(k));
            if (v == null || v < 0 || v > Integer.MAX_VALUE) throw OpenAiError.invalid("stop_token_ids must contain token ids", "stop_token_ids");
            out.add(v.intValue());
        }
        return out;
    }

    private static void refuseUnsupported(JsonArgs a) {
        if (Boolean.TRUE.equals(a.bool("echo"))) throw OpenAiError.invalid("echo is not supported by this server", "echo");
        if (a.has("suffix")) throw OpenAiError.invalid("suffix is not supported by this server", "suffix");
        JsonObject bias = a.object("logit_bias");
        if (bias != null && !bias.isEmpty()) throw OpenAiError.invalid("logit_bias is not supported by this server", "logit_bias");
        for (String p : List.of("tools", "functions")) {
            JsonArray arr = a.array(p);
            if (arr != null && !arr.isEmpty()) throw OpenAiError.invalid(p + " are not supported by this server", p);
        }
        JsonObject rf = a.object("response_format");
        if (rf != null && !"text".equals(rf.getValue("type"))) {
            throw OpenAiError.invalid("only response_format {\"type\": \"text\"} is supported by this server", "response_format");
        }
        Integer bestOf = a.integer("best_of");
        Integer n = a.integer("n");
        if (bestOf != null && bestOf != (n == null ? 1 : n)) throw OpenAiError.invalid("best_of is not supported by this server", "best_of");
    }

    private static List<ChatMessage> messages(JsonArgs a) {
        Object v = a.raw("messages");
        if (v == null) throw OpenAiError.missing("messages");
        if (!(v instanceof JsonArray arr)) throw OpenAiError.invalidType("messages", "an array", v);
        if (arr.isEmpty()) throw OpenAiError.invalid("'messages' must contain at least one message.", "messages");
        List<ChatMessage> out = new ArrayList<>(arr.size());
        for (int k = 0; k < arr.size(); k++) out.add(message(arr.getValue(k), "messages[" + k + "]"));
        return out;
    }

    private static ChatMessage message(Object v, String where) {
        if (!(v instanceof JsonObject m)) throw OpenAiError.invalidType(where, "an object", v);
        Object r = m.getValue("role");
        if (r == null) throw OpenAiError.missing(where + ".role");
        if (!(r instanceof String role)) throw OpenAiError.invalidType(where + ".role", "a string", r);
        if (!ROLES.contains(role)) {
            throw OpenAiError.invalid("Invalid value for '" + where + ".role': '" + role + "'. Supported values are: 'system', "
                    + "'developer', 'user', 'assistant' and 'tool'.", where + ".role");
        }
        String content = content(m.getValue("content"), where + ".content");
        if (content == null && !role.equals("assistant")) throw OpenAiError.missing(where + ".content");
        Map<String, Object> extra = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : m) {
            if (!e.getKey().equals("role") && !e.getKey().equals("content")) extra.put(e.getKey(), plain(e.getValue()));
        }
        // Templates know system/user/assistant/tool; "developer" is OpenAI's newer name for system.
        return new ChatMessage(role.equals("developer") ? "system" : role, content == null ? "" : content, extra);
    }

    /** String content, or text parts joined by newlines (as vLLM does); null when absent. */
    private static String content(Object c, String where) {
        if (c == null || c instanceof String) return (String) c;
        if (!(c instanceof JsonArray parts)) throw OpenAiError.invalidType(where, "a string or an array of content parts", c);
        StringBuilder sb = new StringBuilder();
        for (int k = 0; k < parts.size(); k++) {
            String pw = where + "[" + k + "]";
            if (!(parts.getValue(k) instanceof JsonObject part)) throw OpenAiError.invalidType(pw, "an object", parts.getValue(k));
            Object type = part.getValue("type");
            if (!"text".equals(type)) {
                throw OpenAiError.invalid("only text content parts are supported, got type " + (type instanceof String s ? "'" + s + "'" : String.valueOf(type)), pw + ".type");
            }
            if (!(part.getValue("text") instanceof String text)) throw OpenAiError.invalidType(pw + ".text", "a string", part.getValue("text"));
            if (k > 0) sb.append('\n');
            sb.append(text);
        }
        return sb.toString();
    }

    /** A JSON value as the chat template sees it: maps, lists, strings, numbers, booleans. */
    private static Object plain(Object v) {
        if (v instanceof JsonObject o) {
            Map<String, Object> m = new LinkedHashMap<>();
            for (Map.Entry<String, Object> e : o) m.put(e.getKey(), plain(e.getValue()));
            return m;
        }
        if (v instanceof JsonArray arr) {
            List<Object> l = new ArrayList<>(arr.size());
            for (int k = 0; k < arr.size(); k++) l.add(plain(arr.getValue(k)));
            return l;
        }
        return v;
    }

    /** A prompt: a String, or an int[] of token ids. */
    private Object prompt(JsonArgs a) {
        Object v = a.raw("prompt");
        if (v == null) throw OpenAiError.missing("prompt");
        if (v instanceof String s) return s;
        if (!(v instanceof JsonArray arr)) throw OpenAiError.invalidType("prompt", "a string, an array of strings or an array of token ids", v);
        if (arr.isEmpty()) throw OpenAiError.invalid("'prompt' must not be empty", "prompt");
        Object first = arr.getValue(0);
        if (arr.size() == 1 && first instanceof String s) return s;
        if (arr.size() == 1 && first instanceof JsonArray inner) return tokenIds(inner);
        if (first instanceof String || first instanceof JsonArray) {
            throw OpenAiError.invalid("this server takes one prompt per request; send " + arr.size() + " requests instead", "prompt");
        }
        return tokenIds(arr);
    }

    private int[] tokenIds(JsonArray arr) {
        if (arr.isEmpty()) throw OpenAiError.invalid("'prompt' must not be empty", "prompt");
        int[] ids = new int[arr.size()];
        for (int k = 0; k < ids.length; k++) {
            Object v = arr.getValue(k);
            if (!(v instanceof Integer || v instanceof Long || v instanceof java.math.BigInteger)) {
                throw OpenAiError.invalidType("prompt", "a string, an array of strings or an array of token ids", arr);
            }
            long id = ((Number) v).longValue();
            if (v instanceof java.math.BigInteger || id < 0 || id >= vocabSize) {
                throw OpenAiError.invalid("token id " + v + " is outside the vocabulary [0, " + vocabSize + ")", "prompt");
            }
            ids[k] = (int) id;
        }
        return ids;
    }
}
