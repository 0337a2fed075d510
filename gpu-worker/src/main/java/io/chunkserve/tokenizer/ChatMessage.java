package io.chunkserve.tokenizer;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * One message of a conversation, as a chat template sees it: a dict with {@code role},
 * {@code content} and any extra fields ({@code reasoning_content}, {@code tool_calls},
 * {@code tool_call_id}, {@code name}...), whose values may be strings, numbers, booleans, lists
 * and maps.
 *
 * @param role "system", "user", "assistant", "tool"...
 * @param content the text; may be null (e.g. an assistant message that only calls tools)
 * @param extra further fields, in order; never null (empty by default)
 */
public record ChatMessage(String role, String content, Map<String, Object> extra) {

    /** Validates the role and freezes a copy of {@code extra} (null values are allowed). */
    public ChatMessage {
        Objects.requireNonNull(role, "role");
        extra = extra == null || extra.isEmpty() ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(extra));
        if (extra.containsKey("role") || extra.containsKey("content")) {
            throw new IllegalArgumentException("extra fields must not repeat role or content");
        }
    }

    /** A message with role and content only. */
    public ChatMessage(String role, String content) {
        this(role, content, Map.of());
    }

    /** {@code {"role": "system", "content": content}}. */
    public static ChatMessage system(String content) {
        return new ChatMessage("system", content);
    }

    /** {@code {"role": "user", "content": content}}. */
    public static ChatMessage user(String content) {
        return new ChatMessage("user", content);
    }

    /** {@code {"role": "assistant", "content": content}}. */
    public static ChatMessage assistant(String content) {
        return new ChatMessage("assistant", content);
    }

    /** The dict the template sees: role, content, then the extra fields. */
    public Map<String, Object> toTemplateMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("role", role);
        m.put("content", content);
        m.putAll(extra);
        return m;
    }
}
