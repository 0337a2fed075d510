package io.chunkserve.service.loadgen;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.VerticleBase;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonObject;

/**
 * The streams of one event loop: streams {@code g, g + loops, g + 2·loops, ...}, each a closed
 * loop of streaming completions over its own keep-alive connection, all on this verticle's
 * context (no locks; {@link LoadStats} is touched only here).
 */
final class StreamGroup extends VerticleBase {
    /** Pause before retrying after a failure, so a refusing server is not hammered. */
    private static final long RETRY_MS = 100;

    private final LoadGen.Plan plan;
    private final int group, loops;
    private final LoadStats stats = new LoadStats();
    private HttpClient client;
    private volatile boolean stopped;
    private int failuresShown;

    StreamGroup(LoadGen.Plan plan, int group, int loops) {
        this.plan = plan;
        this.group = group;
        this.loops = loops;
    }

    @Override
    public Future<?> start() {
        int mine = 0;
        for (int i = group; i < plan.streams(); i += loops) mine++;
        client = vertx.createHttpClient(new HttpClientOptions().setProtocolVersion(HttpVersion.HTTP_1_1).setKeepAlive(true)
                        .setTcpNoDelay(true).setConnectTimeout(30_000).setDefaultHost(plan.url().getHost())
                        .setDefaultPort(plan.url().getPort() > 0 ? plan.url().getPort() : 80),
                new PoolOptions().setHttp1MaxSize(Math.max(1, mine)).setMaxWaitQueueSize(-1));
        for (int i = group; i < plan.streams(); i += loops) {
            int stream = i;
            long at = plan.start() + plan.rampNanos() * i / plan.streams();
            long delayMs = Math.max(1, (at - System.nanoTime()) / 1_000_000);
            vertx.setTimer(delayMs, t -> send(stream, 0));
        }
        return Future.succeededFuture();
    }

    /** This group's measurements, read on its own context once the window has closed. */
    Future<LoadStats> collect() {
        Promise<LoadStats> p = Promise.promise();
        context.runOnContext(v -> {
            stopped = true;
            p.complete(stats);
        });
        return p.future();
    }

    private Buffer body(int stream, long seq) {
        int tenant = stream % plan.tenants();
        StringBuilder prompt = new StringBuilder("Tenant ").append(tenant).append(" shared instructions:");
        for (int w = 0; w < plan.promptWords() - 1; w++) prompt.append(" word").append(w);
        prompt.append(" request ").append(seq);
        return new JsonObject().put("model", plan.model()).put("prompt", prompt.toString()).put("max_tokens", plan.maxTokens())
                .put("stream", true).put("temperature", 0).put("ignore_eos", true).put("user", "tenant-" + tenant).toBuffer();
    }

    private void send(int stream, long seq) {
        if (stopped || System.nanoTime() >= plan.measureEnd()) return;
        RequestOptions ro = new RequestOptions().setMethod(HttpMethod.POST).setURI("/v1/completions")
                .putHeader(HttpHeaders.CONTENT_TYPE, "application/json").putHeader(HttpHeaders.ACCEPT, "text/event-stream");
        if (!plan.apiKeys().isEmpty()) ro.putHeader(HttpHeaders.AUTHORIZATION, "Bearer " + plan.apiKeys().get(stream % plan.apiKeys().size()));
        Buffer body = body(stream, seq);
        long t0 = System.nanoTime();
        if (plan.measuring(t0)) stats.started++;
        client.request(ro).onComplete(rr -> {
            if (rr.failed()) {
                fail(stream, seq, rr.cause().toString());
                return;
            }
            // No compose(): the response must get its handler in the callback that delivers it, before
            // the first chunk (which shares the read with the headers) is dispatched.
            rr.result().send(body).onComplete(ar -> {
                if (ar.failed()) {
                    fail(stream, seq, ar.cause().toString());
                    return;
                }
                HttpClientResponse resp = ar.result();
                if (resp.statusCode() != 200) {
                    resp.body().onComplete(x -> fail(stream, seq, "HTTP " + resp.statusCode() + (x.succeeded() ? " " + x.result() : "")));
                    return;
                }
                new Exchange(stream, seq, t0).attach(resp);
            });
        });
    }

    private void fail(int stream, long seq, String why) {
        if (plan.measuring(System.nanoTime())) stats.errors++;
        if (stopped) return; // the run is over: connections are being closed on purpose
        if (++failuresShown <= 3) System.err.println("loadgen: request failed: " + why + (failuresShown == 3 ? " (further failures not shown)" : ""));
        vertx.setTimer(RETRY_MS, t -> send(stream, seq + 1));
    }

    /** One streaming response: timestamps per network read, samples into the group's stats. */
    private final class Exchange implements SseScanner.Listener {
        final int stream;
        final long seq, t0;
        long now, last;
        boolean sawToken, done, failed;

        Exchange(int stream, long seq, long t0) {
            this.stream = stream;
            this.seq = seq;
            this.t0 = t0;
        }

        void attach(HttpClientResponse resp) {
            SseScanner scanner = new SseScanner(this);
            resp.handler(buf -> {
                now = System.nanoTime();
                scanner.feed(buf);
            });
            resp.exceptionHandler(e -> {
                failed = true;
                if (!stopped && ++failuresShown <= 3) System.err.println("loadgen: stream failed: " + e);
            });
            resp.endHandler(v -> {
                boolean measuring = plan.measuring(System.nanoTime());
                if ((!done || failed) && measuring) stats.errors++;
                send(stream, seq + 1);
            });
        }

        @Override
        public void onData(boolean error) {
            boolean measuring = plan.measuring(now);
            if (error) {
                failed = true;
                if (measuring) stats.events++;
                return;
            }
            long interval = plan.intervalNanos();
            if (measuring) {
                stats.events++;
                stats.tokens++;
                if (!sawToken) {
                    LoadStats.record(stats.ttft, now - t0);
                    if (interval > 0) LoadStats.record(stats.addedTtft, now - t0 - interval);
                } else {
                    LoadStats.record(stats.itl, now - last);
                    if (interval > 0) LoadStats.record(stats.addedItl, now - last - interval);
                }
            }
            sawToken = true;
            last = now;
        }

        @Override
        public void onDone() {
            done = true;
            if (plan.measuring(now)) {
                stats.events++;
                stats.completed++;
            }
        }
    }
}
