package io.chunkserve.service.openai;

import io.chunkserve.engine.EngineConfig;
import io.chunkserve.engine.WorkerConfig;
import io.chunkserve.kv.KvStats;
import io.chunkserve.service.Server;
import io.chunkserve.service.ServiceConfig;
import io.chunkserve.service.ws.ServiceTestSupport;
import io.vertx.core.json.JsonObject;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Shared by the API tests: a server on the tiny random-weight model with a small KV pool, an HTTP
 * client, SSE parsing, and a watch on Vert.x's blocked-thread checker (any warning fails the test).
 */
public final class ApiTestSupport {
    private ApiTestSupport() { }

    /**
     * Vert.x's blocked-thread checker warns "Thread ... has been blocked for N ms, time limit is M ms"
     * through its logging delegate (SLF4J or JUL, under a logger name that varies by version), so the
     * watch sits on the JUL root logger and matches the message. Held strongly so the handler stays.
     */
    private static final Logger ROOT = Logger.getLogger("");
    private static final List<String> BLOCKED = new CopyOnWriteArrayList<>();

    static {
        ROOT.addHandler(new Handler() {
            @Override
            public void publish(LogRecord r) {
                String m = r.getMessage();
                if (m != null && m.contains("has been blocked for")) BLOCKED.add(m);
            }

            @Override
            public void flush() { }

            @Override
            public void close() { }
        });
    }

    public static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10)).build();

    public static Path fixtures() {
        String p = System.getProperty("chunkserve.fixtures");
        Path dir = p != null ? Path.of(p) : Path.of("../fixtures");
        if (!Files.isDirectory(dir)) throw new IllegalStateException("fixtures directory not found: " + dir.toAbsolutePath());
        return dir;
    }

    /** The tiny model (context 512), 8 MiB of KV (16384 tokens in chunks of 16), two compute threads. */
    public static ServiceConfig config() {
        WorkerConfig wc = WorkerConfig.defaults(fixtures().resolve("tiny-llama3")).withKvBytes(8L << 20).withChunkSize(16)
                .withEngine(new EngineConfig(32, 512));
        wc = new WorkerConfig(wc.modelDir(), 2, wc.chunkSize(), wc.kvBytes(), wc.kvDtype(), wc.engine(), wc.scheduler(), wc.quantum());
        return ServiceConfig.defaults(wc, "127.0.0.1", 0, -1);
    }

    /** No blocked-thread warnings so far. */
    public static void assertNoBlockedThreads() {
        assertTrue(BLOCKED.isEmpty(), "Vert.x blocked-thread warnings: " + BLOCKED);
    }

    public record Resp(int status, java.net.http.HttpHeaders headers, String body) {
        public JsonObject json() { return new JsonObject(body); }

        public String header(String name) { return headers.firstValue(name).orElse(null); }
    }

    public static String url(Server s, String path) { return "http://127.0.0.1:" + s.port() + path; }

    public static Resp post(Server s, String path, String body, String... headers) {
        return post(s, path, body.getBytes(StandardCharsets.UTF_8), headers);
    }

    public static Resp post(Server s, String path, byte[] body, String... headers) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url(s, path))).timeout(Duration.ofSeconds(60))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofByteArray(body));
        for (int i = 0; i < headers.length; i += 2) b.header(headers[i], headers[i + 1]);
        return send(b.build());
    }

    public static Resp send(HttpRequest req) {
        try {
            HttpResponse<String> r = HTTP.send(req, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
            return new Resp(r.statusCode(), r.headers(), r.body());
        } catch (IOException | InterruptedException e) {
            throw new AssertionError("request failed: " + e, e);
        }
    }

    /**
     * Splits an SSE body into its {@code data:} payloads, asserting the exact framing: nothing but
     * {@code data: <payload>\n\n} events, the last one {@code [DONE]}.
     */
    public static List<String> events(String body) {
        List<String> out = new ArrayList<>();
        int i = 0;
        while (i < body.length()) {
            if (!body.startsWith("data: ", i)) fail("expected 'data: ' at " + i + " in: " + body);
            int end = body.indexOf("\n\n", i);
            if (end < 0) fail("unterminated event at " + i + " in: " + body);
            String payload = body.substring(i + 6, end);
            if (payload.contains("\n")) fail("newline inside an event: " + payload);
            out.add(payload);
            i = end + 2;
        }
        assertTrue(!out.isEmpty() && out.get(out.size() - 1).equals("[DONE]"), "stream must end with [DONE]: " + body);
        assertEquals(1, out.stream().filter("[DONE]"::equals).count(), "exactly one [DONE]");
        return out;
    }

    /** The events as JSON objects, [DONE] dropped. */
    public static List<JsonObject> chunks(String body) {
        List<JsonObject> out = new ArrayList<>();
        for (String e : events(body)) if (!e.equals("[DONE]")) out.add(new JsonObject(e));
        return out;
    }

    /**
     * Per choice of a streamed chat response with n choices: the concatenated content, the number of
     * chunks that carried logprobs (content chunks) and the number of tokens whose logprobs arrived.
     */
    public record ChoiceStreams(String[] text, int[] contentChunks, int[] logprobs) {
        public static ChoiceStreams of(List<JsonObject> chunks, int n) {
            StringBuilder[] text = new StringBuilder[n];
            int[] contentChunks = new int[n];
            int[] logprobs = new int[n];
            for (int i = 0; i < n; i++) text[i] = new StringBuilder();
            for (JsonObject ch : chunks) {
                JsonObject x = ch.getJsonArray("choices").getJsonObject(0);
                int i = x.getInteger("index");
                String t = x.getJsonObject("delta").getString("content");
                if (t != null) text[i].append(t);
                if (x.getValue("logprobs") != null) {
                    contentChunks[i]++;
                    logprobs[i] += x.getJsonObject("logprobs").getJsonArray("content").size();
                }
            }
            String[] texts = new String[n];
            for (int i = 0; i < n; i++) texts[i] = text[i].toString();
            return new ChoiceStreams(texts, contentChunks, logprobs);
        }
    }

    /** Events of a stream still in progress (no [DONE] yet), as JSON. */
    public static List<JsonObject> chunksNoDone(String body) {
        List<JsonObject> out = new ArrayList<>();
        for (String e : events(body + "data: [DONE]\n\n")) if (!e.equals("[DONE]")) out.add(new JsonObject(e));
        return out;
    }

    /** The engine's KV counters, taken on the engine thread. */
    public static KvStats kv(Server s) {
        try {
            return s.worker().engine().stats().get(10, TimeUnit.SECONDS).kv();
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    /** Waits until no sequence is live and no chunk is referenced. */
    /** Waits until the tenant has been charged at least {@code tokens} output tokens (60 s at most). */
    public static void awaitTenantOutput(Server s, String tenant, long tokens) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        long got;
        while ((got = outputTokens(s, tenant)) < tokens) {
            if (System.nanoTime() > deadline) throw new AssertionError(tenant + ": " + got + " of " + tokens + " output tokens");
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                throw new AssertionError(e);
            }
        }
    }

    private static long outputTokens(Server s, String tenant) {
        try {
            return ServiceTestSupport.outputTokensOrZero(s, tenant);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    public static KvStats awaitKvIdle(Server s) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        KvStats k;
        do {
            k = kv(s);
            if (k.referencedChunks() == 0 && k.liveSequences() == 0) return k;
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                throw new AssertionError(e);
            }
        } while (System.nanoTime() < deadline);
        throw new AssertionError("KV not released: " + k);
    }
}
