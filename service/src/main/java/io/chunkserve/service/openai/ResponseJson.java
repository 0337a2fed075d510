package io.chunkserve.service.openai;

import io.chunkserve.engine.RequestOutput.TokenLogprob;
import io.chunkserve.engine.RequestOutput.Usage;
import io.chunkserve.sampling.FinishReason;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Builds the JSON objects of one response, framed as OpenAI frames them: streamed chunks
 * ({@code chat.completion.chunk} / {@code text_completion}), the final non-streamed object
 * ({@code chat.completion} / {@code text_completion}), usage and logprobs.
 */
final class ResponseJson {
    /** JSON has no -Infinity: a token the model rules out gets this logprob (as vLLM does). */
    static final float MIN_LOGPROB = -9999.0f;

    private final Endpoint endpoint;
    private final String id;
    private final long created;
    private final String model;
    private final boolean usageField;

    /**
     * @param usageField whether every chunk carries {@code "usage": null} (OpenAI does so when
     *                   {@code stream_options.include_usage} is on)
     */
    ResponseJson(Endpoint endpoint, String id, long created, String model, boolean usageField) {
        this.endpoint = endpoint;
        this.id = id;
        this.created = created;
        this.model = model;
        this.usageField = usageField;
    }

    String id() { return id; }

    /** Per choice index: the bytes of a text-delta event before the escaped text, and after it. */
    private byte[][] deltaPrefix = new byte[0][], deltaSuffix = new byte[0][];

    /**
     * Appends {@code data: <chunk>\n\n} for a choice's new text without logprobs: the same bytes as
     * {@code "data: " + chunk(deltaChoice(index, text, null)).encode() + "\n\n"}, but the parts that
     * do not change during the stream are encoded once, and only the text is escaped per event.
     */
    void appendDeltaEvent(EventBytes b, int index, CharSequence text) {
        if (index >= deltaPrefix.length) {
            deltaPrefix = java.util.Arrays.copyOf(deltaPrefix, index + 1);
            deltaSuffix = java.util.Arrays.copyOf(deltaSuffix, index + 1);
        }
        if (deltaPrefix[index] == null) {
            // Encode a chunk whose text is a marker, and split around the marker's JSON string.
            String marker = "\u0001chunkserve\u0001";
            String quoted = JsonEscape.quote(marker);
            String whole = "data: " + chunk(deltaChoice(index, marker, null)).encode() + "\n\n";
            int at = whole.indexOf(quoted);
            deltaPrefix[index] = whole.substring(0, at).getBytes(StandardCharsets.UTF_8);
            deltaSuffix[index] = whole.substring(at + quoted.length()).getBytes(StandardCharsets.UTF_8);
        }
        b.append(deltaPrefix[index]);
        JsonEscape.appendQuoted(b, text);
        b.append(deltaSuffix[index]);
    }

    /** A chunk with one choice. */
    JsonObject chunk(JsonObject choice) {
        JsonObject c = head(endpoint.chunkObject).put("choices", new JsonArray().add(choice));
        if (usageField) c.putNull("usage");
        return c;
    }

    /** The last chunk of {@code include_usage}: no choices, the usage. */
    JsonObject usageChunk(Usage u) {
        return head(endpoint.chunkObject).put("choices", new JsonArray()).put("usage", usage(u));
    }

    /** Chat's first chunk of a choice: the assistant role and empty content. */
    JsonObject roleChoice(int index) {
        return new JsonObject().put("index", index).put("delta", new JsonObject().put("role", "assistant").put("content", ""))
                .put("logprobs", null).put("finish_reason", null);
    }

    /** A choice of a streamed chunk carrying new text (and its tokens' logprobs, or null). */
    JsonObject deltaChoice(int index, String text, JsonObject logprobs) {
        JsonObject c = new JsonObject().put("index", index);
        if (endpoint == Endpoint.CHAT) c.put("delta", new JsonObject().put("content", text));
        else c.put("text", text);
        return c.put("logprobs", logprobs).put("finish_reason", null);
    }

