package io.chunkserve.service.openai;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.math.BigInteger;

/**
 * Strictly typed reads of request fields. A field that is absent or JSON {@code null} reads as
 * Java null (OpenAI treats an explicit null as "use the default"); a field of the wrong JSON type
 * throws {@link OpenAiError#invalidType} naming it. No coercion: {@code "0.7"} is not a number,
 * {@code 5.0} is not an integer.
 */
final class JsonArgs {
    private final JsonObject body;

    JsonArgs(JsonObject body) {
        this.body = body;
    }

    JsonObject body() { return body; }

    boolean has(String name) { return body.getValue(name) != null; }

    Object raw(String name) { return body.getValue(name); }

    String string(String name) {
        Object v = body.getValue(name);
        if (v == null || v instanceof String) return (String) v;
        throw OpenAiError.invalidType(name, "a string", v);
    }

    Boolean bool(String name) {
        Object v = body.getValue(name);
        if (v == null || v instanceof Boolean) return (Boolean) v;
        throw OpenAiError.invalidType(name, "a boolean", v);
    }

    /** A finite or infinite JSON number as a double (range checks belong to the caller). */
    Double number(String name) {
        Object v = body.getValue(name);
        if (v == null) return null;
        if (v instanceof Number n) return n.doubleValue();
        throw OpenAiError.invalidType(name, "a decimal", v);
    }

    Integer integer(String name) {
        Long v = longInteger(name);
        if (v == null) return null;
        if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) {
            throw OpenAiError.invalid("'" + name + "' is out of range: " + v, name);
        }
        return v.intValue();
    }

    Long longInteger(String name) {
        return toLong(name, body.getValue(name));
    }

    JsonObject object(String name) {
        Object v = body.getValue(name);
        if (v == null || v instanceof JsonObject) return (JsonObject) v;
        throw OpenAiError.invalidType(name, "an object", v);
    }

    JsonArray array(String name) {
        Object v = body.getValue(name);
        if (v == null || v instanceof JsonArray) return (JsonArray) v;
        throw OpenAiError.invalidType(name, "an array", v);
    }

    /** An integral JSON number as a long; {@code name} labels errors. */
    static Long toLong(String name, Object v) {
        if (v == null) return null;
        if (v instanceof Integer || v instanceof Long) return ((Number) v).longValue();
        if (v instanceof BigInteger) throw OpenAiError.invalid("'" + name + "' is out of range: " + v, name);
        throw OpenAiError.invalidType(name, "an integer", v);
    }
}
