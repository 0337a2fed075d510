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
 *   --ms M           measuring time per configuration in ms (default 200)
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
        long ms = 200, bwMib = 1024, coldMib = 256;
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
        int[][] shapes = quick ? new int[][] {{576, 1536}, {2048, 8192}} : new int[][] {{576, 1536}, {2048, 8192}, {8192, 2048}};
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

            // a whole decode step of a SmolLM-135M-shaped model: many small matmuls, dispatch included
            double[] steps = decodeStep(k, new int[] {1, 16}, ms);
            double[] step1 = {steps[0], steps[2]}, step16 = {steps[1], steps[2]};
            System.out.printf(Locale.ROOT, "%nSmolLM-135M-shaped decode step (bf16, 30 layers + lm_head, %.0f MB of weights, qkv and gate/up as matmulMany):%n",
                    step1[1] / 1e6);
            System.out.printf(Locale.ROOT, "  T=1:  %.2f ms/step  %.1f GB/s (%.0f%% of bandwidth)%n", step1[0] * 1e3, step1[1] / step1[0] / 1e9,
                    100 * step1[1] / step1[0] / bw);
            System.out.printf(Locale.ROOT, "  T=16: %.2f ms/step  (%.2fx the T=1 step for 16x the tokens)%n", step16[0] * 1e3, step16[0] / step1[0]);

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
            double bwEnd = MemoryBandwidth.measureReadBytesPerSecond(k, bwMib << 20);
            System.out.printf(Locale.ROOT, "DRAM read bandwidth again at the end: %.1f GB/s (%%BW above uses %.1f; on a shared machine both vary)%n",
                    bwEnd / 1e9, bw / 1e9);
            System.out.printf(Locale.ROOT, "total %.1f s%n", (System.nanoTime() - start) / 1e9);

            StringBuilder json = new StringBuilder();
            json.append(String.format(Locale.ROOT,
                    "{\"threads\":%d,\"species\":\"%s\",\"bandwidth_gbs\":%.2f,\"bandwidth_end_gbs\":%.2f,\"bandwidth_1thread_gbs\":%.2f,\"dispatch_us\":%.3f,"
                            + "\"scalar_baseline_gbs\":%.3f,\"vector_1thread_gbs\":%.2f,\"vector_gbs\":%.2f,"
                            + "\"decode_step_ms\":%.3f,\"decode_step_gbs\":%.2f,\"decode_step_t16_ms\":%.3f,\"matmul\":[",
                    threads, Vec.F, bw / 1e9, bwEnd / 1e9, bw1 / 1e9, dispatchNs / 1e3, scalarGbs, vec1Gbs, vecGbs,
                    step1[0] * 1e3, step1[1] / step1[0] / 1e9, step16[0] * 1e3));
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
        MemorySegment proto = randomData(arena, dt, (long) rows * cols);
        Weight[] ws = new Weight[n];
        for (int c = 0; c < n; c++) {
            MemorySegment s = c == 0 ? proto : arena.allocate(bytes + 64, 64).asSlice(2, bytes);
            if (c > 0) s.copyFrom(proto);
            ws[c] = new Weight("bench" + c, s, dt, rows, cols);
        }
        return ws;
    }

    /** N(0, 0.02²) values in dtype dt at a 2-byte misaligned offset: a random 64 Ki-element block, repeated. */
    static MemorySegment randomData(Arena arena, DType dt, long count) {
        long bytes = count * dt.bytes();
        MemorySegment seg = arena.allocate(bytes + 64, 64).asSlice(2, bytes);
        SplittableRandom rnd = new SplittableRandom(11);
        ValueLayout.OfShort i16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        ValueLayout.OfFloat f32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        long block = Math.min(count, 1 << 16);
        for (long i = 0; i < block; i++) {
            float v = (float) (rnd.nextGaussian() * 0.02);
            switch (dt) {
                case F32 -> seg.set(f32, 4 * i, v);
                case F16 -> seg.set(i16, 2 * i, Float.floatToFloat16(v));
                case BF16 -> seg.set(i16, 2 * i, DType.floatToBf16(v));
            }
        }
        long blockBytes = block * dt.bytes();
        for (long o = blockBytes; o < bytes; o += blockBytes) {
            MemorySegment.copy(seg, 0, seg, o, Math.min(blockBytes, bytes - o));
        }
        return seg;
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

    /**
     * Best time of one decode step's matmuls for a SmolLM-135M-shaped model (hidden 576, 9 heads
     * and 3 KV heads of 64, intermediate 1536, 30 layers, vocab 49152), bf16: the best seconds
     * per step for each T, then the weight bytes.
     */
    private static double[] decodeStep(CpuKernels k, int[] Ts, long ms) {
        int hidden = 576, kv = 192, inter = 1536, layers = 30, vocab = 49152;
        try (Arena arena = Arena.ofShared()) {
            Weight[][] qkv = new Weight[layers][], gateUp = new Weight[layers][];
            Weight[] o = new Weight[layers], down = new Weight[layers];
            long bytes = 0;
            for (int l = 0; l < layers; l++) {
                qkv[l] = new Weight[] {copies(arena, DType.BF16, hidden, hidden, 0)[0], copies(arena, DType.BF16, kv, hidden, 0)[0],
                    copies(arena, DType.BF16, kv, hidden, 0)[0]};
                o[l] = copies(arena, DType.BF16, hidden, hidden, 0)[0];
                gateUp[l] = new Weight[] {copies(arena, DType.BF16, inter, hidden, 0)[0], copies(arena, DType.BF16, inter, hidden, 0)[0]};
                down[l] = copies(arena, DType.BF16, hidden, inter, 0)[0];
                bytes += 2L * (hidden * hidden * 2 + 2 * kv * hidden + 3 * inter * hidden);
            }
            Weight head = copies(arena, DType.BF16, vocab, hidden, 0)[0];
            bytes += 2L * vocab * hidden;
            double[] result = new double[Ts.length + 1];
            result[Ts.length] = bytes;
            for (int ti = 0; ti < Ts.length; ti++) {
            int T = Ts[ti];
            float[] x = randomFloats(T * inter, 5);
            float[][] qkvOut = {new float[T * hidden], new float[T * kv], new float[T * kv]};
            float[][] guOut = {new float[T * inter], new float[T * inter]};
            float[] h = new float[T * hidden], logits = new float[T * vocab];
            double best = Double.MAX_VALUE;
            long end = System.nanoTime() + 2 * ms * 1_000_000L;
            int n = 0;
            do {
                long t0 = System.nanoTime();
                for (int l = 0; l < layers; l++) {
                    k.matmulMany(qkv[l], x, T, qkvOut);
                    k.matmul(o[l], x, T, h);
                    k.matmulMany(gateUp[l], x, T, guOut);
                    k.matmul(down[l], x, T, h);
                }
                k.matmul(head, x, T, logits);
                best = Math.min(best, (System.nanoTime() - t0) / 1e9);
            } while (++n < 3 || System.nanoTime() < end);
            result[ti] = best;
            }
            return result;
        }
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
