package io.chunkserve.service.openai;

import io.chunkserve.service.Server;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;

import static io.chunkserve.service.openai.ApiTestSupport.chunks;
import static io.chunkserve.service.openai.ApiTestSupport.post;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Exact SSE framing of both endpoints, as OpenAI frames it. */
class OpenAiStreamingTest {
    static Server server;

    @BeforeAll
    static void start() { server = Server.start(ApiTestSupport.config()); }

    @AfterAll
    static void stop() {
        server.close();
        ApiTestSupport.assertNoBlockedThreads();
    }

    @Test
    void chatStreamHasRoleChunkDeltasFinishUsageAndDone() {
        var r = post(server, "/v1/chat/completions", """
                {"model":"tiny-llama3","messages":[{"role":"user","content":"Hello there"}],"stream":true,
                 "max_tokens":8,"temperature":0,"ignore_eos":true,"stream_options":{"include_usage":true}}""");
        assertEquals(200, r.status());
        assertTrue(r.header("content-type").startsWith("text/event-stream"), r.header("content-type"));
        List<JsonObject> cs = chunks(r.body());
        String id = cs.get(0).getString("id");
        assertTrue(id.startsWith("chatcmpl-"), id);
        for (JsonObject c : cs) {
            assertEquals(id, c.getString("id"));
            assertEquals("chat.completion.chunk", c.getString("object"));
            assertEquals("tiny-llama3", c.getString("model"));
            assertTrue(c.getLong("created") > 1_700_000_000L);
            assertTrue(c.containsKey("usage"), "include_usage puts usage (null) on every chunk");
        }
        // first: role chunk with empty content
        JsonObject first = cs.get(0).getJsonArray("choices").getJsonObject(0);
        assertEquals(new JsonObject().put("role", "assistant").put("content", ""), first.getJsonObject("delta"));
        assertEquals(0, first.getInteger("index"));
        assertTrue(first.containsKey("logprobs") && first.getValue("logprobs") == null);
        assertTrue(first.containsKey("finish_reason") && first.getValue("finish_reason") == null);
        assertNull(cs.get(0).getValue("usage"));
        // last: usage chunk, no choices
        JsonObject last = cs.get(cs.size() - 1);
        assertEquals(new JsonArray(), last.getJsonArray("choices"));
        JsonObject usage = last.getJsonObject("usage");
        assertEquals(8, usage.getInteger("completion_tokens"));
        assertEquals(usage.getInteger("prompt_tokens") + 8, usage.getInteger("total_tokens"));
        assertTrue(usage.getJsonObject("prompt_tokens_details").containsKey("cached_tokens"));
        // before it: finish chunk with empty delta
        JsonObject fin = cs.get(cs.size() - 2).getJsonArray("choices").getJsonObject(0);
        assertEquals(new JsonObject(), fin.getJsonObject("delta"));
        assertEquals("length", fin.getString("finish_reason"));
        // in between: content deltas only
        StringBuilder text = new StringBuilder();
        for (JsonObject c : cs.subList(1, cs.size() - 2)) {
            JsonObject ch = c.getJsonArray("choices").getJsonObject(0);
            assertEquals(1, c.getJsonArray("choices").size());
            assertEquals(List.of("content"), List.copyOf(ch.getJsonObject("delta").fieldNames()));
            assertNull(ch.getValue("finish_reason"));
            text.append(ch.getJsonObject("delta").getString("content"));
        }
        assertTrue(cs.size() >= 4);
        var unary = post(server, "/v1/chat/completions", """
                {"messages":[{"role":"user","content":"Hello there"}],"max_tokens":8,"temperature":0,"ignore_eos":true}""");
        assertEquals(unary.json().getJsonArray("choices").getJsonObject(0).getJsonObject("message").getString("content"), text.toString());
    }

