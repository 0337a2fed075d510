package io.chunkserve.runtime.cpu;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntConsumer;

/**
 * A persistent pool of daemon worker threads that runs {@code task(0..n-1)} with the calling
 * thread participating. Built for dispatch latency of a few microseconds: no allocation per
 * call, workers spin for a while after each job and only then park.
 *
 * <p>Protocol. All per-job state that a claim needs lives in one 64-bit word,
 * {@code gen:22 | n:21 | next:21}. The caller publishes {@code (gen, n, 0)} with a volatile
 * store; any thread claims an index with a single {@code getAndAdd(1)} and keeps it only when
 * the returned {@code next < n}. A valid claim pins its job: the caller does not start another
 * job until {@code remaining} (the count of unfinished indices) reaches zero, so the task
 * reference read <em>after</em> a valid claim is that job's task. A late worker that still
 * believes in an older generation can only take a valid index of the current job (or none),
 * never run an index twice. Overshoot of {@code next} past {@code n} is bounded by the number
 * of threads, so the next field never overflows into n.
 *
 * <p>Not reentrant and single-dispatcher: the owner ({@link CpuKernels}) serialises callers
 * and runs nested or concurrent calls serially.
 */
final class WorkerPool implements AutoCloseable {
    static final int NEXT_BITS = 21, N_BITS = 21;
    static final long NEXT_MASK = (1L << NEXT_BITS) - 1, N_MASK = (1L << N_BITS) - 1;
    /** Largest n dispatched as one job; callers group larger ranges. Leaves room for overshoot. */
    static final int MAX_TASKS = 1 << 20;

    private static final VarHandle LONGS = MethodHandles.arrayElementVarHandle(long[].class);
    // claim word and remaining counter on separate cache lines (128 bytes apart, adjacent-line prefetch)
    private static final int CLAIM = 16, REMAINING = 48;
    private final long[] ctl = new long[64];

    /** Work for a thread that waits (for the others' tasks, or for the next job): one small step per call. */
    interface Idle {
        /** One step of participant p's idle work (0: the dispatching thread, i: worker i); false when it has none left. */
        boolean step(int participant);
    }

    private final Worker[] workers;
    private final Idle idle; // null: plain spinning
    private final long spinNanos;
    private volatile IntConsumer task;
    private volatile Throwable failure;
    private volatile boolean closed;
    private int generation; // written by the dispatching thread only

    WorkerPool(int workerCount, String namePrefix, long spinNanos) {
        this(workerCount, namePrefix, spinNanos, null);
    }

    WorkerPool(int workerCount, String namePrefix, long spinNanos, Idle idle) {
        this.spinNanos = spinNanos;
        this.idle = idle;
        this.workers = new Worker[workerCount];
        for (int i = 0; i < workerCount; i++) {
            Worker w = new Worker(namePrefix + (i + 1), i + 1);
            workers[i] = w;
        }
        for (Worker w : workers) w.start();
    }

    int workerCount() { return workers.length; }

    /** Runs task(0..n-1) on the workers and the calling thread; 0 < n ≤ MAX_TASKS. */
    void run(int n, IntConsumer task) {
        if (closed) throw new IllegalStateException("CpuKernels is closed");
        this.task = task;
        this.failure = null;
        LONGS.setVolatile(ctl, REMAINING, (long) n);
        int gen = generation = (generation + 1) & ((1 << (64 - NEXT_BITS - N_BITS)) - 1);
        LONGS.setVolatile(ctl, CLAIM, ((long) gen << (NEXT_BITS + N_BITS)) | ((long) n << NEXT_BITS));
        for (Worker w : workers) {
            if (w.parked && w.wake()) LockSupport.unpark(w);
        }
        runClaims();
        awaitDone();
        this.task = null;
        Throwable f = failure;
        if (f != null) {
            failure = null;
            if (f instanceof RuntimeException re) throw re;
            if (f instanceof Error e) throw e;
            throw new RuntimeException(f);
        }
    }

    /** Claims and runs indices until the current job has none left. */
    private void runClaims() {
        while (true) {
            long old = (long) LONGS.getAndAdd(ctl, CLAIM, 1L);
            int next = (int) (old & NEXT_MASK);
            int n = (int) ((old >>> NEXT_BITS) & N_MASK);
            if (next >= n) return;
            IntConsumer t = task; // valid claim: the job cannot change before this index completes
            try {
                t.accept(next);
            } catch (Throwable e) {
                if (failure == null) failure = e;
            } finally {
                LONGS.getAndAdd(ctl, REMAINING, -1L);
            }
        }
    }

    private void awaitDone() {
        if ((long) LONGS.getVolatile(ctl, REMAINING) == 0) return;
        long start = System.nanoTime();
        int spins = 0;
        Idle idle = this.idle;
        while ((long) LONGS.getVolatile(ctl, REMAINING) != 0) {
            if (idle != null && idle.step(0)) continue;
            Thread.onSpinWait();
            // a worker holding an index may have been descheduled: after a while, give up the core
            if ((++spins & 1023) == 0 && System.nanoTime() - start > 50_000) Thread.yield();
        }
    }

    private int currentGen() {
        return (int) ((long) LONGS.getVolatile(ctl, CLAIM) >>> (NEXT_BITS + N_BITS));
    }

    @Override
    public void close() {
        closed = true;
        for (Worker w : workers) LockSupport.unpark(w);
        for (Worker w : workers) {
            try {
                w.join(TimeUnit.SECONDS.toMillis(2));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    private final class Worker extends Thread {
        volatile boolean parked;
        private static final VarHandle PARKED;
        static {
            try {
                PARKED = MethodHandles.lookup().findVarHandle(Worker.class, "parked", boolean.class);
            } catch (ReflectiveOperationException e) {
                throw new ExceptionInInitializerError(e);
            }
        }

        private final int index;

        Worker(String name, int index) {
            super(name);
            this.index = index;
            setDaemon(true);
        }

        /** Clears the parked flag; true when this call cleared it (the caller must unpark). */
        boolean wake() { return PARKED.compareAndSet(this, true, false); }

        @Override
        public void run() {
            int seen = currentGen();
            while (!closed) {
                int g = currentGen();
                if (g != seen) {
                    seen = g;
                    runClaims();
                    continue;
                }
                // spin for a while, then park
                long start = System.nanoTime();
                int spins = 0;
                boolean found = false;
                Idle idle = WorkerPool.this.idle;
                while (!closed) {
                    if (currentGen() != seen) { found = true; break; }
                    if (idle != null && idle.step(index)) continue;
                    Thread.onSpinWait();
                    if ((++spins & 255) == 0) {
                        long spent = System.nanoTime() - start;
                        if (spent > spinNanos) break;
                        // past the first 20 µs, let other runnable threads have the core now and then
                        // (an oversubscribed or shared machine); costs ~1 µs of wake-up latency
                        if (spent > 20_000) Thread.yield();
                    }
                }
                if (found || closed) continue;
                parked = true;                         // volatile store, then volatile load of the claim word:
                if (currentGen() == seen && !closed) { // pairs with the dispatcher's store-then-load of parked
                    LockSupport.park(this);
                }
                parked = false;
            }
        }
    }
}
