package io.chunkserve.service.request;

import io.chunkserve.tokenizer.ChatMessage;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The rules for a conversation, shared by every front end: at least one message, OpenAI's roles
 * ({@code developer} is OpenAI's newer name for {@code system}), content required except for an
 * assistant turn, text content parts joined by newlines (as vLLM does). Fields beyond role and
 * content ({@code name}, {@code tool_calls}, ...) go to the chat template as they are.
 */
public final class ChatMessages {
    private static final Set<String> ROLES = Set.of("system", "developer", "user", "assistant", "tool");

    private ChatMessages() { }

    /** The {@code messages} field of a JSON request. */
    public static List<ChatMessage> fromJson(JsonFields f) {
        Object v = f.raw("messages");
        if (v == null) throw InvalidParameter.missing("messages");
        if (!(v instanceof JsonArray arr)) throw InvalidParameter.type("messages", "an array", v);
        requireSome(arr.size());
        List<ChatMessage> out = new ArrayList<>(arr.size());
        for (int k = 0; k < arr.size(); k++) out.add(message(arr.getValue(k), "messages[" + k + "]"));
        return out;
    }

    /** Refuses an empty conversation. */
    public static void requireSome(int count) {
        if (count == 0) throw InvalidParameter.of("'messages' must contain at least one message.", "messages");
    }

    /**
     * One message whose fields are already typed (a protobuf message, say).
     *
     * @param content null when absent
     * @param where   how errors name it: {@code messages[3]}
     */
    public static ChatMessage of(String role, String content, Map<String, Object> extra, String where) {
        if (role == null) throw InvalidParameter.missing(where + ".role");
        if (!ROLES.contains(role)) {
            throw InvalidParameter.of("Invalid value for '" + where + ".role': '" + role + "'. Supported values are: 'system', "
                    + "'developer', 'user', 'assistant' and 'tool'.", where + ".role");
        }
        if (content == null && !role.equals("assistant")) throw InvalidParameter.missing(where + ".content");
        // Templates know system/user/assistant/tool.
        return new ChatMessage(role.equals("developer") ? "system" : role, content == null ? "" : content, extra);
    }

    private static ChatMessage message(Object v, String where) {
        if (!(v instanceof JsonObject m)) throw InvalidParameter.type(where, "an object", v);
        Object r = m.getValue("role");
        if (r != null && !(r instanceof String)) throw InvalidParameter.type(where + ".role", "a string", r);
        String content = content(m.getValue("content"), where + ".content");
        Map<String, Object> extra = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : m) {
            if (!e.getKey().equals("role") && !e.getKey().equals("content")) extra.put(e.getKey(), plain(e.getValue()));
        }
        return of((String) r, content, extra, where);
    }

    /** String content, or text parts joined by newlines; null when absent. */
    private static String content(Object c, String where) {
        if (c == null || c instanceof String) return (String) c;
        if (!(c instanceof JsonArray parts)) throw InvalidParameter.type(where, "a string or an array of content parts", c);
        StringBuilder sb = new StringBuilder();
        for (int k = 0; k < parts.size(); k++) {
            String pw = where + "[" + k + "]";
            if (!(parts.getValue(k) instanceof JsonObject part)) throw InvalidParameter.type(pw, "an object", parts.getValue(k));
            Object type = part.getValue("type");
            if (!"text".equals(type)) {
                throw InvalidParameter.of("only text content parts are supported, got type "
                        + (type instanceof String s ? "'" + s + "'" : String.valueOf(type)), pw + ".type");
            }
            if (!(part.getValue("text") instanceof String text)) throw InvalidParameter.type(pw + ".text", "a string", part.getValue("text"));
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
}
