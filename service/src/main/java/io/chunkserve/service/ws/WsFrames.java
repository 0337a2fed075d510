package io.chunkserve.service.ws;

import io.chunkserve.engine.RequestOutput;
import io.chunkserve.sampling.FinishReason;
import io.chunkserve.service.generation.StreamingGeneration.Failure;
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

    static JsonObject error(String id, String type, String code, String message) {
        return new JsonObject().put("type", "error").put("id", id)
                .put("error", new JsonObject().put("message", message).put("type", type).put("code", code));
    }

    static JsonObject error(String id, Failure failure, String message) {
        return switch (failure) {
            case INVALID_REQUEST -> error(id, INVALID_REQUEST_ERROR, "invalid_request", message);
            case OVERLOADED -> error(id, RATE_LIMIT_ERROR, "overloaded", message);
            case UNAVAILABLE -> error(id, SERVER_ERROR, "unavailable", message);
            case INTERNAL -> error(id, SERVER_ERROR, "internal_error", message);
        };
    }

    static JsonObject pong(Object id) {
        JsonObject o = new JsonObject().put("type", "pong");
        if (id != null) o.put("id", id);
        return o;
    }
}
