package io.chunkserve.runtime.cpu;

import io.chunkserve.model.DType;
import io.chunkserve.model.Weight;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Matmul throughput of {@link CpuKernels} against the measured DRAM read bandwidth.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
 *      -cp gpu-worker/target/classes io.chunkserve.runtime.cpu.KernelBench [options]
 *   --threads N      worker threads incl. the caller (default: available processors)
 *   --ms M           measuring time per configuration in ms (default 300)
 *   --bw-mib M       bandwidth buffer (default 1024)
 *   --cold-mib M     each weight is cycled through copies totalling at least this (default 256),
 *                    so that T = 1 streams from DRAM as it does in a real decode step
 *   --quick          fewer shapes and batch sizes
 * </pre>
 *
 * GB/s counts weight bytes per second (the batch-1 roofline); GFLOP/s counts 2·rows·cols·T.
 * Times are the best of many calls (the machine may be shared); the median is printed beside
 * it. The last line is {@code RESULT {json}}.
 */
public final class KernelBench {
    private KernelBench() { }

    private record Row(String dtype, int rows, int cols, int T, double bestUs, double medianUs, double gbs, double pctBw, double gflops) { }

    public static void main(String[] args) {
        int threads = Runtime.getRuntime().availableProcessors();
        long ms = 300, bwMib = 1024, coldMib = 256;
        boolean quick = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--threads" -> threads = Integer.parseInt(args[++i]);
                case "--ms" -> ms = Long.parseLong(args[++i]);
                case "--bw-mib" -> bwMib = Long.parseLong(args[++i]);
                case "--cold-mib" -> coldMib = Long.parseLong(args[++i]);
                case "--quick" -> quick = true;
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        long start = System.nanoTime();
        int[][] shapes = quick ? new int[][] {{576, 1536}, {2048, 8192}} : new int[][] {{576, 1536}, {1536, 576}, {2048, 8192}, {8192, 2048}};
        int[] Ts = quick ? new int[] {1, 16} : new int[] {1, 4, 16, 64};
        DType[] dtypes = {DType.BF16, DType.F16, DType.F32};

        try (CpuKernels k = new CpuKernels(threads)) {
            System.out.printf(Locale.ROOT, "KernelBench: %s, Java %s, %s%n", k, Runtime.version(), System.getProperty("os.arch"));
            long w0 = System.nanoTime();
            k.warmUp();
            warmUp(k);
            System.out.printf(Locale.ROOT, "warm-up %.2f s%n", (System.nanoTime() - w0) / 1e9);
            double bw = 0;
            for (int i = 0; i < 2; i++) bw = Math.max(bw, MemoryBandwidth.measureReadBytesPerSecond(k, bwMib << 20));
            double bw1;
            try (CpuKernels one = new CpuKernels(1)) {
                bw1 = MemoryBandwidth.measureReadBytesPerSecond(one, Math.min(bwMib, 512) << 20);
            }
            System.out.printf(Locale.ROOT, "DRAM read bandwidth: %.1f GB/s (%d threads), %.1f GB/s (1 thread)%n", bw / 1e9, threads, bw1 / 1e9);
            double dispatchNs = dispatchLatencyNs(k);
            System.out.printf(Locale.ROOT, "forRange(%d, no-op) dispatch: %.2f us%n", threads, dispatchNs / 1e3);

            System.out.printf(Locale.ROOT, "%n%-5s %11s %4s %10s %10s %8s %6s %9s%n",
                    "dtype", "rows x cols", "T", "best us", "median us", "GB/s", "%BW", "GFLOP/s");
            List<Row> rows = new ArrayList<>();
            for (int[] shape : shapes) {
                for (DType dt : dtypes) {
                    try (Arena arena = Arena.ofShared()) {
                        Weight[] ws = copies(arena, dt, shape[0], shape[1], coldMib << 20);
                        for (int T : Ts) {
                            Row r = measure(k, ws, T, ms, bw);
                            rows.add(r);
                            System.out.printf(Locale.ROOT, "%-5s %5d x %-5d %4d %10.1f %10.1f %8.2f %5.0f%% %9.1f%n",
                                    r.dtype, r.rows, r.cols, r.T, r.bestUs, r.medianUs, r.gbs, r.pctBw, r.gflops);
                        }
                    }
                }
            }

            // naive scalar baseline (the former placeholder) against the kernels on one shape
            double scalarGbs, vec1Gbs, vecGbs;
            try (Arena arena = Arena.ofShared(); CpuKernels one = new CpuKernels(1)) {
                Weight[] ws = copies(arena, DType.BF16, 576, 1536, coldMib << 20);
                float[] x = randomFloats(1536, 3), out = new float[576];
                long bytes = ws[0].byteSize();
                long t0 = System.nanoTime();
                int n = 0;
                do {
                    naive(ws[n % ws.length], x, out);
                    n++;
                } while (System.nanoTime() - t0 < ms * 1_000_000L);
                scalarGbs = bytes * (double) n / (System.nanoTime() - t0);
                vec1Gbs = measure(one, ws, 1, ms, bw).gbs;
                vecGbs = measure(k, ws, 1, ms, bw).gbs;
            }
            System.out.printf(Locale.ROOT, "%nbf16 576 x 1536, T=1: naive scalar (1 thread) %.2f GB/s; vector 1 thread %.2f GB/s (%.0fx); %d threads %.2f GB/s (%.0fx)%n",
                    scalarGbs, vec1Gbs, vec1Gbs / scalarGbs, threads, vecGbs, vecGbs / scalarGbs);
            System.out.printf(Locale.ROOT, "total %.1f s%n", (System.nanoTime() - start) / 1e9);

            StringBuilder json = new StringBuilder();
            json.append(String.format(Locale.ROOT,
                    "{\"threads\":%d,\"species\":\"%s\",\"bandwidth_gbs\":%.2f,\"bandwidth_1thread_gbs\":%.2f,\"dispatch_us\":%.3f,"
                            + "\"scalar_baseline_gbs\":%.3f,\"vector_1thread_gbs\":%.2f,\"vector_gbs\":%.2f,\"matmul\":[",
                    threads, Vec.F, bw / 1e9, bw1 / 1e9, dispatchNs / 1e3, scalarGbs, vec1Gbs, vecGbs));
            for (int i = 0; i < rows.size(); i++) {
                Row r = rows.get(i);
                if (i > 0) json.append(',');
                json.append(String.format(Locale.ROOT,
                        "{\"dtype\":\"%s\",\"rows\":%d,\"cols\":%d,\"T\":%d,\"best_us\":%.1f,\"median_us\":%.1f,\"gbs\":%.2f,\"pct_bw\":%.1f,\"gflops\":%.1f}",
                        r.dtype, r.rows, r.cols, r.T, r.bestUs, r.medianUs, r.gbs, r.pctBw, r.gflops));
            }
            json.append("]}");
            System.out.println("RESULT " + json);
        }
    }