    /** The finishing choice of a stream: empty delta (chat) or empty text, and the reason. */
    JsonObject finishChoice(int index, FinishReason reason) {
        JsonObject c = new JsonObject().put("index", index);
        if (endpoint == Endpoint.CHAT) c.put("delta", new JsonObject());
        else c.put("text", "");
        return c.put("logprobs", null).put("finish_reason", reason.openAiName());
    }

    /** A choice of the non-streamed response. */
    JsonObject finalChoice(int index, String text, JsonObject logprobs, FinishReason reason) {
        JsonObject c = new JsonObject().put("index", index);
        if (endpoint == Endpoint.CHAT) c.put("message", new JsonObject().put("role", "assistant").put("content", text));
        else c.put("text", text);
        return c.put("logprobs", logprobs).put("finish_reason", reason == null ? null : reason.openAiName());
    }

    /** The non-streamed response. */
    JsonObject completion(JsonArray choices, Usage u) {
        return head(endpoint.object).put("choices", choices).put("usage", usage(u));
    }

    private JsonObject head(String object) {
        return new JsonObject().put("id", id).put("object", object).put("created", created).put("model", model);
    }

    static JsonObject usage(Usage u) {
        return new JsonObject().put("prompt_tokens", u.promptTokens()).put("completion_tokens", u.completionTokens())
                .put("total_tokens", u.promptTokens() + u.completionTokens())
                .put("prompt_tokens_details", new JsonObject().put("cached_tokens", u.cachedTokens()));
    }

    /**
     * Logprobs of a run of tokens in this endpoint's shape. Chat:
     * {@code {"content": [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}]}}.
     * Completions: {@code {tokens, token_logprobs, top_logprobs: [{token: logprob}], text_offset}},
     * offsets counted from {@code textOffset} (the characters of the choice's earlier tokens).
     */
    JsonObject logprobs(List<TokenLogprob> lps, int textOffset) {
        if (endpoint == Endpoint.CHAT) {
            JsonArray content = new JsonArray();
            for (TokenLogprob t : lps) {
                JsonArray top = new JsonArray();
                for (TokenLogprob alt : t.top()) top.add(tokenEntry(alt));
                content.add(tokenEntry(t).put("top_logprobs", top));
            }
            return new JsonObject().put("content", content);
        }
        JsonArray tokens = new JsonArray();
        JsonArray tokenLps = new JsonArray();
        JsonArray tops = new JsonArray();
        JsonArray offsets = new JsonArray();
        int off = textOffset;
        for (TokenLogprob t : lps) {
            tokens.add(t.token());
            tokenLps.add(clamp(t.logprob()));
            JsonObject top = new JsonObject();
            for (TokenLogprob alt : t.top()) top.put(alt.token(), clamp(alt.logprob()));
            // vLLM lists the sampled token among the alternatives even when it is not in the top k.
            if (!top.containsKey(t.token())) top.put(t.token(), clamp(t.logprob()));
            tops.add(top);
            offsets.add(off);
            off += t.token().length();
        }
        return new JsonObject().put("tokens", tokens).put("token_logprobs", tokenLps).put("top_logprobs", tops).put("text_offset", offsets);
    }

    /** Characters a run of tokens adds to a completion's {@code text_offset}. */
    static int textLength(List<TokenLogprob> lps) {
        int n = 0;
        for (TokenLogprob t : lps) n += t.token().length();
        return n;
    }

    private static JsonObject tokenEntry(TokenLogprob t) {
        JsonArray bytes = new JsonArray();
        for (byte b : t.utf8()) bytes.add(b & 0xff);   // the token's own bytes: a part of a character is not U+FFFD's
        return new JsonObject().put("token", t.token()).put("logprob", clamp(t.logprob())).put("bytes", bytes);
    }

    private static float clamp(float lp) {
        return Float.isFinite(lp) ? Math.max(lp, MIN_LOGPROB) : (lp > 0 ? 0f : MIN_LOGPROB);
    }
}
