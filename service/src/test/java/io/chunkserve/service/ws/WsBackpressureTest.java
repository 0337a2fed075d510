package io.chunkserve.service.ws;

import io.chunkserve.service.Server;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.http.ServerWebSocket;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.reflect.Proxy;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A WebSocket whose write queue stays full: the session must write nothing, stop reading, let
 * the whole generation coalesce, and send it as one delta plus done once the queue drains.
 * (Over loopback, kernel buffers hide a slow reader for megabytes, so the socket is a stand-in.)
 */
class WsBackpressureTest {
    private static ServiceTestSupport.BlockedThreadWatch blocked;
    private static Server server;

    @BeforeAll
    static void start() {
        blocked = ServiceTestSupport.BlockedThreadWatch.install();
        server = Server.start(ServiceTestSupport.config());
    }

    @AfterAll
    static void stop() {
        if (server != null) server.close();
        blocked.assertNone();
    }

    /** The parts of a ServerWebSocket that WsSession uses; the write queue is full while {@code full}. */
    private static final class FakeSocket {
        final List<JsonObject> written = new CopyOnWriteArrayList<>();
        volatile boolean full = true;
        volatile boolean paused;
        volatile Handler<String> text;
        volatile Handler<Void> drain;

        @SuppressWarnings("unchecked")
        ServerWebSocket proxy() {
            return (ServerWebSocket) Proxy.newProxyInstance(getClass().getClassLoader(), new Class<?>[] {ServerWebSocket.class},
                    (self, m, args) -> switch (m.getName()) {
                        case "textMessageHandler" -> { text = (Handler<String>) args[0]; yield self; }
                        case "drainHandler" -> { drain = (Handler<Void>) args[0]; yield self; }
                        case "binaryMessageHandler", "closeHandler", "exceptionHandler" -> self;
                        case "writeTextMessage" -> { written.add(new JsonObject((String) args[0])); yield Future.succeededFuture(); }
                        case "writeQueueFull" -> full;
                        case "isClosed" -> false;
                        case "pause" -> { paused = true; yield self; }
                        case "resume" -> { paused = false; yield self; }
                        case "remoteAddress" -> null;
                        case "toString" -> "FakeSocket";
                        case "hashCode" -> System.identityHashCode(self);
                        case "equals" -> self == args[0];
                        default -> throw new UnsupportedOperationException(m.getName());
                    });
        }
    }

    @Test
    void aFullWriteQueueCoalescesTheGenerationIntoOneDelta() throws Exception {
        String prompt = "Once upon a time there was";
        ServiceTestSupport.Reference ref = ServiceTestSupport.engineGreedy(server, server.worker().tokenizer().encode(prompt, true), 50);
        FakeSocket socket = new FakeSocket();
        Context ctx = server.context().vertx().getOrCreateContext();
        ctx.runOnContext(v -> {
            new WsSession(socket.proxy(), server.context(), null).start();
            socket.text.handle(new JsonObject().put("type", "generate").put("id", "bp").put("prompt", prompt)
                    .put("max_tokens", 50).put("temperature", 0).put("user", "ws-backpressure").encode());
        });
        // The engine finishes the whole generation while nothing may be written.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (ServiceTestSupport.outputTokensOrZero(server, "ws-backpressure") < ref.tokenIds().size()) {
            assertTrue(System.nanoTime() < deadline, "generation did not finish");
            Thread.sleep(20);
        }
        ServiceTestSupport.awaitKvFreed(server);
        ServiceTestSupport.awaitOutputsDelivered(server, ctx); // the last output has reached the session's context
        assertEquals(List.of(), socket.written);
        assertTrue(socket.paused, "reading stops while the write queue is full");

        ctx.runOnContext(v -> {
            socket.full = false;
            socket.drain.handle(null);
        });
        deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (socket.written.size() < 2) {
            assertTrue(System.nanoTime() < deadline, "nothing written after drain: " + socket.written);
            Thread.sleep(10);
        }
        assertEquals(2, socket.written.size(), socket.written.toString());
        JsonObject delta = socket.written.get(0), done = socket.written.get(1);
        assertEquals("delta", delta.getString("type"));
        assertEquals(ref.tokenIds(), delta.getJsonArray("token_ids").getList());
        assertEquals(ref.text(), delta.getString("text"));
        assertEquals("done", done.getString("type"));
        assertEquals(ref.tokenIds().size(), done.getJsonObject("usage").getInteger("completion_tokens"));
        assertFalse(socket.paused, "reading resumes after drain");
    }
}
