package io.chunkserve.runtime.cpu;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Measures the sustained DRAM read bandwidth: the roofline denominator of the batch-1 matmul,
 * which must stream every weight byte once per token.
 */
public final class MemoryBandwidth {
    private MemoryBandwidth() { }

    /** 1 GiB: many times any last-level cache, so the passes stream from DRAM. */
    public static final long DEFAULT_BYTES = 1L << 30;
    private static final int CHUNK = 4 << 20;
    private static final int PASSES = 8;
    private static final VectorSpecies<Long> LS = VectorSpecies.of(long.class, VectorShape.forBitSize(Vec.F.vectorBitSize()));
    private static final int LB = LS.vectorByteSize();

    /** {@link #measureReadBytesPerSecond(Parallel, long)} with {@link #DEFAULT_BYTES}. */
    public static double measureReadBytesPerSecond(Parallel p) {
        return measureReadBytesPerSecond(p, DEFAULT_BYTES);
    }

    /**
     * Reads an off-heap buffer of {@code bytes} (rounded down to whole 4 MiB, at least 4 MiB) with
     * Vector-API loads on all threads of {@code p}, in 4 MiB tasks each read as 4 interleaved
     * streams (as the 4-row matmul kernels read W; one stream per core reaches ~15% less);
     * returns the best of 8 passes in bytes per second. The buffer is written first so that
     * every page is resident, and the reading kernel is JIT-compiled before the first pass.
     */
    public static double measureReadBytesPerSecond(Parallel p, long bytes) {
        final int chunks = (int) Math.max(1, Math.min(Integer.MAX_VALUE, bytes / CHUNK));
        final long size = (long) chunks * CHUNK;
        try (Arena arena = Arena.ofShared()) {
            // huge pages where the KV pool gets them too (kv.HugePages), so both read the same kind of pages
            final MemorySegment seg = io.chunkserve.kv.HugePages.allocate(arena, size);
            p.forRange(chunks, i -> seg.asSlice((long) i * CHUNK, CHUNK).fill((byte) (i * 31 + 7)));
            final long[] sink = new long[chunks];
            // compile sum() first (from a cache-resident slice): an interpreted pass would read slower
            // and deflate the figure; C2 needs a few thousand calls
            final MemorySegment hot = seg.asSlice(0, 4096);
            for (int i = 0; i < 20_000; i++) sink[i % chunks] += sum(hot, 0, 4096);
            double best = 0;
            for (int pass = 0; pass < PASSES; pass++) {
                long t0 = System.nanoTime();
                p.forRange(chunks, i -> sink[i] = sum(seg, (long) i * CHUNK, CHUNK));
                long dt = System.nanoTime() - t0;
                best = Math.max(best, size * 1e9 / dt);
            }
            long check = 0;
            for (long s : sink) check += s;
            if (check == 42) System.out.print(""); // keep the sums alive
            return best;
        }
    }

    /**
     * A buffer kept for repeated single measurements (benchmarks pair one with each timed window, so
     * that a window's tokens/s is set against the bandwidth of the same moment): allocated, written and
     * the reading kernel compiled once; {@link #pass} reads it once as {@link #measureReadBytesPerSecond} does.
     */
    public static final class Meter implements AutoCloseable {
        private final Arena arena = Arena.ofShared();
        private final Parallel p;
        private final MemorySegment seg;
        private final int chunks;
        private final long[] sink;

        public Meter(Parallel p, long bytes) {
            this.p = p;
            this.chunks = (int) Math.max(1, Math.min(Integer.MAX_VALUE, bytes / CHUNK));
            this.seg = io.chunkserve.kv.HugePages.allocate(arena, (long) chunks * CHUNK);
            this.sink = new long[chunks];
            p.forRange(chunks, i -> seg.asSlice((long) i * CHUNK, CHUNK).fill((byte) (i * 31 + 7)));
            MemorySegment hot = seg.asSlice(0, 4096);
            for (int i = 0; i < 20_000; i++) sink[i % chunks] += sum(hot, 0, 4096);
        }

        /** One read of the whole buffer on all threads: bytes per second. */
        public double pass() {
            long t0 = System.nanoTime();
            p.forRange(chunks, i -> sink[i] += sum(seg, (long) i * CHUNK, CHUNK));
            return (double) chunks * CHUNK * 1e9 / (System.nanoTime() - t0);
        }

        @Override
        public void close() { arena.close(); }
    }

    /**
     * Sum of the longs of seg[off, off + len) read as 4 interleaved streams of len/4, whole vectors only
     * (for a len that is not a multiple of 4 vectors the few bytes after them are not read). Also the
     * read-ahead of the batch-1 decode attention ({@code attention.SplitDecode}).
     */
    public static long sum(MemorySegment seg, long off, int len) {
        final long q = len / (4 * LB) * LB;
        LongVector a0 = LongVector.zero(LS), a1 = a0, a2 = a0, a3 = a0;
        for (long o = off, end = off + q; o < end; o += LB) {
            a0 = a0.add(LongVector.fromMemorySegment(LS, seg, o, ByteOrder.LITTLE_ENDIAN));
            a1 = a1.add(LongVector.fromMemorySegment(LS, seg, o + q, ByteOrder.LITTLE_ENDIAN));
            a2 = a2.add(LongVector.fromMemorySegment(LS, seg, o + 2 * q, ByteOrder.LITTLE_ENDIAN));
            a3 = a3.add(LongVector.fromMemorySegment(LS, seg, o + 3 * q, ByteOrder.LITTLE_ENDIAN));
        }
        return a0.add(a1).add(a2.add(a3)).reduceLanes(jdk.incubator.vector.VectorOperators.ADD);
    }
}
