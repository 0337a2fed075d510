package io.chunkserve.attention;

import io.chunkserve.kv.ChunkPool;
import io.chunkserve.kv.KvLayout;
import io.chunkserve.model.DType;
import io.chunkserve.runtime.cpu.CpuKernels;
import io.chunkserve.runtime.cpu.FmaPeak;
import io.chunkserve.runtime.cpu.MemoryBandwidth;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * Benchmark of decode attention over a prefix-shared KV cache ({@code ./chunkserve bench attention}):
 * B sequences share a P-token prefix and own S unique tokens each (the last one being the step's
 * new token). It times {@link TwoPhaseAttention} with its plan built with sharing on (prefix-aware)
 * against the same code with sharing off (every chunk private: the prefix-unaware baseline), side
 * by side in one run, and sets both against the unique-bytes floor
 * {@code 2·H_kv·d·elem·(P + B·S)·layers / read bandwidth}, the bandwidth measured in the same run by
 * {@link io.chunkserve.runtime.cpu.MemoryBandwidth} (the meter bench decode uses). A timed call is one decode step's attention over {@code --layers} layers
 * (default {@link #DEFAULT_LAYERS}), each with its own slabs. Working set: the pool holds copies of the layer set filling ≥ 1 GiB
 * ({@code --working-set-mb}) and each timed call reads the next copy, so what a call reads was last
 * touched a GiB of traffic ago and is not cache-resident (per-call unique bytes and pool size are
 * printed). Within one call the prefix-unaware baseline re-reads the shared prefix once per
 * sequence; when one layer's prefix fits in L3 those re-reads hit the cache, which is the real
 * behaviour of such a kernel on a CPU and is why its "eff" column can pass 100%.
 * Timings are medians over repetitions after warm-up; aware and unaware runs alternate so a noisy
 * neighbour hits both alike. The last line is {@code RESULT {json}}.
 */
public final class AttentionBench {
    /**
     * Layers per timed call: a decode step runs attention once per layer, each layer over its own
     * K/V slabs, so a call here reads distinct memory for each layer as a step does. 16 is a
     * 1B-class model (Llama-3.2-1B: 16 layers of 8 KV heads × 64 dims, the default shape's KV);
     * a ~10 ms call is also long enough that timer and dispatch noise stay small.
     */
    static final int DEFAULT_LAYERS = 16;

    private AttentionBench() { }

    /** Settings from the command line. */
    record Config(int batch, int qHeads, int kvHeads, int headDim, int shared, int unique, int chunk, DType dtype,
                  int threads, int layers, int reps, int warmup, int warmupMs, long workingSetBytes, long bandwidthBytes, boolean grid,
                  boolean cpuClock, String ab) { }

    /**
     * Measured figures of one (B, P, S) point. uniqueBytes = 2·H_kv·d·elem·(P+B·S)·layers (what the
     * floor reads); unawareBytes = 2·H_kv·d·elem·B·(P+S)·layers (what a prefix-unaware kernel reads).
     */
    record Point(int batch, int shared, int unique, double awareMs, double unawareMs, double awareMinMs, double unawareMinMs,
                 long uniqueBytes, long unawareBytes, long poolBytes, double maxDiff, int groups, int tasks, double bytesPerSecond,
                 long fmas, double fmasPerSecond, String ab) { // ab: the --ab result as JSON, or null
        double speedup() { return unawareMs / awareMs; }
        double ideal() { return (double) batch * (shared + unique) / (shared + (double) batch * unique); }
        double floorMs() { return uniqueBytes / bytesPerSecond * 1e3; }
        double unawareFloorMs() { return unawareBytes / bytesPerSecond * 1e3; }
        double floorRatio() { return awareMs / floorMs(); }
        /** The call's arithmetic alone at the measured FMA peak (aware and unaware compute the same products). */
        double computeFloorMs() { return fmas / fmasPerSecond * 1e3; }
        /** The aware call's lower bound on this machine: its unique bytes at the bus rate or its FMAs at the FMA peak. */
        double boundMs() { return Math.max(floorMs(), computeFloorMs()); }
        Point withRates(double bps, double fps) {
            return new Point(batch, shared, unique, awareMs, unawareMs, awareMinMs, unawareMinMs, uniqueBytes, unawareBytes,
                    poolBytes, maxDiff, groups, tasks, bps, fmas, fps, ab);
        }
    }

    public static void main(String[] args) {
        Config cfg;
        try {
            cfg = parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("attention bench: " + e.getMessage());
            System.err.println(usage());
            System.exit(2);
            return;
        }
        System.out.println(run(cfg));
    }

    static String usage() {
        return """
                usage: bench attention [--batch 16] [--q-heads 8] [--kv-heads 8] [--head-dim 64] [--shared 2048]
                                       [--unique 128] [--chunk 64] [--dtype f32|f16|bf16] [--threads N] [--layers 16]
                                       [--reps 40] [--warmup 15] [--warmup-ms 1000] [--working-set-mb 1024] [--bandwidth-mb 1024] [--no-grid]
                                       [--clock wall|cpu]   (cpu: the caller's CPU time, needs --threads 1; for a busy machine)
                                       [--ab SWITCH=VALUE[,...]]  (the default point's aware call also under these switches,
                                        alternating rep by rep in this process:""" + " " + String.join(", ", SWITCHES.keySet()) + ")";
    }

    static Config parse(String[] args) {
        Map<String, String> m = new HashMap<>();
        boolean grid = true;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--no-grid")) { grid = false; continue; }
            if (a.equals("--help") || a.equals("-h")) throw new IllegalArgumentException("help");
            if (!a.startsWith("--") || i + 1 >= args.length) throw new IllegalArgumentException("unexpected argument '" + a + "'");
            m.put(a.substring(2), args[++i]);
        }
        int threads = Runtime.getRuntime().availableProcessors();
        Config c = new Config(intArg(m, "batch", 16), intArg(m, "q-heads", 8), intArg(m, "kv-heads", 8), intArg(m, "head-dim", 64),
                intArg(m, "shared", 2048), intArg(m, "unique", 128), intArg(m, "chunk", 64),
                DType.parse(m.getOrDefault("dtype", "f32")), intArg(m, "threads", threads), intArg(m, "layers", DEFAULT_LAYERS),
                intArg(m, "reps", 40), intArg(m, "warmup", 15), intArg(m, "warmup-ms", 1000), intArg(m, "working-set-mb", 1024) * (1L << 20),
                intArg(m, "bandwidth-mb", 1024) * (1L << 20), grid, switch (m.getOrDefault("clock", "wall")) {
                    case "wall" -> false;
                    case "cpu" -> true;
                    default -> throw new IllegalArgumentException("--clock is wall or cpu");
                }, m.get("ab"));
        if (c.ab != null) switches(c.ab); // fails early on an unknown switch
        m.keySet().removeAll(List.of("batch", "q-heads", "kv-heads", "head-dim", "shared", "unique", "chunk", "dtype", "threads",
                "layers", "reps", "warmup", "warmup-ms", "working-set-mb", "bandwidth-mb", "clock", "ab"));
        if (!m.isEmpty()) throw new IllegalArgumentException("unknown option(s) " + m.keySet());
        if (c.cpuClock && c.threads != 1) throw new IllegalArgumentException("--clock cpu needs --threads 1");
        if (c.qHeads % c.kvHeads != 0) throw new IllegalArgumentException("--q-heads must be a multiple of --kv-heads");
        if (c.unique < 1 || c.shared < 0 || c.batch < 1 || c.layers < 1 || c.threads < 1 || c.reps < 1 || c.warmup < 0 || c.warmupMs < 0) {
            throw new IllegalArgumentException("need --unique ≥ 1, --shared ≥ 0, --batch, --layers, --threads, --reps ≥ 1, --warmup, --warmup-ms ≥ 0");
        }
        return c;
    }

    private static int intArg(Map<String, String> m, String key, int def) {
        String v = m.get(key);
        if (v == null) return def;
        try {
            return Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--" + key + " expects an integer, got '" + v + "'");
        }
    }

    /** Runs the default point and the grid; returns the whole report (table and RESULT line). */
    static String run(Config cfg) {
        StringBuilder out = new StringBuilder();
        // the runtime's own pool (the one the engine's attention runs on), so the bench measures its dispatch
        try (CpuKernels par = new CpuKernels(cfg.threads)) {
            // the same meter (and so the same roofline denominator) as bench decode and bench kernels
            double bw = MemoryBandwidth.measureReadBytesPerSecond(par, cfg.bandwidthBytes);
            double fps = FmaPeak.measureFmasPerSecond(par);
            out.append(String.format(Locale.ROOT, "attention bench: decode, two-phase (prefix-aware) vs the same kernel with sharing off%n"));
            out.append(String.format(Locale.ROOT, "machine: %d cpus, %s %s, java %s, float vectors %d-bit (%d lanes), threads %d%n",
                    Runtime.getRuntime().availableProcessors(), System.getProperty("os.arch"), System.getProperty("os.name"),
                    System.getProperty("java.version"), VectorMath.F.vectorBitSize(), VectorMath.V, cfg.threads));
            out.append(String.format(Locale.ROOT, "read bandwidth: %.1f GB/s (MemoryBandwidth: best of 8 passes; %d MiB off-heap, %d threads)%n",
                    bw / 1e9, cfg.bandwidthBytes >> 20, cfg.threads));
            out.append(String.format(Locale.ROOT, "fp32 FMA peak: %.1f G lane-FMAs/s (FmaPeak: %d chains of %d-lane FMAs a thread, best of %d passes, %d threads); "
                    + "\"fma ms\" = the call's 2·B·Hq·(P+S)·d·layers FMAs at that rate%n", fps / 1e9, FmaPeak.CHAINS, VectorMath.V, FmaPeak.PASSES, cfg.threads));
            out.append(String.format(Locale.ROOT, "shape: Hq/Hkv %d/%d, d %d, chunk %d, %s, %d layer(s) per call; median of %d reps after ≥ %d warm-up reps and ≥ %d ms; %s%n",
                    cfg.qHeads, cfg.kvHeads, cfg.headDim, cfg.chunk, cfg.dtype.name().toLowerCase(Locale.ROOT), cfg.layers, cfg.reps, cfg.warmup, cfg.warmupMs,
                    cfg.cpuClock ? "CPU time of the calling thread" : "wall clock"));
            out.append(String.format(Locale.ROOT, "%4s %6s %5s | %9s %9s %7s %6s | %8s %8s %9s | %8s %8s | %9s %8s %7s | %7s %7s%n",
                    "B", "P", "S", "aware ms", "unaw. ms", "speedup", "ideal", "floor ms", "aw/floor", "unaw. eff", "fma ms", "aw/bound",
                    "unique MB", "pool MB", "maxdiff", "aw min", "un min"));
            System.out.print(out);
            out.setLength(0);
            List<Point> raw = new ArrayList<>();
            raw.add(point(cfg, par, cfg.batch, cfg.shared, cfg.unique));
            printRow(raw.get(0), bw, fps, "  (default)");
            if (cfg.grid) {
                for (int p : new int[] {512, 2048}) {
                    for (int s : new int[] {32, 128}) {
                        for (int b : new int[] {4, 16}) {
                            raw.add(point(cfg, par, b, p, s));
                            printRow(raw.getLast(), bw, fps, "");
                        }
                    }
                }
            }
            // bandwidth again after the timings; the floor uses the better figure (the stricter floor)
            double bw2 = MemoryBandwidth.measureReadBytesPerSecond(par, cfg.bandwidthBytes);
            double bps = Math.max(bw, bw2);
            double fps2 = FmaPeak.measureFmasPerSecond(par), fpsBest = Math.max(fps, fps2);
            out.append(String.format(Locale.ROOT, "read bandwidth after: %.1f GB/s, FMA peak after: %.1f G/s; floors use %.1f GB/s and %.1f G/s:%n",
                    bw2 / 1e9, fps2 / 1e9, bps / 1e9, fpsBest / 1e9));
            System.out.print(out);
            out.setLength(0);
            List<Point> pts = raw.stream().map(p -> p.withRates(bps, fpsBest)).toList();
            for (int i = 0; i < pts.size(); i++) printRow(pts.get(i), bps, fpsBest, i == 0 ? "  (default)" : "");
            out.append("RESULT ").append(json(cfg, bps, fpsBest, pts.get(0), pts.subList(1, pts.size())));
        }
        return out.toString();
    }

    private static void printRow(Point raw, double bytesPerSecond, double fmasPerSecond, String note) {
        Point p = raw.withRates(bytesPerSecond, fmasPerSecond);
        System.out.printf(Locale.ROOT, "%4d %6d %5d | %9.3f %9.3f %6.2fx %5.2fx | %8.3f %7.2fx %8.0f%% | %8.3f %7.2fx | %9.1f %8.0f %7.1e | %7.3f %7.3f%s%n",
                p.batch, p.shared, p.unique, p.awareMs, p.unawareMs, p.speedup(), p.ideal(), p.floorMs(), p.floorRatio(),
                100 * p.unawareFloorMs() / p.unawareMs, p.computeFloorMs(), p.awareMs / p.boundMs(), p.uniqueBytes / 1e6,
                p.poolBytes / 1048576.0, p.maxDiff,
                p.awareMinMs, p.unawareMinMs, note);
    }

    /** Builds the batch for (B, P, S), then times aware and unaware decode. */
    static Point point(Config cfg, CpuKernels par, int batch, int shared, int unique) {
        int c = cfg.chunk, sharedChunks = shared / c;
        int privTokens = unique + shared % c;       // a partial last prefix chunk cannot be shared: each sequence copies it
        int privChunks = (privTokens + c - 1) / c;
        int perSet = sharedChunks + batch * privChunks;
        KvLayout one = new KvLayout(1, cfg.kvHeads, cfg.headDim, c, cfg.dtype);
        long perLayer = 2L * perSet * one.chunkElements() * cfg.dtype.bytes();
        int poolLayers = (int) Math.max(2L * cfg.layers, (cfg.workingSetBytes + perLayer - 1) / perLayer);
        KvLayout lay = new KvLayout(poolLayers, cfg.kvHeads, cfg.headDim, c, cfg.dtype);
        try (ChunkPool pool = new ChunkPool(lay, perSet)) {
            fill(pool, new Random(1234));
            int[] prefix = new int[sharedChunks];
            for (int i = 0; i < sharedChunks; i++) prefix[i] = pool.allocate();
            int[][] tables = new int[batch][];
            int[] lengths = new int[batch];
            for (int b = 0; b < batch; b++) {
                tables[b] = Arrays.copyOf(prefix, sharedChunks + privChunks);
                for (int i = 0; i < privChunks; i++) tables[b][sharedChunks + i] = pool.allocate();
                lengths[b] = shared + unique;
            }
            TwoPhasePlan aware = TwoPhasePlan.build(tables, lengths, c, true);
            TwoPhasePlan unaware = TwoPhasePlan.build(tables, lengths, c, false);
            TwoPhaseAttention kAware = new TwoPhaseAttention(cfg.threads), kUnaware = new TwoPhaseAttention(cfg.threads);
            Random rnd = new Random(99);
            float[] q = new float[batch * cfg.qHeads * cfg.headDim];         // (B, qHeads, d)
            for (int i = 0; i < q.length; i++) q[i] = (float) rnd.nextGaussian();
            float[] oAware = new float[q.length], oUnaware = new float[q.length]; // (B, qHeads, d)
            double[] tA = new double[cfg.reps], tU = new double[cfg.reps];
            int half = poolLayers / 2; // the unaware run reads the other half of the copies: no cache reuse between the two
            // warm-up: at least cfg.warmup reps and cfg.warmupMs, so that C2 has compiled the paths this
            // point is the first to use (a point with fewer rows or a partial last chunk takes other
            // loops of the tiles; until compiled they run the Vector API's Java fallback)
            long warmEnd = System.nanoTime() + cfg.warmupMs * 1_000_000L;
            // --ab: at the default point, the aware call under the variant's switches too, the two arms in alternating order
            boolean ab = cfg.ab != null && batch == cfg.batch && shared == cfg.shared && unique == cfg.unique;
            Map<String, String> variant = ab ? switches(cfg.ab) : Map.of(), base = new HashMap<>();
            for (String k : variant.keySet()) base.put(k, getSwitch(k));
            TwoPhaseAttention kVariant = ab ? new TwoPhaseAttention(cfg.threads) : null;
            double[] tV = new double[cfg.reps];
            float[] oVariant = new float[q.length];
            String abJson = null;
            // the variant's call reads its own copies (a quarter of the pool away from the base's): ms
            java.util.function.IntToDoubleFunction variantArm = first -> timeVariant(cfg, kVariant, pool, (first + half / 2) % poolLayers,
                    poolLayers, aware, q, oVariant, par, variant, base);
            int rot = 0; // layer rotation over every rep, warm-up included
            for (int r = -cfg.warmup; r < cfg.reps; r++) {
                if (r == 0 && System.nanoTime() < warmEnd) r = -1; // one more warm-up rep
                int first = Math.floorMod(rot++ * cfg.layers, poolLayers);
                double tv = 0;
                if (ab && (r & 1) == 0) tv = variantArm.applyAsDouble(first); // the variant first on even reps, second on odd ones
                long t0 = now(cfg);
                for (int l = 0; l < cfg.layers; l++) kAware.decode(pool, (first + l) % poolLayers, aware, cfg.qHeads, q, oAware, par);
                long t1 = now(cfg);
                if (ab && (r & 1) != 0) tv = variantArm.applyAsDouble(first);
                long t1b = now(cfg);
                for (int l = 0; l < cfg.layers; l++) kUnaware.decode(pool, (first + half + l) % poolLayers, unaware, cfg.qHeads, q, oUnaware, par);
                long t2 = now(cfg);
                if (r >= 0) { tA[r] = (t1 - t0) / 1e6; tU[r] = (t2 - t1b) / 1e6; tV[r] = tv; }
            }
            if (ab) {
                double[] ratio = new double[cfg.reps];
                for (int r = 0; r < cfg.reps; r++) ratio[r] = tV[r] / tA[r];
                double diffV = 0;
                kAware.decode(pool, 0, aware, cfg.qHeads, q, oAware, par);
                applySwitches(variant);
                try {
                    kVariant.decode(pool, 0, aware, cfg.qHeads, q, oVariant, par);
                } finally {
                    applySwitches(base);
                }
                for (int i = 0; i < q.length; i++) diffV = Math.max(diffV, Math.abs(oAware[i] - oVariant[i]));
                abJson = String.format(Locale.ROOT, "{\"variant\":\"%s\",\"base_aware_ms\":%.4f,\"variant_aware_ms\":%.4f,\"base_aware_min_ms\":%.4f,"
                        + "\"variant_aware_min_ms\":%.4f,\"median_ratio\":%.4f,\"max_abs_diff\":%.3e}", cfg.ab, median(tA), median(tV), min(tA), min(tV),
                        median(ratio), diffV);
                System.out.printf(Locale.ROOT, "A/B at the default point, aware, %d reps alternating: base %.3f ms (min %.3f), [%s] %.3f ms (min %.3f), "
                        + "median per-rep ratio %.4f, max |diff| %.1e%n", cfg.reps, median(tA), min(tA), cfg.ab, median(tV), min(tV), median(ratio), diffV);
            }
            kAware.decode(pool, 0, aware, cfg.qHeads, q, oAware, par);
            kUnaware.decode(pool, 0, unaware, cfg.qHeads, q, oUnaware, par);
            double diff = 0;
            for (int i = 0; i < q.length; i++) diff = Math.max(diff, Math.abs(oAware[i] - oUnaware[i]));
            long tokenBytes = 2L * cfg.kvHeads * cfg.headDim * cfg.dtype.bytes() * cfg.layers;
            long poolBytes = 2L * poolLayers * perSet * lay.chunkElements() * cfg.dtype.bytes();
            // every query row (Hq per sequence) takes a d-long dot product with each of its P + S keys and adds as many
            // weighted d-long V rows: the same count with sharing on or off
            long fmas = 2L * batch * cfg.qHeads * (shared + (long) unique) * cfg.headDim * cfg.layers;
            return new Point(batch, shared, unique, median(tA), median(tU), min(tA), min(tU),
                    tokenBytes * (shared + (long) batch * unique), tokenBytes * batch * (shared + unique), poolBytes, diff,
                    aware.groupCount(), kAware.chunkFirstTasks(), Double.NaN, fmas, Double.NaN, abJson);
        }
    }

    /** Fills every slab with N(0,1) values: one random 64 KiB pattern per slab kind, copied at shifting offsets. */
    private static void fill(ChunkPool pool, Random rnd) {
        KvLayout lay = pool.layout();
        int patElems = 16384;
        MemorySegment pat = MemorySegment.ofArray(new byte[patElems * lay.dtype().bytes()]);
        for (int i = 0; i < patElems; i++) {
            float x = (float) rnd.nextGaussian();
            switch (lay.dtype()) {
                case F32 -> pat.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN), i, x);
                case F16 -> pat.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN), i, Float.floatToFloat16(x));
                case BF16 -> pat.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN), i, DType.floatToBf16(x));
            }
        }
        long pb = pat.byteSize();
        for (int l = 0; l < lay.layers(); l++) {
            for (MemorySegment slab : new MemorySegment[] {pool.keys(l), pool.values(l)}) {
                int shift = rnd.nextInt(patElems / 2) * lay.dtype().bytes();
                for (long off = 0; off < slab.byteSize(); off += pb - shift) {
                    long n = Math.min(pb - shift, slab.byteSize() - off);
                    MemorySegment.copy(pat, shift, slab, off, n);
                }
            }
        }
    }

    /** One aware call over layers first.. under the variant's switches (base restored after); ms. */
    private static double timeVariant(Config cfg, TwoPhaseAttention k, ChunkPool pool, int first, int poolLayers, TwoPhasePlan plan,
                                      float[] q, float[] out, CpuKernels par, Map<String, String> variant, Map<String, String> base) {
        applySwitches(variant);
        try {
            long t0 = now(cfg);
            for (int l = 0; l < cfg.layers; l++) k.decode(pool, (first + l) % poolLayers, plan, cfg.qHeads, q, out, par);
            return (now(cfg) - t0) / 1e6;
        } finally {
            applySwitches(base);
        }
    }

    /** Parses "name=value,..." into switches (each name checked). */
    static Map<String, String> switches(String spec) {
        Map<String, String> m = new java.util.LinkedHashMap<>();
        for (String kv : spec.split(",")) {
            String[] p = kv.split("=", 2);
            if (p.length != 2) throw new IllegalArgumentException("--ab: '" + kv + "' is not name=value");
            getSwitch(p[0].trim());
            m.put(p[0].trim(), p[1].trim());
        }
        return m;
    }

    /** An --ab switch: reads its current value, sets one. */
    private record Switch(java.util.function.Supplier<String> get, java.util.function.Consumer<String> set) { }

    /** The --ab switches (timing only: every one leaves the results unchanged). */
    private static final Map<String, Switch> SWITCHES = new java.util.LinkedHashMap<>();
    static {
        SWITCHES.put("prefetch", new Switch(() -> String.valueOf(Prefetch.enabled), v -> Prefetch.enabled = Boolean.parseBoolean(v)));
        SWITCHES.put("warm", new Switch(() -> String.valueOf(Workspace.WARM_FIRST), v -> Workspace.WARM_FIRST = Boolean.parseBoolean(v)));
        SWITCHES.put("directv", new Switch(() -> String.valueOf(Workspace.DIRECT_V), v -> Workspace.DIRECT_V = Boolean.parseBoolean(v)));
        SWITCHES.put("pfmin", new Switch(() -> String.valueOf(Workspace.pfMinStep), v -> Workspace.pfMinStep = Integer.parseInt(v)));
        SWITCHES.put("c64", new Switch(() -> String.valueOf(LaneRowsTile.C64), v -> LaneRowsTile.C64 = Boolean.parseBoolean(v)));
        SWITCHES.put("dimspf", new Switch(() -> String.valueOf(Workspace.dimsPrefetch), v -> Workspace.dimsPrefetch = Boolean.parseBoolean(v)));
        SWITCHES.put("whole", new Switch(() -> String.valueOf(LaneDimsTile.WHOLE_ROWS), v -> LaneDimsTile.WHOLE_ROWS = Boolean.parseBoolean(v)));
        SWITCHES.put("sharedtasks", new Switch(() -> String.valueOf(TwoPhaseAttention.SHARED_TASKS_PER_THREAD),
                v -> TwoPhaseAttention.SHARED_TASKS_PER_THREAD = Math.max(1, Integer.parseInt(v)))); // read when a schedule is built
        SWITCHES.put("onetoken", new Switch(() -> String.valueOf(TwoPhaseAttention.ONE_TOKEN_PRIVATE),
                v -> TwoPhaseAttention.ONE_TOKEN_PRIVATE = Boolean.parseBoolean(v)));
        SWITCHES.put("blockbytes", new Switch(() -> String.valueOf(OneTokenDecode.blockBytes), v -> OneTokenDecode.blockBytes = Integer.parseInt(v)));
    }

    private static String getSwitch(String k) {
        Switch sw = SWITCHES.get(k);
        if (sw == null) throw new IllegalArgumentException("--ab: unknown switch '" + k + "' (known: " + String.join(", ", SWITCHES.keySet()) + ")");
        return sw.get().get();
    }

    private static void applySwitches(Map<String, String> m) {
        for (var e : m.entrySet()) SWITCHES.get(e.getKey()).set().accept(e.getValue());
    }

    private static final java.lang.management.ThreadMXBean THREADS = java.lang.management.ManagementFactory.getThreadMXBean();

    /** Wall clock, or with --clock cpu the calling thread's CPU time (unaffected by time spent descheduled). */
    private static long now(Config cfg) {
        return cfg.cpuClock ? THREADS.getCurrentThreadCpuTime() : System.nanoTime();
    }

    private static double median(double[] x) {
        double[] s = x.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    private static double min(double[] x) { return Arrays.stream(x).min().orElse(Double.NaN); }

    private static String json(Config cfg, double bytesPerSecond, double fmasPerSecond, Point def, List<Point> grid) {
        StringBuilder j = new StringBuilder("{");
        j.append(String.format(Locale.ROOT, "\"speedup_vs_unaware\":%.3f,\"ideal_speedup\":%.3f,\"floor_ratio\":%.3f,",
                def.speedup(), def.ideal(), def.floorRatio()));
        j.append(String.format(Locale.ROOT, "\"speedup_vs_unaware_min\":%.3f,\"floor_ratio_min\":%.3f,\"clock\":\"%s\",",
                def.unawareMinMs / def.awareMinMs, def.awareMinMs / def.floorMs(), cfg.cpuClock ? "cpu" : "wall"));
        // the arithmetic bound: the default call's FMAs at the measured peak, and what it leaves of the targets
        j.append(String.format(Locale.ROOT, "\"fma_peak_g_per_s\":%.2f,\"compute_floor_ms\":%.4f,\"compute_floor_over_floor\":%.3f,"
                        + "\"fraction_of_fma_peak\":%.3f,\"bound_ratio\":%.3f,\"speedup_bound\":%.3f,",
                fmasPerSecond / 1e9, def.computeFloorMs(), def.computeFloorMs() / def.floorMs(), def.computeFloorMs() / def.awareMs,
                def.awareMs / def.boundMs(), def.unawareMs / def.boundMs()));
        j.append(String.format(Locale.ROOT, "\"read_bw_gbs\":%.2f,\"threads\":%d,\"vector_bits\":%d,\"cpus\":%d,",
                bytesPerSecond / 1e9, cfg.threads, VectorMath.F.vectorBitSize(), Runtime.getRuntime().availableProcessors()));
        j.append(String.format(Locale.ROOT, "\"q_heads\":%d,\"kv_heads\":%d,\"head_dim\":%d,\"chunk\":%d,\"dtype\":\"%s\",\"layers\":%d,\"reps\":%d,\"warmup_ms\":%d,",
                cfg.qHeads, cfg.kvHeads, cfg.headDim, cfg.chunk, cfg.dtype.name().toLowerCase(Locale.ROOT), cfg.layers, cfg.reps, cfg.warmupMs));
        if (def.ab() != null) j.append("\"ab\":").append(def.ab()).append(',');
        j.append("\"default\":").append(pointJson(def)).append(",\"grid\":[");
        for (int i = 0; i < grid.size(); i++) j.append(i == 0 ? "" : ",").append(pointJson(grid.get(i)));
        return j.append("]}").toString();
    }

    private static String pointJson(Point p) {
        return String.format(Locale.ROOT, "{\"batch\":%d,\"shared\":%d,\"unique\":%d,\"aware_ms\":%.4f,\"unaware_ms\":%.4f,"
                        + "\"aware_min_ms\":%.4f,\"unaware_min_ms\":%.4f,\"speedup\":%.3f,\"ideal_speedup\":%.3f,\"floor_ms\":%.4f,"
                        + "\"floor_ratio\":%.3f,\"unaware_floor_ms\":%.4f,\"unique_bytes\":%d,\"pool_bytes\":%d,\"max_abs_diff\":%.3e,"
                        + "\"groups\":%d,\"chunk_first_tasks\":%d,\"fmas\":%d,\"compute_floor_ms\":%.4f,\"bound_ratio\":%.3f}",
                p.batch, p.shared, p.unique, p.awareMs, p.unawareMs, p.awareMinMs, p.unawareMinMs, p.speedup(), p.ideal(), p.floorMs(),
                p.floorRatio(), p.unawareFloorMs(), p.uniqueBytes, p.poolBytes, p.maxDiff, p.groups, p.tasks, p.fmas,
                p.computeFloorMs(), p.awareMs / p.boundMs());
    }
}
