package io.chunkserve.service.generation;

import io.chunkserve.engine.GenerationRequest;
import io.chunkserve.engine.RequestOutput;
import io.chunkserve.sampling.FinishReason;
import io.chunkserve.sampling.SamplingParams;
import io.chunkserve.service.EngineBridge;
import io.chunkserve.service.ServiceContext;
import io.chunkserve.service.TenantResolver.Tenant;
import io.chunkserve.service.auth.AdmissionControl;
import io.chunkserve.service.request.InvalidParameter;
import io.chunkserve.service.request.SamplingFields;
import io.chunkserve.service.request.RequestedSampling;
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
        /** Admission control: too many requests or prompt tokens in flight, overall or for the tenant (retry later). */
        OVERLOADED,
        /** The engine is shutting down. */
        UNAVAILABLE,
        /** The engine failed while generating. */
        INTERNAL
    }

    /** Refusal at {@link #start} by admission control: nothing was submitted. */
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

        /**
         * The last call for a generation that failed after {@link #start} returned.
         *
         * @param param the request field at fault ({@code prompt} too long for the context, ...), or null
         */
        void onFailure(Failure failure, String message, String param);
    }

    private enum State { TOKENIZING, RUNNING, ENDED }

    private final EngineBridge bridge;
    private final String engineId;
    private final AdmissionControl.Ticket ticket; // released when the generation ends, however it ends
    private final Sink sink;
    private State state = State.TOKENIZING;
    private boolean cancelRequested;

    private StreamingGeneration(EngineBridge bridge, String engineId, AdmissionControl.Ticket ticket, Sink sink) {
        this.bridge = bridge;
        this.engineId = engineId;
        this.ticket = ticket;
        this.sink = sink;
    }

    /** A server-unique engine request id such as {@code ws-17}. */
    public static String newRequestId(String prefix) {
        return prefix + "-" + IDS.incrementAndGet();
    }

    /**
     * Admits the request, then tokenizes and submits it asynchronously.
     *
     * @param sampling validated sampling settings (see {@code io.chunkserve.service.request.SamplingFields});
     *                 the context check runs once the prompt is tokenized
     * @throws Rejected when admission control refuses; then {@code sink} is never called
     */
    public static StreamingGeneration start(ServiceContext ctx, String engineId, Tenant tenant, Prompt prompt,
                                            RequestedSampling sampling, Sink sink) {
        AdmissionControl.Ticket ticket = ctx.admission().admit(tenant.name());
        if (ticket.refusal() != null) throw new Rejected(Failure.OVERLOADED, ticket.refusal().message());
        StreamingGeneration g = new StreamingGeneration(ctx.bridge(), engineId, ticket, sink);
        Future<int[]> ids = switch (prompt) {
            case TextPrompt t -> ctx.bridge().tokenize(t.text());
            case ChatPrompt c -> ctx.bridge().tokenizeChat(c.messages(), true, Map.of());
        };
        ids.onComplete(ar -> {
            if (ar.succeeded()) g.submit(tenant, ar.result(), sampling);
            else g.failTokenization(ar.cause(), sampling.kind().inputParam);
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

    private void submit(Tenant tenant, int[] promptIds, RequestedSampling sampling) {
        if (cancelRequested) {
            end();
            sink.onDone(FinishReason.ABORT, new RequestOutput.Usage(promptIds.length, 0, 0));
            return;
        }
        AdmissionControl.Refusal refused = ticket.addTokens(promptIds.length);
        if (refused != null) {
            end();
            sink.onFailure(Failure.OVERLOADED, refused.message(), null);
            return;
        }
        String input = sampling.kind().inputParam;
        try {
            SamplingParams params = sampling.forPrompt(promptIds.length, bridge.contextLength());
            GenerationRequest r = new GenerationRequest(engineId, tenant.name(), promptIds, params, tenant.cacheSalt());
            state = State.RUNNING;
            bridge.submit(r, this::onOutput);
        } catch (InvalidParameter e) {
            end();
            sink.onFailure(Failure.INVALID_REQUEST, e.getMessage(), e.param());
        } catch (IllegalArgumentException e) { // the engine refused the prompt (too big for the KV cache, ...)
            end();
            sink.onFailure(Failure.INVALID_REQUEST, e.getMessage(), SamplingFields.engineRefusalParam(e.getMessage(), input));
        } catch (IllegalStateException e) {
            end();
            sink.onFailure(Failure.UNAVAILABLE, e.getMessage(), null);
        }
    }

    private void failTokenization(Throwable cause, String input) {
        end();
        if (cause instanceof IllegalArgumentException) {
            sink.onFailure(Failure.INVALID_REQUEST, cause.getMessage(), input);
        } else {
            LOG.log(Level.WARNING, "tokenization of " + engineId + " failed", cause);
            sink.onFailure(Failure.INTERNAL, "tokenization failed: " + cause, null);
        }
    }

    private void onOutput(RequestOutput out) {
        if (state == State.ENDED) return;
        if (out.error() != null) {
            end();
            sink.onFailure(Failure.INTERNAL, out.error(), null);
            return;
        }
        FinishReason finish = null;
        for (RequestOutput.ChoiceDelta d : out.choices()) {
            if (d.tokenIds().length > 0 || !d.text().isEmpty()) sink.onTokens(d.text(), d.tokenIds());
            if (d.finish() != null) finish = d.finish();
        }
        if (!out.finished()) return;
        end();
        if (finish == FinishReason.ERROR) sink.onFailure(Failure.INTERNAL, "generation failed (the model produced no finite logits)", null);
        else sink.onDone(finish != null ? finish : FinishReason.STOP, out.usage());
    }

    private void end() {
        state = State.ENDED;
        ticket.release();
    }
}
