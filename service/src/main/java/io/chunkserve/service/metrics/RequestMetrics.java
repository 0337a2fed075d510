package io.chunkserve.service.metrics;

import io.chunkserve.sampling.FinishReason;

/**
 * Records one request's latencies: time to first token, inter-token latency and end-to-end
 * latency, plus its outcome per tenant. The front ends (HTTP/SSE, WebSocket, gRPC) create one per
 * request and call it as outputs arrive:
 *
 * <pre>{@code
 * RequestMetrics m = ctx.bridge().requestMetrics();  // when the request arrives (starts the clock)
 * ...
 * m.onToken(delta.tokenIds().length);                // each output that carries new tokens
 * ...
 * m.onFinish(tenant, FinishReason.STOP);             // once, when the response ends (any outcome)
 * }</pre>
 *
 * <p>The first {@link #onToken(int)} records the time to first token; each later one records the
 * gap since the previous output as one inter-token latency sample (an output carrying several
 * tokens, e.g. n &gt; 1 choices, is one sample). {@link #onFirstToken()} is the same as the first
 * {@code onToken(1)}, for handlers that want to mark it explicitly; do not call both for the same
 * output.
 *
 * <p>Every method is cheap (no allocation, no lock), tolerates nulls, and does nothing after
 * {@link #onFinish}; {@link #NOOP} (and a recorder of a server without metrics) ignores every call,
 * so handlers never need a null check. Not thread-safe: use it from the request's own context, as
 * handlers do.
 */
public final class RequestMetrics {
    /** Ignores every call. */
    public static final RequestMetrics NOOP = new RequestMetrics(null, 0);

    private final ServiceMetrics metrics; // null: no-op
    private final long startNanos;
    private long lastTokenNanos;
    private boolean sawToken;
    private boolean finished;

    RequestMetrics(ServiceMetrics metrics, long startNanos) {
        this.metrics = metrics;
        this.startNanos = startNanos;
    }

    /** The null-safe way in: a recorder started now, or {@link #NOOP} when {@code metrics} is null. */
    public static RequestMetrics start(ServiceMetrics metrics) {
        return metrics == null ? NOOP : metrics.startRequest();
    }

    /** Marks the first token (records time to first token); later calls act as {@code onToken(1)}. */
    public void onFirstToken() {
        onToken(1);
    }

    /** One token arrived. */
    public void onToken() {
        onToken(1);
    }

    /**
     * An output with {@code tokens} new tokens arrived (0 is allowed and records only timing):
     * the first records time to first token, later ones one inter-token latency sample each.
     */
    public void onToken(int tokens) {
        if (metrics == null || finished) return;
        long now = System.nanoTime();
        if (!sawToken) {
            sawToken = true;
            metrics.recordFirstToken(now - startNanos);
        } else {
            metrics.recordInterToken(now - lastTokenNanos);
        }
        lastTokenNanos = now;
        if (tokens > 0) metrics.countTokens(tokens);
    }

    /**
     * The response ended: records end-to-end latency and counts the request under
     * {@code chunkserve_requests_total{tenant, finish_reason}}. Only the first call counts.
     *
     * @param tenant the tenant (null: "unknown", e.g. rejected before authentication)
     * @param reason the OpenAI finish reason ({@code stop}, {@code length}), or {@code abort},
     *               {@code error}, {@code rejected}; null: "unknown"
     */
    public void onFinish(String tenant, String reason) {
        if (metrics == null || finished) return;
        finished = true;
        metrics.recordFinish(tenant, reason, System.nanoTime() - startNanos);
    }

    /** {@link #onFinish(String, String)} with the engine's finish reason (null: "unknown"). */
    public void onFinish(String tenant, FinishReason reason) {
        onFinish(tenant, reason == null ? null : reason.openAiName());
    }

    /** Whether this recorder records anything. */
    public boolean enabled() { return metrics != null; }
}
