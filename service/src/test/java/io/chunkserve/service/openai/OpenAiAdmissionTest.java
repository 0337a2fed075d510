package io.chunkserve.service.openai;

import io.chunkserve.service.Server;
import io.chunkserve.service.ServiceConfig;
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

import static io.chunkserve.service.openai.ApiTestSupport.post;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Tiny admission limits: 429 with Retry-After and OpenAI error JSON, before any work is done. */
class OpenAiAdmissionTest {
    static Server server;

    @BeforeAll
    static void start() {
        ServiceConfig c = ApiTestSupport.config();
        // 1 request in flight per tenant, 3 overall; 40 prompt tokens per tenant
        server = Server.start(c.withLimits(c.maxBodyBytes(), 3, 1 << 20, 1, 40));
    }

    @AfterAll
    static void stop() {
        server.close();
        ApiTestSupport.assertNoBlockedThreads();
    }

    static JsonObject rateLimited(int status, String body, String retryAfter) {
        assertEquals(429, status, body);
        assertEquals("1", retryAfter);
        JsonObject e = new JsonObject(body).getJsonObject("error");
        assertEquals("rate_limit_exceeded", e.getString("code"));
        return e;
    }

    @Test
    void promptOverTheTenantTokenLimitIs429() {
        var r = post(server, "/v1/completions", new JsonObject().put("prompt", "many words here ".repeat(20)).put("max_tokens", 1).encode());
        JsonObject e = rateLimited(r.status(), r.body(), r.header("retry-after"));
        assertEquals("tokens", e.getString("type"));
        assertEquals(200, post(server, "/v1/completions", "{\"prompt\":\"short\",\"max_tokens\":1}").status(), "nothing stays charged");
    }

    @Test
    void concurrentRequestsOverTheTenantLimitAre429AndOtherTenantsAreServed() throws Exception {
        List<CompletableFuture<HttpResponse<String>>> fs = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            String body = new JsonObject().put("prompt", "go " + i).put("max_tokens", 300).put("ignore_eos", true).put("n", 4)
                    .put("user", i < 5 ? "busy" : "other").put("stream", i % 2 == 0).encode();
            fs.add(ApiTestSupport.HTTP.sendAsync(HttpRequest.newBuilder(URI.create(ApiTestSupport.url(server, "/v1/completions")))
                    .timeout(Duration.ofSeconds(120)).POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString()));
        }
        int ok = 0, limited = 0;
        for (int i = 0; i < 5; i++) {
            HttpResponse<String> r = fs.get(i).get();
            if (r.statusCode() == 200) ok++;
            else {
                JsonObject e = rateLimited(r.statusCode(), r.body(), r.headers().firstValue("retry-after").orElse(null));
                assertEquals("requests", e.getString("type"));
                limited++;
            }
        }
        assertTrue(ok >= 1 && limited >= 1, ok + " served, " + limited + " limited");
        assertEquals(200, fs.get(5).get().statusCode(), "another tenant is not limited by 'busy'");
        assertEquals(200, post(server, "/v1/completions", "{\"prompt\":\"after\",\"max_tokens\":1,\"user\":\"busy\"}").status());
    }
}
