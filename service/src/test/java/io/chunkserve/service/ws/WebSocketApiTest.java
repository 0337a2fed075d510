package io.chunkserve.service.ws;

import io.chunkserve.service.Server;
import io.chunkserve.service.ServiceContext;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.UpgradeRejectedException;
import io.vertx.core.http.WebSocket;
import io.vertx.core.http.WebSocketClient;
import io.vertx.core.http.WebSocketConnectOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The WebSocket protocol against a real server on the tiny demo model. */
class WebSocketApiTest {
    private static ServiceTestSupport.BlockedThreadWatch blocked;
    private static Server server;
    private static Vertx clientVertx;
    private static WebSocketClient wsClient;

    @BeforeAll
    static void start() {
        blocked = ServiceTestSupport.BlockedThreadWatch.install();
        server = Server.start(ServiceTestSupport.config());
        clientVertx = Vertx.vertx();
        wsClient = clientVertx.createWebSocketClient();
    }

    @AfterAll
    static void stop() {
        if (clientVertx != null) clientVertx.close().await();
        if (server != null) server.close();
        blocked.assertNone();
    }

    @Test
    void twoConcurrentGenerationsOnOneSocketBothCompleteWithTheirIds() throws Exception {
        try (Client c = connect(server.port(), "")) {
            c.send(generate("c1", "Once upon a time").put("max_tokens", 20));
            c.send(generate("c2", "The quick brown fox").put("max_tokens", 12));
            Map<String, Result> results = c.collect(List.of("c1", "c2"));
            Result r1 = results.get("c1"), r2 = results.get("c2");
            assertEquals("length", r1.done.getString("finish_reason"));
            assertEquals("length", r2.done.getString("finish_reason"));
            assertEquals(20, r1.tokenIds.size());
            assertEquals(12, r2.tokenIds.size());
            JsonObject u = r1.done.getJsonObject("usage");
            assertEquals(20, u.getInteger("completion_tokens"));
            assertEquals(u.getInteger("prompt_tokens") + 20, u.getInteger("total_tokens"));
            assertTrue(u.getInteger("prompt_tokens") > 1);
        }
        ServiceTestSupport.awaitKvFreed(server);
    }

    @Test
    void cancelStopsOneGenerationWhileTheOtherContinues() throws Exception {
        try (Client c = connect(server.port(), "")) {
            // As long as the context allows. The cancel follows on the same socket, so the server sees it
            // after the generation started and the engine after the request: it lands within a few steps,
            // long before 480 tokens (waiting for the first delta instead races a warm tiny model that can
            // finish all 480 before the client's cancel gets back).
            c.send(generate("long", "Once upon a time").put("max_tokens", 480));
            c.send(generate("short", "The quick brown fox").put("max_tokens", 40));
            c.send(new JsonObject().put("type", "cancel").put("id", "long"));
            Map<String, Result> results = c.collect(List.of("long", "short"));
            Result longRun = results.get("long"), shortRun = results.get("short");
            assertEquals("abort", longRun.done.getString("finish_reason"));
            assertTrue(longRun.tokenIds.size() < 480, "cancelled after " + longRun.tokenIds.size());
            assertEquals(longRun.tokenIds.size(), longRun.done.getJsonObject("usage").getInteger("completion_tokens"));
            assertEquals("length", shortRun.done.getString("finish_reason"));
            assertEquals(40, shortRun.tokenIds.size());
            // Cancelling what already ended is a no-op: no frame comes back, the socket still answers.
            c.send(new JsonObject().put("type", "cancel").put("id", "long"));
            c.send(new JsonObject().put("type", "ping"));
            assertEquals("pong", c.next().getString("type"));
        }
        ServiceTestSupport.awaitKvFreed(server);
    }

