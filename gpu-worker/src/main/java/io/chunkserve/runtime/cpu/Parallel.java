package io.chunkserve.runtime.cpu;

import java.util.function.IntConsumer;

/** Runs independent tasks 0..n-1, possibly on several threads, and returns when all are done. */
@FunctionalInterface
public interface Parallel {
    void forRange(int n, IntConsumer task);

    /** How many threads {@link #forRange} may run tasks on at once (callers size their splits by it). */
    default int threads() { return 1; }

    /** Runs every task on the calling thread. */
    Parallel SERIAL = (n, task) -> {
        for (int i = 0; i < n; i++) task.accept(i);
    };
}
