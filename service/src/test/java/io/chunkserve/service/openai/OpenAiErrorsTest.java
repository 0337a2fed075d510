package io.chunkserve.service.openai;

import io.chunkserve.service.Server;
import io.chunkserve.service.ServiceConfig;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.util.List;

import static io.chunkserve.service.openai.ApiTestSupport.post;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every client mistake answers its 4xx with OpenAI error JSON; none is a 5xx. */
class OpenAiErrorsTest {
    static final long BODY_LIMIT = 256 << 10;
    static Server server;

    @BeforeAll
    static void start() {
        ServiceConfig c = ApiTestSupport.config();
        server = Server.start(c.withLimits(BODY_LIMIT, c.maxWaitingRequests(), c.maxWaitingTokens(),
                c.maxWaitingRequestsPerTenant(), c.maxWaitingTokensPerTenant()));
    }

    @AfterAll
    static void stop() {
        server.close();
        ApiTestSupport.assertNoBlockedThreads();
    }

    /** Asserts status and the OpenAI error shape; returns the inner error object. */
    static JsonObject error(ApiTestSupport.Resp r, int status) {
        assertEquals(status, r.status(), r.body());
        assertTrue(r.header("content-type").startsWith("application/json"), r.header("content-type"));
        JsonObject j = r.json();
        assertEquals(List.of("error"), List.copyOf(j.fieldNames()));
        JsonObject e = j.getJsonObject("error");
        assertEquals(List.of("message", "type", "param", "code"), List.copyOf(e.fieldNames()));
        assertFalse(e.getString("message").isBlank());
        assertFalse(e.getString("type").isBlank());
        return e;
    }

    static JsonObject chatError(String body, int status) {
        return error(post(server, "/v1/chat/completions", body), status);
    }

    static JsonObject completionError(String body, int status) {
        return error(post(server, "/v1/completions", body), status);
    }

    @Test
    void malformedJson() {
        for (String body : List.of("{", "{\"messages\": [}", "not json", "[1,2]", "\"str\"", "42", "{\"a\":1}}", "null")) {
            JsonObject e = chatError(body, 400);
            assertEquals("invalid_request_error", e.getString("type"));
            assertEquals("invalid_json", e.getString("code"), body);
        }
        assertEquals("invalid_request_error", chatError("", 400).getString("type"));
    }