    @Test
    void malformedAndUnknownMessagesGetErrorFramesAndTheSocketStaysOpen() throws Exception {
        try (Client c = connect(server.port(), "")) {
            c.sendRaw("this is not json");
            assertError(c.next(), null, "invalid_json");
            c.sendRaw("[1, 2, 3]");
            assertError(c.next(), null, "invalid_json");
            c.send(new JsonObject().put("type", "subscribe").put("id", "u1"));
            assertError(c.next(), "u1", "unknown_type");
            c.send(new JsonObject().put("prompt", "no type"));
            assertError(c.next(), null, "unknown_type");
            c.send(new JsonObject().put("type", "generate").put("prompt", "no id"));
            assertError(c.next(), null, "invalid_request");
            c.send(generate("e1", "hi").put("temperature", 9));
            JsonObject e1 = c.next();
            assertError(e1, "e1", "invalid_request");
            assertTrue(e1.getJsonObject("error").getString("message").startsWith("temperature"), e1.encode());
            c.send(generate("e2", "hi").put("max_tokens", "ten"));
            assertError(c.next(), "e2", "invalid_request");
            c.send(new JsonObject().put("type", "generate").put("id", "e3").put("prompt", "a").put("messages", new JsonArray()));
            assertError(c.next(), "e3", "invalid_request");
            c.send(generate("e4", "hi").put("model", "gpt-4"));
            assertError(c.next(), "e4", "model_not_found");
            c.ws.writeBinaryMessage(io.vertx.core.buffer.Buffer.buffer(new byte[] {1, 2}));
            assertError(c.next(), null, "binary_message");
            c.send(new JsonObject().put("type", "ping").put("id", 7));
            JsonObject pong = c.next();
            assertEquals("pong", pong.getString("type"));
            assertEquals(7, pong.getInteger("id"));
            // Still usable: a generation runs to the end, and a duplicate id is refused while it runs.
            c.send(generate("ok", "hello").put("max_tokens", 8));
            c.send(generate("ok", "hello").put("max_tokens", 8));
            Map<String, Result> r = c.collect(List.of("ok"));
            assertEquals(8, r.get("ok").tokenIds.size());
            assertEquals(1, r.get("ok").errors.size());
            assertEquals("duplicate_id", r.get("ok").errors.getFirst().getJsonObject("error").getString("code"));
        }
    }

    @Test
    void closingTheSocketAbortsItsGenerationsAndFreesKv() throws Exception {
        Client c = connect(server.port(), "");
        c.send(generate("a", "Once upon a time").put("max_tokens", 480).put("user", "ws-close"));
        c.send(generate("b", "The quick brown fox").put("max_tokens", 480).put("user", "ws-close"));
        assertEquals("delta", c.next().getString("type"));
        c.close();
        ServiceTestSupport.awaitKvFreed(server);
        long generated = ServiceTestSupport.outputTokens(server, "ws-close");
        assertTrue(generated < 2 * 480, "aborted after " + generated + " tokens");
    }

    @Test
    void greedyOutputEqualsTheEngines() throws Exception {
        String prompt = "Once upon a time there was";
        int[] ids = server.worker().tokenizer().encode(prompt, true);
        ServiceTestSupport.Reference ref = ServiceTestSupport.engineGreedy(server, ids, 24);
        try (Client c = connect(server.port(), "")) {
            c.send(generate("g", prompt).put("max_tokens", 24));
            Result r = c.collect(List.of("g")).get("g");
            assertEquals(ref.tokenIds(), r.tokenIds);
            assertEquals(ref.text(), r.text.toString());
            assertEquals(ids.length, r.done.getJsonObject("usage").getInteger("prompt_tokens"));
        }
    }

    @Test
    void chatMessagesRenderThroughTheTemplate() throws Exception {
        var tpl = server.worker().chatTemplate().orElseThrow();
        int[] ids = server.worker().tokenizer().encode(tpl.render(List.of(
                io.chunkserve.tokenizer.ChatMessage.system("Be brief."), io.chunkserve.tokenizer.ChatMessage.user("Hello there")), true), false);
        ServiceTestSupport.Reference ref = ServiceTestSupport.engineGreedy(server, ids, 16);
        try (Client c = connect(server.port(), "")) {
            c.send(new JsonObject().put("type", "generate").put("id", "chat").put("temperature", 0).put("max_tokens", 16)
                    .put("messages", new JsonArray()
                            .add(new JsonObject().put("role", "system").put("content", "Be brief."))
                            .add(new JsonObject().put("role", "user").put("content",
                                    new JsonArray().add(new JsonObject().put("type", "text").put("text", "Hello there"))))));
            Result r = c.collect(List.of("chat")).get("chat");
            assertEquals(ref.tokenIds(), r.tokenIds);
            assertEquals(ids.length, r.done.getJsonObject("usage").getInteger("prompt_tokens"));
        }
    }