    @Test
    void completionStreamHasTextDeltasFinishAndDoneWithoutUsageByDefault() {
        var r = post(server, "/v1/completions", """
                {"prompt":"Once upon a time","stream":true,"max_tokens":6,"temperature":0,"ignore_eos":true}""");
        assertEquals(200, r.status());
        List<JsonObject> cs = chunks(r.body());
        String id = cs.get(0).getString("id");
        assertTrue(id.startsWith("cmpl-"), id);
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < cs.size(); i++) {
            JsonObject c = cs.get(i);
            assertEquals("text_completion", c.getString("object"));
            assertEquals(id, c.getString("id"));
            assertTrue(!c.containsKey("usage"), "no usage field without include_usage");
            JsonObject ch = c.getJsonArray("choices").getJsonObject(0);
            assertEquals(0, ch.getInteger("index"));
            assertTrue(ch.containsKey("logprobs"));
            if (i < cs.size() - 1) {
                assertNull(ch.getValue("finish_reason"));
                text.append(ch.getString("text"));
            } else {
                assertEquals("", ch.getString("text"));
                assertEquals("length", ch.getString("finish_reason"));
            }
        }
        var unary = post(server, "/v1/completions", """
                {"prompt":"Once upon a time","max_tokens":6,"temperature":0,"ignore_eos":true}""");
        assertEquals(unary.json().getJsonArray("choices").getJsonObject(0).getString("text"), text.toString());
    }

    @Test
    void completionStreamWithUsage() {
        var r = post(server, "/v1/completions", """
                {"prompt":"abc","stream":true,"max_tokens":3,"ignore_eos":true,"stream_options":{"include_usage":true}}""");
        List<JsonObject> cs = chunks(r.body());
        JsonObject last = cs.get(cs.size() - 1);
        assertEquals(0, last.getJsonArray("choices").size());
        assertEquals(3, last.getJsonObject("usage").getInteger("completion_tokens"));
    }

    @Test
    void streamWithTwoChoicesFramesEachChoice() {
        var r = post(server, "/v1/chat/completions", """
                {"messages":[{"role":"user","content":"Hi"}],"stream":true,"n":2,"max_tokens":5,"ignore_eos":true,"seed":7}""");
        List<JsonObject> cs = chunks(r.body());
        int[] roles = new int[2];
        int[] finishes = new int[2];
        for (JsonObject c : cs) {
            JsonObject ch = c.getJsonArray("choices").getJsonObject(0);
            int idx = ch.getInteger("index");
            if (ch.getJsonObject("delta").containsKey("role")) roles[idx]++;
            if (ch.getValue("finish_reason") != null) finishes[idx]++;
        }
        assertEquals(1, roles[0]);
        assertEquals(1, roles[1]);
        assertEquals(1, finishes[0]);
        assertEquals(1, finishes[1]);
    }

    /**
     * An HTTP/1.0 client gets no chunked encoding (the server's framed-chunk fast path must not
     * apply): the body is the bare event stream, ended by the connection's close, and it carries
     * the same text as the unary answer.
     */
    @Test
    void http10StreamIsUnchunkedAndEndsWithTheConnection() throws IOException {
        String json = "{\"prompt\":\"Once upon a time\",\"stream\":true,\"max_tokens\":6,\"temperature\":0,\"ignore_eos\":true}";
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        String raw;
        try (Socket s = new Socket("127.0.0.1", server.port())) {
            s.setSoTimeout(30_000);
            OutputStream out = s.getOutputStream();
            out.write(("POST /v1/completions HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: "
                    + body.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(body);
            out.flush();
            InputStream in = s.getInputStream();
            ByteArrayOutputStream all = new ByteArrayOutputStream();
            in.transferTo(all); // until the server closes
            raw = all.toString(StandardCharsets.UTF_8);
        }
        int split = raw.indexOf("\r\n\r\n");
        String head = raw.substring(0, split).toLowerCase(java.util.Locale.ROOT);
        String sse = raw.substring(split + 4);
        assertTrue(head.startsWith("http/1.0 200"), head);
        assertTrue(!head.contains("transfer-encoding"), head);
        assertTrue(sse.startsWith("data: {"), sse);
        assertTrue(sse.endsWith("data: [DONE]\n\n"), sse);
        StringBuilder text = new StringBuilder();
        for (JsonObject c : chunks(sse)) text.append(c.getJsonArray("choices").getJsonObject(0).getString("text"));
        var unary = post(server, "/v1/completions", """
                {"prompt":"Once upon a time","max_tokens":6,"temperature":0,"ignore_eos":true}""");
        assertEquals(unary.json().getJsonArray("choices").getJsonObject(0).getString("text"), text.toString());
    }
}
