package io.chunkserve.bench;

import io.chunkserve.engine.WorkerConfig;
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
                String.valueOf(Runtime.getRuntime().availableProcessors()), "--steps", "64", "--context", "64", "--batch", "16",
                "--kv-dtype", "auto", "--prefill", "512"));
        List<String> shapes = List.of(a.get("--shape").split(","));
        DType dt = DType.parse(a.get("--dtype"));
        // the KV element type a server picks for such a checkpoint by default (serve --kv-dtype auto), or the one asked for
        DType kvDt = a.get("--kv-dtype").equalsIgnoreCase("auto") ? WorkerConfig.autoKvDtype(dt) : DType.parse(a.get("--kv-dtype"));
        int threads = Integer.parseInt(a.get("--threads")), steps = Integer.parseInt(a.get("--steps"));
        int context = Integer.parseInt(a.get("--context")), batch = Integer.parseInt(a.get("--batch"));
        int prefillTokens = Integer.parseInt(a.get("--prefill"));
        try (CpuKernels k = new CpuKernels(threads)) {
            k.warmUp(); // compile every kernel path before anything is timed
            // Bandwidth is measured before each shape and after the last (each the best of 8 passes), and
            // beside each b1 window (the paired passes); the roofline uses the best of all: on a shared
            // machine a single measurement can land in a busy moment and flatter the decode figures, the
            // best one cannot.
            List<Double> bws = new ArrayList<>();
            List<double[]> runs = new ArrayList<>(); // per shape: bytes, b1, bn (means), b1, bn (median windows), paired b1 fraction
            List<double[]> paired = new ArrayList<>(); // per shape: the meter beside each b1 window (GB/s), then each window's fraction
            List<double[]> prefills = new ArrayList<>(); // per shape: prefill seconds (best of 2), matrix FMAs, the FMA peak (scalar FMAs/s)
            for (String shape : shapes) {
                ModelConfig c = RandomModel.shape(shape);
                try (Arena arena = Arena.ofShared()) {
                    ModelWeights w = RandomModel.weights(c, dt, arena, 42);
                    bws.add(MemoryBandwidth.measureReadBytesPerSecond(k, 1L << 30));
                    double[] b1 = run(c, w, k, 1, context, steps, true, kvDt);
                    double[] bn = run(c, w, k, batch, context, Math.max(WINDOWS, steps / 4), false, kvDt);
                    runs.add(new double[] {w.matrixBytesPerStep(), b1[0], bn[0], b1[1], bn[1]});
                    paired.add(java.util.Arrays.copyOfRange(b1, 2, b1.length));
                    prefills.add(prefillTokens > 0 ? prefill(c, w, k, prefillTokens, kvDt) : null);
                }
            }
            bws.add(MemoryBandwidth.measureReadBytesPerSecond(k, 1L << 30));
            // the best of every pass of the run, the paired passes beside the b1 windows included (a 1 GiB measurement
            // that landed in a slow spell would otherwise set a roofline the windows beat)
            double pairedBest = 0;
            for (double[] pr : paired) for (int j = 0; j <= WINDOWS; j++) pairedBest = Math.max(pairedBest, pr[j]);
            double bw = Math.max(pairedBest, bws.stream().mapToDouble(Double::doubleValue).max().orElseThrow());
            StringBuilder each = new StringBuilder();
            for (double b : bws) each.append(each.isEmpty() ? "" : ", ").append(String.format(Locale.ROOT, "%.1f", b / 1e9));
            System.out.printf(Locale.ROOT, "machine: %s, %d threads, measured read bandwidth %.1f GB/s (best of %s and the paired passes, best %.1f); KV %s%n",
                    Args.machine(), threads, bw / 1e9, each, pairedBest / 1e9, kvDt.name().toLowerCase(Locale.ROOT));
            System.out.printf(Locale.ROOT, "%-14s %-5s %10s %12s %12s %9s %12s %12s %9s %12s %9s %9s%n", "shape", "dtype", "weights_MB",
                    "tok/s_b1", "roofline_b1", "b1/roof", "tok/s_b" + batch, "roofline_b" + batch, "speedup", "med_tok/s_b1", "med/roof",
                    "pair/roof");
            Map<String, Object> result = new LinkedHashMap<>();
            for (int i = 0; i < shapes.size(); i++) {
                String shape = shapes.get(i);
                double[] r0 = runs.get(i);
                long bytes = (long) r0[0];
                double b1 = r0[1], bn = r0[2], med1 = r0[3], medN = r0[4];
                double roof1 = bw / bytes;
                // paired: each b1 window's tokens/s against the meter read right beside it (the mean of the passes before and
                // after the window), median over the windows
                double[] pr = paired.get(i);
                double[] fr = new double[WINDOWS];
                for (int j = 0; j < WINDOWS; j++) fr[j] = pr[WINDOWS + 1 + j];
                double pairFrac = DecodeAbBench.median(fr);
                System.out.printf(Locale.ROOT, "%-14s %-5s %10.1f %12.2f %12.2f %8.0f%% %12.2f %12.2f %8.1fx %12.2f %8.0f%% %8.0f%%%n", shape,
                        dt.name().toLowerCase(Locale.ROOT), bytes / 1e6, b1, roof1, 100 * b1 / roof1, bn, roof1 * batch, bn / b1,
                        med1, 100 * med1 / roof1, 100 * pairFrac);
                StringBuilder pw = new StringBuilder();
                for (int j = 0; j < WINDOWS; j++) {
                    pw.append(String.format(Locale.ROOT, "%s%.1f GB/s %.0f%%", j == 0 ? "" : ", ", (pr[j] + pr[j + 1]) / 2 / 1e9, 100 * fr[j]));
                }
                System.out.printf(Locale.ROOT, "  %s b1 windows beside the meter (meter passes %s GB/s): %s%n", shape,
                        java.util.Arrays.stream(pr, 0, WINDOWS + 1).mapToObj(x -> String.format(Locale.ROOT, "%.1f", x / 1e9))
                                .collect(java.util.stream.Collectors.joining(", ")), pw);
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
                r.put("paired_fraction_of_roofline_b1", round(pairFrac));
                r.put("paired_window_fractions_b1", java.util.Arrays.stream(fr).map(DecodeBench::round).boxed().toList());
                r.put("paired_meter_gb_s", java.util.Arrays.stream(pr, 0, WINDOWS + 1).map(x -> round(x / 1e9)).boxed().toList());
                double[] pf = prefills.get(i);
                if (pf != null) {
                    // a prompt's first token (TTFT on an idle server): the prompt's matrix FMAs against the FMA peak
                    double fmaRate = pf[1] / pf[0];
                    System.out.printf(Locale.ROOT, "  %s prefill of %d tokens: %.0f ms (best of 2), %.1f tok/s; matrix FMAs %.1f G/s = %.0f%% of the FMA peak (%.1f G/s, measured beside it)%n",
                            shape, prefillTokens, pf[0] * 1e3, prefillTokens / pf[0], fmaRate / 1e9, 100 * fmaRate / pf[2], pf[2] / 1e9);
                    r.put("prefill_tokens", prefillTokens);
                    r.put("prefill_ms", round(pf[0] * 1e3));
                    r.put("prefill_tokens_per_s", round(prefillTokens / pf[0]));
                    r.put("prefill_fraction_of_fma_peak", round(fmaRate / pf[2]));
                    StringBuilder phl = new StringBuilder();
                    Map<String, Object> phm = new LinkedHashMap<>();
                    for (int q = 0; q < io.chunkserve.runtime.cpu.CpuTuning.PHASE_NAMES.length; q++) {
                        String n = io.chunkserve.runtime.cpu.CpuTuning.PHASE_NAMES[q];
                        phl.append(q == 0 ? "" : ", ").append(n).append(' ').append(String.format(Locale.ROOT, "%.0f", pf[3 + q]));
                        phm.put(n, round(pf[3 + q]));
                    }
                    System.out.printf(Locale.ROOT, "  %s prefill phases (ms, a third run): %s%n", shape, phl);
                    r.put("prefill_phases_ms", phm);
                    r.put("fma_peak_g_per_s", round(pf[2] / 1e9));
                }
                result.put(shape, r);
            }
            Map<String, Object> out = new LinkedHashMap<>();
            if (result.size() == 1) out.putAll(castMap(result.values().iterator().next()));
            out.put("shapes", result);
            out.put("bandwidth_gb_s", round(bw / 1e9));
            out.put("bandwidth_measurements_gb_s", bws.stream().map(b -> round(b / 1e9)).toList());
            out.put("paired_meter_best_gb_s", round(pairedBest / 1e9));
            out.put("threads", threads);
            out.put("dtype", dt.name().toLowerCase(Locale.ROOT));
            out.put("kv_dtype", kvDt.name().toLowerCase(Locale.ROOT));
            System.out.println("RESULT " + Args.json(out));
        }
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> castMap(Object o) { return (Map<String, Object>) o; }

    /**
     * One prompt of {@code tokens} tokens prefilled into empty KV, twice (the second after the first warmed the JIT):
     * {best seconds, the prompt's matrix FMAs (every layer's matrices for every token, the LM head for the last one
     * only), the FMA peak measured right after (FmaPeak, scalar FMAs/s), then ms per forward phase
     * ({@code CpuTuning.PHASE_NAMES}) of a third run timed phase by phase}.
     */
    static double[] prefill(ModelConfig c, ModelWeights w, CpuKernels k, int tokens, DType kvDt) {
        int chunk = 64, perSeq = (tokens + chunk - 1) / chunk;
        double best = Double.MAX_VALUE;
        try (CpuModelRunner runner = new CpuModelRunner(c, w, k);
             ChunkPool pool = new ChunkPool(new KvLayout(c.numLayers(), c.numKvHeads(), c.headDim(), chunk, kvDt), perSeq)) {
            int[] table = table(pool, perSeq), prompt = prompt(tokens, c.vocabSize());
            float[] logits = new float[c.vocabSize()];
            ForwardBatch fb = new ForwardBatch();
            for (int rep = 0; rep < 2; rep++) {
                long t0 = System.nanoTime();
                runner.forward(fb.clear().add(prompt, 0, tokens, 0, table, true), pool, logits);
                best = Math.min(best, (System.nanoTime() - t0) / 1e9);
            }
            // a third run with the forward's phases timed (where a prefill's time goes; not in the figure above)
            java.util.Arrays.fill(io.chunkserve.runtime.cpu.CpuTuning.PHASE_NS, 0);
            io.chunkserve.runtime.cpu.CpuTuning.phases = true;
            try {
                runner.forward(fb.clear().add(prompt, 0, tokens, 0, table, true), pool, logits);
            } finally {
                io.chunkserve.runtime.cpu.CpuTuning.phases = false;
            }
        }
        long[] ph = io.chunkserve.runtime.cpu.CpuTuning.PHASE_NS;
        // the bench's random matrices share one dtype: a step's matrix bytes / its size = every weight once
        double head = (double) w.lmHead().rows() * w.lmHead().cols();
        double fmas = (w.matrixBytesPerStep() / (double) w.lmHead().dtype().bytes() - head) * tokens + head;
        double[] r = new double[3 + ph.length];
        r[0] = best;
        r[1] = fmas;
        r[2] = io.chunkserve.runtime.cpu.FmaPeak.measureFmasPerSecond(k);
        for (int i = 0; i < ph.length; i++) r[3 + i] = ph[i] / 1e6;   // ms a phase
        return r;
    }

    /** A block table of {@code chunks} chunks taken from {@code pool}. */
    private static int[] table(ChunkPool pool, int chunks) {
        int[] t = new int[chunks];
        for (int i = 0; i < chunks; i++) t[i] = pool.allocate();
        return t;
    }

    /** The bench's synthetic prompt of {@code n} tokens. */
    private static int[] prompt(int n, int vocab) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = (i * 31 + 7) % vocab;
        return p;
    }

    private static final int WARM_POSITIONS = 64;
    private static final int WINDOWS = 4;

    static double round(double x) { return Math.round(x * 1000) / 1000.0; }

    /**
     * Decode tokens/s with {@code batch} sequences, each with {@code context} tokens already in the
     * KV: {mean over all timed steps, median of the windows}; with {@code pair}, then the meter passes bracketing
     * the windows (WINDOWS + 1, bytes/s: one pass before the first window and one after each) and each window's
     * fraction of the roofline against the mean of its two passes.
     */
    static double[] run(ModelConfig c, ModelWeights w, CpuKernels k, int batch, int context, int steps, boolean pair, DType kvDt) {
        int chunk = 64;
        int perSeq = (context + steps + WINDOWS + WARM_POSITIONS + chunk - 1) / chunk;
        try (CpuModelRunner runner = new CpuModelRunner(c, w, k);
             ChunkPool pool = new ChunkPool(new KvLayout(c.numLayers(), c.numKvHeads(), c.headDim(), chunk, kvDt), perSeq * batch)) {
            List<int[]> tables = new ArrayList<>();
            for (int s = 0; s < batch; s++) tables.add(table(pool, perSeq));
            float[] logits = new float[batch * c.vocabSize()];
            ForwardBatch fb = new ForwardBatch();
            int[] prompt = prompt(context, c.vocabSize());
            for (int s = 0; s < batch; s++) runner.forward(fb.clear().add(prompt, 0, context, 0, tables.get(s), true), pool, logits);
            int[] next = new int[1];
            // untimed warm-up steps until the JIT is quiet (see JitQuiet): the per-layer code is called 30 times a step and
            // reaches C2 only after a few hundred steps; compiled meanwhile, it would run in C1 in the first timed windows
            // while the compiler threads take one of the two cores
            JitQuiet quiet = new JitQuiet();
            // (the warm-up cycles over the same WARM_POSITIONS positions, so the timed steps see the same context however
            // long it takes; they continue after those positions)
            int warmSteps = 0;
            for (; warmSteps < 3 || !quiet.after(); warmSteps++) {
                fb.clear();
                for (int s = 0; s < batch; s++) {
                    next[0] = (warmSteps * 17 + s) % c.vocabSize();
                    fb.add(next, 0, 1, context + warmSteps % WARM_POSITIONS, tables.get(s), true);
                }
                runner.forward(fb, pool, logits);
            }
            final int warm = WARM_POSITIONS;
            if (pair) System.out.printf(Locale.ROOT, "  (b%d: %d untimed warm-up steps, %s)%n", batch, warmSteps, quiet);
            // timed steps in WINDOWS equal windows: the mean over all of them, and the median window
            // (robust to another process taking a core for part of the run, as the best-of-passes
            // bandwidth is)
            int per = Math.max(1, steps / WINDOWS), timed = per * WINDOWS;
            double[] win = new double[WINDOWS];
            // the paired meter: 256 MiB (≫ the last-level cache) read once, best of 2, before the first window and after each;
            // the passes sit between windows, so the windows' times (and the mean over them) do not include them
            MemoryBandwidth.Meter meter = pair ? new MemoryBandwidth.Meter(k, 256L << 20) : null;
            double[] passes = new double[WINDOWS + 1];
            long paused = 0;
            if (pair) passes[0] = Math.max(meter.pass(), meter.pass());
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
                    int wi = (step - warm) / per;
                    win[wi] = batch * per * 1e9 / (t1 - t0);
                    if (pair) passes[wi + 1] = Math.max(meter.pass(), meter.pass());
                    t0 = System.nanoTime();
                    paused += t0 - t1;
                }
            }
            double mean = batch * timed * 1e9 / (System.nanoTime() - start - paused);
            double[] sorted = win.clone();
            java.util.Arrays.sort(sorted);
            double[] res = new double[pair ? 2 + 2 * WINDOWS + 1 : 2];
            res[0] = mean;
            res[1] = (sorted[(WINDOWS - 1) / 2] + sorted[WINDOWS / 2]) / 2;
            if (pair) {
                meter.close();
                long bytes = w.matrixBytesPerStep();
                for (int j = 0; j <= WINDOWS; j++) res[2 + j] = passes[j];
                for (int j = 0; j < WINDOWS; j++) res[2 + WINDOWS + 1 + j] = win[j] / batch * bytes / ((passes[j] + passes[j + 1]) / 2);
            }
            return res;
        }
    }
}
