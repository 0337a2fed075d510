package io.chunkserve.service.openai;

import io.chunkserve.engine.sched.TenantStats;
import io.chunkserve.kv.KvStats;
import io.chunkserve.service.Server;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static io.chunkserve.service.openai.ApiTestSupport.chunks;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Many streams at once, clients that leave, and clients that read slowly. */
class OpenAiConcurrencyTest {
    static Server server;

    @BeforeAll
    static void start() { server = Server.start(ApiTestSupport.config()); }

    @AfterAll
    static void stop() {
        server.close();
        ApiTestSupport.assertNoBlockedThreads();
    }

    @Test
    void manyConcurrentStreamsFromSeveralTenantsAllComplete() throws Exception {
        int streams = 48;
        List<CompletableFuture<HttpResponse<String>>> fs = new ArrayList<>();
        for (int i = 0; i < streams; i++) {
            boolean chat = i % 2 == 0;
            JsonObject body = new JsonObject().put("stream", true).put("max_tokens", 12).put("ignore_eos", true).put("n", 1 + i % 3)
                    .put("user", "tenant-" + i % 4).put("stream_options", new JsonObject().put("include_usage", true)).put("seed", i);
            if (chat) body.put("messages", new JsonArray().add(new JsonObject().put("role", "user").put("content", "Story number " + i)));
            else body.put("prompt", "Shared preamble for everyone. Request " + i);
            fs.add(ApiTestSupport.HTTP.sendAsync(HttpRequest.newBuilder(URI.create(ApiTestSupport.url(server,
                            chat ? "/v1/chat/completions" : "/v1/completions"))).timeout(Duration.ofSeconds(120))
                    .POST(HttpRequest.BodyPublishers.ofString(body.encode())).build(), HttpResponse.BodyHandlers.ofString()));
        }
        for (int i = 0; i < streams; i++) {
            HttpResponse<String> r = fs.get(i).get(120, TimeUnit.SECONDS);
            assertEquals(200, r.statusCode(), r.body());
            List<JsonObject> cs = chunks(r.body());
            int n = 1 + i % 3;
            JsonObject usage = cs.get(cs.size() - 1).getJsonObject("usage");
            assertEquals(12 * n, usage.getInteger("completion_tokens"), "stream " + i);
            long finishes = cs.stream().filter(c -> !c.getJsonArray("choices").isEmpty()
                    && c.getJsonArray("choices").getJsonObject(0).getValue("finish_reason") != null).count();
            assertEquals(n, finishes, "stream " + i);
        }
        var tenants = server.worker().engine().stats().get(10, TimeUnit.SECONDS).scheduler().tenants();
        for (int t = 0; t < 4; t++) assertTrue(tenants.containsKey("tenant-" + t), tenants.keySet().toString());
        ApiTestSupport.awaitKvIdle(server);
    }

    @Test
    void clientThatDisconnectsMidStreamIsAbortedAndItsKvFreed() throws Exception {
        KvStats before = ApiTestSupport.awaitKvIdle(server);
        int maxTokens = 400;
        String body = new JsonObject().put("prompt", "A long story begins").put("stream", true).put("max_tokens", maxTokens)
                .put("ignore_eos", true).put("n", 4).put("user", "leaver").encode();
        try (RawHttp c = RawHttp.post(server.port(), "/v1/completions", body, 0)) {
            String seen = c.readUntil("\"text\":\"");
            assertTrue(seen.startsWith("HTTP/1.1 200"), seen);
            KvStats during = ApiTestSupport.kv(server);
            assertTrue(during.liveSequences() > 0, during.toString());
        } // closes the socket mid-stream
        KvStats after = ApiTestSupport.awaitKvIdle(server);
        assertEquals(0, after.referencedChunks());
        assertEquals(0, after.liveSequences());
        assertEquals(before.totalChunks(), after.freeChunks() + after.cachedChunks());
        TenantStats t = server.worker().engine().stats().get(10, TimeUnit.SECONDS).scheduler().tenants().get("leaver");
        assertTrue(t.outputTokens() < 4L * maxTokens, "aborted before the end: " + t);
        // the server is fine afterwards
        assertEquals(200, ApiTestSupport.post(server, "/v1/completions", "{\"prompt\":\"next\",\"max_tokens\":2}").status());
    }

    @Test
    void slowReaderGetsCoalescedDeltasAndTheSameText() throws Exception {
        int n = 16, maxTokens = 480;
        JsonObject req = new JsonObject().put("messages", new JsonArray().add(new JsonObject().put("role", "user").put("content", "Slow")))
                .put("max_tokens", maxTokens).put("ignore_eos", true).put("temperature", 0).put("user", "slow");
        JsonObject unary = ApiTestSupport.post(server, "/v1/chat/completions", req.encode()).json();
        String expected = unary.getJsonArray("choices").getJsonObject(0).getJsonObject("message").getString("content");
        JsonObject streamed = req.copy().put("stream", true).put("n", n).put("logprobs", true).put("top_logprobs", 20);
        try (RawHttp c = RawHttp.post(server.port(), "/v1/chat/completions", streamed.encode(), 4096)) {
            // Read nothing until the engine has finished: the server holds the rest, coalesced, without the client.
            c.readHead();
            // The head is written before the engine admits the request: wait for its tokens, then for its KV.
            ApiTestSupport.awaitTenantOutput(server, "slow", (long) maxTokens * (n + 1));
            ApiTestSupport.awaitKvIdle(server);
            String body = c.readChunkedBody();
            ApiTestSupport.ChoiceStreams got = ApiTestSupport.ChoiceStreams.of(chunks(body), n);
            int[] contentChunks = got.contentChunks();
            for (int i = 0; i < n; i++) {
                assertEquals(expected, got.text()[i], "choice " + i + " (greedy: every choice equals the unary answer)");
                assertEquals(maxTokens, got.logprobs()[i], "every token's logprobs arrive, choice " + i);
            }
            // Once the response outgrows what the kernel buffers for the socket, the write queue fills and deltas coalesce.
            long kernelBuffers = kernelSendBufferMax() + 4096 + (1 << 20);
            System.out.printf("slow reader: %d bytes, %d content chunks for choice 0 (of %d tokens)%n", body.length(), contentChunks[0], maxTokens);
            if (body.length() > kernelBuffers) {
                assertTrue(contentChunks[0] < maxTokens, "deltas were coalesced while the client did not read: " + contentChunks[0]);
            }
        }
    }

    private static long kernelSendBufferMax() {
        try {
            String[] f = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/sys/net/ipv4/tcp_wmem")).trim().split("\\s+");
            return Long.parseLong(f[2]);
        } catch (Exception e) {
            return 4L << 20;
        }
    }
}
