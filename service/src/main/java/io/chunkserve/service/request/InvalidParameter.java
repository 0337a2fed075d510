package io.chunkserve.service.request;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.math.BigInteger;

/**
 * A request field the server refuses, worded once for every front end: the OpenAI API answers it
 * as error JSON ({@code message}, {@code param}, {@code code}), the WebSocket API as an error
 * frame, gRPC as INVALID_ARGUMENT (NOT_FOUND for {@link #MODEL_NOT_FOUND}) with the same message.
 * Messages follow OpenAI's wording where OpenAI has one.
 */
public final class InvalidParameter extends RuntimeException {
    /** The {@code model} names a model this server does not serve (HTTP 404 / NOT_FOUND). */
    public static final String MODEL_NOT_FOUND = "model_not_found";
    /** Prompt plus {@code max_tokens} (or the prompt alone) does not fit the model's context. */
    public static final String CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded";

    private final String param;
    private final String code;

    /**
     * @param param the field's wire name as the client wrote it ({@code messages[0].role}), or null
     * @param code  OpenAI's error code ({@code invalid_type}, ...), or null
     */
    public InvalidParameter(String message, String param, String code) {
        super(message, null, false, false);
        this.param = param;
        this.code = code;
    }

    /** A value out of range or otherwise unacceptable; no code. */
    public static InvalidParameter of(String message, String param) {
        return new InvalidParameter(message, param, null);
    }

    /** A field of the wrong JSON type. */
    public static InvalidParameter type(String param, String expected, Object got) {
        return new InvalidParameter("Invalid type for '" + param + "': expected " + expected + ", but got " + jsonTypeName(got)
                + " instead.", param, "invalid_type");
    }

    /** A required field that is absent. */
    public static InvalidParameter missing(String param) {
        return new InvalidParameter("Missing required parameter: '" + param + "'.", param, "missing_required_parameter");
    }

    /** An integer that does not fit the field. */
    public static InvalidParameter outOfRange(String param, Object value) {
        return of("'" + param + "' is out of range: " + value, param);
    }

    /** A known OpenAI feature this server cannot honour (refused rather than silently dropped). */
    public static InvalidParameter unsupported(String param) {
        return of(param + " is not supported by this server", param);
    }

    public String param() { return param; }

    public String code() { return code; }

    /** How an OpenAI error message names a JSON value's type. */
    static String jsonTypeName(Object v) {
        return switch (v) {
            case null -> "null";
            case String s -> "a string";
            case Boolean b -> "a boolean";
            case Integer i -> "an integer";
            case Long l -> "an integer";
            case BigInteger b -> "an integer";
            case Number n -> "a decimal";
            case JsonArray a -> "an array";
            case JsonObject o -> "an object";
            default -> "a value";
        };
    }

    @Override
    public String toString() { return "InvalidParameter[" + param + " " + code + ": " + getMessage() + "]"; }
}
