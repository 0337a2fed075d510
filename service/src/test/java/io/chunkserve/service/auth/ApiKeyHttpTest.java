package io.chunkserve.service.auth;

import io.chunkserve.service.Server;
import io.chunkserve.service.openai.ApiTestSupport;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static io.chunkserve.service.openai.ApiTestSupport.post;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A server with an API keys file: 401s, tenants from keys, cache salts. */
class ApiKeyHttpTest {
    @TempDir
    static Path dir;
    static Server server;

    @BeforeAll
    static void start() throws IOException {
        Path keys = dir.resolve("keys.txt");
        Files.writeString(keys, """
                sk-acme   acme   2  acme-salt
                sk-globex globex 1  globex-salt
                sk-shared shared
                """);
        server = Server.start(ApiTestSupport.config().withKeysFile(keys));
    }

    @AfterAll
    static void stop() {
        server.close();
        ApiTestSupport.assertNoBlockedThreads();
    }

    static final String BODY = "{\"prompt\":\"hi\",\"max_tokens\":2}";

    static JsonObject error401(ApiTestSupport.Resp r) {
        assertEquals(401, r.status(), r.body());
        JsonObject e = r.json().getJsonObject("error");
        assertEquals("invalid_api_key", e.getString("code"));
        assertEquals("invalid_request_error", e.getString("type"));
        assertEquals("Bearer", r.header("www-authenticate"));
        return e;
    }

    @Test
    void missingOrWrongKeysAre401() {
        error401(post(server, "/v1/completions", BODY));
        error401(post(server, "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "Authorization", "Bearer sk-nope"));
        error401(post(server, "/v1/completions", BODY, "Authorization", "Basic c2stYWNtZQ=="));
        error401(post(server, "/v1/completions", "{not even json", "Authorization", "Bearer sk-acme-"));
        var models = ApiTestSupport.send(HttpRequest.newBuilder(URI.create(ApiTestSupport.url(server, "/v1/models"))).GET().build());
        error401(models);
        var health = ApiTestSupport.send(HttpRequest.newBuilder(URI.create(ApiTestSupport.url(server, "/health"))).GET().build());
        assertEquals(200, health.status(), "health needs no key");
    }

    @Test
    void validKeysServeAndNameTheTenant() throws Exception {
        assertEquals(200, post(server, "/v1/completions", BODY, "Authorization", "Bearer sk-acme").status());
        assertEquals(200, post(server, "/v1/completions", "{\"prompt\":\"hi\",\"max_tokens\":2,\"user\":\"mallory\"}",
                "Authorization", "Bearer sk-globex").status());
        var models = ApiTestSupport.send(HttpRequest.newBuilder(URI.create(ApiTestSupport.url(server, "/v1/models")))
                .header("Authorization", "Bearer sk-shared").GET().build());
        assertEquals(200, models.status());
        var tenants = server.worker().engine().stats().get(10, TimeUnit.SECONDS).scheduler().tenants();
        assertTrue(tenants.containsKey("acme") && tenants.containsKey("globex"), tenants.keySet().toString());
        assertTrue(!tenants.containsKey("mallory"), "with keys, the user field does not pick the tenant");
    }

    @Test
    void cacheSaltsKeepTenantsApart() {
        String prompt = new JsonObject().put("prompt", "Shared system prompt, sentence one. ".repeat(6)).put("max_tokens", 1).encode();
        post(server, "/v1/completions", prompt, "Authorization", "Bearer sk-acme");
        int acmeAgain = cached(post(server, "/v1/completions", prompt, "Authorization", "Bearer sk-acme"));
        int globex = cached(post(server, "/v1/completions", prompt, "Authorization", "Bearer sk-globex"));
        assertTrue(acmeAgain > 0, "same tenant reuses its prefix");
        assertEquals(0, globex, "another salt never hits acme's chunks");
    }

    private static int cached(ApiTestSupport.Resp r) {
        assertEquals(200, r.status(), r.body());
        return r.json().getJsonObject("usage").getJsonObject("prompt_tokens_details").getInteger("cached_tokens");
    }
}
