package io.chunkserve.service.openai;

import io.chunkserve.engine.GenerationRequest;
import io.chunkserve.engine.RequestOutput;
import io.chunkserve.sampling.SamplingParams;
import io.chunkserve.service.Main;
import io.chunkserve.service.Server;
import io.chunkserve.service.ws.ServiceTestSupport;
import io.chunkserve.tokenizer.ChatMessage;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static io.chunkserve.service.openai.ApiTestSupport.chunks;
import static io.chunkserve.service.openai.ApiTestSupport.post;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Non-streamed shapes and what the numbers in them mean: greedy text, n, logprobs, stops, usage, cache hits. */
class OpenAiResponseTest {
    static Server server;

    @BeforeAll
    static void start() { server = Server.start(ApiTestSupport.config()); }

    @AfterAll
    static void stop() {
        server.close();
        ApiTestSupport.assertNoBlockedThreads();
    }

    @Test
    void chatCompletionShape() {
        var r = post(server, "/v1/chat/completions", """
                {"model":"tiny-llama3","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}],
                 "max_tokens":5,"ignore_eos":true,"seed":1}""");
        assertEquals(200, r.status(), r.body());
        assertTrue(r.header("content-type").startsWith("application/json"));
        JsonObject j = r.json();
        assertTrue(j.getString("id").startsWith("chatcmpl-"));
        assertEquals("chat.completion", j.getString("object"));
        assertEquals("tiny-llama3", j.getString("model"));
        assertNotNull(j.getLong("created"));
        JsonArray choices = j.getJsonArray("choices");
        assertEquals(1, choices.size());
        JsonObject c = choices.getJsonObject(0);
        assertEquals(0, c.getInteger("index"));
        assertEquals("assistant", c.getJsonObject("message").getString("role"));
        assertNotNull(c.getJsonObject("message").getString("content"));
        assertTrue(c.containsKey("logprobs") && c.getValue("logprobs") == null);
        assertEquals("length", c.getString("finish_reason"));
        JsonObject u = j.getJsonObject("usage");
        assertEquals(5, u.getInteger("completion_tokens"));
        assertTrue(u.getInteger("prompt_tokens") > 5);
        assertEquals(u.getInteger("prompt_tokens") + 5, u.getInteger("total_tokens"));
        assertNotNull(u.getJsonObject("prompt_tokens_details").getInteger("cached_tokens"));
    }

    @Test
    void completionShapeAndTokenIdPrompts() {
        var r = post(server, "/v1/completions", """
                {"prompt":"The cat","max_tokens":4,"ignore_eos":true,"temperature":0}""");
        assertEquals(200, r.status(), r.body());
        JsonObject j = r.json();
        assertTrue(j.getString("id").startsWith("cmpl-"));
        assertEquals("text_completion", j.getString("object"));
        JsonObject c = j.getJsonArray("choices").getJsonObject(0);
        assertEquals(List.of("index", "text", "logprobs", "finish_reason"), List.copyOf(c.fieldNames()));
        int[] ids = server.worker().tokenizer().encode("The cat", true);
        JsonArray idArr = new JsonArray();
        for (int id : ids) idArr.add(id);
        for (Object prompt : List.of(idArr, new JsonArray().add(idArr), new JsonArray().add("The cat"))) {
            var r2 = post(server, "/v1/completions", new JsonObject().put("prompt", prompt).put("max_tokens", 4)
                    .put("ignore_eos", true).put("temperature", 0).encode());
            assertEquals(200, r2.status(), r2.body());
            assertEquals(c.getString("text"), r2.json().getJsonArray("choices").getJsonObject(0).getString("text"), "prompt " + prompt);
            assertEquals(ids.length, r2.json().getJsonObject("usage").getInteger("prompt_tokens"));
        }
    }

