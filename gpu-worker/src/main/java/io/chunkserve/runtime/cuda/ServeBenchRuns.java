package io.chunkserve.runtime.cuda;

import io.chunkserve.engine.Engine;
import io.chunkserve.engine.GenerationRequest;
import io.chunkserve.engine.RequestOutput;
import io.chunkserve.sampling.SamplingParams;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.DoubleSupplier;
import java.util.function.IntFunction;
import java.util.function.BiFunction;


/**
 * {@link CudaServeBench}'s workload and measurement helpers: a run of B requests through the engine (TTFT, decode tok/s),
 * the A/B arms and their means, the timed / profiled runs, the device copy bandwidth, the word-level test tokenizer, JSON.
 */
final class ServeBenchRuns {
    private ServeBenchRuns() { }

    /** CudaModelRunner.setSkipOps mask of "+"-joined op names ({@link CudaModelRunner#SKIP_NAMES}; "none": 0). */
    static int skipMask(String spec) {
        int mask = 0;
        if (!spec.equals("none")) {
            for (String op : spec.split("\\+")) {
                int bit = CudaModelRunner.SKIP_NAMES.indexOf(op);
                if (bit < 0) throw new IllegalArgumentException("unknown op to skip " + op + " (" + CudaModelRunner.SKIP_NAMES + ")");
                mask |= 1 << bit;
            }
        }
        return mask;
    }

    static double ms3(double v) { return Math.round(v * 1000) / 1000.0; }

    static SamplingParams greedy(int G) { return SamplingParams.builder().temperature(0).maxTokens(G).ignoreEos(true).build(); }

    /** The two-phase attention's profiled ms (partials, and the merge launch, which has its own category since session 9). */
    static double attention(Map<String, Double> prof) {
        return prof.getOrDefault("attention", Double.NaN) + prof.getOrDefault("attn merge", 0.0);
    }

    /** The engine, runner and workload of one shape's A/B runs at B = pb (G tokens a request). */
    record Ctx(Engine engine, CudaModelRunner runner, int[] system, int U, int G, int pb, java.util.Random rnd, int vocab) {
        Run run(int gen, SamplingParams p) throws Exception { return ServeBenchRuns.run(engine, system, U, gen, pb, rnd, vocab, 0, p); }
    }

    /** An arm's means over its rounds (fields of {@link CudaModelRunner#decodeTiming}), and per round tok/s, prep, period. */
    static final class ArmStats {
        double tps, gpuMs, prep, engMs, period, dl, extra;
        final List<Double> roundTps = new ArrayList<>(), roundPrep = new ArrayList<>(), roundPeriod = new ArrayList<>(), roundGpu = new ArrayList<>();
        final List<Long> roundSteps = new ArrayList<>();   // decode-only steps at B = pb, and all decode steps of the run

        void add(Timed t, double extraValue, int rounds) {
            tps += t.x().decodeTps / rounds;
            gpuMs += t.at(1) / rounds;
            prep += t.at(3) / rounds;
            engMs += t.at(5) / rounds;
            period += t.at(6) / rounds;
            dl += t.at(7) / rounds;
            extra += extraValue / rounds;
            roundTps.add((double) Math.round(t.x().decodeTps));
            roundPrep.add(ms3(t.at(3)));
            roundPeriod.add(ms3(t.at(6)));
            roundGpu.add(ms3(t.at(1)));
            roundSteps.add((long) t.at(0));
            roundSteps.add(t.x().decodeSteps());
        }

        /** The arm's console line (the runner prep after the device period when {@code withPrep}). */
        String line(String shape, int pb, String name, int width, boolean withPrep) {
            return String.format(Locale.ROOT, "%-13s B=%d %-" + width + "s %8.0f tok/s, step %.3f ms, GPU %.3f ms, device period %.3f ms", shape, pb, name, tps,
                    1e3 * pb / tps, gpuMs, period) + (withPrep ? String.format(Locale.ROOT, ", runner prep %.3f ms", prep) : "")
                    + String.format(Locale.ROOT, ", engine between steps %.3f ms, logits download %.3f ms", engMs, dl);
        }

        Map<String, Object> json(boolean withPrep) {
            Map<String, Object> one = new LinkedHashMap<>();
            one.put("tok_s", round(tps));
            one.put("gpu_ms", ms3(gpuMs));
            one.put("device_period_ms", ms3(period));
            if (withPrep) one.put("runner_prep_ms", ms3(prep));
            one.put("engine_between_steps_ms", ms3(engMs));
            one.put("logits_download_ms", ms3(dl));
            return one;
        }
    }

