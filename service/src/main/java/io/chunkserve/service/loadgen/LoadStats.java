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
    /**
     * Servers with delivery stamps ({@code ^<µs>}): from the step's nominal time to the start of the
     * event-loop task that delivered the token (engine lateness + the loop's queue), and from there to
     * the client's read (encoding, the write, the kernel, and the client's own wait for its loop).
     */
    final Histogram toDelivery = new Histogram(MAX_US, 3);
    final Histogram afterDelivery = new Histogram(MAX_US, 3);
    /** Per {@value #SLOT_MS} ms of the measured window: events, and events more than {@value #LATE_MS} ms late. */
    static final int SLOT_MS = 10, LATE_MS = 5;
    long[] slotEvents = new long[0], slotLate = new long[0];
    long events;      // SSE data events, [DONE] included
    long contentEvents; // events carrying text
    long tokens;        // tokens they carried (exact against a stamped server, else one per event)
    long completed;   // responses that ended with [DONE]
    long errors;      // failed connections, non-200 answers, error events, streams cut short
    long started;

    /** Counts one event received {@code sinceMeasureStart} ns into the window, {@code added} ns after its emission. */
    void slot(long sinceMeasureStart, long added) {
        int i = (int) (sinceMeasureStart / (SLOT_MS * 1_000_000L));
        if (i < 0) return;
        if (i >= slotEvents.length) {
            slotEvents = java.util.Arrays.copyOf(slotEvents, Math.max(i + 1, 2 * slotEvents.length));
            slotLate = java.util.Arrays.copyOf(slotLate, slotEvents.length);
        }
        slotEvents[i]++;
        if (added > LATE_MS * 1_000_000L) slotLate[i]++;
    }

    void merge(LoadStats o) {
        toDelivery.add(o.toDelivery);
        afterDelivery.add(o.afterDelivery);
        int n = Math.max(slotEvents.length, o.slotEvents.length);
        slotEvents = java.util.Arrays.copyOf(slotEvents, n);
        slotLate = java.util.Arrays.copyOf(slotLate, n);
        for (int i = 0; i < o.slotEvents.length; i++) {
            slotEvents[i] += o.slotEvents[i];
            slotLate[i] += o.slotLate[i];
        }
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
