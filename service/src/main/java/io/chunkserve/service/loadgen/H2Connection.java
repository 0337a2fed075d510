package io.chunkserve.service.loadgen;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.Http2ConnectionHandler;
import io.netty.handler.codec.http2.Http2ConnectionHandlerBuilder;
import io.netty.handler.codec.http2.Http2Exception;
import io.netty.handler.codec.http2.Http2FrameAdapter;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.util.collection.IntObjectHashMap;

import java.util.ArrayDeque;
import java.util.function.Consumer;

/**
 * One HTTP/2 cleartext connection (prior knowledge: the client opens with the HTTP/2 preface, no
 * {@code Upgrade}) carrying many streams' requests, as a browser, an SDK or a gateway such as
 * Envoy multiplexes them. Netty's HTTP/2 codec with a frame listener, on the stream group's event
 * loop: no child channels, no HTTP objects per event; each DATA frame's bytes go to the exchange's
 * SSE scanner, and the receive time is taken once per network read, before its frames are decoded
 * (as {@link StreamGroup} does over HTTP/1.1).
 *
 * <p>Flow control: every DATA frame is returned to the flow controller as soon as it is scanned,
 * so the client's window never limits the server; the stream window is large and the connection
 * window is raised once at the start, so that WINDOW_UPDATE frames are rare. When the connection
 * fails or the server sends GOAWAY, every exchange on it is told ({@link Exchange#reset}), and the
 * group reconnects through {@code onClosed}.
 */
final class H2Connection extends Http2FrameAdapter {
    /** What the connection needs from one stream's request in flight. */
    interface Exchange {
        /** The time of the network read whose frames are being delivered. */
        void readAt(long nanos);

        void onHead(int status);

        void onBody(byte[] b, int off, int len);

        /** The response ended (END_STREAM). */
        void onEnd();

        /** The stream was reset or the connection lost before the response ended. */
        void reset(String why);
    }

    /** Per-stream receive window: a whole response fits, so streams never wait for WINDOW_UPDATE. */
    static final int STREAM_WINDOW = 4 << 20;
    /** Connection receive window (raised from 64 KiB once the connection is up). */
    static final int CONNECTION_WINDOW = 64 << 20;
    private static final int DEFAULT_WINDOW = 65_535;

    private final Bootstrap bootstrap;
    private final String authority;
    private final Consumer<H2Connection> onClosed;
    private final IntObjectHashMap<Exchange> inFlight = new IntObjectHashMap<>();
    /** Requests to send once connected. */
    private final ArrayDeque<Runnable> waiting = new ArrayDeque<>();
    private Http2ConnectionHandler handler;
    private ChannelHandlerContext ctx; // the HTTP/2 handler's
    private Channel channel;
    private boolean active;
    private long readNanos;
    private byte[] scratch = new byte[16 << 10];

    H2Connection(Bootstrap bootstrap, String authority, Consumer<H2Connection> onClosed) {
        this.bootstrap = bootstrap;
        this.authority = authority;
        this.onClosed = onClosed;
    }

    boolean active() { return active; }

    /** Connects; {@code done} runs on the event loop with the outcome (null = connected). */
    void connect(Consumer<Throwable> done) {
        handler = new Http2ConnectionHandlerBuilder().server(false).frameListener(this).validateHeaders(false)
                .initialSettings(new Http2Settings().initialWindowSize(STREAM_WINDOW).pushEnabled(false))
                .gracefulShutdownTimeoutMillis(0).build();
        ChannelFuture f = bootstrap.clone().handler(new ChannelInitializer<>() {
            @Override
            protected void initChannel(Channel ch) {
                ch.pipeline().addLast(new ReadClock(), handler);
            }
        }).connect();
        f.addListener(ar -> {
            if (!ar.isSuccess()) {
                done.accept(ar.cause());
                return;
            }
            channel = f.channel();
            ctx = channel.pipeline().context(handler);
            try {
                handler.connection().local().flowController()
                        .incrementWindowSize(handler.connection().connectionStream(), CONNECTION_WINDOW - DEFAULT_WINDOW);
            } catch (Http2Exception e) {
                channel.close();
                done.accept(e);
                return;
            }
            active = true;
            done.accept(null);
            while (active && !waiting.isEmpty()) waiting.poll().run();
            channel.flush();
        });
    }

