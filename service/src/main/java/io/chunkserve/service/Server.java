package io.chunkserve.service;

import io.chunkserve.engine.Worker;
import io.chunkserve.service.auth.ApiKeyResolver;
import io.chunkserve.service.grpc.GrpcApi;
import io.chunkserve.service.health.Drain;
import io.chunkserve.service.health.HealthRoutes;
import io.chunkserve.service.metrics.ServiceMetrics;
import io.chunkserve.service.openai.OpenAiApi;
import io.chunkserve.service.synthetic.SyntheticBridge;
import io.chunkserve.service.ws.WebSocketApi;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.http.Http2Settings;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.internal.ContextInternal;
import io.vertx.core.internal.VertxInternal;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.core.transport.Transport;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.handler.StaticHandler;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The running service: one Vert.x instance, the worker (engine thread) and the HTTP server with
 * every route mounted. {@link #start} returns once the port is bound; tests start it on port 0.
 */
public final class Server implements AutoCloseable {
    private final Vertx vertx;
    private final Worker worker;
    private final List<HttpServer> http; // one per event loop, all on one port
    private final ServiceContext context;
    private final GrpcApi grpc; // null when grpcPort is -1
    private final AtomicBoolean closed = new AtomicBoolean();

    private Server(Vertx vertx, Worker worker, List<HttpServer> http, ServiceContext context, GrpcApi grpc) {
        this.vertx = vertx;
        this.worker = worker;
        this.http = http;
        this.context = context;
        this.grpc = grpc;
    }

    /** Loads the model (or, with {@code cfg.synthetic() > 0}, the synthetic engine) and binds the port. */
    public static Server start(ServiceConfig cfg) {
        Worker worker = cfg.synthetic() > 0 ? null : Worker.start(cfg.worker());
        // io_uring where the kernel allows it, else epoll, else NIO (see newVertx).
        Vertx vertx = newVertx();
        try {
            EngineBridge bridge = worker == null ? new SyntheticBridge(vertx, cfg.synthetic(), Boolean.getBoolean(SyntheticBridge.STAMPS_PROPERTY)) : new EngineBridge(vertx, worker);
            ServiceMetrics metrics = new ServiceMetrics(bridge::snapshot, bridge::inFlight, bridge::draining);
            bridge.attachMetrics(metrics);
            ServiceContext ctx = new ServiceContext(vertx, bridge, ApiKeyResolver.forConfig(cfg), cfg);
            Router router = Router.router(vertx);
            HealthRoutes.mount(router, bridge, metrics); // /health, /ready, /metrics, the drain gate
            OpenAiApi.mount(router, ctx); // its key check guards /v1/models below
            router.get("/v1/models").handler(rc -> rc.json(new JsonObject().put("object", "list").put("data",
                    new JsonArray().add(new JsonObject().put("id", ctx.bridge().modelName()).put("object", "model")
                            .put("owned_by", "chunkserve").put("max_model_len", ctx.bridge().contextLength())))));
            router.route().handler(StaticHandler.create("webroot")); // the pages at /; keep this route last
            // One server instance per event loop, all sharing the port (Vert.x hands each new
            // connection to the next instance). Port 0 becomes -1: Vert.x's "one random port shared
            // by every server listening on -1". Every instance serves the same router, so what they
            // share (admission counters, metrics, the bridge) is one thread-safe object.
            List<HttpServer> http = new ArrayList<>();
            int port = cfg.port() == 0 ? -1 : cfg.port();
            for (int i = 0; i < httpInstances(); i++) http.add(listen(vertx, ctx, router, port, cfg.host()));
            GrpcApi grpc = cfg.grpcPort() < 0 ? null
                    : GrpcApi.start(ctx, cfg.host(), cfg.grpcPort()).toCompletionStage().toCompletableFuture().join();
            return new Server(vertx, worker, http, ctx, grpc);
        } catch (RuntimeException e) {
            vertx.close();
            if (worker != null) worker.close();
            throw e;
        }
    }

    /**
     * Vert.x on io_uring where the kernel and its native library allow it (Linux), else epoll, else
     * NIO; the system property {@code chunkserve.transport} ({@code io_uring}, {@code epoll},
     * {@code nio}) picks one. io_uring first: a loop turn's writes go to the kernel in one system
     * call instead of one {@code send} each (the front end's cost per SSE event is mostly system calls).
     */
    public static Vertx newVertx() {
        return newVertx(new VertxOptions());
    }

    /** {@link #newVertx()} with these options. */
    public static Vertx newVertx(VertxOptions o) {
        return newVertx(o, System.getProperty("chunkserve.transport", ""));
    }

    /** Vert.x with these options on the transport named {@code transport} ({@code io_uring}, {@code epoll}, {@code nio}; "" = the first available). */
    public static Vertx newVertx(VertxOptions o, String transport) {
        return Vertx.builder().with(o).withTransport(transport(transport)).build();
    }

    /** The transport named {@code t}, or for "" io_uring if available, else epoll, else NIO. */
    static Transport transport(String t) {
        return switch (t) {
            case "io_uring" -> Transport.IO_URING;
            case "epoll" -> Transport.EPOLL;
            case "nio" -> Transport.NIO;
            case "" -> Transport.IO_URING.available() ? Transport.IO_URING : Transport.EPOLL.available() ? Transport.EPOLL : Transport.NIO;
            default -> throw new IllegalArgumentException("chunkserve.transport: expected epoll, io_uring or nio, got " + t);
        };
    }

    /** The network transport Vert.x runs on. */
    public static String transportName(Vertx vertx) {
        if (!vertx.isNativeTransportEnabled()) return "nio";
        return ((VertxInternal) vertx).transport().getClass().getSimpleName().replace("Transport", "").toLowerCase(Locale.ROOT);
    }

    public int port() { return http.getFirst().actualPort(); }

    /**
     * HTTP server instances (event loops accepting connections): the cores, or the system property
     * {@code chunkserve.http.instances}.
     */
    public static int httpInstances() {
        return Math.max(1, Integer.getInteger("chunkserve.http.instances", Runtime.getRuntime().availableProcessors()));
    }

    /** HTTP/2 receive window per stream (request bodies): 1 MiB, so an upload of a large prompt is not paced by round trips. */
    static final int H2_STREAM_WINDOW = 1 << 20;
    /** HTTP/2 receive window of a connection: room for many streams' bodies at once. */
    static final int H2_CONNECTION_WINDOW = 16 << 20;
    /** RST_STREAM frames a client may send per connection and window, per stream the server admits (see {@link #httpOptions}). */
    static final int H2_RESETS_PER_ADMITTED_STREAM = 8;
    /** The window of Netty's rapid-reset guard, seconds (Vert.x's default). */
    static final int H2_RESET_WINDOW_S = 30;

    /**
     * The HTTP server's options. HTTP/1.1, and HTTP/2 over cleartext (h2c) both with prior
     * knowledge (a connection that opens with the HTTP/2 preface, as gRPC clients, Envoy upstreams
     * and {@code curl --http2-prior-knowledge} do) and by {@code Upgrade: h2c}; over TLS it would be
     * ALPN. HTTP/2 lets a client multiplex many SSE streams over one connection, so the events of
     * many streams share a TCP segment.
     *
     * <p>{@code SETTINGS_MAX_CONCURRENT_STREAMS} is the admission limit ({@code max-waiting-requests}):
     * one connection (a gateway's) may carry every stream the server would admit anyway; more are
     * refused by the protocol rather than answered 429 one by one. Netty's rapid-reset guard
     * (CVE-2023-44487) closes a connection whose client sends more than a set number of
     * {@code RST_STREAM} frames per window, counting every reset, including an honest cancel
     * (Vert.x's default: 200 per 30 s — a gateway whose users press "stop" would trip it). The limit
     * here scales with the streams a connection may hold: {@value #H2_RESETS_PER_ADMITTED_STREAM} per
     * admitted stream per {@value #H2_RESET_WINDOW_S} s, i.e. a client may cancel every stream it can
     * hold several times over, while a flood of reset requests stays bounded per connection (and each
     * reset request has already passed admission control, which bounds the work it can start).
     */
    static HttpServerOptions httpOptions(ServiceConfig cfg) {
        int streams = Math.max(100, cfg.maxWaitingRequests());
        return new HttpServerOptions()
                .setHttp2ClearTextEnabled(true)
                .setInitialSettings(new Http2Settings().setMaxConcurrentStreams(streams).setInitialWindowSize(H2_STREAM_WINDOW))
                .setHttp2ConnectionWindowSize(H2_CONNECTION_WINDOW)
                .setHttp2RstFloodMaxRstFramePerWindow((int) Math.min(Integer.MAX_VALUE, (long) H2_RESETS_PER_ADMITTED_STREAM * streams))
                .setHttp2RstFloodWindowDuration(H2_RESET_WINDOW_S).setHttp2RstFloodWindowDurationTimeUnit(TimeUnit.SECONDS);
    }

    /** Creates and binds one HTTP server on a fresh event-loop context (so instances spread over the loops). */
    private static HttpServer listen(Vertx vertx, ServiceContext ctx, Router router, int port, String host) {
        ContextInternal c = ((VertxInternal) vertx).createEventLoopContext();
        CompletableFuture<HttpServer> f = new CompletableFuture<>();
        c.runOnContext(v -> WebSocketApi.mount(vertx.createHttpServer(httpOptions(ctx.config())), ctx).requestHandler(router).listen(port, host)
                .onComplete(ar -> {
                    if (ar.succeeded()) f.complete(ar.result());
                    else f.completeExceptionally(ar.cause());
                }));
        return f.join();
    }

    /** The gRPC port, or -1 when gRPC is off. */
    public int grpcPort() { return grpc == null ? -1 : grpc.port(); }

    public ServiceContext context() { return context; }

    /** The model worker; null in synthetic mode. */
    public Worker worker() { return worker; }

    /**
     * Drains (see {@link Drain}), then closes: what the SIGTERM hook runs. Blocks up to
     * {@code timeout} plus a few seconds; never call it on an event loop.
     */
    public Drain.Result drainAndClose(Duration timeout) throws InterruptedException {
        Drain.Result r = Drain.run(context.bridge(), timeout);
        // Let responses whose last bytes are still queued go out before the sockets close.
        Future.await(Future.join(http.stream().map(h -> h.shutdown(2, TimeUnit.SECONDS)).toList())
                .recover(e -> Future.succeededFuture()));
        close();
        return r;
    }

    /** Closes the server and the worker; later calls do nothing. */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) return;
        // Awaited apart, not chained: a future chained on a server's context never completes once
        // vertx.close() has stopped its event loops.
        if (grpc != null) Future.await(grpc.close().recover(e -> Future.succeededFuture()));
        for (HttpServer h : http) Future.await(h.close().recover(e -> Future.succeededFuture()));
        Future.await(vertx.close());
        if (worker != null) worker.close();
    }
}
