package io.chunkserve.service.grpc;

import io.chunkserve.service.Server;
import io.chunkserve.service.ServiceContext;
import io.chunkserve.service.auth.AdmissionControl;
import io.chunkserve.service.grpc.v1.ChatMessage;
import io.chunkserve.service.grpc.v1.ChatRequest;
import io.chunkserve.service.grpc.v1.FinishReason;
import io.chunkserve.service.grpc.v1.GenerateRequest;
import io.chunkserve.service.grpc.v1.GenerateResponse;
import io.chunkserve.service.grpc.v1.GenerationGrpcService;
import io.chunkserve.service.grpc.v1.ListModelsRequest;
import io.chunkserve.service.grpc.v1.ListModelsResponse;
import io.chunkserve.service.grpc.v1.SamplingParams;
import io.chunkserve.service.ws.ServiceTestSupport;
import io.vertx.core.Vertx;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientRequest;
import io.vertx.grpc.client.GrpcClientResponse;
import io.vertx.grpc.common.GrpcMessageDecoder;
import io.vertx.grpc.common.GrpcMessageEncoder;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.common.ServiceMethod;
import io.vertx.grpc.common.ServiceName;
import io.vertx.grpc.health.v1.HealthCheckRequest;
import io.vertx.grpc.health.v1.HealthCheckResponse;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** chunkserve.v1.Generation and grpc.health.v1.Health against a real server on the tiny demo model. */
class GrpcApiTest {
    // Client-side descriptors: the build generates only the server stubs.
    private static final ServiceMethod<GenerateResponse, GenerateRequest> GENERATE = ServiceMethod.client(
            GenerationGrpcService.SERVICE_NAME, "Generate", GrpcMessageEncoder.encoder(), GrpcMessageDecoder.decoder(GenerateResponse.newBuilder()));
    private static final ServiceMethod<GenerateResponse, ChatRequest> CHAT = ServiceMethod.client(
            GenerationGrpcService.SERVICE_NAME, "Chat", GrpcMessageEncoder.encoder(), GrpcMessageDecoder.decoder(GenerateResponse.newBuilder()));
    private static final ServiceMethod<ListModelsResponse, ListModelsRequest> LIST_MODELS = ServiceMethod.client(
            GenerationGrpcService.SERVICE_NAME, "ListModels", GrpcMessageEncoder.encoder(), GrpcMessageDecoder.decoder(ListModelsResponse.newBuilder()));
    private static final ServiceMethod<HealthCheckResponse, HealthCheckRequest> HEALTH_CHECK = ServiceMethod.client(
            ServiceName.create("grpc.health.v1.Health"), "Check", GrpcMessageEncoder.encoder(), GrpcMessageDecoder.decoder(HealthCheckResponse.newBuilder()));

    private static ServiceTestSupport.BlockedThreadWatch blocked;
    private static Server server;
    private static Vertx clientVertx;
    private static GrpcClient client;
    private static SocketAddress address;

    @BeforeAll
    static void start() {
        blocked = ServiceTestSupport.BlockedThreadWatch.install();
        server = Server.start(ServiceTestSupport.config());
        clientVertx = Vertx.vertx();
        client = GrpcClient.client(clientVertx);
        address = SocketAddress.inetSocketAddress(server.grpcPort(), "127.0.0.1");
    }

    @AfterAll
    static void stop() {
        if (clientVertx != null) clientVertx.close().await();
        if (server != null) server.close();
        blocked.assertNone();
    }

    @Test
    void generateStreamsToCompletionAndMatchesTheEngine() throws Exception {
        String prompt = "Once upon a time there was";
        ServiceTestSupport.Reference ref = ServiceTestSupport.engineGreedy(server, server.worker().tokenizer().encode(prompt, true), 20);
        Call<GenerateResponse> call = call(address, GENERATE, GenerateRequest.newBuilder().setPrompt(prompt)
                .setParams(SamplingParams.newBuilder().setMaxTokens(20).setTemperature(0).setIgnoreEos(true)).build(), m -> { });
        assertEquals(GrpcStatus.OK, call.status(), call.statusMessage);
        GenerateResponse last = call.messages.getLast();
        assertEquals(FinishReason.FINISH_REASON_LENGTH, last.getFinishReason());
        assertEquals(20, last.getUsage().getCompletionTokens());
        assertEquals(last.getUsage().getPromptTokens() + 20, last.getUsage().getTotalTokens());
        assertEquals(ref.tokenIds(), call.tokenIds());
        assertEquals(ref.text(), call.text());
        String id = call.messages.getFirst().getId();
        for (GenerateResponse m : call.messages) {
            assertEquals(id, m.getId());
            if (m != last) assertEquals(FinishReason.FINISH_REASON_UNSPECIFIED, m.getFinishReason());
        }
        ServiceTestSupport.awaitKvFreed(server);
    }

