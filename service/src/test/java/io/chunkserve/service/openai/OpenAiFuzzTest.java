package io.chunkserve.service.openai;

import io.chunkserve.service.Server;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Thousands of malformed or random bodies — random bytes, truncated JSON, wrong types, huge numbers,
 * deep nesting, random JSON — to both endpoints: never a 5xx, always OpenAI error JSON or a valid
 * answer, and a live, idle server afterwards.
 */
class OpenAiFuzzTest {
    static final long SEED = Long.getLong("fuzz.seed", 20261128L);
    static final int REQUESTS = Integer.getInteger("fuzz.requests", 3000);
    static final String[] FIELDS = {"model", "messages", "prompt", "max_tokens", "max_completion_tokens", "temperature", "top_p",
            "top_k", "min_p", "seed", "stop", "n", "presence_penalty", "frequency_penalty", "repetition_penalty", "logprobs",
            "top_logprobs", "user", "stream", "stream_options", "ignore_eos", "stop_token_ids", "echo", "best_of", "logit_bias"};
    static Server server;

    @BeforeAll
    static void start() { server = Server.start(ApiTestSupport.config()); }

    @AfterAll
    static void stop() {
        server.close();
        ApiTestSupport.assertNoBlockedThreads();
    }

    @Test
    void randomBodiesNeverCauseA5xx() throws Exception {
        Random rnd = new Random(SEED);
        int ok = 0, clientErrors = 0;
        for (int batch = 0; batch < REQUESTS / 20; batch++) {
            List<CompletableFuture<HttpResponse<String>>> inflight = new ArrayList<>();
            List<byte[]> bodies = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                byte[] body = body(rnd);
                String path = rnd.nextBoolean() ? "/v1/chat/completions" : "/v1/completions";
                bodies.add(body);
                inflight.add(ApiTestSupport.HTTP.sendAsync(HttpRequest.newBuilder(URI.create(ApiTestSupport.url(server, path)))
                        .timeout(Duration.ofSeconds(120)).header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build(), HttpResponse.BodyHandlers.ofString()));
            }
            for (int i = 0; i < inflight.size(); i++) {
                HttpResponse<String> r = inflight.get(i).get();
                String what = "seed " + SEED + ", body " + new String(bodies.get(i), StandardCharsets.UTF_8);
                if (r.statusCode() >= 500) fail("5xx " + r.statusCode() + " " + r.body() + " for " + what);
                if (r.statusCode() == 200) {
                    ok++;
                    if (r.headers().firstValue("content-type").orElse("").startsWith("text/event-stream")) ApiTestSupport.events(r.body());
                    else assertTrue(new JsonObject(r.body()).containsKey("choices"), what);
                } else {
                    clientErrors++;
                    JsonObject e = new JsonObject(r.body()).getJsonObject("error");
                    assertTrue(e != null && e.getString("message") != null && e.containsKey("param") && e.containsKey("code"), r.body());
                }
            }
        }
        System.out.printf("fuzz: %d requests, %d answered, %d client errors%n", REQUESTS, ok, clientErrors);
        assertTrue(clientErrors > REQUESTS / 2);
        var alive = ApiTestSupport.post(server, "/v1/completions", "{\"prompt\":\"still alive\",\"max_tokens\":3}");
        assertEquals(200, alive.status(), alive.body());
        ApiTestSupport.awaitKvIdle(server);
    }

    static byte[] body(Random rnd) {
        return switch (rnd.nextInt(7)) {
            case 0 -> {
                byte[] b = new byte[rnd.nextInt(300)];
                rnd.nextBytes(b);
                yield b;
            }
            case 1 -> {
                String v = valid(rnd).encode();
                yield v.substring(0, rnd.nextInt(v.length())).getBytes(StandardCharsets.UTF_8);
            }
            case 2, 3 -> {
                JsonObject o = valid(rnd);
                for (int k = 1 + rnd.nextInt(3); k > 0; k--) o.put(FIELDS[rnd.nextInt(FIELDS.length)], randomValue(rnd, 3));
                if (rnd.nextInt(4) > 0) o.put("max_tokens", 1 + rnd.nextInt(4)); // keep accepted requests short
                yield o.encode().getBytes(StandardCharsets.UTF_8);
            }
            case 4 -> {
                int depth = 500 + rnd.nextInt(3000);
                String open = rnd.nextBoolean() ? "[" : "{\"a\":";
                String close = open.equals("[") ? "]" : "}";
                yield ("{\"messages\":" + open.repeat(depth) + "1" + close.repeat(depth) + "}").getBytes(StandardCharsets.UTF_8);
            }
            case 5 -> {
                JsonObject o = valid(rnd);
                String f = FIELDS[3 + rnd.nextInt(FIELDS.length - 3)];
                String huge = switch (rnd.nextInt(4)) {
                    case 0 -> "1" + "0".repeat(rnd.nextInt(400));
                    case 1 -> "-9".repeat(1 + rnd.nextInt(50));
                    case 2 -> "1e" + rnd.nextInt(1000);
                    default -> "0." + "9".repeat(rnd.nextInt(200));
                };
                String s = o.encode();
                yield (s.substring(0, s.length() - 1) + ",\"" + f + "\":" + huge + "}").getBytes(StandardCharsets.UTF_8);
            }
            default -> io.vertx.core.json.Json.encode(randomValue(rnd, 4)).getBytes(StandardCharsets.UTF_8);
        };
    }

    static JsonObject valid(Random rnd) {
        JsonObject o = new JsonObject().put("max_tokens", 1 + rnd.nextInt(3));
        if (rnd.nextBoolean()) o.put("messages", new JsonArray().add(new JsonObject().put("role", "user").put("content", "hi " + rnd.nextInt())));
        else o.put("prompt", "hello " + rnd.nextInt());
        if (rnd.nextBoolean()) o.put("stream", true);
        if (rnd.nextBoolean()) o.put("temperature", rnd.nextDouble() * 2);
        return o;
    }

    static Object randomValue(Random rnd, int depth) {
        int k = rnd.nextInt(depth <= 0 ? 7 : 9);
        return switch (k) {
            case 0 -> null;
            case 1 -> rnd.nextBoolean();
            case 2 -> rnd.nextInt(2001) - 1000;
            case 3 -> rnd.nextLong();
            case 4 -> (rnd.nextDouble() - 0.5) * Math.pow(10, rnd.nextInt(40) - 20);
            case 5 -> randomString(rnd);
            case 6 -> new java.math.BigInteger(200, rnd);
            case 7 -> {
                JsonArray a = new JsonArray();
                for (int i = rnd.nextInt(4); i > 0; i--) a.add(randomValue(rnd, depth - 1));
                yield a;
            }
            default -> {
                JsonObject o = new JsonObject();
                for (int i = rnd.nextInt(4); i > 0; i--) {
                    o.put(rnd.nextBoolean() ? FIELDS[rnd.nextInt(FIELDS.length)] : randomString(rnd), randomValue(rnd, depth - 1));
                }
                if (rnd.nextBoolean()) o.put("role", rnd.nextBoolean() ? "user" : randomString(rnd)).put("content", randomValue(rnd, depth - 1));
                if (rnd.nextBoolean()) o.put("type", "text").put("text", randomValue(rnd, 0));
                yield o;
            }
        };
    }

    static String randomString(Random rnd) {
        StringBuilder sb = new StringBuilder();
        for (int i = rnd.nextInt(12); i > 0; i--) {
            int c = rnd.nextInt(5) == 0 ? rnd.nextInt(0x10000) : 32 + rnd.nextInt(95);
            sb.append((char) c); // lone surrogates included on purpose
        }
        return sb.toString();
    }
}
