package io.chunkserve.bench;

import java.lang.management.CompilationMXBean;
import java.lang.management.ManagementFactory;
import java.util.Locale;

/**
 * When a benchmark's warm-up may stop: the JIT has compiled nothing for {@link #QUIET_NANOS} (its total compilation
 * time, {@link CompilationMXBean}, unchanged), after at least {@link #MIN_NANOS}; at most {@link #MAX_NANOS}. A fixed
 * number of warm-up iterations is not enough on 2 cores: code called a few dozen times per step reaches C2 only after
 * hundreds of steps, and until then it runs in C1 while the compiler threads take one of the two cores from the timed
 * work. Without compilation-time monitoring it falls back to {@link #MIN_NANOS} alone.
 */
final class JitQuiet {
    static final long MIN_NANOS = 1_000_000_000L, QUIET_NANOS = 750_000_000L, MAX_NANOS = 20_000_000_000L;

    private final CompilationMXBean jit = ManagementFactory.getCompilationMXBean();
    private final boolean monitored = jit != null && jit.isCompilationTimeMonitoringSupported();
    private final long start = System.nanoTime();
    private long lastChange = start, lastTotal = total();
    private boolean timedOut;

    private long total() { return monitored ? jit.getTotalCompilationTime() : 0; }

    /** Call after each warm-up iteration: true once the warm-up may stop. */
    boolean after() {
        long now = System.nanoTime(), t = total();
        if (t != lastTotal) {
            lastTotal = t;
            lastChange = now;
        }
        if (now - start >= MAX_NANOS) {
            timedOut = true;
            return true;
        }
        return now - start >= MIN_NANOS && now - lastChange >= QUIET_NANOS;
    }

    @Override
    public String toString() {
        double s = (System.nanoTime() - start) / 1e9;
        if (!monitored) return String.format(Locale.ROOT, "%.1f s (no JIT monitoring)", s);
        return String.format(Locale.ROOT, timedOut ? "%.1f s, the JIT still compiling (stopped at the limit)"
                : "%.1f s, the JIT quiet for the last %.2f s", s, QUIET_NANOS / 1e9);
    }
}
