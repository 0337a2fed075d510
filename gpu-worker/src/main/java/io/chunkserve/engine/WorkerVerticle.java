package io.chunkserve.engine;

import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.VerticleBase;

/**
 * A model replica as a Vert.x verticle. It owns one {@link Worker} and so one engine thread (the
 * scheduler, the prefix cache and the runner live there, without locks); event loops talk to it
 * through {@link #submit}, {@link #abort} and {@link #stats}, none of which blocks. Each request's
 * outputs, batched per engine step, are delivered on the Vert.x context that submitted it.
 * Loading the model (seconds) runs on a worker thread during {@link #start}.
 */
public final class WorkerVerticle extends VerticleBase {
    private final WorkerConfig config;
    private final ContextDelivery delivery = new ContextDelivery();
    private volatile Worker worker;

    public WorkerVerticle(WorkerConfig config) {
        this.config = config;
    }

    @Override
    public Future<?> start() {
        return vertx.executeBlocking(() -> Worker.start(config), false).onSuccess(w -> worker = w);
    }

    @Override
    public Future<?> stop() {
        Worker w = worker;
        worker = null;
        return w == null ? Future.succeededFuture() : vertx.executeBlocking(() -> {
            w.close();
            return null;
        }, false);
    }

    /** The running worker (null before start completes and after stop). */
    public Worker worker() { return worker; }

    /**
     * Submits a request; {@code onOutput} runs on the caller's context, once per engine step at
     * most. Throws IllegalArgumentException when the engine refuses it at once.
     */
    public void submit(GenerationRequest request, Handler<RequestOutput> onOutput) {
        Worker w = running();
        w.engine().submit(request, delivery.to(vertx.getOrCreateContext(), onOutput));
    }

    /** Aborts at the next step boundary; its KV is released. */
    public void abort(String requestId) { running().engine().abort(requestId); }

    /** Engine stats, completed on the caller's context. */
    public Future<EngineStats> stats() {
        return Future.fromCompletionStage(running().engine().stats(), vertx.getOrCreateContext());
    }

    private Worker running() {
        Worker w = worker;
        if (w == null) throw new IllegalStateException("the model worker is not running");
        return w;
    }
}
