package io.chunkserve.service.ws;

import io.chunkserve.service.ServiceContext;
import io.vertx.core.MultiMap;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.ServerWebSocket;
import io.vertx.core.http.ServerWebSocketHandshake;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.logging.Logger;

/**
 * The WebSocket endpoint {@code /v1/ws}: JSON text messages, several concurrent generations per
 * socket, cancel by id (protocol in {@code service/WEBSOCKET.md}).
 *
 * <p>It hooks the HTTP server's handshake rather than a router route, so no router middleware
 * (body handlers, ...) ever consumes an upgrade request. The handshake checks the API key (the
 * {@code Authorization} header, or {@code ?api_key=} for browsers, which cannot set headers on a
 * WebSocket) and answers 401 when keys are required and it is missing or wrong.
 */
public final class WebSocketApi {
    /** The endpoint's path. */
    public static final String PATH = "/v1/ws";

    private static final Logger LOG = Logger.getLogger(WebSocketApi.class.getName());

    private final ServiceContext ctx;

    private WebSocketApi(ServiceContext ctx) {
        this.ctx = ctx;
    }

    /** Installs the handshake and socket handlers on {@code http} (before it listens). */
    public static HttpServer mount(HttpServer http, ServiceContext ctx) {
        WebSocketApi api = new WebSocketApi(ctx);
        return http.webSocketHandshakeHandler(api::handshake).webSocketHandler(api::connect);
    }

    private void handshake(ServerWebSocketHandshake h) {
        if (!PATH.equals(h.path())) {
            h.reject(404);
            return;
        }
        if (ctx.tenants().authRequired() && ctx.tenants().resolve(authorization(h.headers(), h.query()), null) == null) {
            LOG.fine(() -> "WebSocket upgrade from " + h.remoteAddress() + " refused: bad API key");
            h.reject(401);
            return;
        }
        h.accept();
    }

    private void connect(ServerWebSocket ws) {
        new WsSession(ws, ctx, authorization(ws.headers(), ws.query())).start();
    }

    /** The Authorization header, else {@code Bearer <api_key>} from the query string, else null. */
    static String authorization(MultiMap headers, String query) {
        String h = headers.get("Authorization");
        if (h != null) return h;
        if (query == null) return null;
        for (String kv : query.split("&")) {
            int eq = kv.indexOf('=');
            if (eq > 0 && "api_key".equals(kv.substring(0, eq))) {
                try {
                    return "Bearer " + URLDecoder.decode(kv.substring(eq + 1), StandardCharsets.UTF_8);
                } catch (IllegalArgumentException e) {
                    return null;
                }
            }
        }
        return null;
    }
}
