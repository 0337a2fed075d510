package io.chunkserve.service.ws;

import io.chunkserve.engine.RequestOutput;
import io.chunkserve.sampling.FinishReason;
import io.chunkserve.service.ServiceContext;
import io.chunkserve.service.TenantResolver.Tenant;
import io.chunkserve.service.generation.StreamingGeneration;
import io.chunkserve.service.generation.StreamingGeneration.Failure;
import io.chunkserve.service.generation.TokenBuffer;
import io.chunkserve.service.request.InvalidParameter;
import io.vertx.core.http.ServerWebSocket;
import io.vertx.core.json.JsonObject;

import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * One WebSocket connection: its running generations by client id, message dispatch and
 * backpressure. Everything runs on the connection's event loop.
 *
 * <p>Backpressure: while the socket's write queue is full, a generation's deltas coalesce in its
 * {@link TokenBuffer} (bounded by its {@code max_tokens}) and the socket stops reading client
 * messages; on drain the held output is written and reading resumes. Closing the socket aborts
 * every generation it started, so the engine frees their KV at its next step.
 */
final class WsSession {
    private static final Logger LOG = Logger.getLogger(WsSession.class.getName());

    /** Generations one socket may run at once: enough for any UI, small enough that one socket cannot flood the queue. */
    static final int MAX_ACTIVE = 64;
    /** Longest client id accepted (ids are echoed on every frame). */
    static final int MAX_ID_LENGTH = 256;

    private final ServerWebSocket ws;
    private final ServiceContext ctx;
    private final String authorization;
    private final Map<String, Generation> active = new HashMap<>();
    /** Generations with output held back while the write queue is full, in arrival order. */
    private final Set<Generation> backlog = new LinkedHashSet<>();
    private boolean closed;
    private boolean paused;

    WsSession(ServerWebSocket ws, ServiceContext ctx, String authorization) {
        this.ws = ws;
        this.ctx = ctx;
        this.authorization = authorization;
    }

    void start() {
        ws.textMessageHandler(this::onText);
        ws.binaryMessageHandler(b -> send(WsFrames.error(null, WsFrames.INVALID_REQUEST_ERROR, "binary_message",
                "binary messages are not supported; send JSON text messages")));
        ws.drainHandler(v -> onDrain());
        ws.closeHandler(v -> onClose());
        ws.exceptionHandler(e -> LOG.log(Level.FINE, "WebSocket " + ws.remoteAddress() + " failed", e));
    }

    private void onText(String text) {
        JsonObject msg;
        try {
            msg = new JsonObject(text);
        } catch (RuntimeException e) { // DecodeException, or valid JSON that is not an object
            send(WsFrames.error(null, WsFrames.INVALID_REQUEST_ERROR, "invalid_json", "messages must be JSON objects: " + e.getMessage()));
            return;
        }
        Object type = msg.getValue("type");
        switch (type instanceof String s ? s : "") {
            case "generate" -> generate(msg);
            case "cancel" -> cancel(msg);
            case "ping" -> send(WsFrames.pong(msg.getValue("id")));
            default -> send(WsFrames.error(msg.getValue("id") instanceof String s ? s : null, WsFrames.INVALID_REQUEST_ERROR,
                    "unknown_type", "unknown message type " + (type == null ? "(missing)" : "'" + type + "'")
                            + "; expected generate, cancel or ping"));
        }
    }