    @Test
    void apiKeysAreCheckedOnTheUpgrade() throws Exception {
        // A second HTTP server on the same engine, with a resolver that requires a key.
        ServiceContext keyed = new ServiceContext(server.context().vertx(), server.context().bridge(),
                ServiceTestSupport.keyResolver("sk-test"), server.context().config());
        HttpServer http = WebSocketApi.mount(server.context().vertx().createHttpServer(), keyed)
                .requestHandler(req -> req.response().setStatusCode(404).end()).listen(0, "127.0.0.1").await();
        try {
            ExecutionException e = assertThrows(ExecutionException.class, () -> connect(http.actualPort(), ""));
            assertEquals(401, assertInstanceOf(UpgradeRejectedException.class, e.getCause()).getStatus());
            e = assertThrows(ExecutionException.class, () -> connect(http.actualPort(), "?api_key=wrong"));
            assertEquals(401, assertInstanceOf(UpgradeRejectedException.class, e.getCause()).getStatus());
            try (Client c = connect(http.actualPort(), "?api_key=sk-test")) {
                c.send(generate("k", "hi").put("max_tokens", 3));
                assertEquals(3, c.collect(List.of("k")).get("k").tokenIds.size());
            }
            WebSocketConnectOptions o = new WebSocketConnectOptions().setHost("127.0.0.1").setPort(http.actualPort()).setURI("/v1/ws")
                    .addHeader("Authorization", "Bearer sk-test");
            WebSocket ws = wsClient.connect(o).toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
            ws.close().await();
            ExecutionException notFound = assertThrows(ExecutionException.class, () -> wsClient.connect(
                    new WebSocketConnectOptions().setHost("127.0.0.1").setPort(http.actualPort()).setURI("/elsewhere"))
                    .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS));
            assertEquals(404, assertInstanceOf(UpgradeRejectedException.class, notFound.getCause()).getStatus());
        } finally {
            http.close().await();
        }
    }

    // ---- client helpers ----

    private static JsonObject generate(String id, String prompt) {
        return new JsonObject().put("type", "generate").put("id", id).put("prompt", prompt)
                .put("temperature", 0).put("ignore_eos", true);
    }

    private static void assertError(JsonObject frame, String id, String code) {
        assertEquals("error", frame.getString("type"), frame.encode());
        assertEquals(id, frame.getValue("id"), frame.encode());
        JsonObject e = frame.getJsonObject("error");
        assertEquals(code, e.getString("code"), frame.encode());
        assertNotNull(e.getString("message"));
        assertNotNull(e.getString("type"));
    }

    /** What one generation sent: its deltas joined, its done frame, and any error frames carrying its id. */
    private static final class Result {
        final List<Integer> tokenIds = new ArrayList<>();
        final StringBuilder text = new StringBuilder();
        final List<JsonObject> errors = new ArrayList<>();
        JsonObject done;
    }

    private static Client connect(int port, String query) throws Exception {
        WebSocketConnectOptions o = new WebSocketConnectOptions().setHost("127.0.0.1").setPort(port).setURI(WebSocketApi.PATH + query);
        WebSocket ws = wsClient.connect(o).toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        return new Client(ws);
    }

    /** A blocking test client: frames land in a queue the test thread reads. */
    private static final class Client implements AutoCloseable {
        final WebSocket ws;
        final BlockingQueue<JsonObject> frames = new LinkedBlockingQueue<>();

        Client(WebSocket ws) {
            this.ws = ws;
            ws.textMessageHandler(t -> frames.add(new JsonObject(t)));
        }

        void send(JsonObject msg) { ws.writeTextMessage(msg.encode()); }

        void sendRaw(String text) { ws.writeTextMessage(text); }

        JsonObject next() throws InterruptedException {
            JsonObject f = frames.poll(30, TimeUnit.SECONDS);
            assertNotNull(f, "no frame within 30 s");
            return f;
        }

        /** Reads frames until every id in {@code ids} is done; frames must carry one of those ids. */
        Map<String, Result> collect(List<String> ids) throws InterruptedException {
            return collect(ids, f -> { });
        }

        Map<String, Result> collect(List<String> ids, java.util.function.Consumer<JsonObject> onFrame) throws InterruptedException {
            Map<String, Result> out = new HashMap<>();
            for (String id : ids) out.put(id, new Result());
            int open = ids.size();
            while (open > 0) {
                JsonObject f = next();
                onFrame.accept(f);
                Result r = out.get(f.getString("id"));
                assertNotNull(r, "frame for an unexpected id: " + f.encode());
                switch (f.getString("type")) {
                    case "delta" -> {
                        assertNull(r.done, "delta after done: " + f.encode());
                        f.getJsonArray("token_ids").forEach(t -> r.tokenIds.add((Integer) t));
                        r.text.append(f.getString("text"));
                    }
                    case "done" -> {
                        assertNull(r.done, "second done: " + f.encode());
                        r.done = f;
                        open--;
                    }
                    case "error" -> r.errors.add(f);
                    default -> throw new AssertionError("unexpected frame " + f.encode());
                }
            }
            return out;
        }

        @Override
        public void close() {
            if (!ws.isClosed()) ws.close().await();
        }
    }
}
