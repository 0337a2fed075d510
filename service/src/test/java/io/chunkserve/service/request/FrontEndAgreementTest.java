package io.chunkserve.service.request;

import io.chunkserve.service.Server;
import io.chunkserve.service.grpc.v1.ChatMessage;
import io.chunkserve.service.grpc.v1.ChatRequest;
import io.chunkserve.service.grpc.v1.GenerateRequest;
import io.chunkserve.service.grpc.v1.GenerateResponse;
import io.chunkserve.service.grpc.v1.GenerationGrpcService;
import io.chunkserve.service.grpc.v1.SamplingParams;
import io.chunkserve.service.openai.ApiTestSupport;
import io.chunkserve.service.ws.ServiceTestSupport;
import io.chunkserve.service.ws.WebSocketApi;
import io.vertx.core.Vertx;
import io.vertx.core.http.WebSocket;
import io.vertx.core.http.WebSocketConnectOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.common.GrpcMessageDecoder;
import io.vertx.grpc.common.GrpcMessageEncoder;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.common.ServiceMethod;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;

/**
 * The same bad request sent to the OpenAI HTTP API, the WebSocket API and gRPC, against one real
 * server: each refuses it, naming the same field with the same message. Cases gRPC cannot express
 * (wrong JSON types; fields its messages lack) run against the two JSON front ends.
 */
class FrontEndAgreementTest {
    private static final ServiceMethod<GenerateResponse, GenerateRequest> GENERATE = ServiceMethod.client(
            GenerationGrpcService.SERVICE_NAME, "Generate", GrpcMessageEncoder.encoder(), GrpcMessageDecoder.decoder(GenerateResponse.newBuilder()));
    private static final ServiceMethod<GenerateResponse, ChatRequest> CHAT = ServiceMethod.client(
            GenerationGrpcService.SERVICE_NAME, "Chat", GrpcMessageEncoder.encoder(), GrpcMessageDecoder.decoder(GenerateResponse.newBuilder()));
    private static final String PARAM_TRAILER = "chunkserve-error-param";

    private static ServiceTestSupport.BlockedThreadWatch blocked;
    private static Server server;
    private static Vertx clientVertx;
    private static GrpcClient grpc;
    private static io.vertx.core.http.WebSocketClient wsClient;
    private static WebSocket ws;
    private static final BlockingQueue<JsonObject> frames = new LinkedBlockingQueue<>();

    @BeforeAll
    static void start() throws Exception {
        blocked = ServiceTestSupport.BlockedThreadWatch.install();
        server = Server.start(ServiceTestSupport.config());
        clientVertx = Vertx.vertx();
        grpc = GrpcClient.client(clientVertx);
        // the client is kept: Vert.x closes a client (and its WebSocket) once the client object is unreachable
        wsClient = clientVertx.createWebSocketClient();
        ws = wsClient.connect(new WebSocketConnectOptions().setHost("127.0.0.1").setPort(server.port())
                .setURI(WebSocketApi.PATH)).toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        ws.textMessageHandler(t -> frames.add(new JsonObject(t)));
    }

    @AfterAll
    static void stop() {
        if (ws != null) ws.close().await();
        if (clientVertx != null) clientVertx.close().await();
        if (server != null) server.close();
        blocked.assertNone();
    }

    /** A bad request: a prompt (completion) or messages (chat) plus {@code fields}; {@code param} is the field at fault. */
    record Case(String fields, boolean chat, String param) {
        JsonObject body() {
            JsonObject b = new JsonObject(fields);
            if (!b.containsKey("prompt") && !b.containsKey("messages")) {
                if (chat) b.put("messages", new JsonArray().add(new JsonObject().put("role", "user").put("content", "hello")));
                else b.put("prompt", "hello");
            }
            return b;
        }

        @Override
        public String toString() { return (chat ? "chat " : "completion ") + fields; }
    }

    /** What a front end answered: the field it blamed and its message. */
    record Refusal(String param, String message) { }