    private void generate(JsonObject msg) {
        if (!(msg.getValue("id") instanceof String id) || id.isEmpty() || id.length() > MAX_ID_LENGTH) {
            send(WsFrames.error(null, WsFrames.INVALID_REQUEST_ERROR, "invalid_request",
                    "generate needs an id: a non-empty string of at most " + MAX_ID_LENGTH + " characters"));
            return;
        }
        if (active.containsKey(id)) {
            send(WsFrames.error(id, WsFrames.INVALID_REQUEST_ERROR, "duplicate_id", "a generation with id " + id + " is still running"));
            return;
        }
        if (active.size() >= MAX_ACTIVE) {
            send(WsFrames.error(id, WsFrames.RATE_LIMIT_ERROR, "too_many_generations",
                    "at most " + MAX_ACTIVE + " generations may run on one socket"));
            return;
        }
        WsRequests.Generate req;
        try {
            req = WsRequests.parse(msg, ctx.bridge().modelName());
        } catch (InvalidParameter e) {
            send(WsFrames.error(id, e));
            return;
        }
        Tenant tenant = ctx.tenants().resolve(authorization, req.user());
        if (tenant == null) {
            send(WsFrames.error(id, WsFrames.AUTHENTICATION_ERROR, "invalid_api_key", "missing or invalid API key"));
            return;
        }
        Generation g = new Generation(id);
        try {
            g.handle = StreamingGeneration.start(ctx, StreamingGeneration.newRequestId("ws"), tenant, req.prompt(), req.sampling(), g);
        } catch (StreamingGeneration.Rejected e) {
            send(WsFrames.error(id, e.failure(), e.getMessage(), null));
            return;
        } catch (RuntimeException e) { // our bug, not the client's: say so on the socket instead of going silent
            LOG.log(Level.WARNING, "WebSocket generation " + id + " failed to start", e);
            send(WsFrames.error(id, WsFrames.SERVER_ERROR, "internal_error", "the generation could not start: " + e));
            return;
        }
        active.put(id, g);
    }

    /** Cancels a running generation; an unknown or finished id is ignored (a cancel may cross its done frame). */
    private void cancel(JsonObject msg) {
        if (!(msg.getValue("id") instanceof String id)) {
            send(WsFrames.error(null, WsFrames.INVALID_REQUEST_ERROR, "invalid_request", "cancel needs the id of a generation"));
            return;
        }
        Generation g = active.get(id);
        if (g != null) g.handle.cancel();
    }

    private void onClose() {
        closed = true;
        for (Generation g : active.values()) g.handle.cancel();
        active.clear();
        backlog.clear();
    }

    private void onDrain() {
        if (gone()) return;
        for (Iterator<Generation> it = backlog.iterator(); it.hasNext() && !ws.writeQueueFull(); ) {
            Generation g = it.next();
            it.remove();
            g.flush();
        }
        if (paused && !ws.writeQueueFull()) {
            paused = false;
            ws.resume();
        }
    }

    /**
     * Whether nothing more may be written: the close handshake has begun ({@code isClosed()}) or
     * the connection is gone. Generations are aborted in the close handler, which comes last.
     */
    private boolean gone() { return closed || ws.isClosed(); }

    /** Writes a frame that is not a generation's output (pong, errors); they are few per client message read. */
    private void send(JsonObject frame) {
        if (gone()) return;
        ws.writeTextMessage(frame.encode());
        throttleIfFull();
    }

    /** Stops reading client messages while the write queue is full: a client that does not read cannot make us queue without bound. */
    private void throttleIfFull() {
        if (!paused && ws.writeQueueFull()) {
            paused = true;
            ws.pause();
        }
    }

    /** One generation of this socket; its {@link StreamingGeneration.Sink} runs on the socket's event loop. */
    private final class Generation implements StreamingGeneration.Sink {
        final String id;
        final TokenBuffer pending = new TokenBuffer();
        StreamingGeneration handle;
        JsonObject last; // done or error frame, written after pending

        Generation(String id) {
            this.id = id;
        }

        @Override
        public void onTokens(String text, int[] tokenIds) {
            pending.append(text, tokenIds);
            emit();
        }

        @Override
        public void onDone(FinishReason reason, RequestOutput.Usage usage) {
            end(WsFrames.done(id, reason, usage));
        }

        @Override
        public void onFailure(Failure failure, String message, String param) {
            end(WsFrames.error(id, failure, message, param));
        }

        private void end(JsonObject frame) {
            last = frame;
            active.remove(id, this);
            emit();
        }

        private void emit() {
            if (gone()) return;
            if (ws.writeQueueFull()) {
                backlog.add(this);
                throttleIfFull();
            } else {
                backlog.remove(this);
                flush();
            }
        }

        void flush() {
            if (!pending.isEmpty()) {
                ws.writeTextMessage(WsFrames.delta(id, pending.text(), pending.tokenIds()).encode());
                pending.clear();
            }
            if (last != null) {
                ws.writeTextMessage(last.encode());
                last = null;
            }
            throttleIfFull();
        }
    }
}
