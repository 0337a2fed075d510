package io.chunkserve.service.ws;

import io.chunkserve.engine.RequestOutput;
import io.chunkserve.sampling.FinishReason;
import io.chunkserve.service.generation.StreamingGeneration.Failure;
import io.chunkserve.service.request.InvalidParameter;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/** The server → client messages of the WebSocket protocol (see {@code service/WEBSOCKET.md}). */
final class WsFrames {
    private WsFrames() { }

    // Error types follow the OpenAI error object; codes say what exactly went wrong.
    static final String INVALID_REQUEST_ERROR = "invalid_request_error";
    static final String AUTHENTICATION_ERROR = "authentication_error";
    static final String RATE_LIMIT_ERROR = "rate_limit_error";
    static final String SERVER_ERROR = "server_error";

    static JsonObject delta(String id, String text, int[] tokenIds) {
        JsonArray ids = new JsonArray();
        for (int t : tokenIds) ids.add(t);
        return new JsonObject().put("type", "delta").put("id", id).put("text", text).put("token_ids", ids);
    }

    static JsonObject done(String id, FinishReason reason, RequestOutput.Usage usage) {
        JsonObject u = new JsonObject()
                .put("prompt_tokens", usage.promptTokens())
                .put("completion_tokens", usage.completionTokens())
                .put("total_tokens", usage.promptTokens() + usage.completionTokens())
                .put("cached_tokens", usage.cachedTokens());
        return new JsonObject().put("type", "done").put("id", id).put("finish_reason", reason.openAiName()).put("usage", u);
    }

    /** An error frame; its {@code error} object has OpenAI's fields: message, type, param, code. */
    static JsonObject error(String id, String type, String code, String message, String param) {
        return new JsonObject().put("type", "error").put("id", id).put("error",
                new JsonObject().put("message", message).put("type", type).put("param", param).put("code", code));
    }

    /** An error frame about no particular field. */
    static JsonObject error(String id, String type, String code, String message) {
        return error(id, type, code, message, null);
    }

    /** A refused {@code generate} field: code {@code model_not_found} or {@code invalid_request}. */
    static JsonObject error(String id, InvalidParameter e) {
        String code = InvalidParameter.MODEL_NOT_FOUND.equals(e.code()) ? e.code() : "invalid_request";
        return error(id, INVALID_REQUEST_ERROR, code, e.getMessage(), e.param());
    }

    static JsonObject error(String id, Failure failure, String message, String param) {
        return switch (failure) {
            case INVALID_REQUEST -> error(id, INVALID_REQUEST_ERROR, "invalid_request", message, param);
            case OVERLOADED -> error(id, RATE_LIMIT_ERROR, "overloaded", message, param);
            case UNAVAILABLE -> error(id, SERVER_ERROR, "unavailable", message, param);
            case INTERNAL -> error(id, SERVER_ERROR, "internal_error", message, param);
        };
    }

    static JsonObject pong(Object id) {
        JsonObject o = new JsonObject().put("type", "pong");
        if (id != null) o.put("id", id);
        return o;
    }
}
