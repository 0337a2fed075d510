package io.chunkserve.runtime.cpu;

import io.chunkserve.model.Weight;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Where each thread's row range of an upcoming one-token dispatch starts: the heads of its four
 * row streams (as {@link MatKernels#gemvPieces} will read them). A thread waiting at the end of
 * the previous dispatch (or between dispatches) touches those heads, so that its streams start
 * from cache and with the prefetcher already running instead of from cold DRAM. Built once per (layer, matmul) by the
 * forward pass; immutable. (With helping, a thread may go on into another task's rows: those start cold.)
 */
final class TouchPlan {
    /** Bytes touched per line step of each stream: one 8-byte load per 64-byte line. */
    static final int LINE = 64;

    /** The stream heads of each participant's range. Immutable. */
    static final class Heads {
        final MemorySegment[][] seg; // [participant][stream]
        final long[][] off, end;     // byte offsets in seg

        private Heads(int threads) {
            seg = new MemorySegment[threads][4];
            off = new long[threads][4];
            end = new long[threads][4];
        }
    }

    private final Heads heads;

    private TouchPlan(Heads heads) { this.heads = heads; }

    /** The plan of a GemvJob set up with the upcoming weights; at most {@code budget} bytes per stream. */
    static TouchPlan of(GemvJob j, int threads, long budget) { return new TouchPlan(build(j, threads, budget)); }

    /** Each participant's stream heads. */
    Heads heads() { return heads; }

    private static Heads build(GemvJob j, int threads, long budget) {
        Heads tp = new Heads(threads);
        Weight[] pw = new Weight[Math.max(2, j.count)];
        int[] lo = new int[pw.length], hi = new int[pw.length];
        for (int t = 0; t < threads; t++) {
            int pieces = t < j.tasks() ? j.pieces(t, pw, null, lo, hi) : 0;
            int total = 0;
            for (int k = 0; k < pieces; k++) total += hi[k] - lo[k];
            int q = total / 4;
            for (int s = 0; s < 4; s++) {
                if (q == 0) {
                    tp.seg[t][s] = MemorySegment.NULL;
                    continue;
                }
                int g = s * q, k = 0;
                while (g >= hi[k] - lo[k]) g -= hi[k] - lo[k++];
                Weight w = pw[k];
                long rowBytes = (long) w.dtype().bytes() * w.cols();
                long start = (lo[k] + g) * rowBytes;
                long stop = Math.min(hi[k] * rowBytes, start + Math.min(budget, q * rowBytes));
                tp.seg[t][s] = w.data();
                tp.off[t][s] = start;
                tp.end[t][s] = stop;
            }
        }
        return tp;
    }

    /** Touches {@code lines} lines of each of participant p's streams from byte {@code from} on; false when past all their ends. */
    boolean touch(int p, long from, int lines, long[] sink, int sinkIndex) {
        Heads h = heads;
        if (p >= h.seg.length) return false;
        MemorySegment[] sg = h.seg[p];
        long[] o = h.off[p], e = h.end[p];
        long acc = 0;
        boolean more = false;
        for (int s = 0; s < 4; s++) {
            long a = o[s] + from, b = Math.min(e[s], a + (long) lines * LINE);
            MemorySegment m = sg[s];
            for (long x = a; x < b; x += LINE) acc += m.get(ValueLayout.JAVA_LONG_UNALIGNED, x);
            more |= b < e[s];
        }
        sink[sinkIndex] += acc;
        return more;
    }
}
