package io.chunkserve.service.health;

import io.chunkserve.service.EngineBridge;

import java.time.Duration;
import java.util.logging.Logger;

/**
 * The drain sequence the SIGTERM hook runs before the process exits: readiness goes false and new
 * requests are refused at once; requests in flight run to their end for up to {@code timeout};
 * whatever is still running then is aborted (its clients get a final {@code abort} output) and
 * given a moment to flush. The caller closes the server afterwards.
 *
 * <p>In Kubernetes, {@code terminationGracePeriodSeconds} must exceed preStop sleep + timeout +
 * a few seconds, or the kubelet's SIGKILL comes first.
 */
public final class Drain {
    private static final Logger LOG = Logger.getLogger(Drain.class.getName());
    /** How often the in-flight count is checked. */
    private static final long POLL_MS = 20;
    /** After aborting leftovers: time for their final outputs to reach the sockets. */
    static final Duration ABORT_FLUSH = Duration.ofSeconds(2);

    private Drain() { }

    /**
     * @return the outcome: how many requests were in flight at the start, how many had to be
     *         aborted, and how long it took
     */
    public static Result run(EngineBridge bridge, Duration timeout) throws InterruptedException {
        long t0 = System.nanoTime();
        bridge.startDraining();
        int atStart = bridge.inFlight();
        LOG.info("draining: readiness false, new requests refused; " + atStart + " in flight, waiting up to " + timeout.toMillis() + " ms");
        long deadline = t0 + timeout.toNanos();
        while (bridge.inFlight() > 0 && System.nanoTime() < deadline) Thread.sleep(POLL_MS);
        int left = bridge.inFlight();
        if (left > 0) {
            LOG.warning("drain timeout: aborting " + left + " request(s) still in flight");
            bridge.abortAll();
            long flushEnd = System.nanoTime() + ABORT_FLUSH.toNanos();
            while (bridge.inFlight() > 0 && System.nanoTime() < flushEnd) Thread.sleep(POLL_MS);
        }
        Result r = new Result(atStart, left, Duration.ofNanos(System.nanoTime() - t0));
        LOG.info("drained: " + r);
        return r;
    }

    /**
     * @param inFlightAtStart requests running when the drain began
     * @param aborted         of those (or later ones), still running at the timeout and aborted
     * @param took            the drain's duration
     */
    public record Result(int inFlightAtStart, int aborted, Duration took) { }
}
