package io.chunkserve.service.health;

import io.chunkserve.service.Server;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Wires SIGTERM and SIGINT to {@link Server#drainAndClose}: on the signal the server drains (see
 * {@link Drain}) and the process exits 0, as Kubernetes expects of a clean stop. A plain shutdown
 * hook covers every other way the JVM goes down (it drains too, but the exit status is then the
 * JVM's). The sequence runs once, whichever comes first.
 */
public final class GracefulShutdown {
    private static final Logger LOG = Logger.getLogger(GracefulShutdown.class.getName());

    private final Server server;
    private final Duration drainTimeout;
    private final AtomicBoolean started = new AtomicBoolean();
    private final CountDownLatch done = new CountDownLatch(1);

    private GracefulShutdown(Server server, Duration drainTimeout) {
        this.server = server;
        this.drainTimeout = drainTimeout;
    }

    /** Installs the handlers; {@link #awaitStopped()} returns once the server has drained and closed. */
    public static GracefulShutdown install(Server server, Duration drainTimeout) {
        GracefulShutdown g = new GracefulShutdown(server, drainTimeout);
        for (String sig : new String[]{"TERM", "INT"}) {
            try {
                sun.misc.Signal.handle(new sun.misc.Signal(sig), s -> Thread.ofPlatform().name("chunkserve-drain").start(() -> {
                    g.drainOnce();
                    System.exit(0);
                }));
            } catch (IllegalArgumentException | UnsupportedOperationException e) {
                LOG.fine("cannot handle SIG" + sig + " (" + e.getMessage() + "); the shutdown hook drains instead");
            }
        }
        Runtime.getRuntime().addShutdownHook(new Thread(g::drainOnce, "chunkserve-shutdown"));
        return g;
    }

    /** Drains and closes the server unless that already happened or is under way (then waits for it). */
    public void drainOnce() {
        if (!started.compareAndSet(false, true)) {
            awaitQuietly();
            return;
        }
        try {
            server.drainAndClose(drainTimeout);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "error while draining", e);
        } finally {
            done.countDown();
        }
    }

    /** Blocks until the server has drained and closed. */
    public void awaitStopped() throws InterruptedException { done.await(); }

    private void awaitQuietly() {
        try {
            done.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