    /**
     * Sends {@code POST path} with {@code body} on a new stream (or once connected); the response
     * goes to {@code x}. {@code authorization} may be null.
     */
    void request(String path, byte[] body, String authorization, Exchange x) {
        if (!active) {
            waiting.add(() -> request(path, body, authorization, x));
            return;
        }
        int id = handler.connection().local().incrementAndGetNextStreamId();
        if (id < 0) { // stream ids used up: a new connection
            x.reset("stream ids exhausted");
            channel.close();
            return;
        }
        Http2Headers h = new DefaultHttp2Headers().method("POST").scheme("http").path(path).authority(authority)
                .add("content-type", "application/json").add("accept", "text/event-stream");
        if (authorization != null) h.add("authorization", authorization);
        inFlight.put(id, x);
        handler.encoder().writeHeaders(ctx, id, h, 0, false, ctx.newPromise()).addListener(ar -> {
            if (!ar.isSuccess() && inFlight.remove(id) != null) x.reset("request refused: " + ar.cause());
        });
        handler.encoder().writeData(ctx, id, Unpooled.wrappedBuffer(body), 0, true, ctx.newPromise());
        channel.flush();
    }

    /** Closes the connection (the end of the run). */
    void close() {
        active = false;
        if (channel != null) channel.close();
    }

    @Override
    public int onDataRead(ChannelHandlerContext c, int streamId, ByteBuf data, int padding, boolean endOfStream) {
        int n = data.readableBytes();
        Exchange x = inFlight.get(streamId);
        if (x != null) {
            x.readAt(readNanos);
            if (n > 0) {
                byte[] a;
                int off;
                if (data.hasArray()) {
                    a = data.array();
                    off = data.arrayOffset() + data.readerIndex();
                } else {
                    if (scratch.length < n) scratch = new byte[Math.max(n, scratch.length * 2)];
                    data.getBytes(data.readerIndex(), scratch, 0, n);
                    a = scratch;
                    off = 0;
                }
                x.onBody(a, off, n);
            }
            if (endOfStream) {
                inFlight.remove(streamId);
                x.onEnd();
            }
        }
        return n + padding; // consumed: the flow controller returns it to the server
    }

    @Override
    public void onHeadersRead(ChannelHandlerContext c, int streamId, Http2Headers headers, int padding, boolean endOfStream) {
        Exchange x = inFlight.get(streamId);
        if (x == null) return;
        x.readAt(readNanos);
        CharSequence status = headers.status();
        if (status != null) x.onHead(Integer.parseInt(status.toString())); // trailers carry no :status
        if (endOfStream) {
            inFlight.remove(streamId);
            x.onEnd();
        }
    }

    @Override
    public void onHeadersRead(ChannelHandlerContext c, int streamId, Http2Headers headers, int streamDependency, short weight,
                              boolean exclusive, int padding, boolean endOfStream) {
        onHeadersRead(c, streamId, headers, padding, endOfStream);
    }

    @Override
    public void onRstStreamRead(ChannelHandlerContext c, int streamId, long errorCode) {
        Exchange x = inFlight.remove(streamId);
        if (x != null) x.reset("stream reset by the server, error code " + errorCode);
    }

    @Override
    public void onGoAwayRead(ChannelHandlerContext c, int lastStreamId, long errorCode, ByteBuf debugData) {
        // Streams above lastStreamId were not processed; the rest may finish. Simplest honest course
        // for a load generator: close now and let every stream start over on a new connection.
        channel.close();
    }

    private void closed() {
        active = false;
        if (!inFlight.isEmpty()) {
            var xs = new java.util.ArrayList<>(inFlight.values());
            inFlight.clear();
            for (Exchange x : xs) x.reset("the connection closed mid-response");
        }
        onClosed.accept(this);
    }

    /** Takes the receive time of each network read before the HTTP/2 codec decodes it; notices the close. */
    private final class ReadClock extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext c, Object msg) {
            readNanos = System.nanoTime();
            c.fireChannelRead(msg);
        }

        @Override
        public void channelInactive(ChannelHandlerContext c) {
            c.fireChannelInactive();
            closed();
        }
    }
}
