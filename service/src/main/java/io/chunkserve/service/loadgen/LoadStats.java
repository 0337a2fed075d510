package io.chunkserve.service.loadgen;

import org.HdrHistogram.Histogram;

/**
 * What the streams of one event loop measured, in microseconds; touched only on that loop, merged
 * at the end. Only samples inside the measured window count (after warm-up, before the end).
 */
final class LoadStats {
    /** 1 µs .. 10 min, 3 significant digits. */
    private static final long MAX_US = 600_000_000L;

    final Histogram ttft = new Histogram(MAX_US, 3);
    final Histogram itl = new Histogram(MAX_US, 3);
    /** Inter-token gap minus the configured interval (synthetic mode), clamped at 0. */
    final Histogram addedItl = new Histogram(MAX_US, 3);
    /** Time to first token minus one interval (synthetic mode), clamped at 0. */
    final Histogram addedTtft = new Histogram(MAX_US, 3);
    /** Receive time minus the emission stamp in the token text (a stamped synthetic server on this host). */
    final Histogram sinceEmission = new Histogram(MAX_US, 3);
    /** How late the synthetic engine's thread ran the step that emitted the token (stamped servers). */
    final Histogram engineLate = new Histogram(MAX_US, 3);
    /**
     * The request's path into the engine (stamped servers): the first token's stamp minus one
     * interval minus the time the request was written, i.e. from the client's write to the
     * synthetic engine's submission (plus at most one engine step, ≤ 1 ms, of rounding). TTFT is
     * this, one interval, and the first event's receive − emission.
     */
    final Histogram requestPath = new Histogram(MAX_US, 3);
    /** From the request's write to the arrival of the response head (the server sends it when it submits to the engine). */
    final Histogram head = new Histogram(MAX_US, 3);
    long events;      // SSE data events, [DONE] included
    long contentEvents; // events carrying text
    long tokens;        // tokens they carried (exact against a stamped server, else one per event)
    long completed;   // responses that ended with [DONE]
    long errors;      // failed connections, non-200 answers, error events, streams cut short
    long started;

    void merge(LoadStats o) {
        ttft.add(o.ttft);
        itl.add(o.itl);
        addedItl.add(o.addedItl);
        addedTtft.add(o.addedTtft);
        sinceEmission.add(o.sinceEmission);
        engineLate.add(o.engineLate);
        requestPath.add(o.requestPath);
        head.add(o.head);
        events += o.events;
        tokens += o.tokens;
        contentEvents += o.contentEvents;
        completed += o.completed;
        errors += o.errors;
        started += o.started;
    }

    static void record(Histogram h, long nanos) {
        h.recordValue(Math.min(MAX_US, Math.max(0, nanos / 1000)));
    }
}