    static Stream<Case> everyFrontEnd() {
        return Stream.of(
                new Case("{\"temperature\":3}", false, "temperature"),
                new Case("{\"temperature\":-0.5}", true, "temperature"),
                new Case("{\"top_p\":0}", false, "top_p"),
                new Case("{\"top_p\":1.5}", true, "top_p"),
                new Case("{\"min_p\":2}", false, "min_p"),
                new Case("{\"presence_penalty\":-3}", false, "presence_penalty"),
                new Case("{\"frequency_penalty\":9}", true, "frequency_penalty"),
                new Case("{\"repetition_penalty\":0}", false, "repetition_penalty"),
                new Case("{\"max_tokens\":0}", false, "max_tokens"),
                new Case("{\"max_tokens\":0}", true, "max_tokens"),
                new Case("{\"max_tokens\":3000000000}", false, "max_tokens"),
                new Case("{\"max_tokens\":600}", false, "prompt"),        // prompt + max_tokens > the 512-token context
                new Case("{\"max_tokens\":600}", true, "messages"),
                new Case("{\"prompt\":\"" + "word ".repeat(700) + "\"}", false, "prompt"), // the prompt alone is too long
                new Case("{\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", false, "stop"),
                new Case("{\"stop\":[\"\"]}", true, "stop"),
                new Case("{\"stop_token_ids\":[4294967295]}", false, "stop_token_ids"),
                new Case("{\"logit_bias\":{\"1\":101}}", false, "logit_bias"),
                new Case("{\"logit_bias\":{\"7\":-100.5}}", true, "logit_bias"),
                new Case("{\"logit_bias\":{\"999999\":5}}", false, "logit_bias"),  // outside the vocabulary: the engine refuses it
                new Case("{\"logit_bias\":{\"4294967295\":5}}", true, "logit_bias"),
                new Case("{\"model\":\"gpt-4\"}", false, "model"),
                new Case("{\"model\":\"gpt-4\"}", true, "model"),
                new Case("{\"user\":\"" + "u".repeat(300) + "\"}", false, "user"),
                new Case("{\"messages\":[]}", true, "messages"),
                new Case("{\"messages\":[{\"role\":\"wizard\",\"content\":\"hi\"}]}", true, "messages[0].role"));
    }

    static Stream<Case> jsonFrontEnds() {
        return Stream.of(
                new Case("{\"temperature\":\"hot\"}", false, "temperature"),
                new Case("{\"max_tokens\":2.5}", true, "max_tokens"),
                new Case("{\"top_k\":5.0}", false, "top_k"),
                new Case("{\"seed\":123456789012345678901234567890}", false, "seed"),
                new Case("{\"stop\":7}", false, "stop"),
                new Case("{\"stop\":[\"a\",1]}", true, "stop[1]"),
                new Case("{\"stop_token_ids\":[-1]}", false, "stop_token_ids"),
                new Case("{\"stop_token_ids\":[\"x\"]}", false, "stop_token_ids[0]"),
                new Case("{\"ignore_eos\":\"yes\"}", false, "ignore_eos"),
                new Case("{\"n\":0}", false, "n"),
                new Case("{\"logit_bias\":{\"one\":5}}", false, "logit_bias"),
                new Case("{\"logit_bias\":{\"1\":\"5\"}}", true, "logit_bias"),
                new Case("{\"logit_bias\":[1]}", false, "logit_bias"),
                new Case("{\"best_of\":3}", false, "best_of"),
                new Case("{\"max_completion_tokens\":-1}", true, "max_completion_tokens"),
                new Case("{\"messages\":[{\"role\":\"user\"}]}", true, "messages[0].content"),
                new Case("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}", true, "messages[0].content[0].type"),
                new Case("{\"messages\":\"hi\"}", true, "messages"),
                new Case("{\"model\":5}", false, "model"));
    }

    @ParameterizedTest
    @MethodSource("everyFrontEnd")
    void everyFrontEndRefusesTheSameWay(Case c) throws Exception {
        Refusal http = http(c);
        assertEquals(c.param(), http.param(), http.message());
        assertEquals(http, webSocket(c), "WebSocket vs HTTP");
        assertEquals(http, grpc(c), "gRPC vs HTTP");
    }

    @ParameterizedTest
    @MethodSource("jsonFrontEnds")
    void bothJsonFrontEndsRefuseTheSameWay(Case c) throws Exception {
        Refusal http = http(c);
        assertEquals(c.param(), http.param(), http.message());
        assertEquals(http, webSocket(c), "WebSocket vs HTTP");
    }

    private static boolean unknownModel(Case c) { return c.param().equals("model") && c.fields().contains("gpt-4"); }

    private static Refusal http(Case c) {
        ApiTestSupport.Resp r = ApiTestSupport.post(server, c.chat() ? "/v1/chat/completions" : "/v1/completions", c.body().encode());
        assertEquals(unknownModel(c) ? 404 : 400, r.status(), r.body());
        JsonObject e = r.json().getJsonObject("error");
        assertEquals("invalid_request_error", e.getString("type"));
        assertFalse(e.getString("message").isBlank());
        return new Refusal(e.getString("param"), e.getString("message"));
    }

