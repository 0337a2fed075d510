package io.chunkserve.attention;

import io.chunkserve.runtime.cpu.Parallel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

import static io.chunkserve.attention.VectorMath.F;

/**
 * Sustained DRAM read bandwidth as the attention kernels see it: a multi-threaded Vector API sum
 * over an off-heap buffer far larger than any cache (default 1 GiB), best of several passes.
 * The denominator of the benchmark's bandwidth floor.
 */
public final class ReadBandwidth {
    /** Default buffer: 1 GiB, several times any last-level cache of the machines we run on. */
    public static final long DEFAULT_BYTES = 1L << 30;
    private static final int SLICES_PER_THREAD = 8;

    private ReadBandwidth() { }

    /** Result of a measurement: best and all pass rates in bytes per second. */
    public record Result(long bytes, int threads, double bestBytesPerSecond, double[] passes) {
        public double bestGBs() { return bestBytesPerSecond / 1e9; }
    }

    /**
     * Reads a fresh {@code bytes}-byte off-heap buffer {@code passes} times with {@code par}.
     *
     * @param threads threads of {@code par}; the buffer is cut into 8 slices per thread
     */
    public static Result measure(Parallel par, int threads, long bytes, int passes) {
        long vecBytes = F.vectorByteSize();
        int slices = Math.max(1, threads) * SLICES_PER_THREAD;
        long slice = bytes / slices / (4 * vecBytes) * (4 * vecBytes);
        double[] rates = new double[passes];
        double best = 0;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment buf = arena.allocate(slice * slices, 4096);
            par.forRange(slices, s -> buf.asSlice(s * slice, slice).fill((byte) 0x3c)); // touch every page on its reader's thread
            float[] sink = new float[slices];
            for (int w = 0; w < 2000; w++) sink[w % slices] += sum(buf, 0, 1 << 16); // compile sum() before timing
            for (int p = 0; p < passes; p++) {
                long t0 = System.nanoTime();
                par.forRange(slices, s -> sink[s] = sum(buf, s * slice, slice));
                long dt = System.nanoTime() - t0;
                rates[p] = slice * slices / (dt * 1e-9);
                best = Math.max(best, rates[p]);
            }
            float total = 0;
            for (float x : sink) total += x;
            if (total == 42f) System.out.print(""); // keep the sums alive
        }
        return new Result(slice * slices, threads, best, rates);
    }

    /** Σ of the floats in [off, off+len), four independent accumulators so loads overlap. */
    private static float sum(MemorySegment seg, long off, long len) {
        long vb = F.vectorByteSize();
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        ByteOrder le = ByteOrder.LITTLE_ENDIAN;
        for (long i = off, end = off + len; i < end; i += 4 * vb) {
            a0 = a0.add(FloatVector.fromMemorySegment(F, seg, i, le));
            a1 = a1.add(FloatVector.fromMemorySegment(F, seg, i + vb, le));
            a2 = a2.add(FloatVector.fromMemorySegment(F, seg, i + 2 * vb, le));
            a3 = a3.add(FloatVector.fromMemorySegment(F, seg, i + 3 * vb, le));
        }
        return a0.add(a1).add(a2.add(a3)).reduceLanes(VectorOperators.ADD);
    }
}
