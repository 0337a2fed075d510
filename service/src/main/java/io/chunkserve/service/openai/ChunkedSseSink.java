package io.chunkserve.service.openai;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.VoidChannelPromise;
import io.netty.handler.codec.http.HttpResponseEncoder;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.net.impl.ConnectionBase;

/**
 * The SSE sink of an HTTP/1.x response that writes each flush's events as one pre-framed chunk
 * ({@code <hex length>\r\n<events>\r\n}) in one direct buffer, straight into the channel below
 * the HTTP encoder, and flushes it: one buffer, one {@code write(2)}, no promise and no
 * intermediate HTTP objects per event. Through Vert.x's response the same bytes cost a content
 * object, a promise, a message-queue hop and three buffers (the encoder's chunk header, the
 * content copied off the heap, the trailing CRLF) gathered by {@code writev}.
 *
 * <p>The head and the first events ({@link #write(Buffer)}), and the last ones with the
 * terminating chunk ({@link #end(Buffer)}), go through Vert.x's response as before, so its view
 * of the response (head written, ended, keep-alive, the next pipelined request) is unchanged; the
 * encoder, which keeps no count of the bytes of a chunked body, stays in its chunked-content state
 * between them. Order: Vert.x queues a write only while the channel is not writable; this sink
 * writes only while it is ({@link #writeQueueFull()} says full otherwise), and Vert.x learns of
 * the channel's writability on the event loop in the same pass as Netty changes it, so whatever
 * Vert.x had queued is in the channel before the first byte written here. Backpressure: the
 * channel's own high-water mark; {@link #onDrain} is called back when it becomes writable again
 * (a {@link WritableRelay} in the pipeline), after Vert.x has seen the change.
 *
 * <p>Used only when the pipeline is the plain HTTP/1.x one: no HTTP compression between the
 * response and the socket (its bytes would differ); TLS, if any, sits below the encoder and still
 * sees every byte. An HTTP/1.0 response is not chunked (its body ends with the connection): its
 * events go through Vert.x as they are. The connection's network metrics (Vert.x's metrics SPI,
 * when one is configured) count these bytes; {@link HttpServerResponse#bytesWritten()} does not.
 */
final class ChunkedSseSink implements SseSink {
    private static final String RELAY = "chunkserve-sse-writable";
    private static final byte[] HEX = "0123456789abcdef".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

    private final HttpServerResponse resp;
    private final ConnectionBase conn; // its network metrics count the bytes written here, as Vert.x's writes are counted
    private final ChannelHandlerContext below; // the encoder's context: writes from it skip the encoder
    private final Channel ch;
    /** As Vert.x's own writes: a failed write (the peer is gone) raises nothing; the close is handled as a close. */
    private final VoidChannelPromise quiet;
    private boolean chunked; // HTTP/1.0 responses are not: their events go through Vert.x unframed

    private ChunkedSseSink(HttpServerResponse resp, ConnectionBase conn, ChannelHandlerContext encoder) {
        this.resp = resp;
        this.conn = conn;
        this.below = encoder;
        this.ch = encoder.channel();
        this.quiet = new VoidChannelPromise(ch, false);
    }

    /** The sink, or null when the connection is not a plain HTTP/1.x one. */
    static SseSink of(HttpServerResponse resp, HttpConnection conn) {
        if (!(conn instanceof ConnectionBase cb)) return null;
        ChannelPipeline p = cb.channel().pipeline();
        ChannelHandlerContext enc = p.context("httpEncoder");
        if (enc == null || !(enc.handler() instanceof HttpResponseEncoder) || p.get("deflater") != null) return null;
        return new ChunkedSseSink(resp, cb, enc);
    }

    @Override
    public void begin() {
        SseSink.beginStream(resp);
        chunked = resp.isChunked();
    }

    @Override
    public boolean writeQueueFull() { return !ch.isWritable() || resp.writeQueueFull(); }

    @Override
    public void write(Buffer data) { resp.write(data); }

    @Override
    public void write(byte[] data, int len) {
        if (len == 0) return;
        if (!chunked || !ch.isWritable() || !resp.headWritten()) { // not on the fast path's terms: Vert.x writes it, in order
            SseSink.super.write(data, len);
            return;
        }
        int digits = (Integer.SIZE - Integer.numberOfLeadingZeros(len) + 3) / 4;
        ByteBuf b = ch.alloc().directBuffer(digits + len + 4);
        for (int shift = 4 * (digits - 1); shift >= 0; shift -= 4) b.writeByte(HEX[(len >>> shift) & 0xF]);
        b.writeShort(0x0d0a).writeBytes(data, 0, len).writeShort(0x0d0a);
        conn.reportBytesWritten(b.readableBytes()); // nothing to do unless Vert.x metrics are on
        below.writeAndFlush(b, quiet);
    }

    @Override
    public void end(Buffer data) { resp.end(data); }

    @Override
    public void onDrain(Runnable r) {
        Runnable once = new Runnable() {
            boolean ran;

            @Override
            public void run() {
                if (ran) return;
                ran = true;
                r.run();
            }
        };
        relay().pending = once;
        resp.drainHandler(v -> once.run()); // should Vert.x's own queue have filled, its drain too
    }

    @Override
    public boolean closed() { return resp.closed() || resp.ended(); }

    private WritableRelay relay() {
        ChannelPipeline p = ch.pipeline();
        WritableRelay w = (WritableRelay) p.get(RELAY);
        if (w == null) p.addFirst(RELAY, w = new WritableRelay());
        return w;
    }

    /** Runs the pending drain callback once the channel is writable again, after the handlers above have seen the change. */
    static final class WritableRelay extends ChannelInboundHandlerAdapter {
        Runnable pending;

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) throws Exception {
            ctx.fireChannelWritabilityChanged();
            Runnable r = pending;
            if (r != null && ctx.channel().isWritable()) {
                pending = null;
                r.run();
            }
        }
    }
}
