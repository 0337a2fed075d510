package io.chunkserve.service;

import io.chunkserve.model.Model;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;

/** {@code chunkserve serve}: loads the model and serves HTTP until SIGTERM / Ctrl-C. */
@Command(name = "serve", description = "Start the server (default: the bundled random-weight demo model).")
public final class ServeCommand implements java.util.concurrent.Callable<Integer> {
    @Option(names = "--model", description = "Hugging Face model directory (default: the bundled demo model)")
    Path model;

    @Option(names = "--host", defaultValue = "${env:CHUNKSERVE_HOST:-0.0.0.0}", description = "listen address (default ${DEFAULT-VALUE})")
    String host;

    @Option(names = "--port", defaultValue = "${env:CHUNKSERVE_PORT:-8080}", description = "HTTP port (default ${DEFAULT-VALUE})")
    int port;

    @Override
    public Integer call() throws Exception {
        Path dir = model != null ? model : Defaults.demoModel();
        Model m = Model.load(dir);
        Vertx vertx = Vertx.vertx();
        Router router = Router.router(vertx);
        router.get("/health").handler(ctx -> ctx.json(new JsonObject().put("status", "ok")));
        router.get("/ready").handler(ctx -> ctx.json(new JsonObject().put("ready", true)));
        router.get("/v1/models").handler(ctx -> ctx.json(new JsonObject().put("object", "list").put("data",
                new JsonArray().add(new JsonObject().put("id", m.name()).put("object", "model").put("owned_by", "chunkserve")
                        .put("max_model_len", m.config().maxPositions())))));
        HttpServer server = vertx.createHttpServer().requestHandler(router).listen(port, host)
                .toCompletionStage().toCompletableFuture().join();
        System.out.printf("chunkserve: serving %s (%s, %d layers) on http://%s:%d%n", m.name(), m.config().modelType(),
                m.config().numLayers(), host, server.actualPort());
        CountDownLatch done = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close().toCompletionStage().toCompletableFuture().join();
            vertx.close().toCompletionStage().toCompletableFuture().join();
            m.close();
            done.countDown();
        }));
        done.await();
        return 0;
    }
}
