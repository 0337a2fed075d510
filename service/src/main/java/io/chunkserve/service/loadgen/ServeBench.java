package io.chunkserve.service.loadgen;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code chunkserve bench serve}: starts a server in a child JVM (synthetic engine by default, or
 * {@code --model DIR}), waits until it is ready, runs {@link LoadGen} in a second child JVM against
 * it, then stops the server with SIGTERM. With {@code --url} it only runs the load generator.
 * Every other option goes to {@link LoadGen} ({@code --streams}, {@code --tenants},
 * {@code --duration}, {@code --max-tokens}, ...).
 *
 * <p>Both children are started through {@code bash -c 'ulimit -n 65536'} so that thousands of
 * connections fit (the JVM then raises its soft limit to the hard one by itself); without bash, or
 * when the limit cannot be raised, they inherit this process's limit and the load generator warns.
 */
public final class ServeBench {
    private static final Pattern SERVING = Pattern.compile("chunkserve: serving \\S+ on http://([^:]+):(\\d+)");
    /** The raw-TCP baseline's message: about one SSE text-delta event with its chunk framing. */
    static final int FLOOR_EVENT_BYTES = 190;
    /** Both ends of every baseline connection live in this process. */
    static final int FLOOR_MAX_CONNECTIONS = 4000;
    /** Enough open files for 10,000+ streams on each side. */
    static final int NOFILE = 65536;

    private ServeBench() { }

    public static final String USAGE = """
            chunkserve bench serve [--synthetic RATE | --model DIR | --url URL] [--server-arg ARG]... [load options]
              --synthetic RATE   start a synthetic server, RATE tokens/s per stream (default 100): the frontend alone
              --model DIR        start a server on a real model instead
              --url URL          measure a running server (pass --synthetic RATE too if it is synthetic)
              --baseline-seconds S  raw loopback TCP baseline before the run (default 3; 0 = skip)
              --baseline-paced RATE also the raw TCP latency floor at RATE messages/s (1 ms steps, stamped; 0 = skip)
              --server-arg ARG   extra flag for the started server (repeatable), e.g. --server-arg=--max-body-bytes=1MiB
                                 (the started server's admission limits are raised to fit the streams unless given here)
              --streams N (1000) --tenants T (10) --duration S (15) --warmup S --ramp S --max-tokens M (256)
              --prompt-words W (16) --loops L --transport T --api-key KEY...   (see LoadGen --help)
            Both processes use io_uring where the kernel allows it, else epoll, else NIO;
            CHUNKSERVE_JAVA_OPTS=-Dchunkserve.transport=T picks one for both, --transport T for the load generator alone.
            The last line of output is RESULT {json}.""";

