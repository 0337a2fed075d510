package io.chunkserve.service.request;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * {@link RequestFields} of a JSON object (an OpenAI request body, a WebSocket message), strictly
 * typed: no coercion, {@code "0.7"} is not a number and {@code 5.0} is not an integer (as OpenAI).
 * JSON {@code null} means "use the default", as in OpenAI's API.
 */
public final class JsonFields implements RequestFields {
    private final JsonObject body;

    public JsonFields(JsonObject body) {
        this.body = body;
    }

    @Override
    public boolean has(String name) { return body.getValue(name) != null; }

    /** The value as decoded, or null. */
    public Object raw(String name) { return body.getValue(name); }

    public String string(String name) {
        Object v = body.getValue(name);
        if (v == null || v instanceof String) return (String) v;
        throw InvalidParameter.type(name, "a string", v);
    }

    @Override
    public Boolean bool(String name) {
        Object v = body.getValue(name);
        if (v == null || v instanceof Boolean) return (Boolean) v;
        throw InvalidParameter.type(name, "a boolean", v);
    }

    @Override
    public Double number(String name) {
        Object v = body.getValue(name);
        if (v == null) return null;
        if (v instanceof Number n) return n.doubleValue();
        throw InvalidParameter.type(name, "a decimal", v);
    }

    @Override
    public Long integer(String name) {
        return toLong(name, body.getValue(name));
    }

    /** An integer that must fit 32 bits. */
    public Integer int32(String name) {
        Long v = integer(name);
        if (v != null && v != v.intValue()) throw InvalidParameter.outOfRange(name, v);
        return v == null ? null : v.intValue();
    }

    public JsonObject object(String name) {
        Object v = body.getValue(name);
        if (v == null || v instanceof JsonObject) return (JsonObject) v;
        throw InvalidParameter.type(name, "an object", v);
    }

    public JsonArray array(String name) {
        Object v = body.getValue(name);
        if (v == null || v instanceof JsonArray) return (JsonArray) v;
        throw InvalidParameter.type(name, "an array", v);
    }

    @Override
    public Map<String, Object> map(String name) {
        JsonObject o = object(name);
        return o == null ? null : o.getMap();
    }

    @Override
    public List<String> strings(String name) {
        Object v = body.getValue(name);
        if (v == null) return null;
        if (v instanceof String s) return List.of(s);
        if (!(v instanceof JsonArray arr)) throw InvalidParameter.type(name, "a string or an array of strings", v);
        List<String> out = new ArrayList<>(arr.size());
        for (int k = 0; k < arr.size(); k++) {
            if (!(arr.getValue(k) instanceof String s)) throw InvalidParameter.type(name + "[" + k + "]", "a string", arr.getValue(k));
            out.add(s);
        }
        return out;
    }

    @Override
    public List<Long> integers(String name) {
        JsonArray arr = array(name);
        if (arr == null) return null;
        List<Long> out = new ArrayList<>(arr.size());
        for (int k = 0; k < arr.size(); k++) {
            Long v = toLong(name + "[" + k + "]", arr.getValue(k));
            if (v == null) throw InvalidParameter.type(name + "[" + k + "]", "an integer", null);
            out.add(v);
        }
        return out;
    }

    /** An integral JSON number as a long; {@code name} labels errors. */
    static Long toLong(String name, Object v) {
        if (v == null) return null;
        if (v instanceof Integer || v instanceof Long) return ((Number) v).longValue();
        if (v instanceof BigInteger) throw InvalidParameter.outOfRange(name, v);
        throw InvalidParameter.type(name, "an integer", v);
    }
}
