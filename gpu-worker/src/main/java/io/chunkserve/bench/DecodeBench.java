package io.chunkserve.bench;

import io.chunkserve.kv.ChunkPool;
import io.chunkserve.kv.KvLayout;
import io.chunkserve.model.DType;
import io.chunkserve.model.ModelConfig;
import io.chunkserve.model.ModelWeights;
import io.chunkserve.runtime.ForwardBatch;
import io.chunkserve.runtime.cpu.CpuKernels;
import io.chunkserve.runtime.cpu.CpuModelRunner;
import io.chunkserve.runtime.cpu.MemoryBandwidth;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code chunkserve bench decode}: decode tokens/s of a random-weight model of a real shape at
 * batch 1 and batch 16 on the CPU, beside the memory roofline (matrix bytes per step / measured
 * read bandwidth) measured in the same run.
 */
public final class DecodeBench {
    private DecodeBench() { }

    public static void main(String[] args) {
        Map<String, String> a = Args.parse(args, Map.of("--shape", "smollm2-135m,llama-3.2-1b", "--dtype", "bf16", "--threads",
                String.valueOf(Runtime.getRuntime().availableProcessors()), "--steps", "64", "--context", "64", "--batch", "16"));
        List<String> shapes = List.of(a.get("--shape").split(","));
        DType dt = DType.parse(a.get("--dtype"));
        int threads = Integer.parseInt(a.get("--threads")), steps = Integer.parseInt(a.get("--steps"));
        int context = Integer.parseInt(a.get("--context")), batch = Integer.parseInt(a.get("--batch"));
        try (CpuKernels k = new CpuKernels(threads)) {
            k.warmUp(); // compile every kernel path before anything is timed
            // Bandwidth is measured before each shape and after the last (each the best of 8 passes);
            // the roofline uses the best of all: on a shared machine a single measurement can land in
            // a busy moment and flatter the decode figures, the best one cannot.
            List<Double> bws = new ArrayList<>();
            List<double[]> runs = new ArrayList<>(); // per shape: bytes, b1, bn (means), b1, bn (median windows)
            for (String shape : shapes) {
                ModelConfig c = RandomModel.shape(shape);
                try (Arena arena = Arena.ofShared()) {
                    ModelWeights w = RandomModel.weights(c, dt, arena, 42);
                    bws.add(MemoryBandwidth.measureReadBytesPerSecond(k, 1L << 30));
                    double[] b1 = run(c, w, k, 1, context, steps);
                    double[] bn = run(c, w, k, batch, context, Math.max(WINDOWS, steps / 4));
                    runs.add(new double[] {w.matrixBytesPerStep(), b1[0], bn[0], b1[1], bn[1]});
                }
            }
            bws.add(MemoryBandwidth.measureReadBytesPerSecond(k, 1L << 30));
            double bw = bws.stream().mapToDouble(Double::doubleValue).max().orElseThrow();
            StringBuilder each = new StringBuilder();
            for (double b : bws) each.append(each.isEmpty() ? "" : ", ").append(String.format(Locale.ROOT, "%.1f", b / 1e9));
            System.out.printf(Locale.ROOT, "machine: %s, %d threads, measured read bandwidth %.1f GB/s (best of %s)%n",
                    Args.machine(), threads, bw / 1e9, each);
            System.out.printf(Locale.ROOT, "%-14s %-5s %10s %12s %12s %9s %12s %12s %9s %12s %9s%n", "shape", "dtype", "weights_MB",
                    "tok/s_b1", "roofline_b1", "b1/roof", "tok/s_b" + batch, "roofline_b" + batch, "speedup", "med_tok/s_b1", "med/roof");
            Map<String, Object> result = new LinkedHashMap<>();
            for (int i = 0; i < shapes.size(); i++) {
                String shape = shapes.get(i);
                double[] r0 = runs.get(i);
                long bytes = (long) r0[0];
                double b1 = r0[1], bn = r0[2], med1 = r0[3], medN = r0[4];
                double roof1 = bw / bytes;
                System.out.printf(Locale.ROOT, "%-14s %-5s %10.1f %12.2f %12.2f %8.0f%% %12.2f %12.2f %8.1fx %12.2f %8.0f%%%n", shape,
                        dt.name().toLowerCase(Locale.ROOT), bytes / 1e6, b1, roof1, 100 * b1 / roof1, bn, roof1 * batch, bn / b1,
                        med1, 100 * med1 / roof1);
                Map<String, Object> r = new LinkedHashMap<>();
                r.put("tokens_per_s_b1", round(b1));
                r.put("roofline_b1", round(roof1));
                r.put("fraction_of_roofline_b1", round(b1 / roof1));
                r.put("tokens_per_s_b" + batch, round(bn));
                r.put("tokens_per_s_b16", round(bn));
                r.put("median_window_tokens_per_s_b1", round(med1));
                r.put("median_window_fraction_of_roofline_b1", round(med1 / roof1));
                r.put("median_window_tokens_per_s_b" + batch, round(medN));
                r.put("weight_bytes_per_step", bytes);
                result.put(shape, r);
            }
            Map<String, Object> out = new LinkedHashMap<>();
            if (result.size() == 1) out.putAll(castMap(result.values().iterator().next()));
            out.put("shapes", result);
            out.put("bandwidth_gb_s", round(bw / 1e9));
            out.put("bandwidth_measurements_gb_s", bws.stream().map(b -> round(b / 1e9)).toList());
            out.put("threads", threads);
            out.put("dtype", dt.name().toLowerCase(Locale.ROOT));
            System.out.println("RESULT " + Args.json(out));
        }
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> castMap(Object o) { return (Map<String, Object>) o; }

    private static final long WARM_NANOS = 1_000_000_000L;
    private static final int MAX_WARM_STEPS = 64;
    private static final int WINDOWS = 4;

    static double round(double x) { return Math.round(x * 1000) / 1000.0; }

    /**
     * Decode tokens/s with {@code batch} sequences, each with {@code context} tokens already in the
     * KV: {mean over all timed steps, median of the windows}.
     */
    static double[] run(ModelConfig c, ModelWeights w, CpuKernels k, int batch, int context, int steps) {
        int chunk = 64;
        int perSeq = (context + steps + WINDOWS + MAX_WARM_STEPS + chunk - 1) / chunk;
        try (CpuModelRunner runner = new CpuModelRunner(c, w, k);
             ChunkPool pool = new ChunkPool(new KvLayout(c.numLayers(), c.numKvHeads(), c.headDim(), chunk, DType.F32), perSeq * batch)) {
            List<int[]> tables = new ArrayList<>();
            for (int s = 0; s < batch; s++) {
                int[] t = new int[perSeq];
                for (int i = 0; i < perSeq; i++) t[i] = pool.allocate();
                tables.add(t);
            }
            float[] logits = new float[batch * c.vocabSize()];
            ForwardBatch fb = new ForwardBatch();
            int[] prompt = new int[context];
            for (int i = 0; i < context; i++) prompt[i] = (i * 31 + 7) % c.vocabSize();
            for (int s = 0; s < batch; s++) runner.forward(fb.clear().add(prompt, 0, context, 0, tables.get(s), true), pool, logits);
            int[] next = new int[1];
            // untimed warm-up steps: at least 3, then up to WARM_NANOS (at most MAX_WARM_STEPS), so that the JIT has compiled
            // the per-token code (norms, attention, dispatch) before the timed steps
            int warm = 0;
            for (long w0 = System.nanoTime(); warm < 3 || (warm < MAX_WARM_STEPS && System.nanoTime() - w0 < WARM_NANOS); warm++) {
                fb.clear();
                for (int s = 0; s < batch; s++) {
                    next[0] = (warm * 17 + s) % c.vocabSize();
                    fb.add(next, 0, 1, context + warm, tables.get(s), true);
                }
                runner.forward(fb, pool, logits);
            }
            // timed steps in WINDOWS equal windows: the mean over all of them, and the median window
            // (robust to another process taking a core for part of the run, as the best-of-passes
            // bandwidth is)
            int per = Math.max(1, steps / WINDOWS), timed = per * WINDOWS;
            double[] win = new double[WINDOWS];
            long start = System.nanoTime(), t0 = start;
            for (int step = warm; step < warm + timed; step++) {
                fb.clear();
                for (int s = 0; s < batch; s++) {
                    next[0] = (step * 17 + s) % c.vocabSize();
                    fb.add(next, 0, 1, context + step, tables.get(s), true);
                }
                runner.forward(fb, pool, logits);
                if ((step - warm + 1) % per == 0) {
                    long t1 = System.nanoTime();
                    win[(step - warm) / per] = batch * per * 1e9 / (t1 - t0);
                    t0 = t1;
                }
            }
            double mean = batch * timed * 1e9 / (System.nanoTime() - start);
            double[] sorted = win.clone();
            java.util.Arrays.sort(sorted);
            return new double[] {mean, (sorted[(WINDOWS - 1) / 2] + sorted[WINDOWS / 2]) / 2};
        }
    }
}
