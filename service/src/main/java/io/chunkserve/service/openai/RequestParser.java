package io.chunkserve.service.openai;

import io.chunkserve.service.request.ChatMessages;
import io.chunkserve.service.request.Identity;
import io.chunkserve.service.request.InvalidParameter;
import io.chunkserve.service.request.JsonFields;
import io.chunkserve.service.request.RequestKind;
import io.chunkserve.service.request.RequestedSampling;
import io.chunkserve.service.request.SamplingFields;
import io.chunkserve.tokenizer.ChatMessage;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.math.BigInteger;
import java.util.List;

/**
 * Turns a request body into an {@link ApiRequest}, or throws {@link OpenAiError} (400, or 404 for
 * an unknown model) naming the offending parameter. Sampling fields, messages, {@code model} and
 * {@code user} follow the rules the WebSocket and gRPC APIs share ({@code io.chunkserve.service.request});
 * this class adds what only this API has: token-id prompts, {@code stream} and
 * {@code stream_options}, and the refusal of OpenAI features this server cannot honour
 * ({@code echo}, {@code suffix}, {@code tools}, structured {@code response_format}). Unknown fields
 * are ignored, as vLLM does.
 */
final class RequestParser {
    private final String modelName;
    private final int vocabSize;
    private final SamplingFields.Capabilities capabilities;

    /**
     * @param modelName the served model's name ({@code model} must match it when given)
     * @param vocabSize token ids of a prompt must be below it
     * @param maxN      the largest {@code n} (the engine's batch of sequences)
     */
    RequestParser(String modelName, int vocabSize, int maxN) {
        this.modelName = modelName;
        this.vocabSize = vocabSize;
        this.capabilities = new SamplingFields.Capabilities(maxN, true);
    }

    ApiRequest parse(Endpoint endpoint, JsonObject body) {
        try {
            return parseFields(endpoint, new JsonFields(body));
        } catch (InvalidParameter e) {
            throw OpenAiError.of(e);
        }
    }

    private ApiRequest parseFields(Endpoint endpoint, JsonFields f) {
        Identity.checkModel(f.string("model"), modelName);
        refuseUnsupported(f);
        List<ChatMessage> messages = null;
        String promptText = null;
        int[] promptIds = null;
        if (endpoint == Endpoint.CHAT) {
            messages = ChatMessages.fromJson(f);
        } else {
            Object p = prompt(f);
            if (p instanceof String s) promptText = s;
            else promptIds = (int[]) p;
        }
        boolean stream = Boolean.TRUE.equals(f.bool("stream"));
        JsonObject so = f.object("stream_options");
        boolean includeUsage = false;
        if (so != null) {
            if (!stream) throw InvalidParameter.of("The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options");
            Object iu = so.getValue("include_usage");
            if (iu != null && !(iu instanceof Boolean)) throw InvalidParameter.type("stream_options.include_usage", "a boolean", iu);
            includeUsage = Boolean.TRUE.equals(iu);
        }
        String user = Identity.checkUser(f.string("user"));
        RequestKind kind = endpoint == Endpoint.CHAT ? RequestKind.CHAT : RequestKind.COMPLETION;
        RequestedSampling sampling = SamplingFields.read(f, kind, capabilities);
        return new ApiRequest(endpoint, messages, promptText, promptIds, sampling, stream, includeUsage, user);
    }

    /** Endpoint features of OpenAI's API that this server does not implement. */
    private static void refuseUnsupported(JsonFields f) {
        if (Boolean.TRUE.equals(f.bool("echo"))) throw InvalidParameter.unsupported("echo");
        if (f.has("suffix")) throw InvalidParameter.unsupported("suffix");
        for (String p : List.of("tools", "functions")) {
            JsonArray arr = f.array(p);
            if (arr != null && !arr.isEmpty()) throw InvalidParameter.of(p + " are not supported by this server", p);
        }
        JsonObject rf = f.object("response_format");
        if (rf != null && !"text".equals(rf.getValue("type"))) {
            throw InvalidParameter.of("only response_format {\"type\": \"text\"} is supported by this server", "response_format");
        }
    }

    /** A prompt: a String, or an int[] of token ids. */
    private Object prompt(JsonFields f) {
        Object v = f.raw("prompt");
        if (v == null) throw InvalidParameter.missing("prompt");
        if (v instanceof String s) return s;
        if (!(v instanceof JsonArray arr)) throw InvalidParameter.type("prompt", "a string, an array of strings or an array of token ids", v);
        if (arr.isEmpty()) throw InvalidParameter.of("'prompt' must not be empty", "prompt");
        Object first = arr.getValue(0);
        if (arr.size() == 1 && first instanceof String s) return s;
        if (arr.size() == 1 && first instanceof JsonArray inner) return tokenIds(inner);
        if (first instanceof String || first instanceof JsonArray) {
            throw InvalidParameter.of("this server takes one prompt per request; send " + arr.size() + " requests instead", "prompt");
        }
        return tokenIds(arr);
    }

    private int[] tokenIds(JsonArray arr) {
        if (arr.isEmpty()) throw InvalidParameter.of("'prompt' must not be empty", "prompt");
        int[] ids = new int[arr.size()];
        for (int k = 0; k < ids.length; k++) {
            Object v = arr.getValue(k);
            if (!(v instanceof Integer || v instanceof Long || v instanceof BigInteger)) {
                throw InvalidParameter.type("prompt", "a string, an array of strings or an array of token ids", arr);
            }
            long id = ((Number) v).longValue();
            if (v instanceof BigInteger || id < 0 || id >= vocabSize) {
                throw InvalidParameter.of("token id " + v + " is outside the vocabulary [0, " + vocabSize + ")", "prompt");
            }
            ids[k] = (int) id;
        }
        return ids;
    }
}
