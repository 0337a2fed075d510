package io.chunkserve.service;

import io.chunkserve.engine.GenerationRequest;
import io.chunkserve.engine.RequestOutput;
import io.chunkserve.engine.Worker;
import io.chunkserve.tokenizer.ChatMessage;
import io.chunkserve.tokenizer.ChatTemplate;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;

import java.util.List;
import java.util.Map;

/**
 * The service's door to the engine, safe to use from event loops: tokenization and chat-template
 * rendering run on Vert.x worker threads (long prompts take milliseconds), submission is a
 * non-blocking inbox post, and each request's outputs come back on the Vert.x context that
 * submitted it.
 */
public final class EngineBridge {
    private final Vertx vertx;
    private final Worker worker;

    public EngineBridge(Vertx vertx, Worker worker) {
        this.vertx = vertx;
        this.worker = worker;
    }

    public Worker worker() { return worker; }

    /** Served model name (the directory name). */
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
     * engine refuses at once (e.g. a prompt longer than the context).
     */
    public void submit(GenerationRequest request, Handler<RequestOutput> onOutput) {
        Context ctx = vertx.getOrCreateContext();
        worker.engine().submit(request, out -> ctx.runOnContext(v -> onOutput.handle(out)));
    }

    /** Stops a request at the next step boundary and frees its KV. */
    public void abort(String requestId) {
        worker.engine().abort(requestId);
    }
}
