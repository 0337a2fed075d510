package io.chunkserve.service.openai;

import io.chunkserve.engine.Worker;
import io.chunkserve.service.EngineBridge;
import io.chunkserve.service.ServiceContext;
import io.chunkserve.service.TenantResolver;
import io.chunkserve.service.TenantResolver.Tenant;
import io.chunkserve.service.auth.AdmissionControl;
import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The OpenAI-compatible HTTP API: {@code POST /v1/chat/completions}, {@code POST /v1/completions}
 * (streamed as SSE or answered as one JSON object), API-key checks in front of them and of
 * {@code GET /v1/models}, and OpenAI error JSON for every failure the router sees (unknown route
 * 404, wrong method 405, body too large 413, internal 500).
 *
 * <p>Per request, on the event loop: auth (401 before the body is read), body limit (413), strict
 * UTF-8 and JSON decoding (400; bodies over {@value #INLINE_DECODE_BYTES} bytes are decoded on the
 * worker pool), {@link RequestParser} (400/404), tenant, then a {@link GenerationCall} (admission
 * 429, tokenization, context check, engine).
 */
public final class OpenAiApi {
    private static final Logger LOG = Logger.getLogger(OpenAiApi.class.getName());
    /** Bodies up to this size are decoded on the event loop (well under a millisecond). */
    static final int INLINE_DECODE_BYTES = 64 << 10;
    private static final String TENANT_KEY = "chunkserve.tenant";
    /** Largest {@code n} when the engine's batch size is unknown (EngineConfig's default). */
    private static final int DEFAULT_MAX_N = 64;

    private final ServiceContext ctx;
    private final AdmissionControl admission;
    private final RequestParser parser;
    private final AtomicLong aborts = new AtomicLong();

    private OpenAiApi(ServiceContext ctx, AdmissionControl admission) {
        this.ctx = ctx;
        this.admission = admission;
        EngineBridge b = ctx.bridge();
        Worker w = b.worker(); // null for an engine without a model (a synthetic one): no vocabulary to check against
        this.parser = new RequestParser(b.modelName(), w == null ? Integer.MAX_VALUE : w.model().config().vocabSize(),
                w == null ? DEFAULT_MAX_N : w.config().engine().maxRunningSequences());
    }

    /**
     * Mounts the API on {@code router}. Call it before other {@code /v1/models} routes so the key
     * check runs first. Sets the router's 404/405/413/500 handlers to answer OpenAI error JSON.
     */
    public static OpenAiApi mount(Router router, ServiceContext ctx) {
        OpenAiApi api = new OpenAiApi(ctx, ctx.admission());
        BodyHandler body = BodyHandler.create(false).setBodyLimit(ctx.config().maxBodyBytes());
        for (Endpoint e : Endpoint.values()) {
            // Two routes: the key check runs before the body is read (Vert.x wants body handlers first on a route).
            router.post(e.path).handler(api::authenticate);
            router.post(e.path).handler(body).handler(rc -> api.handle(rc, e)).failureHandler(api::failure);
            // Explicit, so that a catch-all route mounted later (static pages) cannot turn a 405 into a 404.
            router.route(e.path).handler(rc -> methodNotAllowed(rc, "POST"));
        }
        router.route("/v1/models").handler(rc -> {
            if (rc.request().method() == HttpMethod.GET) api.authenticate(rc);
            else methodNotAllowed(rc, "GET");
        });
        router.errorHandler(404, rc -> sendError(rc.response(), new OpenAiError(404, "invalid_request_error",
                "Invalid URL (" + rc.request().method() + " " + rc.request().path() + ")", null, null)));
        router.errorHandler(405, rc -> methodNotAllowed(rc, null));
        router.errorHandler(413, api::failure);
        router.errorHandler(500, api::failure);
        return api;
    }

    private static void methodNotAllowed(RoutingContext rc, String allow) {
        if (allow != null) rc.response().putHeader(HttpHeaders.ALLOW, allow);
        sendError(rc.response(), new OpenAiError(405, "invalid_request_error",
                "Method " + rc.request().method() + " is not allowed for " + rc.request().path(), null, "method_not_allowed"));
    }

    /** Requests in flight, for metrics and tests. */
    public AdmissionControl admission() { return admission; }

    /** Requests aborted because their client went away. */
    public long aborts() { return aborts.get(); }

    EngineBridge bridge() { return ctx.bridge(); }

    void countAbort() { aborts.incrementAndGet(); }

    /** With API keys configured: 401 unless the bearer key is known; the tenant goes into the context. */
    private void authenticate(RoutingContext rc) {
        TenantResolver tenants = ctx.tenants();
        if (!tenants.authRequired()) {
            rc.next();
            return;
        }
        String auth = rc.request().getHeader(HttpHeaders.AUTHORIZATION);
        Tenant t = tenants.resolve(auth, null);
        if (t == null) {
            String msg = auth == null
                    ? "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
                    : "Incorrect API key provided.";
            rc.response().putHeader("WWW-Authenticate", "Bearer");
            sendError(rc.response(), new OpenAiError(401, "invalid_request_error", msg, null, "invalid_api_key"));
            return;
        }
        rc.put(TENANT_KEY, t);
        rc.next();
    }

    private void handle(RoutingContext rc, Endpoint endpoint) {
        Buffer body = rc.body().buffer();
        if (body == null || body.length() == 0) {
            sendError(rc.response(), OpenAiError.invalid("The request body is empty; expected a JSON object.", null));
            return;
        }
        Future<JsonObject> json;
        if (body.length() <= INLINE_DECODE_BYTES) {
            try {
                json = Future.succeededFuture(decode(body));
            } catch (OpenAiError e) {
                json = Future.failedFuture(e);
            }
        } else {
            json = ctx.vertx().executeBlocking(() -> decode(body), false);
        }
        json.onComplete(ar -> {
            try {
                if (ar.failed()) throw ar.cause();
                ApiRequest req = parser.parse(endpoint, ar.result());
                Tenant t = rc.get(TENANT_KEY);
                if (t == null) t = ctx.tenants().resolve(rc.request().getHeader(HttpHeaders.AUTHORIZATION), req.user());
                new GenerationCall(this, rc.response(), rc.request().connection(), req, t).run();
            } catch (Throwable e) {
                respondFailure(rc.response(), e);
            }
        });
    }

    /**
     * A body as a JSON object. Throws {@link OpenAiError} 400 for invalid UTF-8 (instead of letting
     * the decoder replace bad bytes), malformed JSON, or JSON that is not an object.
     */
    static JsonObject decode(Buffer body) {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(body.getBytes())).toString();
        } catch (CharacterCodingException e) {
            throw OpenAiError.invalid("The request body is not valid UTF-8.", null, "invalid_encoding");
        }
        String t = text.strip();
        if (!t.startsWith("{")) throw OpenAiError.invalid("The request body must be a JSON object.", null, "invalid_json");
        try {
            return new JsonObject(t);
        } catch (DecodeException | IllegalStateException | ClassCastException e) {
            throw OpenAiError.invalid("We could not parse the JSON body of your request: " + firstLine(e.getMessage()), null, "invalid_json");
        }
    }

    private void failure(RoutingContext rc) {
        Throwable e = rc.failure();
        int status = rc.statusCode();
        if (e == null && status == 413) {
            sendError(rc.response(), new OpenAiError(413, "invalid_request_error", "The request body is larger than the limit of "
                    + ctx.config().maxBodyBytes() + " bytes.", null, "request_too_large"));
        } else if (e == null && status >= 400 && status < 500) {
            sendError(rc.response(), new OpenAiError(status, "invalid_request_error", "The request failed with status " + status + ".", null, null));
        } else {
            respondFailure(rc.response(), e);
        }
    }

    private static void respondFailure(HttpServerResponse resp, Throwable e) {
        if (e instanceof OpenAiError oe) {
            sendError(resp, oe);
            return;
        }
        LOG.log(Level.SEVERE, "request failed", e);
        sendError(resp, OpenAiError.internal("internal error; the server log has details"));
    }

    /** Ends {@code resp} with an error, unless it has already been answered or its client left. */
    static void sendError(HttpServerResponse resp, OpenAiError e) {
        if (resp.headWritten() || resp.closed() || resp.ended()) return;
        sendJson(resp, e.status(), e.toJson());
    }

    /** 429 with {@code Retry-After} and a {@code rate_limit_exceeded} error. */
    static void sendRateLimited(HttpServerResponse resp, AdmissionControl.Refusal r) {
        if (resp.headWritten() || resp.closed()) return;
        resp.putHeader(HttpHeaders.RETRY_AFTER, Integer.toString(r.retryAfterSeconds()));
        sendJson(resp, 429, new OpenAiError(429, r.kind(), r.message(), null, "rate_limit_exceeded").toJson());
    }

    static void sendJson(HttpServerResponse resp, int status, JsonObject body) {
        resp.setStatusCode(status).putHeader(HttpHeaders.CONTENT_TYPE, "application/json").end(body.encode());
    }

    private static String firstLine(String s) {
        if (s == null) return "";
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }
}
