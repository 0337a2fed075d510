package io.chunkserve.service;

import io.chunkserve.engine.Worker;
import io.chunkserve.service.auth.ApiKeyResolver;
import io.chunkserve.service.openai.OpenAiApi;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;

/**
 * The running service: one Vert.x instance, the worker (engine thread) and the HTTP server with
 * every route mounted. {@link #start} returns once the port is bound; tests start it on port 0.
 */
public final class Server implements AutoCloseable {
    private final Vertx vertx;
    private final Worker worker;
    private final HttpServer http;
    private final ServiceContext context;

    private Server(Vertx vertx, Worker worker, HttpServer http, ServiceContext context) {
        this.vertx = vertx;
        this.worker = worker;
        this.http = http;
        this.context = context;
    }

    public static Server start(ServiceConfig cfg) {
        Worker worker = Worker.start(cfg.worker());
        Vertx vertx = Vertx.vertx();
        try {
            ServiceContext ctx = new ServiceContext(vertx, new EngineBridge(vertx, worker), ApiKeyResolver.forConfig(cfg), cfg);
            Router router = Router.router(vertx);
            OpenAiApi.mount(router, ctx); // first: its key check guards /v1/models below
            router.get("/health").handler(rc -> rc.json(new JsonObject().put("status", "ok")));
            router.get("/ready").handler(rc -> rc.json(new JsonObject().put("ready", true)));
            router.get("/v1/models").handler(rc -> rc.json(new JsonObject().put("object", "list").put("data",
                    new JsonArray().add(new JsonObject().put("id", ctx.bridge().modelName()).put("object", "model")
                            .put("owned_by", "chunkserve").put("max_model_len", ctx.bridge().contextLength())))));
            HttpServer http = vertx.createHttpServer().requestHandler(router).listen(cfg.port(), cfg.host())
                    .toCompletionStage().toCompletableFuture().join();
            return new Server(vertx, worker, http, ctx);
        } catch (RuntimeException e) {
            vertx.close();
            worker.close();
            throw e;
        }
    }

    public int port() { return http.actualPort(); }

    public ServiceContext context() { return context; }

    public Worker worker() { return worker; }

    @Override
    public void close() {
        // Two joins from the caller's thread: chaining vertx.close() inside a Vert.x callback and awaiting
        // the result deadlocks (its completion is dispatched to the event loop that close() just stopped).
        http.close().toCompletionStage().toCompletableFuture().join();
        vertx.close().toCompletionStage().toCompletableFuture().join();
        worker.close();
    }
}
