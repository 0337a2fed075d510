package io.chunkserve.service.health;

import io.chunkserve.service.EngineBridge;
import io.chunkserve.service.metrics.ServiceMetrics;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;

/**
 * {@code GET /health}, {@code GET /ready}, {@code GET /metrics}, and the gate that answers 503 to
 * API requests while the server drains.
 *
 * <ul>
 * <li>{@code /health} (liveness): 200 {@code {"status":"ok"}} while the process serves HTTP at all.</li>
 * <li>{@code /ready} (readiness): 200 {@code {"ready":true}} once the model is loaded and the server
 *     is not draining; else 503 {@code {"ready":false,"reason":"draining"}}. The server binds its
 *     port only after the model has loaded, so "loaded" holds whenever this answers.</li>
 * <li>While draining, every request under {@code /v1/} gets 503 with an OpenAI error body
 *     ({@code type: "service_unavailable"}) and, on HTTP/1.1, {@code Connection: close}, so clients and load
 *     balancers move to another replica; requests already running are not affected.</li>
 * </ul>
 */
public final class HealthRoutes {
    private HealthRoutes() { }

    /** Mounts the routes; call before the API routes so the drain gate runs first. */
    public static void mount(Router router, EngineBridge bridge, ServiceMetrics metrics) {
        router.route("/v1/*").order(-1000).handler(rc -> {
            if (!bridge.draining()) {
                rc.next();
                return;
            }
            if (metrics != null) metrics.rejected("draining");
            rejectDraining(rc);
        });
        router.get("/health").handler(rc -> rc.json(new JsonObject().put("status", "ok")));
        router.get("/ready").handler(rc -> {
            if (bridge.draining()) {
                rc.response().setStatusCode(503);
                rc.json(new JsonObject().put("ready", false).put("reason", "draining"));
            } else {
                rc.json(new JsonObject().put("ready", true));
            }
        });
        if (metrics != null) {
            router.get("/metrics").handler(rc -> rc.response()
                    .putHeader(HttpHeaders.CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")
                    .end(metrics.scrape()));
        }
    }

    /** 503 with an OpenAI error body: the server is draining. */
    public static void rejectDraining(RoutingContext rc) {
        JsonObject err = new JsonObject().put("error", new JsonObject()
                .put("message", "the server is shutting down; retry on another replica")
                .put("type", "service_unavailable").putNull("param").put("code", "draining"));
        rc.response().setStatusCode(503).putHeader("Retry-After", "1");
        // HTTP/1.1: close so the client reconnects, through the load balancer, to a replica that serves.
        // HTTP/2 forbids the header (and a GOAWAY comes with the server's shutdown).
        if (rc.request().version() != io.vertx.core.http.HttpVersion.HTTP_2) rc.response().putHeader(HttpHeaders.CONNECTION, "close");
        rc.json(err);
    }
}
