package io.chunkserve.service;

import io.chunkserve.engine.WorkerConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;

/** {@code chunkserve serve}: loads the model and serves until SIGTERM / Ctrl-C. */
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
        WorkerConfig wc = WorkerConfig.defaults(model != null ? model : Defaults.demoModel());
        Server server = Server.start(ServiceConfig.defaults(wc, host, port, -1));
        System.out.printf("chunkserve: serving %s on http://%s:%d%n", server.context().bridge().modelName(), host, server.port());
        CountDownLatch done = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            done.countDown();
        }));
        done.await();
        return 0;
    }
}
