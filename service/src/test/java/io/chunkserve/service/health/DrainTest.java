package io.chunkserve.service.health;

import io.chunkserve.engine.GenerationRequest;
import io.chunkserve.engine.RequestOutput;
import io.chunkserve.engine.WorkerConfig;
import io.chunkserve.sampling.FinishReason;
import io.chunkserve.sampling.SamplingParams;
import io.chunkserve.service.Server;
import io.chunkserve.service.ServiceConfig;
import io.vertx.core.Context;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** /health, /ready, /metrics and the drain sequence, in-process on the synthetic engine. */
class DrainTest {
    private Server server;
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    @BeforeEach
    void start() {
        ServiceConfig cfg = ServiceConfig.defaults(WorkerConfig.defaults(Path.of("unused")), "127.0.0.1", 0, -1).withSynthetic(100);
        server = Server.start(cfg);
    }

    @AfterEach
    void stop() {
        server.close();
    }

    private HttpResponse<String> get(String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private HttpResponse<String> post(String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\":\"hi\",\"stream\":true}")).build(), HttpResponse.BodyHandlers.ofString());
    }

    /** Submits through the bridge as a front end would; completes with every output. */
    private CompletableFuture<List<RequestOutput>> submit(String id, int maxTokens) {
        CompletableFuture<List<RequestOutput>> done = new CompletableFuture<>();
        List<RequestOutput> outs = new CopyOnWriteArrayList<>();
        Context ctx = server.context().vertx().getOrCreateContext();
        ctx.runOnContext(v -> server.context().bridge().submit(new GenerationRequest(id, "alice", new int[]{1},
                SamplingParams.builder().maxTokens(maxTokens).build(), 0), out -> {
            outs.add(out);
            if (out.finished()) done.complete(outs);
        }));
        return done;
    }

    @Test
    void healthReadyAndMetricsAnswer() throws Exception {
        assertEquals(200, get("/health").statusCode());
        HttpResponse<String> ready = get("/ready");
        assertEquals(200, ready.statusCode());
        assertEquals(true, new JsonObject(ready.body()).getBoolean("ready"));
        HttpResponse<String> m = get("/metrics");
        assertEquals(200, m.statusCode());
        assertTrue(m.headers().firstValue("content-type").orElse("").startsWith("text/plain"), m.headers().toString());
        assertTrue(m.body().contains("chunkserve_waiting_requests 0.0"), m.body());
        assertTrue(m.body().contains("vllm:num_requests_running 0.0"), m.body());
    }

    @Test
    void drainLetsInFlightRequestsFinishAndRefusesNewOnes() throws Exception {
        CompletableFuture<List<RequestOutput>> running = submit("r1", 50); // 0.5 s at 100 tokens/s
        while (server.context().bridge().inFlight() == 0) Thread.sleep(1);
        CompletableFuture<Drain.Result> drained = CompletableFuture.supplyAsync(() -> {
            try {
                return Drain.run(server.context().bridge(), Duration.ofSeconds(10));
            } catch (InterruptedException e) {
                throw new RuntimeException(e);
            }
        });
        while (!server.context().bridge().draining()) Thread.sleep(1);
        HttpResponse<String> ready = get("/ready");
        assertEquals(503, ready.statusCode());
        assertEquals(false, new JsonObject(ready.body()).getBoolean("ready"));
        HttpResponse<String> refused = post("/v1/completions");
        assertEquals(503, refused.statusCode());
        JsonObject err = new JsonObject(refused.body()).getJsonObject("error");
        assertEquals("service_unavailable", err.getString("type"));
        assertTrue(err.getString("message").contains("shutting down"));
        assertEquals(200, get("/health").statusCode(), "alive while draining");
        String metrics = get("/metrics").body();
        assertTrue(metrics.contains("chunkserve_draining 1.0"), metrics);

        Drain.Result r = drained.get(10, TimeUnit.SECONDS);
        assertEquals(1, r.inFlightAtStart());
        assertEquals(0, r.aborted());
        List<RequestOutput> outs = running.get(1, TimeUnit.SECONDS);
        // 50 tokens (an output carries more than one when its event loop fell behind the engine)
        assertEquals(50, outs.stream().mapToInt(o -> o.choices().getFirst().tokenIds().length).sum());
        assertEquals(FinishReason.LENGTH, outs.getLast().choices().getFirst().finish());
        assertTrue(get("/metrics").body().contains("chunkserve_requests_rejected_total{reason=\"draining\"} 1.0"));
    }

    @Test
    void drainAbortsWhatOutlivesTheTimeoutThenCloses() throws Exception {
        CompletableFuture<List<RequestOutput>> forever = submit("r2", 1_000_000);
        while (server.context().bridge().inFlight() == 0) Thread.sleep(1);
        long t0 = System.nanoTime();
        Drain.Result r = server.drainAndClose(Duration.ofMillis(300));
        double s = (System.nanoTime() - t0) / 1e9;
        assertEquals(1, r.aborted());
        assertTrue(s >= 0.3 && s < 5, "took " + s + " s");
        RequestOutput last = forever.get(1, TimeUnit.SECONDS).getLast();
        assertEquals(FinishReason.ABORT, last.choices().getFirst().finish());
        assertTrue(last.finished());
        // The server is closed: the port no longer answers.
        assertTrue(assertRefused());
    }

    private boolean assertRefused() {
        try {
            get("/health");
            return false;
        } catch (Exception e) {
            return true;
        }
    }
}