    /**
     * Runs {@code arms} arms alternately, round by round, B = pb requests of G tokens each: {@code setup(arm, round)} sets
     * the runner's switches (the engine reads them when no step is in flight) and returns the requests' sampling
     * parameters; {@code probe(arm)}, when given, is called right before the run and returns what is called right
     * after it: a check (it may throw) giving an extra figure to average. The caller restores the switches.
     */
    static ArmStats[] runArms(Ctx c, int rounds, int arms, BiFunction<Integer, Integer, SamplingParams> setup, IntFunction<DoubleSupplier> probe)
            throws Exception {
        ArmStats[] st = new ArmStats[arms];
        for (int v = 0; v < arms; v++) st[v] = new ArmStats();
        for (int round = 0; round < rounds; round++) {
            for (int v = 0; v < arms; v++) {
                SamplingParams sp = setup.apply(v, round);
                c.runner().decodeTiming(c.pb(), true);
                DoubleSupplier after = probe == null ? null : probe.apply(v);
                Run x = c.run(c.G(), sp);
                Timed t = new Timed(x, c.runner().decodeTiming(c.pb(), false), null, null, null);
                st[v].add(t, after == null ? 0 : after.getAsDouble(), rounds);
            }
        }
        return st;
    }

    /**
     * A probe for {@link #runArms} of a device-vs-host A/B: fails an arm whose rows the device counter saw
     * ({@code rows}, e.g. {@link CudaModelRunner#biasedRows}) when they should have gone to the host, or the reverse.
     */
    static IntFunction<DoubleSupplier> deviceRows(java.util.function.LongSupplier rows, java.util.function.IntPredicate onDevice, String[] names, String what) {
        return v -> {
            long r0 = rows.getAsLong();
            return () -> {
                long n = rows.getAsLong() - r0;
                if ((n > 0) != onDevice.test(v)) throw new IllegalStateException(names[v] + ": rows " + what + " on the device " + n);
                return 0;
            };
        };
    }