    /** Runs the benchmark; returns the exit status. */
    public static int run(String[] args) throws Exception {
        String url = null, model = null;
        double synthetic = -1, floorSeconds = 3, pacedRate = 0;
        List<String> serverArgs = new ArrayList<>(), loadArgs = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            String v = a.contains("=") ? a.substring(a.indexOf('=') + 1) : null;
            String k = a.contains("=") ? a.substring(0, a.indexOf('=')) : a;
            switch (k) {
                case "-h", "--help" -> {
                    System.out.println(USAGE);
                    return 0;
                }
                case "--url" -> url = v != null ? v : args[++i];
                case "--model" -> model = v != null ? v : args[++i];
                case "--synthetic" -> synthetic = Double.parseDouble(v != null ? v : args[++i]);
                case "--server-arg" -> serverArgs.add(v != null ? v : args[++i]);
                case "--baseline-seconds" -> floorSeconds = Double.parseDouble(v != null ? v : args[++i]);
                case "--baseline-paced" -> pacedRate = Double.parseDouble(v != null ? v : args[++i]);
                default -> loadArgs.add(a);
            }
        }
        if (model != null && synthetic > 0) throw new IllegalArgumentException("choose --synthetic RATE or --model DIR, not both");
        if (model == null && synthetic < 0) synthetic = 100;
        if (model != null) synthetic = 0;
        Process server = null;
        SocketFloor.Result floor = null;
        if (floorSeconds > 0 && url == null) {
            // Connections capped so that both ends fit this process's open-file limit.
            int conns = Math.min(intArg(loadArgs, "--streams", 1000), FLOOR_MAX_CONNECTIONS);
            floor = SocketFloor.run(conns, FLOOR_EVENT_BYTES, floorSeconds);
            System.err.printf(java.util.Locale.ROOT, "bench serve: baseline raw loopback TCP, %d connections, %d-byte messages: %,.0f messages/s%n",
                    floor.connections(), floor.eventBytes(), floor.eventsPerSecond());
        }
        SocketFloor.Paced paced = null;
        if (pacedRate > 0 && url == null) {
            int conns = Math.min(intArg(loadArgs, "--streams", 1000), FLOOR_MAX_CONNECTIONS);
            paced = SocketFloor.runPaced(conns, FLOOR_EVENT_BYTES, Math.max(3, floorSeconds), pacedRate);
            System.err.printf(java.util.Locale.ROOT, "bench serve: raw loopback TCP paced at %,.0f messages/s over %d connections: delivered %,.0f/s, "
                            + "latency p50 %.2f / p99 %.2f / max %.2f ms (writer step late p99 %.2f ms)%n", paced.offeredPerSecond(), paced.connections(),
                    paced.deliveredPerSecond(), paced.p50Ms(), paced.p99Ms(), paced.maxMs(), paced.writerLateP99Ms());
        }
        try {
            if (url == null) {
                List<String> cmd = new ArrayList<>(List.of("io.chunkserve.service.Main", "serve", "--host", "127.0.0.1", "--port", "0",
                        "--grpc-port", "-1", "--drain-timeout", "2s"));
                if (model != null) cmd.addAll(List.of("--model", model));
                else cmd.addAll(List.of("--synthetic", Double.toString(synthetic)));
                // Admission control would turn streams beyond its limits (1024 requests, 256 per tenant by
                // default) into 429s: the started server admits every stream the benchmark opens.
                int streams = intArg(loadArgs, "--streams", 1000), tenants = intArg(loadArgs, "--tenants", 10);
                if (serverArgs.stream().noneMatch(a -> a.startsWith("--max-waiting-requests"))) {
                    cmd.add("--max-waiting-requests=" + Math.max(1024, 2 * streams));
                    cmd.add("--max-waiting-requests-per-tenant=" + Math.max(256, 2 * Math.ceilDiv(streams, tenants)));
                }
                cmd.addAll(serverArgs);
                // Stamped tokens: the load generator measures receive time minus emission time.
                server = javaChild(cmd, List.of("-Xms1g", "-Xmx4g", "-D" + io.chunkserve.service.synthetic.SyntheticBridge.STAMPS_PROPERTY + "=true")).redirectError(ProcessBuilder.Redirect.INHERIT).start();
                url = awaitServing(server);
                awaitReady(URI.create(url), Duration.ofMinutes(3));
            }
            List<String> cmd = new ArrayList<>(List.of(LoadGen.class.getName(), "--url", url, "--synthetic", Double.toString(Math.max(0, synthetic))));
            if (server != null) cmd.addAll(List.of("--server-pid", Long.toString(serverJavaPid(server))));
            if (floor != null) cmd.addAll(List.of("--baseline-events-per-s", Long.toString(Math.round(floor.eventsPerSecond())),
                    "--baseline-connections", Integer.toString(floor.connections())));
            if (paced != null) cmd.addAll(List.of("--baseline-paced-rate", Long.toString(Math.round(paced.offeredPerSecond())),
                    "--baseline-paced-p50-ms", Double.toString(paced.p50Ms()), "--baseline-paced-p99-ms", Double.toString(paced.p99Ms())));
            cmd.addAll(loadArgs);
            Process load = javaChild(cmd, List.of("-Xms512m", "-Xmx2g")).inheritIO().start();
            return load.waitFor();
        } finally {
            if (server != null) {
                server.toHandle().destroy(); // SIGTERM: the server drains and exits
                if (!server.waitFor(30, TimeUnit.SECONDS)) server.destroyForcibly();
            }
        }
    }

    /** The value of {@code --name N} or {@code --name=N} among {@code args}, else {@code dflt}. */
    static int intArg(List<String> args, String name, int dflt) {
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            if (a.equals(name) && i + 1 < args.size()) return Integer.parseInt(args.get(i + 1));
            if (a.startsWith(name + "=")) return Integer.parseInt(a.substring(name.length() + 1));
        }
        return dflt;
    }

    /**
     * A JVM with this one's class path and module flags, under {@code ulimit -n} {@value #NOFILE}.
     * CHUNKSERVE_* variables other than the launcher's are kept: they configure the started server.
     */
    static ProcessBuilder javaChild(List<String> mainAndArgs, List<String> heap) {
        List<String> cmd = new ArrayList<>();
        Path bash = Path.of("/bin/bash");
        if (bash.toFile().canExecute()) {
            // Raise the soft limit (and the hard one where allowed); on failure keep what we have.
            cmd.addAll(List.of(bash.toString(), "-c", "ulimit -Hn " + NOFILE + " 2>/dev/null; ulimit -n " + NOFILE
                    + " 2>/dev/null || ulimit -n \"$(ulimit -Hn)\" 2>/dev/null; exec \"$@\"", "chunkserve-bench"));
        }
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (a.startsWith("-agentlib") || a.startsWith("-javaagent") || a.startsWith("-Xmx") || a.startsWith("-Xms")) continue;
            cmd.add(a);
        }
        cmd.addAll(heap);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path")));
        cmd.addAll(mainAndArgs);
        return new ProcessBuilder(cmd);
    }

    /** The server JVM's pid: the child itself, since bash execs java in its place. */
    private static long serverJavaPid(Process server) {
        return server.pid();
    }

    /** Reads the server's stdout until its "serving ... on http://host:port" line; echoes it to stderr. */
    private static String awaitServing(Process server) throws Exception {
        BufferedReader out = new BufferedReader(new InputStreamReader(server.getInputStream(), StandardCharsets.UTF_8));
        CompletableFuture<String> url = new CompletableFuture<>();
        Thread.ofPlatform().daemon().name("bench-server-out").start(() -> {
            try {
                for (String l; (l = out.readLine()) != null; ) {
                    System.err.println("[server] " + l);
                    Matcher m = SERVING.matcher(l);
                    if (m.find()) url.complete("http://" + m.group(1) + ":" + m.group(2));
                }
                url.completeExceptionally(new IllegalStateException("the server exited before serving (exit " + server.waitFor() + ")"));
            } catch (Exception e) {
                url.completeExceptionally(e);
            }
        });
        return url.get(3, TimeUnit.MINUTES);
    }

    private static void awaitReady(URI base, Duration timeout) throws Exception {
        long end = System.nanoTime() + timeout.toNanos();
        try (HttpClient c = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build()) {
            while (System.nanoTime() < end) {
                try {
                    if (c.send(HttpRequest.newBuilder(base.resolve("/ready")).build(), HttpResponse.BodyHandlers.discarding()).statusCode() == 200) return;
                } catch (java.io.IOException e) {
                    // not up yet
                }
                Thread.sleep(100);
            }
        }
        throw new IllegalStateException("the server at " + base + " did not become ready within " + timeout);
    }
}
