package io.chunkserve.attention;

import io.chunkserve.runtime.cpu.Parallel;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntConsumer;

/**
 * A small {@link Parallel} for the benchmark programs: threads−1 daemon workers plus the caller
 * claim task indices from a shared counter. Workers spin briefly between calls (a decode step
 * issues two phases per layer, ~0.1–1 ms apart, and waking a parked thread costs tens of
 * microseconds), then park. The runtime passes its own pool; this one exists so the benchmark
 * does not measure an executor's hand-off latency.
 */
final class WorkerPool implements Parallel, AutoCloseable {
    private static final long SPIN_NANOS = 200_000;

    /** One forRange call; a fresh object so a late worker can never claim the next call's indices. */
    private record Job(IntConsumer task, int n, AtomicInteger next, AtomicInteger done) { }

    private final Thread[] workers;
    private volatile Job current;
    private volatile boolean closed;

    WorkerPool(int threads) {
        workers = new Thread[Math.max(0, threads - 1)];
        for (int i = 0; i < workers.length; i++) {
            workers[i] = new Thread(this::work, "attention-bench-" + (i + 1));
            workers[i].setDaemon(true);
            workers[i].start();
        }
    }

    int threads() { return workers.length + 1; }

    @Override
    public void forRange(int n, IntConsumer task) {
        if (n <= 0) return;
        if (workers.length == 0 || n == 1) {
            for (int i = 0; i < n; i++) task.accept(i);
            return;
        }
        Job job = new Job(task, n, new AtomicInteger(), new AtomicInteger());
        current = job;
        for (Thread w : workers) LockSupport.unpark(w);
        run(job);
        while (job.done.get() < n) Thread.onSpinWait();
    }

    private static void run(Job job) {
        for (int i; (i = job.next.getAndIncrement()) < job.n; ) {
            try {
                job.task.accept(i);
            } finally {
                job.done.incrementAndGet();
            }
        }
    }

    private void work() {
        Job seen = null;
        long idleSince = System.nanoTime();
        while (!closed) {
            Job job = current;
            if (job != null && job != seen) {
                seen = job;
                run(job);
                idleSince = System.nanoTime();
            } else if (System.nanoTime() - idleSince < SPIN_NANOS) {
                Thread.onSpinWait();
            } else {
                LockSupport.parkNanos(this, 1_000_000);
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        for (Thread w : workers) LockSupport.unpark(w);
    }
}
