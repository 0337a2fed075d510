package io.chunkserve.service.openai;

import io.vertx.core.buffer.Buffer;
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

    void end(Buffer data);

    /** Runs {@code r} once, when the write queue has drained below its low-water mark. */
    void onDrain(Runnable r);

    /** Whether the connection is gone or the response ended. */
    boolean closed();

    static SseSink of(HttpServerResponse resp) {
        return new SseSink() {
            @Override
            public void begin() {
                resp.setStatusCode(200).setChunked(true)
                        .putHeader(HttpHeaders.CONTENT_TYPE, "text/event-stream; charset=utf-8")
                        .putHeader(HttpHeaders.CACHE_CONTROL, "no-cache")
                        .putHeader("X-Accel-Buffering", "no"); // proxies (nginx) must not buffer the stream
            }

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
}