    @Test
    void logitBiasSteersGenerateAsInTheEngine() throws Exception {
        String prompt = "Once upon a time there was";
        int[] ids = server.worker().tokenizer().encode(prompt, true);
        int banned = ServiceTestSupport.engineGreedy(server, ids, 1).tokenIds().get(0);
        ServiceTestSupport.Reference ref = ServiceTestSupport.engine(server, ids, io.chunkserve.sampling.SamplingParams.builder()
                .temperature(0).maxTokens(10).ignoreEos(true).logitBias(java.util.Map.of(banned, -100.0, ids[1], 2.5)).build());
        assertTrue(!ref.tokenIds().contains(banned), ref.tokenIds().toString());
        Call<GenerateResponse> call = call(address, GENERATE, GenerateRequest.newBuilder().setPrompt(prompt)
                .setParams(SamplingParams.newBuilder().setMaxTokens(10).setTemperature(0).setIgnoreEos(true)
                        .putLogitBias(banned, -100).putLogitBias(ids[1], 2.5)).build(), m -> { });
        assertEquals(GrpcStatus.OK, call.status(), call.statusMessage);
        assertEquals(ref.tokenIds(), call.tokenIds());
        assertEquals(ref.text(), call.text());
    }

    @Test
    void chatStreamsToCompletion() throws Exception {
        Call<GenerateResponse> call = call(address, CHAT, ChatRequest.newBuilder()
                .addMessages(ChatMessage.newBuilder().setRole("system").setContent("Be brief."))
                .addMessages(ChatMessage.newBuilder().setRole("user").setContent("Hello there"))
                .setParams(SamplingParams.newBuilder().setMaxTokens(12).setTemperature(0.8).setSeed(42).setIgnoreEos(true)).build(), m -> { });
        assertEquals(GrpcStatus.OK, call.status(), call.statusMessage);
        assertEquals(12, call.tokenIds().size());
        assertEquals(FinishReason.FINISH_REASON_LENGTH, call.messages.getLast().getFinishReason());
        assertTrue(call.messages.getLast().getUsage().getPromptTokens() > 5);
    }

    @Test
    void listModelsNamesTheServedModel() throws Exception {
        Call<ListModelsResponse> call = call(address, LIST_MODELS, ListModelsRequest.getDefaultInstance(), m -> { });
        assertEquals(GrpcStatus.OK, call.status());
        ListModelsResponse r = call.messages.getFirst();
        assertEquals(1, r.getModelsCount());
        assertEquals("tiny-llama3", r.getModels(0).getId());
        assertEquals(512, r.getModels(0).getMaxModelLen());
    }

    @Test
    void healthReportsServing() throws Exception {
        for (String service : List.of("", "chunkserve.v1.Generation")) {
            Call<HealthCheckResponse> call = call(address, HEALTH_CHECK, HealthCheckRequest.newBuilder().setService(service).build(), m -> { });
            assertEquals(GrpcStatus.OK, call.status(), service);
            assertEquals(HealthCheckResponse.ServingStatus.SERVING, call.messages.getFirst().getStatus(), service);
        }
    }

    @Test
    void badParametersAreInvalidArgument() throws Exception {
        List<GenerateRequest> bad = List.of(
                GenerateRequest.newBuilder().setPrompt("hi").setParams(SamplingParams.newBuilder().setTemperature(5)).build(),
                GenerateRequest.newBuilder().setPrompt("hi").setParams(SamplingParams.newBuilder().setMaxTokens(0)).build(),
                GenerateRequest.newBuilder().setPrompt("hi").setParams(SamplingParams.newBuilder().setTopP(0)).build(),
                GenerateRequest.newBuilder().setPrompt("hi").setParams(SamplingParams.newBuilder()
                        .addStop("a").addStop("b").addStop("c").addStop("d").addStop("e")).build(),
                GenerateRequest.newBuilder().setPrompt("").build(),
                GenerateRequest.newBuilder().setPrompt("word ".repeat(2000)).build()); // longer than the 512-token context
        for (GenerateRequest r : bad) {
            Call<GenerateResponse> call = call(address, GENERATE, r, m -> { });
            assertEquals(GrpcStatus.INVALID_ARGUMENT, call.status(), r.getParams().toString());
            assertTrue(call.messages.isEmpty());
            assertTrue(call.statusMessage != null && !call.statusMessage.isEmpty());
        }
        Call<GenerateResponse> chat = call(address, CHAT, ChatRequest.getDefaultInstance(), m -> { });
        assertEquals(GrpcStatus.INVALID_ARGUMENT, chat.status());
        Call<GenerateResponse> model = call(address, GENERATE, GenerateRequest.newBuilder().setPrompt("hi").setModel("gpt-4").build(), m -> { });
        assertEquals(GrpcStatus.NOT_FOUND, model.status());
    }

