package io.chunkserve.service;

import io.chunkserve.engine.ContextDelivery;
import io.chunkserve.engine.EngineStats;
import io.chunkserve.engine.GenerationRequest;
import io.chunkserve.engine.RequestOutput;
import io.chunkserve.engine.Worker;
import io.chunkserve.service.metrics.RequestMetrics;
import io.chunkserve.service.metrics.ServiceMetrics;
import io.chunkserve.tokenizer.ChatMessage;
import io.chunkserve.tokenizer.ChatTemplate;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The service's door to the engine, safe to use from event loops: tokenization and chat-template
 * rendering run on Vert.x worker threads (long prompts take milliseconds), submission is a
 * non-blocking inbox post, and each request's outputs come back on the Vert.x context that
 * submitted it.
 *
 * <p>Two implementations: this one over a model {@link Worker}, and the synthetic engine
 * ({@code io.chunkserve.service.synthetic.SyntheticBridge}, {@code serve --synthetic RATE}) that
 * emits tokens at a fixed rate with no model, to measure the front ends alone. Both keep the same
 * contract; only {@link #worker()} differs (null in synthetic mode).
 *
 * <p>The bridge also tracks requests in flight (submitted, final output not yet delivered) for
 * draining: once {@link #startDraining()} ran, {@link #submit} refuses new requests.
 */
public class EngineBridge {
    private final Vertx vertx;
    private final Worker worker; // null for engines without a model
    private final Set<String> inFlight = ConcurrentHashMap.newKeySet();
    private final ContextDelivery delivery = new ContextDelivery();
    private volatile boolean draining;
    private volatile ServiceMetrics metrics;

    public EngineBridge(Vertx vertx, Worker worker) {
        this.vertx = vertx;
        this.worker = worker;
    }

    /** For engines without a {@link Worker} (the synthetic one). */
    protected EngineBridge(Vertx vertx) {
        this(vertx, null);
    }

    /** The model worker; <b>null in synthetic mode</b> (no model, no engine thread). */
    public Worker worker() { return worker; }

    protected Vertx vertx() { return vertx; }

    /** Served model name (the directory name; "synthetic" in synthetic mode). */
    public String modelName() { return worker.model().name(); }

    public int contextLength() { return worker.model().config().maxPositions(); }

    /** Tokenizes a completion prompt on a worker thread. */
    public Future<int[]> tokenize(String text) {
        return vertx.executeBlocking(() -> worker.tokenizer().encode(text, true), false);
    }

    /**
     * Renders a conversation through the model's chat template and tokenizes it, on a worker
     * thread. Fails with IllegalArgumentException (a client error) when the template rejects the
     * conversation or the model has no template.
     */
    public Future<int[]> tokenizeChat(List<ChatMessage> messages, boolean addGenerationPrompt, Map<String, Object> extra) {
        return vertx.executeBlocking(() -> {
            ChatTemplate tpl = worker.chatTemplate().orElseThrow(() ->
                    new IllegalArgumentException("this model has no chat template; use /v1/completions"));
            String text;
            try {
                text = tpl.render(messages, addGenerationPrompt, extra);
            } catch (RuntimeException e) {
                throw new IllegalArgumentException("the chat template rejected the messages: " + e.getMessage(), e);
            }
            return worker.tokenizer().encode(text, false);
        }, false);
    }

    /**
     * Submits a request; {@code onOutput} runs on the caller's current Vert.x context once per
     * engine step with that step's outputs. Throws IllegalArgumentException for a request the
     * engine refuses at once (e.g. a prompt longer than the context, a duplicate id), and
     * IllegalStateException while the server drains for shutdown (answer 503).
     */
    public final void submit(GenerationRequest request, Handler<RequestOutput> onOutput) {
        if (draining) throw new IllegalStateException("the server is shutting down; retry on another replica");
        String id = request.id();
        if (!inFlight.add(id)) throw new IllegalArgumentException("duplicate request id " + id);
        Handler<RequestOutput> tracked = out -> {
            if (out.finished()) inFlight.remove(id);
            onOutput.handle(out);
        };
        try {
            dispatch(request, vertx.getOrCreateContext(), tracked);
        } catch (RuntimeException e) {
            inFlight.remove(id);
            throw e;
        }
    }

    /**
     * Hands the request to the engine; each output must reach {@code onOutput} on {@code ctx}
     * (batched per event loop by {@link ContextDelivery}).
     */
    protected void dispatch(GenerationRequest request, Context ctx, Handler<RequestOutput> onOutput) {
        worker.engine().submit(request, delivery.to(ctx, onOutput));
    }

    /** Stops a request at the next step boundary and frees its KV. */
    public void abort(String requestId) {
        worker.engine().abort(requestId);
    }

    /** The engine's latest stats (published once per step; never blocks). */
    public EngineStats snapshot() { return worker.engine().snapshot(); }

    /**
     * A latency recorder for one request, started now (call when the request arrives); a no-op
     * recorder when the server has no metrics. See {@link RequestMetrics}.
     */
    public RequestMetrics requestMetrics() { return RequestMetrics.start(metrics); }

    /** The server's metrics, or null (tests without them). */
    public ServiceMetrics metrics() { return metrics; }

    /** Set once by the server. */
    public void attachMetrics(ServiceMetrics m) { this.metrics = m; }

    /** Refuses new requests from now on (readiness turns false); in-flight ones run on. */
    public void startDraining() { draining = true; }

    public boolean draining() { return draining; }

    /** Requests submitted whose final output has not been delivered yet. */
    public int inFlight() { return inFlight.size(); }

    /** Aborts every request in flight (end of a drain that ran out of time). */
    public void abortAll() {
        for (String id : inFlight.toArray(String[]::new)) abort(id);
    }
}
