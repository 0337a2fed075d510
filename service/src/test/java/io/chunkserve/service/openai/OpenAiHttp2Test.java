package io.chunkserve.service.openai;

import io.chunkserve.kv.KvStats;
import io.chunkserve.service.Server;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static io.chunkserve.service.openai.ApiTestSupport.chunks;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The API over HTTP/2 cleartext with prior knowledge (h2c, as gateways and SDKs multiplex streams):
 * the same SSE framing and text as over HTTP/1.1, cancelled streams (RST_STREAM) and a dropped
 * connection abort their generations and free the KV cache, a client that cancels more streams than
 * Netty's default rapid-reset guard allows keeps its connection, and a reader that does not read is
 * backpressured by the stream's flow-control window, its deltas coalesced.
 */
class OpenAiHttp2Test {
    static Server server;
    static Vertx vertx;

    @BeforeAll
    static void start() {
        server = Server.start(ApiTestSupport.config());
        vertx = Vertx.vertx();
    }

    @AfterAll
    static void stop() throws Exception {
        vertx.close().await(10, TimeUnit.SECONDS);
        server.close();
        ApiTestSupport.assertNoBlockedThreads();
    }

    /** An h2c client (no Upgrade: the preface first) with one connection for everything. */
    private static HttpClient h2Client(Set<HttpConnection> connections) {
        return vertx.httpClientBuilder()
                .with(new HttpClientOptions().setProtocolVersion(HttpVersion.HTTP_2).setHttp2ClearTextUpgrade(false)
                        .setDefaultHost("127.0.0.1").setDefaultPort(server.port()))
                .with(new PoolOptions().setHttp2MaxSize(1))
                .withConnectHandler(connections::add)
                .build();
    }

    private static RequestOptions post(String path) {
        return new RequestOptions().setMethod(HttpMethod.POST).setURI(path).putHeader("content-type", "application/json");
    }

    private static String h2Post(HttpClient c, String path, String body) throws Exception {
        return c.request(post(path)).compose(req -> req.send(body).compose(resp -> {
            assertEquals(HttpVersion.HTTP_2, resp.version());
            assertEquals(200, resp.statusCode());
            assertTrue(resp.getHeader("content-type").startsWith("text/event-stream"), resp.getHeader("content-type"));
            return resp.body();
        })).await(60, TimeUnit.SECONDS).toString();
    }

    /** Per choice: the streamed text, then the finish reason, for a completion or chat stream. */
    private static List<String> textsAndFinishes(List<JsonObject> cs, int n, boolean chat) {
        StringBuilder[] text = new StringBuilder[n];
        String[] finish = new String[n];
        for (int i = 0; i < n; i++) text[i] = new StringBuilder();
        for (JsonObject c : cs) {
            JsonArray choices = c.getJsonArray("choices");
            if (choices.isEmpty()) continue;
            JsonObject x = choices.getJsonObject(0);
            int i = x.getInteger("index");
            String t = chat ? x.getJsonObject("delta").getString("content") : x.getString("text");
            if (t != null) text[i].append(t);
            if (x.getValue("finish_reason") != null) finish[i] = x.getString("finish_reason");
        }
        List<String> out = new ArrayList<>();
        for (int i = 0; i < n; i++) out.add(text[i] + " | " + finish[i]);
        return out;
    }

