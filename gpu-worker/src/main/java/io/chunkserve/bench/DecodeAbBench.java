package io.chunkserve.bench;

import io.chunkserve.attention.SequenceAttention;
import io.chunkserve.engine.WorkerConfig;
import io.chunkserve.kv.ChunkPool;
import io.chunkserve.kv.KvLayout;
import io.chunkserve.model.DType;
import io.chunkserve.model.ModelConfig;
import io.chunkserve.model.ModelWeights;
import io.chunkserve.model.Weight;
import io.chunkserve.runtime.ForwardBatch;
import io.chunkserve.runtime.cpu.CpuKernels;
import io.chunkserve.runtime.cpu.CpuModelRunner;
import io.chunkserve.runtime.cpu.CpuTuning;
import io.chunkserve.runtime.cpu.MemoryBandwidth;
import io.chunkserve.runtime.cpu.Parallel;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * {@code chunkserve bench decode-ab}: in-process A/B of the CPU one-token decode path on a shared,
 * noisy machine. Variants are sets of {@link CpuTuning} switches
 * ({@code --variants "base:;notouch:touch=false"}); batch-1 decode steps of a random-weight model
 * alternate between them, each round at the same position with the order rotating, and the
 * comparison is the median of the per-round ratios (variant step / first variant's step) beside
 * per-variant step medians, which moves far less with the machine's load than separate runs do.
 * {@code --phases true} adds mean µs per step per phase. {@code --mode mm}: one-token matmuls of
 * the {@code --mm} shapes (ROWSxCOLS; prefix "gu": a gate/up pair; "hot": two copies, so from cache; "4k" before
 * those: on 4 KiB pages, not huge pages; suffix "@T": T tokens
 * instead of one) from cold copies,
 * alternating; a variant named {@code read} reads the same bytes as the bandwidth meter does instead (a reference).
 * A variant may also name {@code kv=f32|bf16|f16} (not a CpuTuning switch): the KV element type of its own pool,
 * default {@code --kv-dtype} (auto: bf16 for the bf16 weights, as a server picks); and {@code pages=4k}: its matrices
 * copied onto plain 4 KiB pages (the random model is on huge pages otherwise, as a served one). Also prints the largest logit
 * difference between variants at the same position (switches only change timing; KV types change the rounding), and
 * the attention alone afterwards (cache-warm, on all threads and serially: a health check of its compiled code).
 * {@code --state-by NAME} also splits the rounds by the memory bus's state as variant NAME's steps show it ({@link #byState}). The
 * read bandwidth is measured before and after; last line {@code RESULT {json}}.
 */
public final class DecodeAbBench {
    private DecodeAbBench() { }

    public static void main(String[] args) {
        Map<String, String> a = Args.parse(args, Map.of("--shape", "smollm2-135m", "--rounds", "100", "--context", "64",
                "--variants", "base:;notouch:touch=false", "--mode", "decode", "--mm", "960x576,576x576,gu1536x576,576x1536",
                "--threads", String.valueOf(Runtime.getRuntime().availableProcessors()), "--phases", "false", "--kv-dtype", "auto", "--state-by", ""));
        String[] specs = a.get("--variants").split(";");
        int V = specs.length;
        String[] names = new String[V];
        String[][] sets = new String[V][];
        DType kvDefault = a.get("--kv-dtype").equalsIgnoreCase("auto") ? WorkerConfig.autoKvDtype(DType.BF16) : DType.parse(a.get("--kv-dtype"));
        DType[] kvs = new DType[V];
        boolean[] pages4k = new boolean[V];
        // every variant sets every switch any variant names (the ones it does not name to their defaults)
        Map<String, String> defaults = new LinkedHashMap<>();
        for (int i = 0; i < V; i++) {
            String[] p = specs[i].split(":", 2);
            names[i] = p[0];
            sets[i] = p.length < 2 || p[1].isBlank() ? new String[0] : p[1].split(",");
            kvs[i] = kvDefault;
            for (String kv : sets[i]) if (kv.trim().startsWith("kv=")) kvs[i] = DType.parse(kv.trim().substring(3));
            for (String kv : sets[i]) if (kv.trim().equals("pages=4k")) pages4k[i] = true;
            sets[i] = Arrays.stream(sets[i]).filter(kv -> !kv.trim().startsWith("kv=") && !kv.trim().startsWith("pages=")).toArray(String[]::new);
            for (String kv : sets[i]) {
                String[] q = kv.split("=", 2);
                if (q.length != 2) throw new IllegalArgumentException("switch '" + kv + "' is not name=value");
                defaults.putIfAbsent(q[0].trim(), CpuTuning.get(q[0].trim()));
            }
        }
        for (int i = 0; i < V; i++) {
            Map<String, String> all = new LinkedHashMap<>(defaults);
            for (String kv : sets[i]) {
                String[] q = kv.split("=", 2);
                all.put(q[0].trim(), q[1].trim());
            }
            sets[i] = all.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).toArray(String[]::new);
        }
        int threads = Integer.parseInt(a.get("--threads")), rounds = Integer.parseInt(a.get("--rounds"));
        Map<String, Object> out = new LinkedHashMap<>();
        try (CpuKernels k = new CpuKernels(threads)) {
            k.warmUp();
            double bw0 = MemoryBandwidth.measureReadBytesPerSecond(k, 1L << 30);
            if (a.get("--mode").equals("mm")) {
                out.put("matmuls", mm(k, a.get("--mm"), rounds, names, sets));
            } else {
                out.put(a.get("--shape"), decode(k, a.get("--shape"), rounds, Integer.parseInt(a.get("--context")), names, sets, kvs, pages4k, bw0,
                        Boolean.parseBoolean(a.get("--phases")), a.get("--state-by")));
            }
            double bw1 = MemoryBandwidth.measureReadBytesPerSecond(k, 1L << 30);
            System.out.printf(Locale.ROOT, "machine: %s, %d threads, read bandwidth before %.1f GB/s, after %.1f GB/s%n", Args.machine(), threads,
                    bw0 / 1e9, bw1 / 1e9);
            out.put("bandwidth_gb_s", java.util.List.of(DecodeBench.round(bw0 / 1e9), DecodeBench.round(bw1 / 1e9)));
            out.put("threads", threads);
            System.out.println("RESULT " + Args.json(out));
        } finally {
            apply(sets[0]);
        }
    }

    private static void apply(String[] set) {
        for (String kv : set) {
            String[] p = kv.split("=", 2);
            CpuTuning.set(p[0], p[1]);
        }
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length == 0 ? Double.NaN : (s[(s.length - 1) / 2] + s[s.length / 2]) / 2;
    }

    /** Median µs of the batch-1 attention at position pos over the layers in turn: on all threads of k, then serially. */
    static double[] attentionAlone(CpuKernels k, ModelConfig c, ChunkPool pool, int[] table, int pos) {
        float[] q = new float[c.numHeads() * c.headDim()], o = new float[q.length];
        for (int i = 0; i < q.length; i++) q[i] = (float) Math.sin(i * 0.37);
        double[] res = new double[2];
        for (int mode = 0; mode < 2; mode++) {
            Parallel par = mode == 0 ? k : Parallel.SERIAL;
            double[] t = new double[3000];
            for (int i = 0; i < t.length; i++) {
                long s0 = System.nanoTime();
                SequenceAttention.attend(pool, i % c.numLayers(), table, pos, 1, c.numHeads(), q, 0, o, 0, par);
                t[i] = (System.nanoTime() - s0) / 1e3;
            }
            res[mode] = median(t);
        }
        return res;
    }

    static Map<String, Object> decode(CpuKernels k, String shape, int rounds, int context, String[] names, String[][] sets, DType[] kvs,
                                      boolean[] pages4k, double bw, boolean phases, String stateBy) {
        ModelConfig c = RandomModel.shape(shape);
        int V = names.length, chunk = 64, warmMax = 64;
        Map<String, Object> res = new LinkedHashMap<>();
        try (Arena arena = Arena.ofShared()) {
            ModelWeights w = RandomModel.weights(c, DType.BF16, arena, 42);
            long bytes = w.matrixBytesPerStep();
            int perSeq = (context + rounds + warmMax + chunk - 1) / chunk;
            // one pool per variant (each its own KV type and its own copy of the sequence's KV), all filled by the same prompt
            ChunkPool[] pools = new ChunkPool[V];
            // variants naming pages=4k run on a copy of the matrices on plain 4 KiB pages, through their own runner
            ModelWeights w4k = null;
            for (boolean p4 : pages4k) if (p4 && w4k == null) w4k = w.copyInto(arena);
            CpuModelRunner[] runners = new CpuModelRunner[V];
            try (CpuModelRunner runner = new CpuModelRunner(c, w, k); CpuModelRunner runner4k = w4k == null ? null : new CpuModelRunner(c, w4k, k)) {
                for (int v = 0; v < V; v++) runners[v] = pages4k[v] ? runner4k : runner;
                int[] table = new int[perSeq];
                float[][] logits = new float[V][c.vocabSize()];
                ForwardBatch fb = new ForwardBatch();
                int[] prompt = new int[context];
                for (int i = 0; i < context; i++) prompt[i] = (i * 31 + 7) % c.vocabSize();
                for (int v = 0; v < V; v++) {
                    pools[v] = new ChunkPool(new KvLayout(c.numLayers(), c.numKvHeads(), c.headDim(), chunk, kvs[v]), perSeq);
                    for (int i = 0; i < perSeq; i++) table[i] = pools[v].allocate(); // the same ids in every pool
                    runners[v].forward(fb.clear().add(prompt, 0, context, 0, table, true), pools[v], logits[v]);
                }
                int[] next = new int[1];
                // untimed rounds until the JIT is quiet (JitQuiet: every variant's path in C2; a fixed count of 64 rounds left
                // SmolLM2's per-layer code in C1 for the first few hundred timed steps), cycling over warmMax positions
                JitQuiet quiet = new JitQuiet();
                int warmRounds = 0;
                do {
                    int wp = context + warmRounds % warmMax;
                    for (int v = 0; v < V; v++) {
                        apply(sets[v]);
                        next[0] = (wp * 17) % c.vocabSize();
                        runners[v].forward(fb.clear().add(next, 0, 1, wp, table, true), pools[v], logits[v]);
                    }
                    warmRounds++;
                } while (warmRounds < 3 || !quiet.after());
                System.out.printf(Locale.ROOT, "(%d untimed warm-up rounds, %s)%n", warmRounds, quiet);
                int pos = context + Math.min(warmRounds, warmMax);
                int first = pos;
                CpuTuning.phases = phases;
                long[][] ph = new long[V][CpuTuning.PHASE_NS.length];
                double[][][] phr = new double[V][CpuTuning.PHASE_NS.length][rounds]; // per-round µs, for medians
                Arrays.fill(CpuTuning.PHASE_NS, 0);
                double[][] t = new double[V][rounds], ratio = new double[V][rounds];
                double maxDiff = 0;
                for (int i = 0; i < rounds; i++, pos++) {
                    for (int j = 0; j < V; j++) {
                        int v = (i + j) % V;
                        apply(sets[v]);
                        next[0] = (pos * 17) % c.vocabSize();
                        fb.clear().add(next, 0, 1, pos, table, true); // same token and position for every variant: same KV write
                        long s0 = System.nanoTime();
                        runners[v].forward(fb, pools[v], logits[v]);
                        t[v][i] = (System.nanoTime() - s0) / 1e3;
                        for (int q = 0; q < ph[v].length; q++) {
                            ph[v][q] += CpuTuning.PHASE_NS[q];
                            phr[v][q][i] = CpuTuning.PHASE_NS[q] / 1e3;
                            CpuTuning.PHASE_NS[q] = 0;
                        }
                    }
                    for (int v = 0; v < V; v++) {
                        ratio[v][i] = t[v][i] / t[0][i];
                        for (int q = 0; q < logits[0].length; q++) maxDiff = Math.max(maxDiff, Math.abs(logits[v][q] - logits[0][q]));
                    }
                }
                CpuTuning.phases = false;
                // the batch-1 attention alone on the first variant's pool (cache-warm, the layers cycled), in parallel and
                // serially: a health check of the compiled attention code, which ran 2–45x slower for a whole process in some
                // runs while C2 could leave its vector helpers out of line (VectorMath: the …Vec methods are force-inlined)
                double[] alone = attentionAlone(k, c, pools[0], table, pos - 1);
                System.out.printf(Locale.ROOT, "attention alone (cache-warm, position %d): %.2f us on %d threads, %.2f us serial%n",
                        pos - 1, alone[0], k.threads(), alone[1]);
                Map<String, Object> am = new LinkedHashMap<>();
                am.put("threads", DecodeBench.round(alone[0]));
                am.put("serial", DecodeBench.round(alone[1]));
                res.put("attention_alone_us", am);
                System.out.printf(Locale.ROOT, "%s b1, %d rounds at positions %d..%d, matrix bytes %.1f MB, ideal step %.0f us at %.1f GB/s; "
                        + "max |logit diff| between variants %.3g; KV %s%n", shape, rounds, first, pos - 1, bytes / 1e6, bytes / bw * 1e6, bw / 1e9,
                        maxDiff, Arrays.stream(kvs).map(d -> d.name().toLowerCase(Locale.ROOT)).toList());
                if (phases) {
                    StringBuilder hd = new StringBuilder(String.format(Locale.ROOT, "%-14s", "mean_us/step"));
                    for (String n : CpuTuning.PHASE_NAMES) hd.append(String.format(Locale.ROOT, " %8s", n));
                    System.out.println(hd);
                    for (int v = 0; v < V; v++) {
                        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "%-14s", names[v]));
                        for (long x : ph[v]) sb.append(String.format(Locale.ROOT, " %8.0f", x / 1e3 / rounds));
                        System.out.println(sb);
                    }
                    for (int v = 0; v < V; v++) { // medians: a step that lost its core for a while moves the means, not these
                        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "%-14s", "med " + names[v]));
                        for (double[] x : phr[v]) sb.append(String.format(Locale.ROOT, " %8.0f", median(x)));
                        System.out.println(sb);
                    }
                }
                System.out.printf(Locale.ROOT, "%-14s %10s %10s %10s %12s %12s%n", "variant", "median_us", "p25_us", "min_us", "med/roof",
                        "ratio_vs_" + names[0]);
                for (int v = 0; v < V; v++) {
                    double med = median(t[v]), r = median(ratio[v]);
                    double[] s = t[v].clone();
                    Arrays.sort(s);
                    System.out.printf(Locale.ROOT, "%-14s %10.0f %10.0f %10.0f %11.1f%% %12.4f%n", names[v], med, s[rounds / 4], s[0],
                            100 * bytes / bw * 1e6 / med, r);
                    Map<String, Object> m = new LinkedHashMap<>();
                    m.put("median_step_us", DecodeBench.round(med));
                    m.put("median_fraction_of_roofline", DecodeBench.round(bytes / bw * 1e6 / med));
                    m.put("median_ratio", DecodeBench.round(r));
                    m.put("kv_dtype", kvs[v].name().toLowerCase(Locale.ROOT));
                    res.put(names[v], m);
                }
                res.put("max_logit_diff", maxDiff);
                int ref = Arrays.asList(names).indexOf(stateBy);
                if (ref >= 0) res.put("by_bus_state", byState(names, t, ratio, ref));
            } finally {
                for (ChunkPool p : pools) if (p != null) p.close();
            }
        }
        return res;
    }

    /**
     * The rounds split by the state of the machine's memory bus, read off variant {@code ref}'s step (on a VM whose bus
     * switches between two rates, e.g. a pure-read variant): "fast" rounds are those where ref's step is within 20 % of its
     * fastest, the rest "slow"; per state the variants' median steps and median ratios to the first variant.
     */
    static Map<String, Object> byState(String[] names, double[][] t, double[][] ratio, int ref) {
        int V = names.length, rounds = t[0].length;
        double min = Arrays.stream(t[ref]).min().orElse(0);
        boolean[] fastRound = new boolean[rounds];
        for (int i = 0; i < rounds; i++) fastRound[i] = t[ref][i] <= 1.2 * min;
        Map<String, Object> out = new LinkedHashMap<>();
        for (boolean fast : new boolean[] {true, false}) {
            int n = 0;
            for (boolean f : fastRound) if (f == fast) n++;
            System.out.printf(Locale.ROOT, "%s rounds (%s's step %s 1.2x its fastest): %d%n", fast ? "fast-bus" : "slow-bus", names[ref],
                    fast ? "<=" : ">", n);
            if (n == 0) continue;
            Map<String, Object> st = new LinkedHashMap<>();
            st.put("rounds", n);
            for (int v = 0; v < V; v++) {
                double[] tv = new double[n], rv = new double[n];
                for (int i = 0, j = 0; i < rounds; i++) {
                    if (fastRound[i] != fast) continue;
                    tv[j] = t[v][i];
                    rv[j++] = ratio[v][i];
                }
                double med = median(tv), r = median(rv);
                System.out.printf(Locale.ROOT, "  %-12s median %8.0f us  ratio_vs_%s %.4f%n", names[v], med, names[0], r);
                st.put(names[v], Map.of("median_step_us", DecodeBench.round(med), "median_ratio", DecodeBench.round(r)));
            }
            out.put(fast ? "fast" : "slow", st);
        }
        return out;
    }

    private static final long[] SINK = new long[64];

    /** Reads w's bytes as the meter does (4 interleaved streams a task), one contiguous share per thread of k. */
    static void readAlike(CpuKernels k, Weight w) {
        int n = k.threads();
        long share = w.byteSize() / n & -256L;
        MemorySegment seg = w.data();
        k.forRange(n, t -> SINK[8 * t] += MemoryBandwidth.sum(seg, t * share, (int) share));
    }

    /** One call of an mm arm: w (and w2, a gate/up pair's up) times x, or, for the arm named "read", their bytes read. */
    private static void arm(CpuKernels k, String name, Weight w, Weight w2, float[] x, int T, float[] out, float[] out2) {
        if (name.equals("read")) { // the reference arm: a plain read of the same bytes, the threads' halves
            readAlike(k, w);
            if (w2 != null) readAlike(k, w2);
        } else if (w2 != null) {
            k.gateUpSilu(w, w2, x, T, out, out2);
        } else {
            k.matmul(w, x, T, out);
        }
    }

    static Map<String, Object> mm(CpuKernels k, String shapes, int rounds, String[] names, String[][] sets) {
        int V = names.length;
        Map<String, Object> res = new LinkedHashMap<>();
        for (String sh : shapes.split(",")) {
            boolean small = sh.startsWith("4k");
            String sh0 = small ? sh.substring(2) : sh;
            boolean hot = sh0.startsWith("hot");
            String body = hot ? sh0.substring(3) : sh0;
            int T = 1; // suffix "@T": T tokens (the register-block or packed kernels)
            if (body.contains("@")) {
                T = Integer.parseInt(body.substring(body.indexOf('@') + 1));
                body = body.substring(0, body.indexOf('@'));
            }
            boolean gu = body.startsWith("gu");
            String[] rc = body.substring(gu ? 2 : 0).split("x");
            int rows = Integer.parseInt(rc[0]), cols = Integer.parseInt(rc[1]);
            long wb = 2L * rows * cols, bytes = (gu ? 2 : 1) * wb;
            int copies = hot ? 2 : (int) Math.max(4, (256L << 20) / wb + 1); // cycled, so that every call streams from DRAM
            try (Arena arena = Arena.ofShared()) {
                long[] st = {7};
                Weight[] ws = new Weight[copies];
                // huge pages as a served model's matrices ({@link ModelWeights#resident}); prefix "4k": plain 4 KiB pages
                java.lang.foreign.SegmentAllocator alloc = small ? arena
                        : java.lang.foreign.SegmentAllocator.slicingAllocator(io.chunkserve.kv.HugePages.allocate(arena, copies * ((wb + 4095) & -4096L) + 4096));
                for (int i = 0; i < copies; i++) ws[i] = RandomModel.random("w" + i, rows, cols, DType.BF16, alloc, st);
                float[] x = new float[T * cols], out = new float[T * rows], out2 = new float[T * rows];
                Arrays.fill(x, 0.01f);
                double[][] t = new double[V][rounds];
                int ci = 0;
                // untimed calls of every variant until the JIT is quiet: a few calls left the dispatch path (claims, the
                // kernels' callers) in C1 for the first thousands of timed calls, reading 2-3x slow
                JitQuiet quiet = new JitQuiet();
                int warm = 0;
                do {
                    for (int v = 0; v < V; v++) {
                        apply(sets[v]);
                        Weight w = ws[ci++ % copies], w2 = gu ? ws[ci++ % copies] : null;
                        arm(k, names[v], w, w2, x, T, out, out2);
                    }
                } while (++warm < 2 * copies || !quiet.after());
                for (int i = 0; i < rounds; i++) {
                    for (int j = 0; j < V; j++) {
                        int v = (i + j) % V;
                        apply(sets[v]);
                        Weight w = ws[ci++ % copies], w2 = gu ? ws[ci++ % copies] : null;
                        long s0 = System.nanoTime();
                        arm(k, names[v], w, w2, x, T, out, out2);
                        t[v][i] = (System.nanoTime() - s0) / 1e3;
                    }
                }
                StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "%-12s %7.2f MB:", sh, bytes / 1e6));
                Map<String, Object> m = new LinkedHashMap<>();
                for (int v = 0; v < V; v++) {
                    double med = median(t[v]);
                    sb.append(String.format(Locale.ROOT, "  %s %.1f us %.1f GB/s", names[v], med, bytes / med / 1e3));
                    m.put(names[v] + "_gb_s", DecodeBench.round(bytes / med / 1e3));
                }
                System.out.println(sb);
                res.put(sh, m);
            }
        }
        return res;
    }
}