    @Test
    void greedyCompletionEqualsTheCli() {
        String prompt = "The quick brown fox";
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        PrintStream old = System.out;
        int rc;
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            rc = Main.execute("generate", "--model", ApiTestSupport.fixtures().resolve("tiny-llama3").toString(), "--prompt", prompt,
                    "--max-tokens", "20", "--temperature", "0", "--json", "--threads", "1");
        } finally {
            System.setOut(old);
        }
        assertEquals(0, rc);
        String out = buf.toString(StandardCharsets.UTF_8);
        JsonObject cli = new JsonObject(out.substring(out.indexOf('{')));
        var r = post(server, "/v1/completions", new JsonObject().put("prompt", prompt).put("max_tokens", 20).put("temperature", 0).encode());
        JsonObject j = r.json();
        assertEquals(cli.getString("output_text"), j.getJsonArray("choices").getJsonObject(0).getString("text"));
        assertEquals(cli.getJsonArray("output_ids").size(), j.getJsonObject("usage").getInteger("completion_tokens"));
        assertEquals(cli.getJsonArray("prompt_ids").size(), j.getJsonObject("usage").getInteger("prompt_tokens"));
    }

    @Test
    void greedyChatEqualsTheEngine() throws Exception {
        List<ChatMessage> msgs = List.of(ChatMessage.system("You are terse."), ChatMessage.user("Tell me a story"));
        String text = server.worker().chatTemplate().orElseThrow().render(msgs, true);
        int[] ids = server.worker().tokenizer().encode(text, false);
        BlockingQueue<RequestOutput> q = new LinkedBlockingQueue<>();
        server.worker().engine().submit(new GenerationRequest("direct-1", "test", ids,
                SamplingParams.builder().temperature(0).maxTokens(24).ignoreEos(true).build(), 0), q::add);
        StringBuilder expected = new StringBuilder();
        RequestOutput o;
        do {
            o = q.poll(30, TimeUnit.SECONDS);
            assertNotNull(o);
            for (RequestOutput.ChoiceDelta d : o.choices()) expected.append(d.text());
        } while (!o.finished());
        var r = post(server, "/v1/chat/completions", """
                {"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":[{"type":"text","text":"Tell me a story"}]}],
                 "max_completion_tokens":24,"temperature":0,"ignore_eos":true}""");
        JsonObject j = r.json();
        assertEquals(expected.toString(), j.getJsonArray("choices").getJsonObject(0).getJsonObject("message").getString("content"));
        assertEquals(ids.length, j.getJsonObject("usage").getInteger("prompt_tokens"));
    }

    @Test
    void twoChoices() {
        var r = post(server, "/v1/completions", """
                {"prompt":"Once","n":2,"max_tokens":6,"ignore_eos":true,"seed":3,"temperature":1.0}""");
        JsonObject j = r.json();
        JsonArray ch = j.getJsonArray("choices");
        assertEquals(2, ch.size());
        assertEquals(0, ch.getJsonObject(0).getInteger("index"));
        assertEquals(1, ch.getJsonObject(1).getInteger("index"));
        assertEquals(12, j.getJsonObject("usage").getInteger("completion_tokens"));
        var chat = post(server, "/v1/chat/completions", """
                {"messages":[{"role":"user","content":"Once"}],"n":2,"max_tokens":3,"ignore_eos":true}""").json();
        assertEquals(2, chat.getJsonArray("choices").size());
        assertEquals(6, chat.getJsonObject("usage").getInteger("completion_tokens"));
    }

    @Test
    void chatLogprobs() {
        JsonObject j = post(server, "/v1/chat/completions", """
                {"messages":[{"role":"user","content":"Hi"}],"max_tokens":4,"ignore_eos":true,"temperature":0,
                 "logprobs":true,"top_logprobs":3}""").json();
        JsonArray content = j.getJsonArray("choices").getJsonObject(0).getJsonObject("logprobs").getJsonArray("content");
        assertEquals(4, content.size());
        for (Object o : content) {
            JsonObject e = (JsonObject) o;
            assertEquals(List.of("token", "logprob", "bytes", "top_logprobs"), List.copyOf(e.fieldNames()));
            assertTrue(e.getDouble("logprob") <= 0);
            // a token's own bytes: its text, unless it holds part of a character (its text is then U+FFFD)
            if (!e.getString("token").contains("\uFFFD")) {
                assertEquals(new String(bytes(e.getJsonArray("bytes")), StandardCharsets.UTF_8), e.getString("token"));
            }
            JsonArray top = e.getJsonArray("top_logprobs");
            assertEquals(3, top.size());
            // greedy: the sampled token is the most likely one
            assertEquals(top.getJsonObject(0).getString("token"), e.getString("token"));
            assertEquals(top.getJsonObject(0).getDouble("logprob"), e.getDouble("logprob"), 1e-6);
            for (Object t : top) assertEquals(List.of("token", "logprob", "bytes"), List.copyOf(((JsonObject) t).fieldNames()));
        }
        // streamed: logprobs arrive with the deltas, one entry per token
        var s = post(server, "/v1/chat/completions", """
                {"messages":[{"role":"user","content":"Hi"}],"max_tokens":4,"ignore_eos":true,"temperature":0,
                 "logprobs":true,"stream":true}""");
        int entries = 0;
        for (JsonObject c : chunks(s.body())) {
            JsonObject ch = c.getJsonArray("choices").getJsonObject(0);
            if (ch.getValue("logprobs") != null) {
                for (Object e : ch.getJsonObject("logprobs").getJsonArray("content")) {
                    entries++;
                    assertEquals(0, ((JsonObject) e).getJsonArray("top_logprobs").size());
                }
            }
        }
        assertEquals(4, entries);
    }

    @Test
    void completionLogprobs() {
        JsonObject j = post(server, "/v1/completions", """
                {"prompt":"Hello","max_tokens":5,"ignore_eos":true,"temperature":0,"logprobs":2}""").json();
        JsonObject c = j.getJsonArray("choices").getJsonObject(0);
        JsonObject lp = c.getJsonObject("logprobs");
        assertEquals(List.of("tokens", "token_logprobs", "top_logprobs", "text_offset"), List.copyOf(lp.fieldNames()));
        assertEquals(5, lp.getJsonArray("tokens").size());
        assertEquals(5, lp.getJsonArray("token_logprobs").size());
        assertEquals(5, lp.getJsonArray("top_logprobs").size());
        JsonArray offsets = lp.getJsonArray("text_offset");
        assertEquals(0, offsets.getInteger(0));
        for (int i = 0; i < 5; i++) {
            JsonObject top = lp.getJsonArray("top_logprobs").getJsonObject(i);
            assertTrue(top.size() == 2 || top.size() == 3, top.encode());
            assertTrue(top.containsKey(lp.getJsonArray("tokens").getString(i)));
            if (i > 0) assertEquals(offsets.getInteger(i - 1) + lp.getJsonArray("tokens").getString(i - 1).length(), offsets.getInteger(i));
        }
        assertEquals(String.join("", lp.getJsonArray("tokens").stream().map(Object::toString).toList()), c.getString("text"));
    }

    /**
     * logit_bias through the API: +100 makes one token the only pick, -100 bans the one greedy decoding would take;
     * the text is the engine's own for the same settings, streamed or not, in completions and chat.
     */
    @Test
    void logitBiasForcesAndBansTokensAsTheEngineDoes() throws Exception {
        String prompt = "The quick brown fox";
        int[] ids = server.worker().tokenizer().encode(prompt, true);
        SamplingParams plain = SamplingParams.builder().temperature(0).maxTokens(6).ignoreEos(true).build();
        List<Integer> greedy = ServiceTestSupport.engine(server, ids, plain).tokenIds();
        int banned = greedy.get(0), forced = ids[ids.length - 1];
        record Case(Map<Integer, Double> bias, java.util.function.Predicate<List<Integer>> holds) { }
        for (Case c : List.of(new Case(Map.of(forced, 100.0), t -> t.stream().allMatch(x -> x == forced)),
                new Case(Map.of(banned, -100.0), t -> t.get(0) != banned && !t.contains(banned)))) {
            ServiceTestSupport.Reference ref = ServiceTestSupport.engine(server, ids, plain.toBuilder().logitBias(c.bias()).build());
            assertTrue(c.holds().test(ref.tokenIds()), c.bias() + " -> " + ref.tokenIds() + " (greedy " + greedy + ")");
            JsonObject bias = new JsonObject();
            c.bias().forEach((k, v) -> bias.put(Integer.toString(k), v));
            JsonObject req = new JsonObject().put("prompt", prompt).put("max_tokens", 6).put("temperature", 0).put("ignore_eos", true)
                    .put("logit_bias", bias);
            var r = post(server, "/v1/completions", req.encode());
            assertEquals(200, r.status(), r.body());
            assertEquals(ref.text(), r.json().getJsonArray("choices").getJsonObject(0).getString("text"), c.bias().toString());
            StringBuilder streamed = new StringBuilder();
            for (JsonObject ch : chunks(post(server, "/v1/completions", req.copy().put("stream", true).encode()).body())) {
                streamed.append(ch.getJsonArray("choices").getJsonObject(0).getString("text"));
            }
            assertEquals(ref.text(), streamed.toString());
        }
        // chat: +100 on one token, the content is that token six times
        String text = server.worker().chatTemplate().orElseThrow().render(List.of(ChatMessage.user("Hi")), true);
        int[] chatIds = server.worker().tokenizer().encode(text, false);
        ServiceTestSupport.Reference ref = ServiceTestSupport.engine(server, chatIds, plain.toBuilder().logitBias(Map.of(forced, 100.0)).build());
        assertEquals(java.util.Collections.nCopies(6, forced), ref.tokenIds());
        JsonObject j = post(server, "/v1/chat/completions", new JsonObject()
                .put("messages", new JsonArray().add(new JsonObject().put("role", "user").put("content", "Hi")))
                .put("max_tokens", 6).put("temperature", 0).put("ignore_eos", true)
                .put("logit_bias", new JsonObject().put(Integer.toString(forced), 100)).encode()).json();
        assertEquals(ref.text(), j.getJsonArray("choices").getJsonObject(0).getJsonObject("message").getString("content"));
    }

    @Test
    void stopStringsCutTheTextAndFinishWithStop() {
        String body = """
                {"prompt":"It was a dark and stormy night","max_tokens":40,"ignore_eos":true,"temperature":0}""";
        String full = post(server, "/v1/completions", body).json().getJsonArray("choices").getJsonObject(0).getString("text");
        assertTrue(full.length() > 10, full);
        int k = full.length() / 2;
        String stop = full.substring(k, k + 2);
        String expected = full.substring(0, full.indexOf(stop));
        for (Object stopValue : List.of(stop, new JsonArray().add("\u0001never").add(stop))) {
            JsonObject req = new JsonObject(body).put("stop", stopValue);
            JsonObject c = post(server, "/v1/completions", req.encode()).json().getJsonArray("choices").getJsonObject(0);
            assertEquals(expected, c.getString("text"));
            assertEquals("stop", c.getString("finish_reason"));
            // the same cut when streamed
            StringBuilder streamed = new StringBuilder();
            String finish = null;
            for (JsonObject ch : chunks(post(server, "/v1/completions", req.copy().put("stream", true).encode()).body())) {
                JsonObject x = ch.getJsonArray("choices").getJsonObject(0);
                streamed.append(x.getString("text"));
                if (x.getValue("finish_reason") != null) finish = x.getString("finish_reason");
            }
            assertEquals(expected, streamed.toString());
            assertEquals("stop", finish);
        }
    }

    @Test
    void repeatedLongPromptHitsThePrefixCache() {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 8; i++) sb.append("The system prompt sentence number ").append(i).append(". ");
        JsonObject req = new JsonObject().put("prompt", sb.toString()).put("max_tokens", 2).put("user", "cache-test");
        var r = post(server, "/v1/completions", req.encode());
        assertEquals(200, r.status(), r.body());
        JsonObject first = r.json().getJsonObject("usage");
        assertTrue(first.getInteger("prompt_tokens") > 64, first.encode());
        JsonObject second = post(server, "/v1/completions", req.encode()).json().getJsonObject("usage");
        int cached = second.getJsonObject("prompt_tokens_details").getInteger("cached_tokens");
        assertTrue(cached > 0 && cached < second.getInteger("prompt_tokens"), second.encode());
        assertEquals(0, cached % 16, "whole chunks are shared");
    }

    @Test
    void modelsListsTheServedModel() {
        var r = ApiTestSupport.send(HttpRequest.newBuilder(URI.create(ApiTestSupport.url(server, "/v1/models"))).GET().build());
        assertEquals(200, r.status());
        JsonObject m = r.json().getJsonArray("data").getJsonObject(0);
        assertEquals("tiny-llama3", m.getString("id"));
        assertEquals("model", m.getString("object"));
        assertNull(r.json().getValue("error"));
    }

    private static byte[] bytes(JsonArray a) {
        byte[] b = new byte[a.size()];
        for (int i = 0; i < b.length; i++) b[i] = (byte) (int) a.getInteger(i);
        return b;
    }

    @SuppressWarnings("unused")
    private static List<String> strings(JsonArray a) {
        List<String> out = new ArrayList<>();
        for (Object o : a) out.add((String) o);
        return out;
    }
}