    @Test
    void streamsOverH2cAreFramedAsOverHttp11() throws Exception {
        Set<HttpConnection> conns = ConcurrentHashMap.newKeySet();
        HttpClient c = h2Client(conns);
        try {
            for (boolean chat : new boolean[] {false, true}) {
                JsonObject body = new JsonObject().put("stream", true).put("max_tokens", 24).put("temperature", 0).put("ignore_eos", true)
                        .put("n", 2).put("stream_options", new JsonObject().put("include_usage", true));
                if (chat) body.put("messages", new JsonArray().add(new JsonObject().put("role", "user").put("content", "Hello over h2")));
                else body.put("prompt", "Once upon a time over h2");
                String path = chat ? "/v1/chat/completions" : "/v1/completions";
                String h2 = h2Post(c, path, body.encode());
                var h1 = ApiTestSupport.post(server, path, body.encode());
                assertEquals(200, h1.status());
                List<JsonObject> over2 = chunks(h2), over1 = chunks(h1.body()); // exact data: framing, one [DONE] last
                assertEquals(textsAndFinishes(over1, 2, chat), textsAndFinishes(over2, 2, chat));
                JsonObject u1 = over1.getLast().getJsonObject("usage"), u2 = over2.getLast().getJsonObject("usage");
                assertEquals(u1.getInteger("prompt_tokens"), u2.getInteger("prompt_tokens")); // cached_tokens differ: the second run hits the prefix cache
                assertEquals(u1.getInteger("completion_tokens"), u2.getInteger("completion_tokens"));
                assertEquals(chat ? "chat.completion.chunk" : "text_completion", over2.getFirst().getString("object"));
                if (chat) { // the first chunk of each choice carries the role, as over HTTP/1.1
                    assertEquals(new JsonObject().put("role", "assistant").put("content", ""),
                            over2.getFirst().getJsonArray("choices").getJsonObject(0).getJsonObject("delta"));
                }
            }
            assertEquals(1, conns.size(), "every request multiplexed on one connection");
        } finally {
            c.close().await(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void cancelledStreamsAreAbortedFreeTheirKvAndDoNotTripTheResetGuard() throws Exception {
        KvStats before = ApiTestSupport.awaitKvIdle(server);
        // More cancels on one connection than Netty's default rapid-reset guard allows (200 RST_STREAM per
        // 30 s), 26 streams at a time: each is reset once its first text event has arrived.
        int total = 260, wave = 26;
        String body = new JsonObject().put("prompt", "A very long story").put("stream", true).put("max_tokens", 400)
                .put("ignore_eos", true).put("user", "canceller").encode();
        try (H2cTestClient c = new H2cTestClient(server.port())) {
            AtomicInteger cancelled = new AtomicInteger();
            for (int w = 0; w < total / wave; w++) {
                List<CompletableFuture<Void>> fs = new ArrayList<>();
                for (int i = 0; i < wave; i++) {
                    CompletableFuture<Void> f = new CompletableFuture<>();
                    fs.add(f);
                    c.post("/v1/completions", body, (id, text, end) -> {
                        if (end) f.completeExceptionally(new AssertionError("the stream ended before it was cancelled: " + text));
                        else if (text.contains("\"text\":") && !f.isDone()) { // the event loop: one callback at a time
                            c.cancel(id); // RST_STREAM CANCEL
                            cancelled.incrementAndGet();
                            f.complete(null);
                        }
                    });
                }
                CompletableFuture.allOf(fs.toArray(CompletableFuture[]::new)).get(60, TimeUnit.SECONDS);
            }
            assertEquals(total, cancelled.get());
            KvStats after = ApiTestSupport.awaitKvIdle(server);
            assertEquals(0, after.liveSequences());
            assertEquals(before.totalChunks(), after.freeChunks() + after.cachedChunks());
            var t = server.worker().engine().stats().get(10, TimeUnit.SECONDS).scheduler().tenants().get("canceller");
            assertTrue(t.outputTokens() < (long) total * 400 / 2, "aborted long before their end: " + t);
            // The connection survived the cancels: no GOAWAY, and the next request completes on it.
            CompletableFuture<String> last = new CompletableFuture<>();
            StringBuilder text = new StringBuilder();
            int id = c.post("/v1/completions", "{\"prompt\":\"after the cancels\",\"max_tokens\":3,\"stream\":true}", (stream, s, end) -> {
                text.append(s);
                if (end) last.complete(text.toString());
            });
            String sse = last.get(30, TimeUnit.SECONDS);
            assertEquals(200, c.status(id));
            assertTrue(textsAndFinishes(chunks(sse), 1, false).getFirst().endsWith(" | length"), sse);
            assertEquals(0, c.goAways.get(), "the server sent GOAWAY");
            assertTrue(c.open(), "the server closed the connection");
        }
    }

    @Test
    void droppedConnectionAbortsEveryStreamOnItAndFreesKv() throws Exception {
        KvStats before = ApiTestSupport.awaitKvIdle(server);
        Set<HttpConnection> conns = ConcurrentHashMap.newKeySet();
        HttpClient c = h2Client(conns);
        int streams = 6;
        String body = new JsonObject().put("prompt", "Endless").put("stream", true).put("max_tokens", 450)
                .put("ignore_eos", true).put("n", 2).put("user", "dropper").encode();
        List<Future<HttpClientResponse>> started = new ArrayList<>();
        for (int i = 0; i < streams; i++) {
            Promise<HttpClientResponse> first = Promise.promise();
            started.add(first.future());
            c.request(post("/v1/completions")).compose(req -> req.send(body)).onSuccess(resp -> {
                resp.exceptionHandler(e -> { });
                resp.handler(buf -> first.tryComplete(resp));
            }).onFailure(first::tryFail);
        }
        Future.all(started).await(60, TimeUnit.SECONDS);
        assertTrue(ApiTestSupport.kv(server).liveSequences() > 0);
        assertEquals(1, conns.size());
        conns.iterator().next().close().await(10, TimeUnit.SECONDS); // every stream at once, mid-response
        KvStats after = ApiTestSupport.awaitKvIdle(server);
        assertEquals(0, after.liveSequences());
        assertEquals(before.totalChunks(), after.freeChunks() + after.cachedChunks());
        var t = server.worker().engine().stats().get(10, TimeUnit.SECONDS).scheduler().tenants().get("dropper");
        assertTrue(t.outputTokens() < (long) streams * 2 * 450, "aborted before the end: " + t);
        c.close().await(10, TimeUnit.SECONDS);
    }

    @Test
    void readerThatDoesNotReadIsBackpressuredByTheStreamWindowAndGetsTheSameText() throws Exception {
        int n = 16, maxTokens = 480;
        JsonObject req = new JsonObject().put("messages", new JsonArray().add(new JsonObject().put("role", "user").put("content", "Slow h2")))
                .put("max_tokens", maxTokens).put("ignore_eos", true).put("temperature", 0).put("user", "slow-h2");
        String expected = ApiTestSupport.post(server, "/v1/chat/completions", req.encode()).json()
                .getJsonArray("choices").getJsonObject(0).getJsonObject("message").getString("content");
        JsonObject streamed = req.copy().put("stream", true).put("n", n).put("logprobs", true).put("top_logprobs", 20);
        Set<HttpConnection> conns = ConcurrentHashMap.newKeySet();
        HttpClient c = h2Client(conns);
        try {
            // Paused as soon as the head arrives, on the event loop (before any DATA is handled): the client
            // returns no window to the server, which may send at most the stream's initial window (64 KiB,
            // Vert.x's client default) and must hold the rest, coalesced.
            HttpClientResponse resp = c.request(post("/v1/chat/completions")).compose(r -> r.send(streamed.encode()))
                    .onSuccess(HttpClientResponse::pause).await(30, TimeUnit.SECONDS);
            Buffer all = Buffer.buffer();
            Promise<Void> end = Promise.promise();
            resp.handler(all::appendBuffer).endHandler(v -> end.complete()).exceptionHandler(end::tryFail);
            // The engine has generated every token of the request while the client read nothing (the head is
            // written before the engine admits the request, so "KV idle" alone could be seen before it started).
            ApiTestSupport.awaitTenantOutput(server, "slow-h2", (long) maxTokens * (n + 1));
            ApiTestSupport.awaitKvIdle(server);
            resp.resume();
            end.future().await(60, TimeUnit.SECONDS);
            String body = all.toString();
            ApiTestSupport.ChoiceStreams got = ApiTestSupport.ChoiceStreams.of(chunks(body), n);
            for (int i = 0; i < n; i++) {
                assertEquals(expected, got.text()[i], "choice " + i);
                assertEquals(maxTokens, got.logprobs()[i], "every token's logprobs arrive, choice " + i);
            }
            // The response is megabytes; the window lets 64 KiB through before the client reads: the rest was
            // held as pending deltas and sent coalesced, far fewer events than tokens.
            assertTrue(body.length() > 1 << 20, "body " + body.length());
            assertTrue(got.contentChunks()[0] < maxTokens / 4, "deltas were coalesced while the client did not read: " + got.contentChunks()[0]);
        } finally {
            c.close().await(10, TimeUnit.SECONDS);
        }
    }
}
