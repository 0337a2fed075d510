package io.chunkserve.service.ws;

import io.chunkserve.sampling.SamplingParams;
import io.chunkserve.service.generation.StreamingGeneration.ChatPrompt;
import io.chunkserve.service.generation.StreamingGeneration.Prompt;
import io.chunkserve.service.generation.StreamingGeneration.TextPrompt;
import io.chunkserve.tokenizer.ChatMessage;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Reads a WebSocket {@code generate} message: the prompt (or messages) and the OpenAI-named
 * sampling fields. Every problem throws {@link IllegalArgumentException} whose message names the
 * field, ready to send back in an error frame.
 */
final class WsRequests {
    private WsRequests() { }

    /** A parsed {@code generate} message; {@code maxTokens} null = the rest of the context. */
    record Generate(Prompt prompt, SamplingParams.Builder params, Integer maxTokens, String user, String model) { }

    static Generate parse(JsonObject m) {
        Object prompt = m.getValue("prompt");
        Object messages = m.getValue("messages");
        if ((prompt == null) == (messages == null)) throw new IllegalArgumentException("exactly one of prompt and messages is required");
        Prompt p;
        if (prompt != null) {
            if (!(prompt instanceof String s)) throw new IllegalArgumentException("prompt must be a string");
            p = new TextPrompt(s);
        } else {
            if (!(messages instanceof JsonArray a)) throw new IllegalArgumentException("messages must be an array");
            p = new ChatPrompt(messages(a));
        }
        Integer n = integer(m, "n");
        if (n != null && n != 1) throw new IllegalArgumentException("n must be 1 over the WebSocket API (send several generate messages instead)");
        Integer maxTokens = integer(m, "max_tokens");
        if (maxTokens == null) maxTokens = integer(m, "max_completion_tokens");
        SamplingParams.Builder b = SamplingParams.builder();
        Double d;
        if ((d = number(m, "temperature")) != null) b.temperature(d);
        if ((d = number(m, "top_p")) != null) b.topP(d);
        if ((d = number(m, "min_p")) != null) b.minP(d);
        if ((d = number(m, "presence_penalty")) != null) b.presencePenalty(d);
        if ((d = number(m, "frequency_penalty")) != null) b.frequencyPenalty(d);
        if ((d = number(m, "repetition_penalty")) != null) b.repetitionPenalty(d);
        Integer k = integer(m, "top_k");
        if (k != null) b.topK(k);
        Object seed = m.getValue("seed");
        if (seed != null) b.seed(longValue("seed", seed));
        b.stop(stops(m.getValue("stop")));
        b.stopTokenIds(stopTokenIds(m.getValue("stop_token_ids")));
        Object ignoreEos = m.getValue("ignore_eos");
        if (ignoreEos != null) {
            if (!(ignoreEos instanceof Boolean bool)) throw new IllegalArgumentException("ignore_eos must be a boolean");
            b.ignoreEos(bool);
        }
        return new Generate(p, b, maxTokens, string(m, "user"), string(m, "model"));
    }

    private static List<ChatMessage> messages(JsonArray a) {
        List<ChatMessage> out = new ArrayList<>(a.size());
        for (int i = 0; i < a.size(); i++) {
            if (!(a.getValue(i) instanceof JsonObject msg)) throw new IllegalArgumentException("messages[" + i + "] must be an object");
            if (!(msg.getValue("role") instanceof String role) || role.isEmpty()) {
                throw new IllegalArgumentException("messages[" + i + "].role must be a non-empty string");
            }
            String content = content(msg.getValue("content"), i);
            Object name = msg.getValue("name");
            if (name != null && !(name instanceof String)) throw new IllegalArgumentException("messages[" + i + "].name must be a string");
            out.add(new ChatMessage(role, content, name == null ? Map.of() : Map.of("name", name)));
        }
        return out;
    }

    /** A string, null, or OpenAI content parts ({@code [{"type":"text","text":...}]}, text parts joined). */
    private static String content(Object v, int i) {
        if (v == null || v instanceof String) return (String) v;
        if (v instanceof JsonArray parts) {
            StringBuilder sb = new StringBuilder();
            for (Object part : parts) {
                if (part instanceof JsonObject o && "text".equals(o.getValue("type")) && o.getValue("text") instanceof String t) {
                    sb.append(t);
                } else {
                    throw new IllegalArgumentException("messages[" + i + "].content parts must be {\"type\":\"text\",\"text\":...}");
                }
            }
            return sb.toString();
        }
        throw new IllegalArgumentException("messages[" + i + "].content must be a string or an array of text parts");
    }

    private static List<String> stops(Object v) {
        if (v == null) return List.of();
        if (v instanceof String s) return List.of(s);
        if (v instanceof JsonArray a) {
            List<String> out = new ArrayList<>(a.size());
            for (Object o : a) {
                if (!(o instanceof String s)) throw new IllegalArgumentException("stop must be a string or an array of strings");
                out.add(s);
            }
            return out;
        }
        throw new IllegalArgumentException("stop must be a string or an array of strings");
    }

    private static List<Integer> stopTokenIds(Object v) {
        if (v == null) return List.of();
        if (!(v instanceof JsonArray a)) throw new IllegalArgumentException("stop_token_ids must be an array of integers");
        List<Integer> out = new ArrayList<>(a.size());
        for (Object o : a) {
            long id = longValue("stop_token_ids", o);
            if (id != (int) id) throw new IllegalArgumentException("stop_token_ids is out of range: " + id);
            out.add((int) id);
        }
        return out;
    }

    private static Double number(JsonObject m, String field) {
        Object v = m.getValue(field);
        if (v == null) return null;
        if (!(v instanceof Number n)) throw new IllegalArgumentException(field + " must be a number");
        return n.doubleValue();
    }

    private static Integer integer(JsonObject m, String field) {
        Object v = m.getValue(field);
        if (v == null) return null;
        long l = longValue(field, v);
        if (l != (int) l) throw new IllegalArgumentException(field + " is out of range: " + l);
        return (int) l;
    }

    private static long longValue(String field, Object v) {
        if (v instanceof Integer || v instanceof Long || v instanceof Short || v instanceof Byte) return ((Number) v).longValue();
        if (v instanceof Number n && n.doubleValue() == Math.rint(n.doubleValue()) && Math.abs(n.doubleValue()) < 0x1p53) {
            return (long) n.doubleValue();
        }
        throw new IllegalArgumentException(field + " must be an integer");
    }

    private static String string(JsonObject m, String field) {
        Object v = m.getValue(field);
        if (v == null) return null;
        if (!(v instanceof String s)) throw new IllegalArgumentException(field + " must be a string");
        return s;
    }
}
