package io.chunkserve.runtime.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;

class ParallelTest {

    static void assertExactlyOnce(AtomicIntegerArray counts, int n, int expected, String what) {
        for (int i = 0; i < n; i++) {
            if (counts.get(i) != expected) {
                throw new AssertionError(what + ": index " + i + " ran " + counts.get(i) + " times, want " + expected);
            }
        }
    }

    @Test
    void everyIndexRunsExactlyOnceManyThousandTimes() {
        for (int threads : new int[] {1, 2, 3, 5}) {
            try (CpuKernels k = new CpuKernels(threads)) {
                int[] sizes = {1, 2, 3, 7, 64, 1000};
                AtomicIntegerArray counts = new AtomicIntegerArray(1000);
                int reps = 20_000;
                for (int rep = 0; rep < reps; rep++) {
                    int n = sizes[rep % sizes.length];
                    k.forRange(n, counts::incrementAndGet);
                }
                for (int i = 0; i < 1000; i++) {
                    int expect = 0;
                    for (int rep = 0; rep < reps; rep++) if (i < sizes[rep % sizes.length]) expect++;
                    assertEquals(expect, counts.get(i), "threads=" + threads + " index " + i);
                }
            }
        }
    }

    @Test
    void tasksActuallyRunOnWorkerThreads() {
        try (CpuKernels k = new CpuKernels(3)) {
            ConcurrentHashMap<String, Boolean> names = new ConcurrentHashMap<>();
            for (int rep = 0; rep < 2000 && names.size() < 3; rep++) {
                k.forRange(64, i -> {
                    names.put(Thread.currentThread().getName(), Boolean.TRUE);
                    long until = System.nanoTime() + 20_000;
                    while (System.nanoTime() < until) Thread.onSpinWait();
                });
            }
            assertTrue(names.containsKey(Thread.currentThread().getName()), names.toString());
            assertTrue(names.keySet().stream().anyMatch(s -> s.startsWith("chunkserve-cpu-")), names.toString());
        }
    }

    @Test
    void concurrentAndNestedCallersStillRunEachIndexOnce() throws Exception {
        try (CpuKernels k = new CpuKernels(3)) {
            int callers = 4, reps = 3000, n = 37;
            AtomicIntegerArray counts = new AtomicIntegerArray(n);
            AtomicReference<Throwable> err = new AtomicReference<>();
            CountDownLatch go = new CountDownLatch(1);
            Thread[] ts = new Thread[callers];
            for (int c = 0; c < callers; c++) {
                ts[c] = new Thread(() -> {
                    try {
                        go.await();
                        for (int r = 0; r < reps; r++) k.forRange(n, counts::incrementAndGet);
                    } catch (Throwable e) {
                        err.set(e);
                    }
                });
                ts[c].start();
            }
            go.countDown();
            for (Thread t : ts) t.join();
            if (err.get() != null) throw new AssertionError(err.get());
            assertExactlyOnce(counts, n, callers * reps, "concurrent");

            AtomicIntegerArray nested = new AtomicIntegerArray(8 * 8);
            k.forRange(8, i -> k.forRange(8, j -> nested.incrementAndGet(i * 8 + j)));
            assertExactlyOnce(nested, 64, 1, "nested");
        }
    }

    @Test
    void exceptionsPropagateAndThePoolStaysUsable() {
        try (CpuKernels k = new CpuKernels(3)) {
            IllegalStateException boom = new IllegalStateException("boom");
            for (int rep = 0; rep < 50; rep++) {
                int bad = rep % 40;
                IllegalStateException got = assertThrows(IllegalStateException.class, () -> k.forRange(40, i -> {
                    if (i == bad) throw boom;
                }));
                assertSame(boom, got);
                AtomicIntegerArray counts = new AtomicIntegerArray(40);
                k.forRange(40, counts::incrementAndGet);
                assertExactlyOnce(counts, 40, 1, "after failure");
            }
        }
    }

    @Test
    void workersParkWhenIdleAndWakeUp() {
        try (CpuKernels k = new CpuKernels(3)) {
            for (int rep = 0; rep < 5; rep++) {
                LockSupport.parkNanos(3_000_000); // longer than the spin phase: workers park
                AtomicIntegerArray counts = new AtomicIntegerArray(100);
                k.forRange(100, counts::incrementAndGet);
                assertExactlyOnce(counts, 100, 1, "after idle");
            }
        }
    }

    @Test
    void memoryBandwidthIsMeasured() {
        try (CpuKernels k = new CpuKernels(2)) {
            double bw = MemoryBandwidth.measureReadBytesPerSecond(k, 16L << 20);
            assertTrue(bw > 1e8 && bw < 1e13, "bandwidth " + bw);
            assertTrue(MemoryBandwidth.measureReadBytesPerSecond(Parallel.SERIAL, 1) > 0);
        }
    }

    @Test
    void closeStopsTheDaemonWorkers() throws Exception {
        CpuKernels k = new CpuKernels(4);
        k.forRange(10, i -> { });
        String prefix = k.threadNamePrefix();
        Thread[] all = new Thread[Thread.activeCount() + 16];
        int n = Thread.enumerate(all);
        int mine = 0;
        for (int i = 0; i < n; i++) {
            if (all[i].getName().startsWith(prefix)) {
                assertTrue(all[i].isDaemon());
                mine++;
            }
        }
        assertEquals(3, mine);
        k.close();
        long deadline = System.nanoTime() + 5_000_000_000L;
        boolean alive = true;
        while (alive && System.nanoTime() < deadline) {
            alive = false;
            n = Thread.enumerate(all);
            for (int i = 0; i < n; i++) {
                if (all[i].getName().startsWith(prefix) && all[i].isAlive()) alive = true;
            }
            if (alive) Thread.sleep(10);
        }
        assertFalse(alive);
        assertThrows(IllegalStateException.class, () -> k.forRange(10, i -> { }));
    }
}
