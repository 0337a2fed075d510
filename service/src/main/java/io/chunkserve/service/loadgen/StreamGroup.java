package io.chunkserve.service.loadgen;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.VerticleBase;
import io.vertx.core.internal.ContextInternal;
import io.vertx.core.internal.VertxInternal;
import io.vertx.core.json.JsonObject;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

/**
 * The streams of one event loop: streams {@code g, g + loops, g + 2·loops, ...}, each a closed
 * loop of streaming completions over its own keep-alive connection, all on this verticle's
 * context (no locks; {@link LoadStats} is touched only here).
 *
 * <p>Connections are raw TCP with a minimal HTTP/1.1 parser ({@link HttpResponseParser}) and the
 * SSE byte scanner ({@link SseScanner}): per network read, one timestamp and one pass over the
 * bytes, no HTTP objects and no JSON, so that the client, which shares the machine with the
 * server it measures, costs as little as it can. The sockets are Netty channels on this
 * verticle's event loop, read straight into Netty's pooled buffers and copied once into one
 * scratch array per loop (Vert.x's socket API would copy every read into a fresh heap buffer and
 * dispatch it through its context). With {@code --http2} the streams share this loop's
 * {@link H2Connection}s instead, each request a stream of its own, read by the same scanner.
 */
final class StreamGroup extends VerticleBase {
    /** Pause before retrying after a failure, so a refusing server is not hammered. */
    private static final long RETRY_MS = 100;

    private final LoadGen.Plan plan;
    private final int group, loops;
    private final LoadStats stats = new LoadStats();
    private Bootstrap bootstrap;
    /** Over HTTP/2: this group's connections, stream i on {@code h2.get(i / loops % h2.size())}. */
    private final java.util.List<H2Connection> h2 = new java.util.ArrayList<>();
    private volatile boolean stopped;
    private int failuresShown;
    private byte[] scratch = new byte[16 << 10];

    StreamGroup(LoadGen.Plan plan, int group, int loops) {
        this.plan = plan;
        this.group = group;
        this.loops = loops;
    }

