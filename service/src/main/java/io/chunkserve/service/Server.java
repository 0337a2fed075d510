package io.chunkserve.service;

import io.chunkserve.engine.Worker;
import io.chunkserve.service.grpc.GrpcApi;
import io.chunkserve.service.ws.WebSocketApi;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.handler.StaticHandler;

/**
 * The running service: one Vert.x instance, the worker (engine thread) and the HTTP server with
 * every route mounted. {@link #start} returns once the port is bound; tests start it on port 0.
 */
public final class Server implements AutoCloseable {
    private final Vertx vertx;
    private final Worker worker;
    private final HttpServer http;
    private final ServiceContext context;
    private final GrpcApi grpc; // null when grpcPort is -1

    private Server(Vertx vertx, Worker worker, HttpServer http, ServiceContext context, GrpcApi grpc) {
        this.vertx = vertx;
        this.worker = worker;
        this.http = http;
        this.context = context;
        this.grpc = grpc;
    }

    public static Server start(ServiceConfig cfg) {
        Worker worker = Worker.start(cfg.worker());
        Vertx vertx = Vertx.vertx();
        try {
            ServiceContext ctx = new ServiceContext(vertx, new EngineBridge(vertx, worker), TenantResolver.OPEN, cfg);
            Router router = Router.router(vertx);
            router.get("/health").handler(rc -> rc.json(new JsonObject().put("status", "ok")));
            router.get("/ready").handler(rc -> rc.json(new JsonObject().put("ready", true)));
            router.get("/v1/models").handler(rc -> rc.json(new JsonObject().put("object", "list").put("data",
                    new JsonArray().add(new JsonObject().put("id", ctx.bridge().modelName()).put("object", "model")
                            .put("owned_by", "chunkserve").put("max_model_len", ctx.bridge().contextLength())))));
            router.route().handler(StaticHandler.create("webroot")); // the pages at /; keep this route last
            HttpServer http = WebSocketApi.mount(vertx.createHttpServer(), ctx).requestHandler(router).listen(cfg.port(), cfg.host())
                    .toCompletionStage().toCompletableFuture().join();
            GrpcApi grpc = cfg.grpcPort() < 0 ? null
                    : GrpcApi.start(ctx, cfg.host(), cfg.grpcPort()).toCompletionStage().toCompletableFuture().join();
            return new Server(vertx, worker, http, ctx, grpc);
        } catch (RuntimeException e) {
            vertx.close();
            worker.close();
            throw e;
        }
    }

    public int port() { return http.actualPort(); }

    /** The gRPC port, or -1 when gRPC is off. */
    public int grpcPort() { return grpc == null ? -1 : grpc.port(); }

    public ServiceContext context() { return context; }

    public Worker worker() { return worker; }

    @Override
    public void close() {
        Future<Void> grpcClosed = grpc == null ? Future.succeededFuture() : grpc.close();
        Future.await(grpcClosed.transform(x -> http.close()));
        // Awaited apart: a future chained on a server's context never completes once Vert.x has stopped its event loops.
        Future.await(vertx.close());
        worker.close();
    }
}
