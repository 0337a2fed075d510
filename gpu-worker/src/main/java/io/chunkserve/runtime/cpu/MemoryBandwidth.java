package io.chunkserve.runtime.cpu;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Placeholder: replaced by the kernels branch. Measures read bandwidth by a scalar sum. */
public final class MemoryBandwidth {
    private MemoryBandwidth() { }

    public static double measureReadBytesPerSecond(Parallel p, long bytes) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(bytes, 64);
            long t0 = System.nanoTime();
            long sum = 0;
            for (long i = 0; i < bytes; i += 8) sum += s.get(ValueLayout.JAVA_LONG, i);
            if (sum == 42) System.out.print("");
            return bytes / ((System.nanoTime() - t0) / 1e9);
        }
    }
}