    @Override
    public Future<?> start() {
        bootstrap = new Bootstrap().group(((ContextInternal) context).nettyEventLoop())
                .channelFactory(((VertxInternal) vertx).transport().channelFactory(false))
                .option(ChannelOption.TCP_NODELAY, true).option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 30_000)
                .remoteAddress(new InetSocketAddress(plan.url().getHost(), plan.port()));
        if (plan.http2()) {
            // Connections c = group, group + loops, ...: this loop's share of --connections.
            for (int c = group; c < plan.connections(); c += loops) {
                H2Connection hc = new H2Connection(bootstrap, plan.hostHeader(), this::reconnectLater);
                h2.add(hc);
                connectH2(hc);
            }
        }
        for (int i = group; i < plan.streams(); i += loops) {
            Stream s = new Stream(i, h2.isEmpty() ? null : h2.get(i / loops % h2.size()));
            long at = plan.start() + plan.rampNanos() * i / plan.streams();
            long delayMs = Math.max(1, (at - System.nanoTime()) / 1_000_000);
            vertx.setTimer(delayMs, t -> s.connect());
        }
        return Future.succeededFuture();
    }

    /** This group's measurements, read on its own context once the window has closed. */
    Future<LoadStats> collect() {
        Promise<LoadStats> p = Promise.promise();
        context.runOnContext(v -> {
            stopped = true;
            for (H2Connection c : h2) c.close();
            p.complete(stats);
        });
        return p.future();
    }

    private void connectH2(H2Connection c) {
        if (stopped) return;
        c.connect(e -> {
            if (e == null) return;
            if (plan.measuring(System.nanoTime())) stats.errors++;
            showFailure("HTTP/2 connect failed: " + e);
            reconnectLater(c);
        });
    }

    /** An HTTP/2 connection closed (or failed to open): its streams' requests wait in it until it is back. */
    private void reconnectLater(H2Connection c) {
        if (!stopped) vertx.setTimer(RETRY_MS, t -> connectH2(c));
    }

    private void showFailure(String why) {
        if (stopped) return; // the run is over: connections are being closed on purpose
        if (++failuresShown <= 3) System.err.println("loadgen: " + why + (failuresShown == 3 ? " (further failures not shown)" : ""));
    }

    /** One stream: a connection and the request on it now. */
    private final class Stream extends ChannelInboundHandlerAdapter implements HttpResponseParser.Listener, SseScanner.Listener, H2Connection.Exchange {
        final int stream;
        final int tenant;
        final H2Connection h2c; // null over HTTP/1.1 (a connection of its own)
        final HttpResponseParser http = new HttpResponseParser(this);
        final SseScanner sse = new SseScanner(this);
        Channel socket;
        long seq = -1;
        // the current request
        long t0, now, last;
        int status;
        boolean sawToken, done, failed;
        StringBuilder errorBody;

        Stream(int stream, H2Connection h2c) {
            this.stream = stream;
            this.tenant = stream % plan.tenants();
            this.h2c = h2c;
        }

        void connect() {
            if (stopped || System.nanoTime() >= plan.measureEnd()) return;
            if (h2c != null) { // the shared connection is opened by the group
                send();
                return;
            }
            ChannelFuture f = bootstrap.clone().handler(this).connect();
            f.addListener(ar -> {
                if (!ar.isSuccess()) {
                    if (plan.measuring(System.nanoTime())) stats.errors++;
                    showFailure("connect failed: " + ar.cause());
                    vertx.setTimer(RETRY_MS, t -> connect());
                    return;
                }
                socket = f.channel();
                send();
            });
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf bb = (ByteBuf) msg;
            try {
                read(bb);
            } finally {
                bb.release();
            }
        }

        /** One channel at a time, but a new one after each reconnect. */
        @Override
        public boolean isSharable() { return true; }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            closed();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable e) {
            showFailure("connection failed: " + e);
            ctx.close();
        }

        private byte[] body() {
            StringBuilder prompt = new StringBuilder("Tenant ").append(tenant).append(" shared instructions:");
            for (int w = 0; w < plan.promptWords() - 1; w++) prompt.append(" word").append(w);
            prompt.append(" request ").append(seq);
            byte[] body = new JsonObject().put("model", plan.model()).put("prompt", prompt.toString()).put("max_tokens", plan.maxTokens())
                    .put("stream", true).put("temperature", 0).put("ignore_eos", true).put("user", "tenant-" + tenant).toBuffer().getBytes();
            return body;
        }

        private String authorization() {
            return plan.apiKeys().isEmpty() ? null : "Bearer " + plan.apiKeys().get(stream % plan.apiKeys().size());
        }

        private byte[] request() {
            byte[] body = body();
            StringBuilder h = new StringBuilder("POST /v1/completions HTTP/1.1\r\nHost: ").append(plan.hostHeader())
                    .append("\r\nContent-Type: application/json\r\nAccept: text/event-stream\r\nContent-Length: ").append(body.length).append("\r\n");
            if (!plan.apiKeys().isEmpty()) h.append("Authorization: Bearer ").append(plan.apiKeys().get(stream % plan.apiKeys().size())).append("\r\n");
            h.append("\r\n");
            byte[] head = h.toString().getBytes(StandardCharsets.UTF_8);
            byte[] all = new byte[head.length + body.length];
            System.arraycopy(head, 0, all, 0, head.length);
            System.arraycopy(body, 0, all, head.length, body.length);
            return all;
        }

        void send() {
            if (stopped || System.nanoTime() >= plan.measureEnd()) {
                if (socket != null) socket.close();
                return;
            }
            seq++;
            byte[] req = h2c != null ? body() : request();
            sawToken = done = failed = false;
            status = 0;
            errorBody = null;
            sse.reset();
            http.expectResponse();
            t0 = System.nanoTime();
            if (plan.measuring(t0)) stats.started++;
            if (h2c != null) h2c.request("/v1/completions", req, authorization(), this);
            else socket.writeAndFlush(Unpooled.wrappedBuffer(req));
        }

        @Override
        public void readAt(long nanos) { now = nanos; }

        @Override
        public void onEnd() { onEnd(true); }

        @Override
        public void reset(String why) {
            if (plan.measuring(System.nanoTime())) stats.errors++;
            showFailure(why);
            vertx.setTimer(RETRY_MS, t -> send());
        }

        void read(ByteBuf bb) {
            now = System.nanoTime();
            int n = bb.readableBytes();
            byte[] a;
            int off;
            if (bb.hasArray()) {
                a = bb.array();
                off = bb.arrayOffset() + bb.readerIndex();
            } else {
                if (scratch.length < n) scratch = new byte[Math.max(n, scratch.length * 2)];
                bb.getBytes(bb.readerIndex(), scratch, 0, n);
                a = scratch;
                off = 0;
            }
            try {
                http.feed(a, off, n);
            } catch (RuntimeException e) {
                if (plan.measuring(now)) stats.errors++;
                showFailure("bad response: " + e.getMessage());
                socket.close();
            }
        }

        void closed() {
            boolean complete = http.closed();
            if (!complete) {
                if (plan.measuring(System.nanoTime())) stats.errors++;
                showFailure("the server closed the connection mid-response");
            }
            socket = null;
            if (!stopped) vertx.setTimer(complete ? 1 : RETRY_MS, t -> connect());
        }

        @Override
        public void onHead(int status) {
            this.status = status;
            if (plan.measuring(now)) LoadStats.record(stats.head, now - t0);
            if (status != 200) errorBody = new StringBuilder();
        }

        @Override
        public void onBody(byte[] b, int off, int len) {
            if (status == 200) sse.feed(b, off, len);
            else if (errorBody.length() < 400) errorBody.append(new String(b, off, Math.min(len, 400), StandardCharsets.UTF_8));
        }

        @Override
        public void onEnd(boolean keepAlive) {
            boolean measuring = plan.measuring(now);
            boolean retry = false;
            if (status != 200) {
                if (measuring) stats.errors++;
                showFailure("request failed: HTTP " + status + " " + errorBody);
                retry = true;
            } else if ((!done || failed) && measuring) {
                stats.errors++;
            }
            if (!keepAlive) {
                socket.close(); // the close handler reconnects
            } else if (retry) {
                vertx.setTimer(RETRY_MS, t -> send());
            } else {
                send();
            }
        }

        @Override
        public void onData(boolean error, long stamp, long late, long queued, int stamps) {
            boolean measuring = plan.measuring(now);
            if (error) {
                failed = true;
                if (measuring) stats.events++;
                return;
            }
            long interval = plan.intervalNanos();
            if (measuring) {
                stats.events++;
                stats.contentEvents++;
                stats.tokens += stamp >= 0 ? Math.max(1, stamps) : 1; // a stamped event carries one stamp per token
                if (stamp >= 0) {
                    LoadStats.record(stats.sinceEmission, now - stamp);
                    stats.slot(now - plan.measureStart(), now - stamp);
                }
                if (queued >= 0) {
                    LoadStats.record(stats.toDelivery, queued * 1000);
                    LoadStats.record(stats.afterDelivery, now - stamp - queued * 1000);
                }
                if (late >= 0) LoadStats.record(stats.engineLate, late * 1000);
                if (!sawToken) {
                    LoadStats.record(stats.ttft, now - t0);
                    if (interval > 0) LoadStats.record(stats.addedTtft, now - t0 - interval);
                    if (interval > 0 && stamp >= 0) LoadStats.record(stats.requestPath, stamp - interval - t0);
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
