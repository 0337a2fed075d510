package io.chunkserve.service.loadgen;

import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.json.JsonObject;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.lang.management.ManagementFactory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

/**
 * The load generator behind {@code chunkserve bench serve}, a main class of its own so it runs in
 * its own JVM, apart from the server it measures: N concurrent streaming clients across T tenants,
 * each a keep-alive HTTP/1.1 connection that POSTs {@code /v1/completions} with
 * {@code stream: true} in a closed loop and scans the SSE reply.
 *
 * <p>Prints TTFT and inter-token latency p50/p99, tokens/s, SSE events/s, errors, and, against a
 * synthetic server ({@code --synthetic RATE}), the latency the front end adds: each observed
 * inter-token gap minus the configured {@code 1/RATE}. The last line is {@code RESULT {json}}.
 *
 * <p>Streams start spread over {@code --ramp} (random phases, as real traffic has, and no SYN
 * burst); only samples after {@code --warmup} and within {@code --duration} count.
 */
@Command(name = "loadgen", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Streaming load against a running chunkserve (or any OpenAI-compatible server); last line RESULT {json}.")
public final class LoadGen implements Callable<Integer> {
    @Option(names = "--url", required = true, description = "server base URL, e.g. http://127.0.0.1:8080")
    URI url;

    @Option(names = "--streams", defaultValue = "1000", description = "concurrent streams (connections) (default ${DEFAULT-VALUE})")
    int streams;

    @Option(names = "--tenants", defaultValue = "10", description = "tenants, as the request's user (default ${DEFAULT-VALUE})")
    int tenants;

    @Option(names = "--duration", defaultValue = "15", description = "measured seconds (default ${DEFAULT-VALUE})")
    double duration;

    @Option(names = "--warmup", description = "seconds before measuring (default: ramp + 3)")
    Double warmup;

    @Option(names = "--ramp", description = "seconds over which streams start (default: streams/2000, 0.5..5; at least max-tokens/RATE against a synthetic server)")
    Double ramp;

    @Option(names = "--max-tokens", defaultValue = "256", description = "max_tokens per request (default ${DEFAULT-VALUE})")
    int maxTokens;

    @Option(names = "--prompt-words", defaultValue = "16", description = "prompt length in words (default ${DEFAULT-VALUE})")
    int promptWords;

    @Option(names = "--synthetic", defaultValue = "0", description = "the server's synthetic rate (tokens/s per stream), for added latency; 0 = not synthetic")
    double synthetic;

    @Option(names = "--loops", description = "event loops (default: half the cores, at least 1: the server sharing the machine gets the rest)")
    Integer loops;

    @Option(names = "--api-key", description = "API key (repeatable; stream i uses key i mod K)")
    List<String> apiKeys = new ArrayList<>();

    @Option(names = "--model", description = "model name to send (default: the first of GET /v1/models)")
    String model;

    @Option(names = "--server-pid", defaultValue = "0", description = "the server's process id, to report its CPU use (bench serve passes it)")
    long serverPid;

    @Option(names = "--baseline-events-per-s", defaultValue = "0", description = "raw loopback TCP messages/s measured before the run (bench serve passes it)")
    long baselineEventsPerS;

    @Option(names = "--baseline-connections", defaultValue = "0", description = "connections of that baseline")
    int baselineConnections;

    @Option(names = "--baseline-paced-rate", defaultValue = "0", description = "rate of the paced raw TCP latency floor (bench serve passes it)")
    long baselinePacedRate;

    @Option(names = "--baseline-paced-p50-ms", defaultValue = "NaN", description = "its median latency")
    double baselinePacedP50;

    @Option(names = "--baseline-paced-p99-ms", defaultValue = "NaN", description = "its p99 latency")
    double baselinePacedP99;

    @Option(names = "--http2", description = "HTTP/2 cleartext (h2c, prior knowledge): the streams share --connections connections, each request a stream of its own")
    boolean http2;

    @Option(names = "--connections", defaultValue = "4", description = "with --http2: connections the streams are spread over (default ${DEFAULT-VALUE})")
    int connections;

    @Option(names = "--transport", description = "the client's network transport: io_uring, epoll or nio (default: the system property chunkserve.transport, else the first available of these)")
    String transportName;

    @Option(names = "--label", defaultValue = "", description = "what is being measured, for the report")
    String label;

    private String transport = "?";

    public static void main(String[] args) {
        System.exit(new CommandLine(new LoadGen()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        if (streams < 1 || tenants < 1 || duration <= 0 || maxTokens < 1) throw new IllegalArgumentException("streams, tenants, duration and max-tokens must be positive");
        if (http2 && connections < 1) throw new IllegalArgumentException("--connections must be positive");
        int nConns = http2 ? Math.min(connections, streams) : streams;
        // Against a synthetic server every request lasts max_tokens/RATE: starting the streams spread over
        // one such duration spreads request arrivals evenly, and they stay spread (a short ramp makes every
        // stream restart in the same instant, over and over: bursts of new requests that stall the tokens).
        double rampS = ramp != null ? ramp
                : Math.max(Math.clamp(streams / 2000.0, 0.5, 5.0), synthetic > 0 ? Math.min(30, maxTokens / synthetic) : 0);
        double warmS = warmup != null ? warmup : rampS + 3;
        // One loop per two cores: on a machine shared with the server, fewer client threads means more
        // ready sockets per epoll wake-up and less time waiting for a core (measured: 2 cores, 1 loop
        // 8.5 µs of client CPU per event, 2 loops 13.4).
        int nLoops = loops != null ? loops : Math.max(1, Runtime.getRuntime().availableProcessors() / 2);
        String modelName = model != null ? model : firstModel();
        long fdLimit = fdLimit();
        if (fdLimit > 0 && fdLimit < nConns + 64L) {
            System.err.printf("loadgen: warning: open-file limit %d is below %d streams; raise it (ulimit -n)%n", fdLimit, streams);
        }

        VertxOptions vo = new VertxOptions().setEventLoopPoolSize(nLoops);
        Vertx vertx = transportName != null ? io.chunkserve.service.Server.newVertx(vo, transportName) : io.chunkserve.service.Server.newVertx(vo);
        long t0 = System.nanoTime();
        Plan plan = new Plan(url, modelName, streams, tenants, maxTokens, promptWords, apiKeys, synthetic, http2, nConns,
                t0, (long) (rampS * 1e9), t0 + (long) (warmS * 1e9), t0 + (long) ((warmS + duration) * 1e9));
        List<StreamGroup> groups = new ArrayList<>();
        for (int g = 0; g < nLoops; g++) {
            StreamGroup sg = new StreamGroup(plan, g, nLoops);
            groups.add(sg);
            vertx.deployVerticle(sg).await(30, TimeUnit.SECONDS);
        }
        CpuMeter cpu = new CpuMeter(serverPid);
        long toStart = plan.measureStart() - System.nanoTime();
        if (toStart > 0) TimeUnit.NANOSECONDS.sleep(toStart);
        CpuMeter.Sample c0 = cpu.sample();
        long sleepNs = plan.measureEnd() - System.nanoTime();
        if (sleepNs > 0) TimeUnit.NANOSECONDS.sleep(sleepNs);
        CpuMeter.Usage used = CpuMeter.between(c0, cpu.sample());
        LoadStats total = new LoadStats();
        for (StreamGroup g : groups) total.merge(g.collect().await(30, TimeUnit.SECONDS));
        transport = io.chunkserve.service.Server.transportName(vertx);
        vertx.close().await(30, TimeUnit.SECONDS);
        report(total, rampS, warmS, nLoops, fdLimit, modelName, used);
        return total.events == 0 ? 1 : 0;
    }

    private void report(LoadStats s, double rampS, double warmS, int nLoops, long fdLimit, String modelName, CpuMeter.Usage cpu) {
        double evps = s.events / duration, tps = s.tokens / duration;
        String what = !label.isEmpty() ? label : synthetic > 0 ? "synthetic " + fmt(synthetic) + " tokens/s per stream" : "model " + modelName;
        System.out.printf(Locale.ROOT, "bench serve: %d streams, %d tenants, %s, max_tokens %d, %s s measured after %s s warm-up (ramp %s s)%n",
                streams, tenants, what, maxTokens, fmt(duration), fmt(warmS), fmt(rampS));
        System.out.printf(Locale.ROOT, "protocol: %s%n", http2 ? "HTTP/2 cleartext (h2c, prior knowledge), " + Math.min(connections, streams)
                + " connections, " + streams + " streams multiplexed over them" : "HTTP/1.1, one keep-alive connection per stream");
        System.out.printf(Locale.ROOT, "machine: %d cores, Java %s, %d client event loops (%s), open-file limit %d%n",
                Runtime.getRuntime().availableProcessors(), Runtime.version(), nLoops, transport, fdLimit);
        row("requests started / completed", s.started + " / " + s.completed);
        row("SSE events/s", String.format(Locale.ROOT, "%,.0f", evps));
        if (baselinePacedRate > 0) {
            row("baseline: raw TCP latency at a paced rate", String.format(Locale.ROOT, "%,d messages/s: p50 %.2f ms, p99 %.2f ms",
                    baselinePacedRate, baselinePacedP50, baselinePacedP99));
        }
        if (baselineEventsPerS > 0) {
            row("baseline: raw TCP messages/s (no HTTP)", String.format(Locale.ROOT, "%,d (%d connections, %d B; SSE = %.0f%% of it)",
                    baselineEventsPerS, baselineConnections, ServeBench.FLOOR_EVENT_BYTES, 100 * evps / baselineEventsPerS));
        }
        row(s.sinceEmission.getTotalCount() > 0 ? "tokens/s (counted in the stamps)" : "tokens/s (one per text event)",
                String.format(Locale.ROOT, "%,.0f (%.2f per text event)", tps, s.contentEvents == 0 ? 0.0 : (double) s.tokens / s.contentEvents));
        row("TTFT p50 / p99 ms", ms(s.ttft, 50) + " / " + ms(s.ttft, 99));
        row("inter-token p50 / p99 ms", ms(s.itl, 50) + " / " + ms(s.itl, 99));
        if (s.sinceEmission.getTotalCount() > 0) {
            row("added: receive - emission p50 / p99 / max ms", ms(s.sinceEmission, 50) + " / " + ms(s.sinceEmission, 99) + " / " + ms(s.sinceEmission, 100));
        }
        if (s.engineLate.getTotalCount() > 0) {
            row("  of which engine thread late p50/p99/max", ms(s.engineLate, 50) + " / " + ms(s.engineLate, 99) + " / " + ms(s.engineLate, 100));
        }
        if (s.toDelivery.getTotalCount() > 0) {
            row("  step -> delivery task p50 / p99 / max ms", ms(s.toDelivery, 50) + " / " + ms(s.toDelivery, 99) + " / " + ms(s.toDelivery, 100));
            row("  delivery task -> client read p50/p99/max", ms(s.afterDelivery, 50) + " / " + ms(s.afterDelivery, 99) + " / " + ms(s.afterDelivery, 100));
        }
        Tail tail = tail(s);
        if (tail != null) {
            row("events > " + LoadStats.LATE_MS + " ms late: share / in 10-ms slots", String.format(Locale.ROOT,
                    "%.2f%% of events / %.1f%% of slots; the worst 1%% of slots hold %.0f%% of them", tail.lateShare, tail.slotShare, tail.worst1));
        }
        if (synthetic > 0) {
            row("added: inter-token - period p50 / p99 ms", ms(s.addedItl, 50) + " / " + ms(s.addedItl, 99));
            row("added: TTFT - period p50 / p99 ms", ms(s.addedTtft, 50) + " / " + ms(s.addedTtft, 99));
        }
        if (s.requestPath.getTotalCount() > 0) {
            row("  of which request write -> engine p50 / p99", ms(s.requestPath, 50) + " / " + ms(s.requestPath, 99));
        }
        row("response head p50 / p99 ms", ms(s.head, 50) + " / " + ms(s.head, 99));
        row("errors", Long.toString(s.errors));
        row("CPU cores used: server / load gen / other", String.format(Locale.ROOT, "%.2f / %.2f / %.2f (all processes %.2f of %d)",
                cpu.server(), cpu.self(), cpu.others(), cpu.machineBusy(), Runtime.getRuntime().availableProcessors()));
        double perEvent = s.events == 0 ? Double.NaN : 1e6 * cpu.seconds() / s.events;
        row("CPU µs per SSE event: server / load gen", String.format(Locale.ROOT, "%.1f / %.1f", cpu.server() * perEvent, cpu.self() * perEvent));
        JsonObject r = new JsonObject().put("bench", "serve").put("target", what).put("streams", streams).put("tenants", tenants)
                .put("max_tokens", maxTokens).put("duration_s", duration).put("cores", Runtime.getRuntime().availableProcessors())
                .put("protocol", http2 ? "h2c" : "http/1.1").put("connections", http2 ? Math.min(connections, streams) : streams)
                .put("client_loops", nLoops).put("client_transport", transport).put("fd_limit", fdLimit)
                .put("baseline_raw_tcp_events_per_s", baselineEventsPerS > 0 ? baselineEventsPerS : null)
                .put("baseline_paced_rate", baselinePacedRate > 0 ? baselinePacedRate : null)
                .put("baseline_paced_p50_ms", baselinePacedRate > 0 ? baselinePacedP50 : null)
                .put("baseline_paced_p99_ms", baselinePacedRate > 0 ? baselinePacedP99 : null)
                .put("requests_completed", s.completed).put("events_per_s", Math.round(evps)).put("tokens_per_s", Math.round(tps))
                .put("text_events_per_s", Math.round(s.contentEvents / duration))
                .put("ttft_p50_ms", msv(s.ttft, 50)).put("ttft_p99_ms", msv(s.ttft, 99))
                .put("itl_p50_ms", msv(s.itl, 50)).put("itl_p99_ms", msv(s.itl, 99)).put("errors", s.errors)
                .put("cpu_server_cores", round2(cpu.server())).put("cpu_loadgen_cores", round2(cpu.self()))
                .put("cpu_other_cores", round2(cpu.others()))
                .put("server_cpu_us_per_event", round2(cpu.server() * perEvent)).put("loadgen_cpu_us_per_event", round2(cpu.self() * perEvent));
        if (synthetic > 0) {
            r.put("synthetic_rate", synthetic).put("added_itl_p50_ms", msv(s.addedItl, 50)).put("added_itl_p99_ms", msv(s.addedItl, 99))
                    .put("added_ttft_p50_ms", msv(s.addedTtft, 50)).put("added_ttft_p99_ms", msv(s.addedTtft, 99));
        }
        if (s.sinceEmission.getTotalCount() > 0) {
            r.put("added_since_emission_p50_ms", msv(s.sinceEmission, 50)).put("added_since_emission_p99_ms", msv(s.sinceEmission, 99))
                    .put("added_since_emission_max_ms", msv(s.sinceEmission, 100));
        }
        if (s.engineLate.getTotalCount() > 0) {
            r.put("engine_late_p50_ms", msv(s.engineLate, 50)).put("engine_late_p99_ms", msv(s.engineLate, 99))
                    .put("engine_late_max_ms", msv(s.engineLate, 100));
        }
        r.put("head_p50_ms", msv(s.head, 50)).put("head_p99_ms", msv(s.head, 99));
        if (s.toDelivery.getTotalCount() > 0) {
            r.put("to_delivery_p50_ms", msv(s.toDelivery, 50)).put("to_delivery_p99_ms", msv(s.toDelivery, 99))
                    .put("after_delivery_p50_ms", msv(s.afterDelivery, 50)).put("after_delivery_p99_ms", msv(s.afterDelivery, 99));
        }
        if (tail != null) {
            r.put("late5_share_pct", round2(tail.lateShare)).put("late5_slot_share_pct", round2(tail.slotShare))
                    .put("late5_in_worst_1pct_slots_pct", round2(tail.worst1));
        }
        if (s.requestPath.getTotalCount() > 0) {
            r.put("request_path_p50_ms", msv(s.requestPath, 50)).put("request_path_p99_ms", msv(s.requestPath, 99));
        }
        System.out.println("RESULT " + r.encode());
        System.out.flush();
    }

    /** Events over {@link LoadStats#LATE_MS}: their share, the share of 10-ms slots holding any, and the share the worst 1 % of slots hold. */
    private record Tail(double lateShare, double slotShare, double worst1) { }

    private static Tail tail(LoadStats s) {
        long events = 0, late = 0;
        int slots = 0, withLate = 0;
        long[] lates = s.slotLate.clone();
        for (int i = 0; i < s.slotEvents.length; i++) {
            if (s.slotEvents[i] == 0) continue;
            slots++;
            events += s.slotEvents[i];
            late += s.slotLate[i];
            if (s.slotLate[i] > 0) withLate++;
        }
        if (events == 0) return null;
        java.util.Arrays.sort(lates);
        long top = 0;
        for (int i = 0; i < Math.max(1, slots / 100); i++) top += lates[lates.length - 1 - i];
        return new Tail(100.0 * late / events, 100.0 * withLate / slots, late == 0 ? 0 : 100.0 * top / late);
    }

    /** Two decimals; null (JSON null) for NaN. */
    private static Double round2(double v) { return Double.isFinite(v) ? Math.round(v * 100) / 100.0 : null; }

    private static void row(String k, String v) { System.out.printf("  %-44s %s%n", k, v); }

    private static double msv(org.HdrHistogram.Histogram h, double p) {
        return h.getTotalCount() == 0 ? Double.NaN : Math.round(h.getValueAtPercentile(p) / 10.0) / 100.0;
    }

    private static String ms(org.HdrHistogram.Histogram h, double p) {
        return h.getTotalCount() == 0 ? "-" : String.format(Locale.ROOT, "%.2f", h.getValueAtPercentile(p) / 1000.0);
    }

    private static String fmt(double d) {
        return d == Math.rint(d) ? Long.toString((long) d) : String.format(Locale.ROOT, "%.1f", d);
    }

    /** The first model the server lists, so requests name one it serves. */
    private String firstModel() {
        try (HttpClient c = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(5)).build()) {
            HttpResponse<String> r = c.send(HttpRequest.newBuilder(url.resolve("/v1/models")).timeout(Duration.ofSeconds(10)).build(),
                    HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() == 200) return new JsonObject(r.body()).getJsonArray("data").getJsonObject(0).getString("id");
        } catch (Exception e) {
            System.err.println("loadgen: GET /v1/models failed (" + e.getMessage() + "); sending model \"default\"");
        }
        return "default";
    }

    private static long fdLimit() {
        return ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.UnixOperatingSystemMXBean u
                ? u.getMaxFileDescriptorCount() : -1;
    }

    /**
     * What every stream group needs: the target, the request shape, the protocol (HTTP/1.1, a
     * connection per stream; or HTTP/2 over {@code connections} connections), and the clock: streams start
     * between {@code start} and {@code start + rampNanos}; samples count between
     * {@code measureStart} and {@code measureEnd}.
     */
    record Plan(URI url, String model, int streams, int tenants, int maxTokens, int promptWords, List<String> apiKeys,
                double syntheticRate, boolean http2, int connections, long start, long rampNanos, long measureStart, long measureEnd) {
        boolean measuring(long now) { return now >= measureStart && now < measureEnd; }

        int port() { return url.getPort() > 0 ? url.getPort() : 80; }

        String hostHeader() { return url.getHost() + (url.getPort() > 0 ? ":" + url.getPort() : ""); }

        /** Nanoseconds between tokens of a synthetic server, 0 when unknown. */
        long intervalNanos() { return syntheticRate > 0 ? Math.round(1e9 / syntheticRate) : 0; }
    }
}