    @Test
    void clientCancelAbortsTheRequestAndFreesKv() throws Exception {
        GrpcClientRequest<GenerateRequest, GenerateResponse> req = client.request(address, GENERATE)
                .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        CompletableFuture<Integer> firstThenCancel = new CompletableFuture<>();
        req.response().onSuccess(resp -> {
            resp.exceptionHandler(e -> { }); // the reset we cause ourselves
            resp.handler(m -> {
                if (!firstThenCancel.isDone()) {
                    req.cancel();
                    firstThenCancel.complete(m.getTokenIdsCount());
                }
            });
        });
        req.end(GenerateRequest.newBuilder().setPrompt("Once upon a time").setUser("grpc-cancel")
                .setParams(SamplingParams.newBuilder().setMaxTokens(480).setTemperature(0).setIgnoreEos(true)).build());
        assertTrue(firstThenCancel.get(30, TimeUnit.SECONDS) > 0);
        ServiceTestSupport.awaitKvFreed(server);
        long generated = ServiceTestSupport.outputTokens(server, "grpc-cancel");
        assertTrue(generated < 480, "aborted after " + generated + " tokens");
    }

    @Test
    void aPassedDeadlineEndsTheCallAndFreesKv() throws Exception {
        Call<GenerateResponse> call = call(address, GENERATE, GenerateRequest.newBuilder().setPrompt("Once upon a time")
                .setParams(SamplingParams.newBuilder().setMaxTokens(480).setTemperature(0).setIgnoreEos(true)).build(),
                r -> r.headers().set("grpc-timeout", "1m")); // 1 ms: over long before 480 tokens
        assertEquals(GrpcStatus.DEADLINE_EXCEEDED, call.status(), call.statusMessage);
        ServiceTestSupport.awaitKvFreed(server);
    }

    @Test
    void missingKeyIsUnauthenticatedAndAFullQueueIsResourceExhausted() throws Exception {
        ServiceContext base = server.context();
        ServiceContext keyed = new ServiceContext(base.vertx(), base.bridge(), ServiceTestSupport.keyResolver("sk-test"), base.config());
        GrpcApi keyedApi = GrpcApi.start(keyed, "127.0.0.1", 0).await();
        ServiceContext full = new ServiceContext(base.vertx(), base.bridge(), base.tenants(),
                base.config().withLimits(base.config().maxBodyBytes(), 0, 0, 0, 0));
        GrpcApi fullApi = GrpcApi.start(full, "127.0.0.1", 0).await();
        try {
            SocketAddress keyedAddr = SocketAddress.inetSocketAddress(keyedApi.port(), "127.0.0.1");
            GenerateRequest hi = GenerateRequest.newBuilder().setPrompt("hi").setParams(SamplingParams.newBuilder().setMaxTokens(2)).build();
            assertEquals(GrpcStatus.UNAUTHENTICATED, call(keyedAddr, GENERATE, hi, m -> { }).status());
            assertEquals(GrpcStatus.UNAUTHENTICATED, call(keyedAddr, LIST_MODELS, ListModelsRequest.getDefaultInstance(), m -> { }).status());
            // the key is checked before the request: no key and a bad model is UNAUTHENTICATED, not NOT_FOUND
            GenerateRequest badModel = GenerateRequest.newBuilder().setModel("no-such-model").setPrompt("hi").build();
            assertEquals(GrpcStatus.UNAUTHENTICATED, call(keyedAddr, GENERATE, badModel, m -> { }).status());
            assertEquals(GrpcStatus.NOT_FOUND, call(keyedAddr, GENERATE, badModel, r -> r.headers().set("authorization", "Bearer sk-test")).status());
            Call<GenerateResponse> ok = call(keyedAddr, GENERATE, hi, r -> r.headers().set("authorization", "Bearer sk-test"));
            assertEquals(GrpcStatus.OK, ok.status(), ok.statusMessage);
            assertEquals(2, ok.tokenIds().size());
            Call<GenerateResponse> exhausted = call(SocketAddress.inetSocketAddress(fullApi.port(), "127.0.0.1"), GENERATE, hi, m -> { });
            assertEquals(GrpcStatus.RESOURCE_EXHAUSTED, exhausted.status());
        } finally {
            keyedApi.close().await();
            fullApi.close().await();
        }
    }