    /** Prints each arm's line and returns their JSON by arm name ("greedy+bias device" → "greedy_bias_device"). */
    static Map<String, Object> armLines(String shape, int pb, String[] names, ArmStats[] st, int width) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int v = 0; v < names.length; v++) {
            System.out.println(st[v].line(shape, pb, names[v], width, false));
            m.put(names[v].replace(' ', '_').replace('+', '_'), st[v].json(false));
        }
        return m;
    }

    /** A run's figures: its {@link CudaModelRunner#decodeTiming} (null: no decode steps), the profile and plan when taken. */
    record Timed(Run x, double[] tm, Map<String, Double> prof, CudaPlan plan, long[] timeline) {
        double at(int i) { return tm == null ? Double.NaN : tm[i]; }
    }

    /**
     * An unprofiled 32-token greedy run at B = pb (GPU ms a step, tok/s), and the partials' timeline when one was
     * armed ({@link CudaAttention#armTimeline}), followed by its merge's and its o projection's blocks when they ran
     * with one ({@link AttnTimeline#of}).
     */
    static Timed timed(Ctx c) throws Exception {
        c.runner().decodeTiming(c.pb(), true);
        Run x = c.run(32, greedy(32));
        double[] tm = c.runner().decodeTiming(c.pb(), true);
        CudaAttention a = c.runner().attention();
        long[] tl = a == null ? null : a.timeline();
        if (tl != null && tl.length > 0 && c.runner().skinny() != null) {
            long[] o = c.runner().skinny().timeline();
            tl = java.util.Arrays.copyOf(tl, tl.length + o.length);
            System.arraycopy(o, 0, tl, tl.length - o.length, o.length);
        }
        return new Timed(x, tm, null, c.runner().attentionPlan(), tl);
    }

    /** {@link #timed}, then a profiled 16-token run (events around each op). */
    static Timed timedThenProfiled(Ctx c) throws Exception {
        Timed t = timed(c);
        c.runner().setProfile(true);
        c.run(16, greedy(16));
        Map<String, Double> prof = c.runner().profile();
        c.runner().setProfile(false);
        return new Timed(t.x(), t.tm(), prof, t.plan(), t.timeline());
    }

    static double round(double v) { return Math.round(v * 100) / 100.0; }

    @SuppressWarnings("unchecked")
    static void json(StringBuilder sb, Map<String, Object> m) {
        boolean first = true;
        for (var e : m.entrySet()) {
            if (!first) sb.append(',');
            first = false;
            sb.append('"').append(e.getKey()).append("\":");
            Object v = e.getValue();
            if (v instanceof Map) {
                sb.append('{');
                json(sb, (Map<String, Object>) v);
                sb.append('}');
            } else if (v instanceof String s) {
                sb.append('"').append(s.replace("\"", "'")).append('"');
            } else {
                sb.append(v);
            }
        }
    }

    record Run(double ttftMs, double decodeTps, long decodeSteps) { }

    /**
     * B requests (system prompt + U unique tokens, G greedy tokens each, ignoring EOS) submitted at once; waits for
     * all. Decode throughput counts the tokens produced after the last request's first token.
     */
    static Run run(Engine engine, int[] system, int U, int G, int B, java.util.Random rnd, int vocab, long salt) throws Exception {
        return run(engine, system, U, G, B, rnd, vocab, salt, SamplingParams.builder().temperature(0).maxTokens(G).ignoreEos(true).build());
    }

    static Run run(Engine engine, int[] system, int U, int G, int B, java.util.Random rnd, int vocab, long salt, SamplingParams p)
            throws Exception {
        long[] first = new long[B], last = new long[B];
        List<long[]> stamps = new ArrayList<>();   // per request: time of each token
        List<CompletableFuture<Void>> done = new ArrayList<>();
        AtomicLong seq = new AtomicLong();
        long t0 = System.nanoTime();
        for (int i = 0; i < B; i++) {
            int[] prompt = Arrays.copyOf(system, system.length + U);
            for (int j = 0; j < U; j++) prompt[system.length + j] = 10 + rnd.nextInt(vocab - 20);
            long[] ts = new long[G];
            stamps.add(ts);
            int k = i;
            int[] n = {0};
            CompletableFuture<Void> f = new CompletableFuture<>();
            done.add(f);
            engine.submit(new GenerationRequest("r" + seq.incrementAndGet() + "-" + System.nanoTime(), "t", prompt, p, salt), out -> {
                long now = System.nanoTime();
                for (RequestOutput.ChoiceDelta d : out.choices()) for (int t : d.tokenIds()) if (n[0] < G) ts[n[0]++] = now;
                if (out.error() != null) f.completeExceptionally(new IllegalStateException(out.error()));
                else if (out.finished()) {
                    first[k] = ts[0];
                    last[k] = now;
                    f.complete(null);
                }
            });
        }
        for (CompletableFuture<Void> f : done) f.get(600, TimeUnit.SECONDS);
        long start = Arrays.stream(first).max().orElse(t0), end = Arrays.stream(last).max().orElse(t0);
        long after = 0;
        java.util.TreeSet<Long> steps = new java.util.TreeSet<>();
        for (long[] ts : stamps) {
            for (long t : ts) {
                if (t > start) {
                    after++;
                    steps.add(t);
                }
            }
        }
        double ttft = (Arrays.stream(first).min().orElse(t0) - t0) / 1e6;
        double tps = end > start ? after / ((end - start) / 1e9) : 0;
        return new Run(ttft, tps, steps.size());
    }

    /**
     * A word-level tokenizer.json of {@code n} tokens ("t0" … "tN", decoded with spaces): the random models'
     * ids decode like a real vocabulary's (the engine detokenizes every token), and EOS never appears (ignored).
     */
    static Path writeTokenizer(int n) throws IOException {
        Path dir = Files.createTempDirectory("cs-bench-tok");
        StringBuilder v = new StringBuilder();
        for (int i = 0; i < n; i++) {
            if (i > 0) v.append(',');
            v.append("\"t").append(i).append("\":").append(i);
        }
        String json = "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[],\"normalizer\":null,"
                + "\"pre_tokenizer\":{\"type\":\"WhitespaceSplit\"},\"post_processor\":null,\"decoder\":null,"
                + "\"model\":{\"type\":\"WordLevel\",\"vocab\":{" + v + "},\"unk_token\":\"t0\"}}";
        Files.writeString(dir.resolve("tokenizer.json"), json);
        Files.writeString(dir.resolve("config.json"), "{\"eos_token_id\": 1}");
        return dir;
    }
}
