package io.chunkserve.service.loadgen;

import io.chunkserve.engine.GenerationRequest;
import io.chunkserve.sampling.SamplingParams;
import io.chunkserve.service.synthetic.SyntheticBridge;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonObject;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A stand-in for the OpenAI SSE endpoint, only for testing the load generator before the real
 * {@code /v1/completions} is merged: POST a JSON body, get OpenAI-shaped {@code text_completion}
 * chunks from the synthetic engine, then {@code data: [DONE]}. Honours {@code writeQueueFull}.
 * {@code main(rate, port)} runs it alone for manual benchmarks.
 */
final class TinySseServer {
    private TinySseServer() { }

    private static final AtomicLong IDS = new AtomicLong();

    static HttpServer start(Vertx vertx, SyntheticBridge bridge, int port) {
        return vertx.createHttpServer().requestHandler(req -> {
            if (!req.path().equals("/v1/completions")) {
                req.response().setStatusCode(404).end();
                return;
            }
            req.body().onSuccess(buf -> {
                JsonObject b = buf.toJsonObject();
                String id = "cmpl-" + IDS.incrementAndGet();
                var resp = req.response().setChunked(true).putHeader("content-type", "text/event-stream").putHeader("cache-control", "no-cache");
                bridge.tokenize(b.getString("prompt", "")).onSuccess(ids -> {
                    bridge.submit(new GenerationRequest(id, b.getString("user", "anonymous"), ids,
                            SamplingParams.builder().maxTokens(b.getInteger("max_tokens", 16)).build(), 0), out -> {
                        if (resp.closed()) return;
                        for (var d : out.choices()) {
                            String fin = d.finish() == null ? "null" : "\"" + d.finish().openAiName() + "\"";
                            resp.write("data: {\"id\":\"" + id + "\",\"object\":\"text_completion\",\"model\":\"synthetic\",\"choices\":[{\"index\":"
                                    + d.index() + ",\"text\":" + JsonObject.of("t", d.text()).encode().substring(5).replace("}", "")
                                    + ",\"finish_reason\":" + fin + "}]}\n\n");
                        }
                        if (out.finished()) resp.end("data: [DONE]\n\n");
                    });
                    resp.closeHandler(v -> bridge.abort(id));
                });
            });
        }).listen(port, "127.0.0.1").await();
    }

    public static void main(String[] args) throws Exception {
        double rate = Double.parseDouble(args[0]);
        Vertx vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(Runtime.getRuntime().availableProcessors()));
        vertx.exceptionHandler(Throwable::printStackTrace);
        SyntheticBridge bridge = new SyntheticBridge(vertx, rate);
        // One server per event loop, sharing the port (Vert.x round-robins connections over them).
        HttpServer s = null;
        for (int i = 0; i < Runtime.getRuntime().availableProcessors(); i++) s = start(vertx, bridge, Integer.parseInt(args[1]));
        System.out.println("tiny SSE server on " + s.actualPort());
        TimeUnit.DAYS.sleep(1);
    }
}