    @Test
    void callsChargeTheAdmissionControlEveryFrontEndSharesAndGiveItBack() throws Exception {
        ServiceContext base = server.context();
        ServiceContext one = new ServiceContext(base.vertx(), base.bridge(), base.tenants(),
                base.config().withLimits(base.config().maxBodyBytes(), 1, 1 << 20, 1, 1 << 20));
        GrpcApi api = GrpcApi.start(one, "127.0.0.1", 0).await();
        try {
            SocketAddress addr = SocketAddress.inetSocketAddress(api.port(), "127.0.0.1");
            GenerateRequest hi = GenerateRequest.newBuilder().setPrompt("hi").setParams(SamplingParams.newBuilder().setMaxTokens(2)).build();
            // the one slot taken elsewhere (as an HTTP or WebSocket request in flight would): refused
            AdmissionControl.Ticket held = one.admission().admit(one.tenants().resolve(null, null).name());
            assertNull(held.refusal());
            Call<GenerateResponse> refused = call(addr, GENERATE, hi, m -> { });
            assertEquals(GrpcStatus.RESOURCE_EXHAUSTED, refused.status());
            assertTrue(refused.statusMessage.contains("in flight"), refused.statusMessage);
            held.release();
            // free again: served, and the ticket is given back when the call ends, also when it ends early
            Call<GenerateResponse> ok = call(addr, GENERATE, hi, m -> { });
            assertEquals(GrpcStatus.OK, ok.status(), ok.statusMessage);
            ServiceTestSupport.awaitAdmissionReleased(one);
            Call<GenerateResponse> late = call(addr, GENERATE, GenerateRequest.newBuilder().setPrompt("Once upon a time")
                    .setParams(SamplingParams.newBuilder().setMaxTokens(480).setTemperature(0).setIgnoreEos(true)).build(),
                    r -> r.headers().set("grpc-timeout", "1m"));
            assertEquals(GrpcStatus.DEADLINE_EXCEEDED, late.status(), late.statusMessage);
            ServiceTestSupport.awaitAdmissionReleased(one);
            Call<GenerateResponse> again = call(addr, GENERATE, hi, m -> { });
            assertEquals(GrpcStatus.OK, again.status(), again.statusMessage);
        } finally {
            api.close().await();
        }
        ServiceTestSupport.awaitKvFreed(server);
    }

    // ---- client helpers ----

    /** A finished call: its messages, status and status message. */
    private static final class Call<Resp> {
        final List<Resp> messages = new ArrayList<>();
        GrpcStatus status;
        String statusMessage;

        GrpcStatus status() { return status; }

        List<Integer> tokenIds() {
            List<Integer> ids = new ArrayList<>();
            for (Resp m : messages) ids.addAll(((GenerateResponse) m).getTokenIdsList());
            return ids;
        }

        String text() {
            StringBuilder sb = new StringBuilder();
            for (Resp m : messages) sb.append(((GenerateResponse) m).getText());
            return sb.toString();
        }
    }

    /** Sends one request message and waits for the whole response stream and its status. */
    private static <Req, Resp> Call<Resp> call(SocketAddress to, ServiceMethod<Resp, Req> method, Req msg,
                                               Consumer<GrpcClientRequest<Req, Resp>> customize) throws Exception {
        Call<Resp> call = new Call<>();
        CompletableFuture<Call<Resp>> done = new CompletableFuture<>();
        client.request(to, method).onSuccess(req -> {
            customize.accept(req);
            req.response().onSuccess((GrpcClientResponse<Req, Resp> resp) -> {
                resp.handler(call.messages::add);
                resp.endHandler(v -> {
                    call.status = resp.status();
                    call.statusMessage = resp.statusMessage();
                    done.complete(call);
                });
                resp.exceptionHandler(done::completeExceptionally);
            }).onFailure(done::completeExceptionally);
            req.end(msg);
        }).onFailure(done::completeExceptionally);
        return done.get(60, TimeUnit.SECONDS);
    }
}
