package io.chunkserve.service.openai;

import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerResponse;

/**
 * Where an SSE stream goes: the few operations of {@link HttpServerResponse} that
 * {@link SseResponder} needs, so its flow control can be tested without a socket.
 */
interface SseSink {
    /** Sends the 200 status and SSE headers (before the first write). */
    void begin();

    boolean writeQueueFull();

    void write(Buffer data);

    /**
     * Writes the first {@code len} bytes of {@code data} (whole SSE events), after the first
     * {@link #write(Buffer)}; {@code data} may be reused once this returns.
     */
    default void write(byte[] data, int len) {
        write(Buffer.buffer(len).appendBytes(data, 0, len));
    }

    void end(Buffer data);

    /** Runs {@code r} once, when the write queue has drained below its low-water mark. */
    void onDrain(Runnable r);

    /** Whether the connection is gone or the response ended. */
    boolean closed();

    /**
     * The sink for a response on {@code conn}: over HTTP/1.x without compression, one that writes
     * each flush's events as one pre-framed chunk ({@link ChunkedSseSink}); else {@link #of(HttpServerResponse)}.
     */
    static SseSink of(HttpServerResponse resp, HttpConnection conn) {
        SseSink s = ChunkedSseSink.of(resp, conn);
        return s != null ? s : of(resp);
    }

    /** The sink over Vert.x's response API alone. */
    static SseSink of(HttpServerResponse resp) {
        return new SseSink() {
            @Override
            public void begin() { beginStream(resp); }

            @Override
            public boolean writeQueueFull() { return resp.writeQueueFull(); }

            @Override
            public void write(Buffer data) { resp.write(data); }

            @Override
            public void end(Buffer data) { resp.end(data); }

            @Override
            public void onDrain(Runnable r) { resp.drainHandler(v -> r.run()); }

            @Override
            public boolean closed() { return resp.closed() || resp.ended(); }
        };
    }

    /** The 200 status and the SSE headers. */
    static void beginStream(HttpServerResponse resp) {
        resp.setStatusCode(200).setChunked(true)
                .putHeader(HttpHeaders.CONTENT_TYPE, "text/event-stream; charset=utf-8")
                .putHeader(HttpHeaders.CACHE_CONTROL, "no-cache")
                .putHeader("X-Accel-Buffering", "no"); // proxies (nginx) must not buffer the stream
    }
}
