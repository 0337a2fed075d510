package io.chunkserve.service.grpc;

import io.chunkserve.service.ServiceContext;
import io.chunkserve.service.TenantResolver.Tenant;
import io.chunkserve.service.grpc.v1.GenerationGrpcService;
import io.chunkserve.service.grpc.v1.ListModelsRequest;
import io.chunkserve.service.grpc.v1.ListModelsResponse;
import io.chunkserve.service.grpc.v1.Model;
import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.health.HealthService;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.GrpcServerOptions;
import io.vertx.grpc.server.GrpcServerRequest;

/**
 * The gRPC front end: {@code chunkserve.v1.Generation} (server-streaming {@code Generate} and
 * {@code Chat}, unary {@code ListModels}) and the standard {@code grpc.health.v1.Health}, on their
 * own HTTP/2 server (cleartext h2c, prior knowledge) at {@code ServiceConfig.grpcPort()}. See
 * {@code service/GRPC.md}.
 *
 * <p>Authentication: the {@code authorization} metadata entry ({@code Bearer <key>}), resolved
 * through the same tenant resolver as the HTTP API; UNAUTHENTICATED when keys are required and it
 * is missing or wrong. Health checks need no key.
 */
public final class GrpcApi {
    /** Largest accepted request message: a prompt of a few hundred thousand tokens fits. */
    static final long MAX_MESSAGE_BYTES = 4L << 20;

    private final HttpServer http;

    private GrpcApi(HttpServer http) {
        this.http = http;
    }

    /** Binds the gRPC server on {@code host:port} (0 = any free port). */
    public static Future<GrpcApi> start(ServiceContext ctx, String host, int port) {
        GrpcServer grpc = GrpcServer.server(ctx.vertx(), new GrpcServerOptions().setMaxMessageSize(MAX_MESSAGE_BYTES));
        String model = ctx.bridge().modelName();
        grpc.callHandler(GenerationGrpcService.Generate, req -> GenerationCall.handle(ctx, req, r -> GrpcRequests.generate(r, model)));
        grpc.callHandler(GenerationGrpcService.Chat, req -> GenerationCall.handle(ctx, req, r -> GrpcRequests.chat(r, model)));
        grpc.callHandler(GenerationGrpcService.ListModels, req -> listModels(ctx, req));
        // "" is the whole server (what Kubernetes' grpc probe asks by default), beside the service itself.
        grpc.addService(HealthService.create(ctx.vertx())
                .register("", () -> Future.succeededFuture(true))
                .register(GenerationGrpcService.SERVICE_NAME, () -> Future.succeededFuture(true)));
        HttpServer http = ctx.vertx().createHttpServer(new HttpServerOptions().setHost(host).setPort(port)).requestHandler(grpc);
        return http.listen().map(GrpcApi::new);
    }

    /** The bound port. */
    public int port() { return http.actualPort(); }

    public Future<Void> close() { return http.close(); }

    /** Thrown by {@link #authenticate}: answer UNAUTHENTICATED. */
    static final class Unauthenticated extends RuntimeException {
        Unauthenticated() {
            super("missing or invalid API key (send metadata authorization: Bearer <key>)", null, false, false);
        }
    }

    static Tenant authenticate(ServiceContext ctx, MultiMap headers, String user) {
        Tenant t = ctx.tenants().resolve(headers.get("authorization"), user);
        if (t == null) throw new Unauthenticated();
        return t;
    }

    private static void listModels(ServiceContext ctx, GrpcServerRequest<ListModelsRequest, ListModelsResponse> req) {
        req.handler(msg -> {
            try {
                authenticate(ctx, req.headers(), null);
            } catch (Unauthenticated e) {
                req.response().status(GrpcStatus.UNAUTHENTICATED).statusMessage(e.getMessage()).end();
                return;
            }
            req.response().end(ListModelsResponse.newBuilder().addModels(Model.newBuilder()
                    .setId(ctx.bridge().modelName()).setOwnedBy("chunkserve").setMaxModelLen(ctx.bridge().contextLength())).build());
        });
    }
}
