package io.chunkserve.service.openai;

import io.chunkserve.service.request.InvalidParameter;
import io.vertx.core.json.JsonObject;

/**
 * A failure reported to the client as OpenAI error JSON:
 * <pre>{@code {"error": {"message": "...", "type": "invalid_request_error", "param": "temperature", "code": null}}}</pre>
 * Thrown by the parsers and handlers of this package and turned into a response by
 * {@link OpenAiApi}; on an SSE stream the same object is sent as a {@code data:} event.
 */
public final class OpenAiError extends RuntimeException {
    private final int status;
    private final String type;
    private final String param;
    private final String code;

    public OpenAiError(int status, String type, String message, String param, String code) {
        super(message, null, false, false);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
    }

    /** 400 invalid_request_error. */
    public static OpenAiError invalid(String message, String param) {
        return new OpenAiError(400, "invalid_request_error", message, param, null);
    }

    /** 400 invalid_request_error with a code. */
    public static OpenAiError invalid(String message, String param, String code) {
        return new OpenAiError(400, "invalid_request_error", message, param, code);
    }

    /** A refused request field: 404 for an unknown model, else 400. */
    public static OpenAiError of(InvalidParameter e) {
        int status = InvalidParameter.MODEL_NOT_FOUND.equals(e.code()) ? 404 : 400;
        return new OpenAiError(status, "invalid_request_error", e.getMessage(), e.param(), e.code());
    }

    /** 500 server_error: a genuine internal failure (details go to the log, not the client). */
    public static OpenAiError internal(String message) {
        return new OpenAiError(500, "server_error", message, null, null);
    }

    public int status() { return status; }

    public String type() { return type; }

    public String param() { return param; }

    public String code() { return code; }

    /** The {@code {"error": {...}}} body. */
    public JsonObject toJson() {
        return new JsonObject().put("error", new JsonObject().put("message", getMessage()).put("type", type)
                .put("param", param).put("code", code));
    }

    @Override
    public String toString() { return "OpenAiError[" + status + " " + type + " " + code + ": " + getMessage() + "]"; }
}