    private static Row measure(CpuKernels k, Weight[] ws, int T, long ms, double bw) {
        Weight w0 = ws[0];
        float[] x = randomFloats(T * w0.cols(), 7), out = new float[T * w0.rows()];
        for (int i = 0; i < Math.min(3, ws.length); i++) k.matmul(ws[i], x, T, out);
        long[] times = new long[1 << 16];
        int n = 0;
        long end = System.nanoTime() + ms * 1_000_000L;
        do {
            long t0 = System.nanoTime();
            k.matmul(ws[n % ws.length], x, T, out);
            times[n++] = System.nanoTime() - t0;
        } while (n < times.length && (System.nanoTime() < end || n < 5));
        Arrays.sort(times, 0, n);
        double best = times[0] / 1e3, median = times[n / 2] / 1e3;
        double gbs = w0.byteSize() / (best * 1e3);
        return new Row(w0.dtype().name().toLowerCase(Locale.ROOT), w0.rows(), w0.cols(), T, best, median, gbs,
                100 * gbs * 1e9 / bw, 2.0 * w0.rows() * w0.cols() * T / (best * 1e3));
    }

    /** Copies of one random weight, at 2-byte misaligned offsets, totalling at least minBytes. */
    static Weight[] copies(Arena arena, DType dt, int rows, int cols, long minBytes) {
        long bytes = (long) rows * cols * dt.bytes();
        int n = (int) Math.max(1, (minBytes + bytes - 1) / bytes);
        MemorySegment proto = arena.allocate(bytes, 64);
        SplittableRandom rnd = new SplittableRandom(11);
        ValueLayout.OfShort i16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        ValueLayout.OfFloat f32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        long count = (long) rows * cols;
        for (long i = 0; i < count; i++) {
            float v = (float) (rnd.nextGaussian() * 0.02);
            switch (dt) {
                case F32 -> proto.set(f32, 4 * i, v);
                case F16 -> proto.set(i16, 2 * i, Float.floatToFloat16(v));
                case BF16 -> proto.set(i16, 2 * i, DType.floatToBf16(v));
            }
        }
        Weight[] ws = new Weight[n];
        for (int c = 0; c < n; c++) {
            MemorySegment s = arena.allocate(bytes + 64, 64).asSlice(2, bytes);
            s.copyFrom(proto);
            ws[c] = new Weight("bench" + c, s, dt, rows, cols);
        }
        return ws;
    }

    private static float[] randomFloats(int n, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) rnd.nextGaussian();
        return a;
    }

    /** Runs every kernel path on small shapes so that C2 has compiled them before timing. */
    private static void warmUp(CpuKernels k) {
        try (Arena arena = Arena.ofShared()) {
            for (DType dt : DType.values()) {
                Weight w = copies(arena, dt, 64, 256 + 3, 0)[0];
                for (int T : new int[] {1, 3, 8}) {
                    float[] x = randomFloats(T * w.cols(), 1), out = new float[T * w.rows()];
                    for (int i = 0; i < 3000 / T; i++) k.matmul(w, x, T, out);
                }
            }
        }
    }

    private static double dispatchLatencyNs(CpuKernels k) {
        int[] sink = new int[64];
        java.util.function.IntConsumer noop = i -> sink[i & 63]++;
        for (int i = 0; i < 20_000; i++) k.forRange(k.threads(), noop);
        double best = Double.MAX_VALUE;
        for (int rep = 0; rep < 5; rep++) {
            long t0 = System.nanoTime();
            for (int i = 0; i < 20_000; i++) k.forRange(k.threads(), noop);
            best = Math.min(best, (System.nanoTime() - t0) / 20_000.0);
        }
        return best;
    }

    /** The original scalar kernel: element access through Weight.get. */
    private static void naive(Weight w, float[] x, float[] out) {
        int rows = w.rows(), cols = w.cols();
        for (int r = 0; r < rows; r++) {
            float acc = 0;
            for (int c = 0; c < cols; c++) acc += w.get(r, c) * x[c];
            out[r] = acc;
        }
    }
}