    private static Refusal webSocket(Case c) throws InterruptedException {
        String id = "t" + System.nanoTime();
        ws.writeTextMessage(c.body().put("type", "generate").put("id", id).encode());
        JsonObject f = frames.poll(30, TimeUnit.SECONDS);
        assertNotNull(f, "no WebSocket frame within 30 s");
        assertEquals("error", f.getString("type"), f.encode());
        assertEquals(id, f.getString("id"));
        JsonObject e = f.getJsonObject("error");
        assertEquals(unknownModel(c) ? "model_not_found" : "invalid_request", e.getString("code"), f.encode());
        return new Refusal(e.getString("param"), e.getString("message"));
    }

    private static Refusal grpc(Case c) throws Exception {
        JsonObject body = c.body();
        SocketAddress to = SocketAddress.inetSocketAddress(server.grpcPort(), "127.0.0.1");
        SamplingParams params = proto(body);
        CompletableFuture<Object[]> done = new CompletableFuture<>();
        if (c.chat()) {
            ChatRequest.Builder r = ChatRequest.newBuilder().setParams(params).setModel(body.getString("model", ""))
                    .setUser(body.getString("user", ""));
            for (Object m : body.getJsonArray("messages")) {
                JsonObject o = (JsonObject) m;
                r.addMessages(ChatMessage.newBuilder().setRole(o.getString("role")).setContent(o.getString("content")));
            }
            grpc.request(to, CHAT).onSuccess(req -> {
                req.response().onSuccess(resp -> resp.endHandler(v -> done.complete(new Object[] {resp.status(), resp.statusMessage(),
                        trailer(resp.trailers(), resp.headers())})).handler(m -> { })).onFailure(done::completeExceptionally);
                req.end(r.build());
            }).onFailure(done::completeExceptionally);
        } else {
            GenerateRequest r = GenerateRequest.newBuilder().setParams(params).setPrompt(body.getString("prompt"))
                    .setModel(body.getString("model", "")).setUser(body.getString("user", "")).build();
            grpc.request(to, GENERATE).onSuccess(req -> {
                req.response().onSuccess(resp -> resp.endHandler(v -> done.complete(new Object[] {resp.status(), resp.statusMessage(),
                        trailer(resp.trailers(), resp.headers())})).handler(m -> { })).onFailure(done::completeExceptionally);
                req.end(r);
            }).onFailure(done::completeExceptionally);
        }
        Object[] end = done.get(30, TimeUnit.SECONDS);
        assertEquals(unknownModel(c) ? GrpcStatus.NOT_FOUND : GrpcStatus.INVALID_ARGUMENT, end[0], (String) end[1]);
        return new Refusal((String) end[2], (String) end[1]);
    }

    /** The param trailer; a trailers-only answer carries it among the headers. */
    private static String trailer(io.vertx.core.MultiMap trailers, io.vertx.core.MultiMap headers) {
        String t = trailers == null ? null : trailers.get(PARAM_TRAILER);
        return t != null ? t : headers.get(PARAM_TRAILER);
    }

    /** The sampling fields of a JSON body as the protobuf message (integers as their low 32 bits, as uint32 travels). */
    private static SamplingParams proto(JsonObject body) {
        SamplingParams.Builder b = SamplingParams.newBuilder();
        for (String k : body.fieldNames()) {
            Object v = body.getValue(k);
            switch (k) {
                case "temperature" -> b.setTemperature(((Number) v).doubleValue());
                case "top_p" -> b.setTopP(((Number) v).doubleValue());
                case "min_p" -> b.setMinP(((Number) v).doubleValue());
                case "presence_penalty" -> b.setPresencePenalty(((Number) v).doubleValue());
                case "frequency_penalty" -> b.setFrequencyPenalty(((Number) v).doubleValue());
                case "repetition_penalty" -> b.setRepetitionPenalty(((Number) v).doubleValue());
                case "max_tokens" -> b.setMaxTokens((int) ((Number) v).longValue());
                case "stop" -> ((JsonArray) v).forEach(s -> b.addStop((String) s));
                case "stop_token_ids" -> ((JsonArray) v).forEach(id -> b.addStopTokenIds((int) ((Number) id).longValue()));
                case "logit_bias" -> ((JsonObject) v).forEach(e -> b.putLogitBias((int) Long.parseLong(e.getKey()), ((Number) e.getValue()).doubleValue()));
                case "prompt", "messages", "model", "user" -> { } // request fields, not sampling
                default -> throw new IllegalArgumentException("no protobuf field for " + k);
            }
        }
        return b.build();
    }
}