    @Test
    void wrongTypes() {
        record Case(String body, String param) { }
        for (Case c : List.of(
                new Case("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":\"hot\"}", "temperature"),
                new Case("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":\"10\"}", "max_tokens"),
                new Case("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":2.5}", "max_tokens"),
                new Case("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":\"yes\"}", "stream"),
                new Case("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":true}", "n"),
                new Case("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":7}", "stop"),
                new Case("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"seed\":123456789012345678901234567890}", "seed"),
                new Case("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logprobs\":5}", "logprobs"),
                new Case("{\"messages\":{\"role\":\"user\"}}", "messages"),
                new Case("{\"messages\":[\"hi\"]}", "messages[0]"),
                new Case("{\"messages\":[{\"role\":1,\"content\":\"x\"}]}", "messages[0].role"),
                new Case("{\"messages\":[{\"role\":\"user\",\"content\":5}]}", "messages[0].content"),
                new Case("{\"model\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "model"))) {
            JsonObject e = chatError(c.body, 400);
            assertEquals(c.param, e.getString("param"), c.body);
        }
        assertEquals("invalid_type", chatError("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":\"hot\"}", 400).getString("code"));
        assertEquals("prompt", completionError("{\"prompt\":{\"a\":1}}", 400).getString("param"));
        assertEquals("prompt", completionError("{\"prompt\":[1.5,2]}", 400).getString("param"));
        assertEquals("logprobs", completionError("{\"prompt\":\"x\",\"logprobs\":true}", 400).getString("param"));
    }

    @Test
    void outOfRangeValues() {
        String m = "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]";
        record Case(String extra, String param) { }
        for (Case c : List.of(new Case("\"temperature\":3", "temperature"), new Case("\"temperature\":1e400", "temperature"),
                new Case("\"top_p\":0", "top_p"), new Case("\"min_p\":2", "min_p"),
                new Case("\"presence_penalty\":-3", "presence_penalty"), new Case("\"frequency_penalty\":9", "frequency_penalty"),
                new Case("\"repetition_penalty\":0", "repetition_penalty"), new Case("\"max_tokens\":0", "max_tokens"),
                new Case("\"max_completion_tokens\":-1", "max_completion_tokens"), new Case("\"n\":0", "n"),
                new Case("\"n\":1000", "n"), new Case("\"max_tokens\":99999999999", "max_tokens"),
                new Case("\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]", "stop"), new Case("\"stop\":\"\"", "stop"),
                new Case("\"top_logprobs\":3", "top_logprobs"), new Case("\"logprobs\":true,\"top_logprobs\":21", "top_logprobs"),
                new Case("\"stream_options\":{\"include_usage\":true}", "stream_options"),
                new Case("\"echo\":true", "echo"), new Case("\"logit_bias\":{\"1\":500}", "logit_bias"),
                new Case("\"logit_bias\":{\"485\":5}", "logit_bias"),
                new Case("\"tools\":[{\"type\":\"function\"}]", "tools"), new Case("\"response_format\":{\"type\":\"json_object\"}", "response_format"),
                new Case("\"user\":\"" + "u".repeat(300) + "\"", "user"))) {
            JsonObject e = chatError("{" + m + "," + c.extra + "}", 400);
            assertEquals(c.param, e.getString("param"), c.extra);
        }
        assertEquals("logprobs", completionError("{\"prompt\":\"x\",\"logprobs\":21}", 400).getString("param"));
        assertEquals("prompt", completionError("{\"prompt\":[1, 2, 100000]}", 400).getString("param"));
        assertEquals("prompt", completionError("{\"prompt\":[\"a\",\"b\"]}", 400).getString("param"));
        assertEquals("prompt", completionError("{\"prompt\":[]}", 400).getString("param"));
    }

    @Test
    void badMessages() {
        assertEquals("messages", chatError("{\"messages\":[]}", 400).getString("param"));
        assertEquals("messages[0].role", chatError("{\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", 400).getString("param"));
        assertEquals("messages[0].content[0].type", chatError(
                "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}}]}]}", 400).getString("param"));
        assertEquals("messages[0].content", chatError("{\"messages\":[{\"role\":\"user\"}]}", 400).getString("param"));
    }

    @Test
    void missingInput() {
        JsonObject e = chatError("{\"model\":\"tiny-llama3\"}", 400);
        assertEquals("messages", e.getString("param"));
        assertEquals("missing_required_parameter", e.getString("code"));
        e = completionError("{\"max_tokens\":3}", 400);
        assertEquals("prompt", e.getString("param"));
        assertEquals("missing_required_parameter", e.getString("code"));
        assertEquals("prompt", completionError("{\"prompt\":null}", 400).getString("param"));
    }

    @Test
    void unknownModel() {
        JsonObject e = chatError("{\"model\":\"gpt-4\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", 404);
        assertEquals("model_not_found", e.getString("code"));
        assertEquals("model", e.getString("param"));
        assertEquals("model_not_found", completionError("{\"model\":\"other\",\"prompt\":\"x\"}", 404).getString("code"));
    }

    @Test
    void promptLongerThanTheContext() {
        String longText = "word ".repeat(2000);
        JsonObject e = completionError(new JsonObject().put("prompt", longText).encode(), 400);
        assertEquals("context_length_exceeded", e.getString("code"));
        assertEquals("prompt", e.getString("param"));
        assertTrue(e.getString("message").contains("512"), e.getString("message"));
        e = chatError(new JsonObject().put("messages", new JsonArray().add(new JsonObject().put("role", "user").put("content", longText))).encode(), 400);
        assertEquals("context_length_exceeded", e.getString("code"));
        assertEquals("messages", e.getString("param"));
        // prompt fits, but prompt + max_tokens does not
        e = completionError("{\"prompt\":\"hello\",\"max_tokens\":600}", 400);
        assertEquals("context_length_exceeded", e.getString("code"));
        // token-id prompts too
        JsonArray ids = new JsonArray();
        for (int i = 0; i < 600; i++) ids.add(5);
        assertEquals("context_length_exceeded", completionError(new JsonObject().put("prompt", ids).encode(), 400).getString("code"));
        // a body above the inline-decoding size (decoded on the worker pool), still a client error
        String big = "word ".repeat(20_000);
        assertTrue(big.length() > OpenAiApi.INLINE_DECODE_BYTES);
        assertEquals("context_length_exceeded", completionError(new JsonObject().put("prompt", big).encode(), 400).getString("code"));
        assertEquals("invalid_json", completionError("{\"prompt\":\"" + big + "\"", 400).getString("code"));
    }

    @Test
    void bodyTooLarge() {
        byte[] body = ("{\"prompt\":\"" + "x".repeat((int) BODY_LIMIT + 10) + "\"}").getBytes(StandardCharsets.UTF_8);
        JsonObject e = error(post(server, "/v1/completions", body), 413);
        assertEquals("request_too_large", e.getString("code"));
        // without Content-Length (chunked upload)
        HttpRequest req = HttpRequest.newBuilder(URI.create(ApiTestSupport.url(server, "/v1/completions")))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(body))).build();
        error(ApiTestSupport.send(req), 413);
    }

    @Test
    void invalidUtf8() {
        byte[] head = "{\"prompt\":\"abc".getBytes(StandardCharsets.UTF_8);
        byte[] body = new byte[head.length + 4];
        System.arraycopy(head, 0, body, 0, head.length);
        body[head.length] = (byte) 0xC3;   // a lead byte ...
        body[head.length + 1] = (byte) 0x28; // ... without its continuation
        body[head.length + 2] = '"';
        body[head.length + 3] = '}';
        JsonObject e = error(post(server, "/v1/completions", body), 400);
        assertEquals("invalid_encoding", e.getString("code"));
        body[head.length] = (byte) 0xFF;
        assertEquals("invalid_encoding", error(post(server, "/v1/chat/completions", body), 400).getString("code"));
    }

    @Test
    void unknownRouteAndWrongMethod() {
        JsonObject e = error(post(server, "/v1/nope", "{}"), 404);
        assertTrue(e.getString("message").contains("/v1/nope"));
        error(ApiTestSupport.send(HttpRequest.newBuilder(URI.create(ApiTestSupport.url(server, "/nothing/here"))).GET().build()), 404);
        for (String path : List.of("/v1/chat/completions", "/v1/completions")) {
            var get = ApiTestSupport.send(HttpRequest.newBuilder(URI.create(ApiTestSupport.url(server, path))).GET().build());
            assertEquals("method_not_allowed", error(get, 405).getString("code"));
            assertEquals("POST", get.header("allow"));
            error(ApiTestSupport.send(HttpRequest.newBuilder(URI.create(ApiTestSupport.url(server, path))).DELETE().build()), 405);
        }
        error(post(server, "/v1/models", "{}"), 405);
    }

    @Test
    void serverStillServesAfterErrors() {
        var r = post(server, "/v1/completions", "{\"prompt\":\"fine\",\"max_tokens\":2}");
        assertEquals(200, r.status(), r.body());
    }
}
