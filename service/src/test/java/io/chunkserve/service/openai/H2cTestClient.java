package io.chunkserve.service.openai;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.Http2ConnectionHandler;
import io.netty.handler.codec.http2.Http2ConnectionHandlerBuilder;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2FrameAdapter;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2Settings;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A bare h2c client (prior knowledge) on Netty's HTTP/2 codec, for tests that need control over
 * RST_STREAM: Vert.x's HTTP client answers every DATA frame that arrives for a stream it has just
 * reset with an RST_STREAM(STREAM_CLOSED) of its own and closes its own connection after 200 of
 * those (Netty's outbound reset guard), so it cannot cancel hundreds of streams on one connection.
 * This client sends one RST_STREAM(CANCEL) per cancel and nothing else (its own guards are off), and
 * records whether the server sent GOAWAY or closed the connection.
 */
final class H2cTestClient implements AutoCloseable {
    /** Called on the event loop with each DATA frame's stream, text, and whether it ended the stream. */
    interface Listener {
        void on(int stream, String text, boolean end);
    }

    private final EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    private final Map<Integer, Listener> streams = new ConcurrentHashMap<>();
    private final Map<Integer, Integer> status = new ConcurrentHashMap<>();
    final AtomicInteger goAways = new AtomicInteger();
    final CompletableFuture<Void> closed = new CompletableFuture<>();
    private final Http2ConnectionHandler handler;
    private final Channel channel;

    H2cTestClient(int port) throws InterruptedException {
        handler = new Http2ConnectionHandlerBuilder().server(false).validateHeaders(false).gracefulShutdownTimeoutMillis(0)
                .encoderEnforceMaxRstFramesPerWindow(0, 0).decoderEnforceMaxRstFramesPerWindow(0, 0)
                .initialSettings(new Http2Settings().initialWindowSize(1 << 20).pushEnabled(false))
                .frameListener(new Http2FrameAdapter() {
                    @Override
                    public int onDataRead(ChannelHandlerContext ctx, int id, ByteBuf data, int padding, boolean end) {
                        Listener l = end ? streams.remove(id) : streams.get(id);
                        if (l != null) l.on(id, data.toString(StandardCharsets.UTF_8), end);
                        return data.readableBytes() + padding;
                    }

                    @Override
                    public void onHeadersRead(ChannelHandlerContext ctx, int id, Http2Headers h, int padding, boolean end) {
                        if (h.status() != null) status.put(id, Integer.parseInt(h.status().toString()));
                        Listener l = end ? streams.remove(id) : null;
                        if (l != null) l.on(id, "", true);
                    }

                    @Override
                    public void onHeadersRead(ChannelHandlerContext ctx, int id, Http2Headers h, int dep, short weight, boolean excl,
                                              int padding, boolean end) {
                        onHeadersRead(ctx, id, h, padding, end);
                    }

                    @Override
                    public void onGoAwayRead(ChannelHandlerContext ctx, int lastStreamId, long errorCode, ByteBuf debugData) {
                        goAways.incrementAndGet();
                    }
                }).build();
        channel = new Bootstrap().group(group).channel(NioSocketChannel.class).handler(new ChannelInitializer<>() {
            @Override
            protected void initChannel(Channel ch) {
                ch.pipeline().addLast(handler);
                ch.closeFuture().addListener(f -> closed.complete(null));
            }
        }).connect("127.0.0.1", port).sync().channel();
    }

    /** POSTs {@code body} to {@code path} on a new stream; returns its id. */
    int post(String path, String body, Listener listener) throws Exception {
        return channel.eventLoop().submit(() -> {
            if (!channel.isActive()) throw new IllegalStateException("the server closed the connection (GOAWAY frames received: " + goAways.get() + ")");
            ChannelHandlerContext ctx = channel.pipeline().context(handler);
            int id = handler.connection().local().incrementAndGetNextStreamId();
            streams.put(id, listener);
            Http2Headers h = new DefaultHttp2Headers().method("POST").scheme("http").path(path).authority("127.0.0.1")
                    .add("content-type", "application/json");
            handler.encoder().writeHeaders(ctx, id, h, 0, false, ctx.newPromise());
            handler.encoder().writeData(ctx, id, Unpooled.copiedBuffer(body, StandardCharsets.UTF_8), 0, true, ctx.newPromise());
            channel.flush(); // through the pipeline: the HTTP/2 handler's flush writes what flow control holds
            return id;
        }).get(10, TimeUnit.SECONDS);
    }

    /** The response status of stream {@code id}, 0 before its head arrived. */
    int status(int id) { return status.getOrDefault(id, 0); }

    /** Sends RST_STREAM(CANCEL) for stream {@code id} (on the event loop). */
    void cancel(int id) {
        channel.eventLoop().execute(() -> {
            streams.remove(id);
            ChannelHandlerContext ctx = channel.pipeline().context(handler);
            handler.resetStream(ctx, id, Http2Error.CANCEL.code(), ctx.newPromise());
            channel.flush(); // through the pipeline: the HTTP/2 handler's flush writes what flow control holds
        });
    }

    boolean open() { return channel.isActive(); }

    @Override
    public void close() {
        channel.close().syncUninterruptibly();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
