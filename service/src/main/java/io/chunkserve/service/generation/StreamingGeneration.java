package io.chunkserve.service.generation;

import io.chunkserve.engine.EngineStats;
import io.chunkserve.engine.GenerationRequest;
import io.chunkserve.engine.RequestOutput;
import io.chunkserve.sampling.FinishReason;
import io.chunkserve.sampling.SamplingParams;
import io.chunkserve.service.EngineBridge;
import io.chunkserve.service.ServiceConfig;
import io.chunkserve.service.ServiceContext;
import io.chunkserve.service.TenantResolver.Tenant;
import io.chunkserve.tokenizer.ChatMessage;
import io.vertx.core.Future;

import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * One streamed generation from request to last token: the engine-facing half that the WebSocket
 * and gRPC front ends share. It checks admission, tokenizes on a worker thread (through
 * {@link EngineBridge}), submits, turns engine outputs into {@link Sink} calls and aborts on
 * {@link #cancel()}.
 *
 * <p>Threading: create it and call {@link #cancel()} on one Vert.x context (the connection's event
 * loop); every {@link Sink} call runs on that context, never from inside {@link #start}.
 */
public final class StreamingGeneration {
    private static final Logger LOG = Logger.getLogger(StreamingGeneration.class.getName());
    private static final AtomicLong IDS = new AtomicLong();

    /** What to generate from. */
    public sealed interface Prompt permits TextPrompt, ChatPrompt { }

    /** A raw completion prompt (tokenized with BOS). */
    public record TextPrompt(String text) implements Prompt { }

    /** A conversation, rendered through the model's chat template with the generation prompt. */
    public record ChatPrompt(List<ChatMessage> messages) implements Prompt { }

    /** Why a generation could not run; each front end maps these onto its own error codes. */
    public enum Failure {
        /** Bad input: parameters, prompt too long, a conversation the template rejects. */
        INVALID_REQUEST,
        /** Admission control: too many requests are queued (retry later). */
        OVERLOADED,
        /** The engine is shutting down. */
        UNAVAILABLE,
        /** The engine failed while generating. */
        INTERNAL
    }

    /** Refusal at {@link #start}: nothing was submitted. */
    public static final class Rejected extends RuntimeException {
        private final Failure failure;

        public Rejected(Failure failure, String message) {
            super(message, null, false, false);
            this.failure = failure;
        }

        public Failure failure() { return failure; }
    }

    /** Receives a generation's results, on the context that started it. */
    public interface Sink {
        /** New tokens; {@code text} may be empty while a UTF-8 sequence or a possible stop string is pending. */
        void onTokens(String text, int[] tokenIds);

        /** The last call for a generation that ended normally or was cancelled ({@link FinishReason#ABORT}). */
        void onDone(FinishReason reason, RequestOutput.Usage usage);

        /** The last call for a generation that failed after {@link #start} returned. */
        void onFailure(Failure failure, String message);
    }

    private enum State { TOKENIZING, RUNNING, ENDED }

    private final EngineBridge bridge;
    private final String engineId;
    private final Sink sink;
    private State state = State.TOKENIZING;
    private boolean cancelRequested;

    private StreamingGeneration(EngineBridge bridge, String engineId, Sink sink) {
        this.bridge = bridge;
        this.engineId = engineId;
        this.sink = sink;
    }

    /** A server-unique engine request id such as {@code ws-17}. */
    public static String newRequestId(String prefix) {
        return prefix + "-" + IDS.incrementAndGet();
    }

    /**
     * Validates and admits the request, then tokenizes and submits it asynchronously.
     *
     * @param params    sampling settings except {@code max_tokens}
     * @param maxTokens {@code max_tokens}, or null for the rest of the model's context (as vLLM)
     * @throws Rejected when the parameters are invalid or admission control refuses; then
     *                  {@code sink} is never called
     */
    public static StreamingGeneration start(ServiceContext ctx, String engineId, Tenant tenant, Prompt prompt,
                                            SamplingParams.Builder params, Integer maxTokens, Sink sink) {
        validatePrompt(prompt);
        if (maxTokens != null && maxTokens < 1) throw invalid("max_tokens must be at least 1, got " + maxTokens);
        int limit = maxTokens != null ? maxTokens : 1;
        try {
            params.maxTokens(limit).build();
        } catch (IllegalArgumentException e) {
            throw invalid(e.getMessage());
        }
        admit(ctx.config(), ctx.bridge().snapshot(), tenant);
        StreamingGeneration g = new StreamingGeneration(ctx.bridge(), engineId, sink);
        Future<int[]> ids = switch (prompt) {
            case TextPrompt t -> ctx.bridge().tokenize(t.text());
            case ChatPrompt c -> ctx.bridge().tokenizeChat(c.messages(), true, Map.of());
        };
        ids.onComplete(ar -> {
            if (ar.succeeded()) g.submit(tenant, ar.result(), params, maxTokens);
            else g.failTokenization(ar.cause());
        });
        return g;
    }

    /** Aborts the generation: the engine stops it at the next step and frees its KV; the sink then gets {@code onDone(ABORT)}. */
    public void cancel() {
        if (state == State.ENDED || cancelRequested) return;
        cancelRequested = true;
        if (state == State.RUNNING) bridge.abort(engineId);
    }

    /** The engine's id of this request. */
    public String engineId() { return engineId; }

    private void submit(Tenant tenant, int[] promptIds, SamplingParams.Builder params, Integer maxTokens) {
        if (cancelRequested) {
            end();
            sink.onDone(FinishReason.ABORT, new RequestOutput.Usage(promptIds.length, 0, 0));
            return;
        }
        int limit = maxTokens != null ? maxTokens : Math.max(1, bridge.contextLength() - promptIds.length);
        try {
            GenerationRequest r = new GenerationRequest(engineId, tenant.name(), promptIds, params.maxTokens(limit).build(),
                    tenant.cacheSalt());
            state = State.RUNNING;
            bridge.submit(r, this::onOutput);
        } catch (IllegalArgumentException e) {
            end();
            sink.onFailure(Failure.INVALID_REQUEST, e.getMessage());
        } catch (IllegalStateException e) {
            end();
            sink.onFailure(Failure.UNAVAILABLE, e.getMessage());
        }
    }

    private void failTokenization(Throwable cause) {
        end();
        if (cause instanceof IllegalArgumentException) {
            sink.onFailure(Failure.INVALID_REQUEST, cause.getMessage());
        } else {
            LOG.log(Level.WARNING, "tokenization of " + engineId + " failed", cause);
            sink.onFailure(Failure.INTERNAL, "tokenization failed: " + cause);
        }
    }

    private void onOutput(RequestOutput out) {
        if (state == State.ENDED) return;
        if (out.error() != null) {
            end();
            sink.onFailure(Failure.INTERNAL, out.error());
            return;
        }
        FinishReason finish = null;
        for (RequestOutput.ChoiceDelta d : out.choices()) {
            if (d.tokenIds().length > 0 || !d.text().isEmpty()) sink.onTokens(d.text(), d.tokenIds());
            if (d.finish() != null) finish = d.finish();
        }
        if (!out.finished()) return;
        end();
        if (finish == FinishReason.ERROR) sink.onFailure(Failure.INTERNAL, "generation failed (the model produced no finite logits)");
        else sink.onDone(finish != null ? finish : FinishReason.STOP, out.usage());
    }

    private void end() { state = State.ENDED; }

    private static void validatePrompt(Prompt prompt) {
        switch (prompt) {
            case TextPrompt t when t.text() == null || t.text().isEmpty() -> throw invalid("prompt must be a non-empty string");
            case ChatPrompt c when c.messages() == null || c.messages().isEmpty() -> throw invalid("messages must be a non-empty list");
            default -> { }
        }
    }

    /**
     * Admission control on the engine's last published stats: refuse when the queue, overall or
     * the tenant's, is at its limit. The snapshot lags by at most one engine step, so a burst can
     * overshoot a little; the engine's own KV-aware admission still bounds memory.
     */
    private static void admit(ServiceConfig cfg, EngineStats stats, Tenant tenant) {
        if (stats.waiting() >= cfg.maxWaitingRequests()) {
            throw new Rejected(Failure.OVERLOADED, "the server has " + stats.waiting() + " requests queued (limit "
                    + cfg.maxWaitingRequests() + "); retry later");
        }
        int[] mine = stats.perTenant().get(tenant.name());
        int waiting = mine == null ? 0 : mine[0];
        if (waiting >= cfg.maxWaitingRequestsPerTenant()) {
            throw new Rejected(Failure.OVERLOADED, "tenant " + tenant.name() + " has " + waiting + " requests queued (limit "
                    + cfg.maxWaitingRequestsPerTenant() + "); retry later");
        }
    }

    private static Rejected invalid(String message) {
        return new Rejected(Failure.INVALID_REQUEST, message);
    }
}
