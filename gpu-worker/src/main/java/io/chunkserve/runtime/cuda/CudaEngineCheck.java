package io.chunkserve.runtime.cuda;

import io.chunkserve.engine.EngineConfig;
import io.chunkserve.engine.GenerationRequest;
import io.chunkserve.engine.RequestOutput;
import io.chunkserve.engine.Worker;
import io.chunkserve.engine.WorkerConfig;
import io.chunkserve.sampling.SamplingParams;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

import static io.chunkserve.runtime.cuda.CudaModelCheck.check;
import static io.chunkserve.runtime.cuda.CudaModelCheck.fail;

/**
 * Part 5 of {@link CudaModelCheck}: the real engine on a fixture, a CPU worker against a CUDA worker (exact mode), the
 * same workload of prefix hits, forks, an abort, penalized, sampled and log-probability requests; every request's
 * tokens equal. Results go into CudaModelCheck's counters.
 */
final class CudaEngineCheck {
    private CudaEngineCheck() { }

    // ------------------------------------------------------------------ the real engine, CPU vs CUDA

    record Outcome(Map<Integer, List<Integer>> tokens, RequestOutput.Usage usage, boolean aborted, List<RequestOutput.TokenLogprob> logprobs) { }

    static void engine(Path dir) throws Exception {
        String name = dir.getFileName().toString();
        WorkerConfig base = WorkerConfig.defaults(dir).withKvBytes(4L << 20).withChunkSize(16).withEngine(new EngineConfig(8, 48));
        Map<String, Outcome> cpuOut = workload(base.withDevice("cpu"), false);
        Map<String, Outcome> gpuOut = workload(base.withDevice("cuda"), true);
        for (String id : cpuOut.keySet()) {
            Outcome a = cpuOut.get(id), g = gpuOut.get(id);
            if (g == null) {
                fail("engine " + name + " " + id + ": no CUDA outcome");
                continue;
            }
            if (id.startsWith("samp") || id.startsWith("spen") || id.startsWith("sfork") || id.startsWith("sbias")) {
                // drawn on the device by the CUDA runner (its own walk order): reproducible within a backend
                if (id.equals("sampA")) {
                    check(a.tokens().equals(cpuOut.get("sampB").tokens()) && g.tokens().equals(gpuOut.get("sampB").tokens())
                                    && g.tokens().get(0).size() == 16,
                            "engine " + name + ": two identical seeded sampled requests get the same 16 tokens (CPU and CUDA each)");
                }
                if (id.equals("sbiasA")) {
                    check(a.tokens().equals(cpuOut.get("sbiasB").tokens()) && g.tokens().equals(gpuOut.get("sbiasB").tokens())
                                    && g.tokens().get(0).size() == 16,
                            "engine " + name + ": two identical seeded sampled biased requests get the same 16 tokens (CPU and CUDA each)");
                }
                if (id.equals("spenA")) {
                    check(a.tokens().equals(cpuOut.get("spenB").tokens()) && g.tokens().equals(gpuOut.get("spenB").tokens())
                                    && g.tokens().get(0).size() == 20,
                            "engine " + name + ": two identical seeded sampled penalized requests get the same 20 tokens (CPU and CUDA each)");
                }
                if (id.equals("sforkA")) {
                    boolean sizes = g.tokens().size() == 2 && g.tokens().get(0).size() == 14 && g.tokens().get(1).size() == 14;
                    check(a.tokens().equals(cpuOut.get("sforkB").tokens()) && g.tokens().equals(gpuOut.get("sforkB").tokens()) && sizes
                                    && !g.tokens().get(0).equals(g.tokens().get(1)),
                            "engine " + name + ": two identical seeded sampled penalized n = 2 requests get the same 2 x 14 tokens (CPU and CUDA each), their choices differ");
                }
                continue;
            }
            if (id.startsWith("abort")) {
                // the aborted request: its tokens up to the abort are a prefix of the CPU's (run to the end there)
                boolean prefix = true;
                for (var e : g.tokens().entrySet()) {
                    List<Integer> full = a.tokens().getOrDefault(e.getKey(), List.of());
                    prefix &= e.getValue().size() <= full.size() && full.subList(0, e.getValue().size()).equals(e.getValue());
                }
                check(prefix && g.aborted(), "engine " + name + " " + id + ": aborted, tokens before the abort match the CPU's");
                continue;
            }
            check(a.tokens().equals(g.tokens()), "engine " + name + " " + id + ": tokens equal " + (a.tokens().equals(g.tokens()) ? ""
                    : a.tokens() + " vs " + g.tokens()));
            if (!a.logprobs().isEmpty() || !g.logprobs().isEmpty()) {
                // exact mode: the logits agree to ~1e-6 relative, so the log-probabilities to ~1e-5
                boolean same = a.logprobs().size() == g.logprobs().size();
                double worst = 0;
                for (int j = 0; same && j < a.logprobs().size(); j++) {
                    RequestOutput.TokenLogprob x = a.logprobs().get(j), y = g.logprobs().get(j);
                    same = x.id() == y.id() && x.top().size() == y.top().size();
                    worst = Math.max(worst, Math.abs(x.logprob() - y.logprob()));
                    for (int q = 0; same && q < x.top().size(); q++) {
                        worst = Math.max(worst, Math.abs(x.top().get(q).logprob() - y.top().get(q).logprob()));
                        same = x.top().get(q).id() == y.top().get(q).id() || Math.abs(x.top().get(q).logprob() - y.top().get(q).logprob()) < 1e-3;
                    }
                }
                check(same && worst < 1e-3, String.format(Locale.ROOT, "engine %s %s: %d log-probabilities (with top %d) as the CPU's within 1e-3 (worst %.1e)",
                        name, id, g.logprobs().size(), g.logprobs().isEmpty() ? 0 : g.logprobs().get(0).top().size(), worst));
            }
            check(a.usage().cachedTokens() == g.usage().cachedTokens(), "engine " + name + " " + id + ": cached tokens " + g.usage().cachedTokens()
                    + " (CPU " + a.usage().cachedTokens() + ")");
        }
    }

    /** Wave 1: one request with a system prompt; wave 2: requests sharing it (prefix hits), n = 2, an abort. */
    static Map<String, Outcome> workload(WorkerConfig wc, boolean cuda) throws Exception {
        Map<String, Outcome> res = new ConcurrentHashMap<>();
        try (Worker w = Worker.start(wc)) {
            if (cuda) check(w.runner() instanceof CudaModelRunner, "engine: --device cuda built a CudaModelRunner");
            int vocab = w.model().config().vocabSize();
            java.util.Random rnd = new java.util.Random(5);
            int[] system = rnd.ints(40, 3, vocab - 3).toArray();
            SamplingParams greedy = SamplingParams.builder().temperature(0).maxTokens(12).ignoreEos(true).build();
            int[] firstPrompt = concat(system, rnd.ints(5, 3, vocab - 3).toArray());
            submit(w, "first", firstPrompt, greedy, res, null).get(60, TimeUnit.SECONDS);
            List<CompletableFuture<?>> all = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                SamplingParams p = SamplingParams.builder().temperature(0).maxTokens(6 + 3 * i).ignoreEos(true)
                        .n(i == 2 ? 2 : 1).logprobs(i == 3).build();
                all.add(submit(w, "req" + i, concat(system, rnd.ints(3 + 7 * i, 3, vocab - 3).toArray()), p, res, null));
            }
            SamplingParams longer = SamplingParams.builder().temperature(0).maxTokens(30).ignoreEos(true).build();
            all.add(submit(w, "abort0", concat(system, rnd.ints(9, 3, vocab - 3).toArray()), longer, res, cuda ? 4 : null));
            for (CompletableFuture<?> f : all) f.get(60, TimeUnit.SECONDS);
            // wave 3: the first prompt again, ending on its own 5th token as a stop token (with the CUDA runner the
            // step launched one ahead for it is dropped), beside two longer greedy requests
            int stopId = res.get("first").tokens().get(0).get(4);
            all.clear();
            all.add(submit(w, "stop0", firstPrompt, SamplingParams.builder().temperature(0).maxTokens(12).ignoreEos(true)
                    .stopTokenIds(List.of(stopId)).build(), res, null));
            for (int i = 0; i < 2; i++) all.add(submit(w, "long" + i, concat(system, rnd.ints(4 + i, 3, vocab - 3).toArray()), longer, res, null));
            // two identical seeded sampled requests (drawn on the device with the CUDA runner): the same tokens
            SamplingParams sampled = SamplingParams.builder().temperature(0.9).topP(0.9).topK(50).seed(77L).maxTokens(16).ignoreEos(true).build();
            int[] sp = concat(system, rnd.ints(6, 3, vocab - 3).toArray());
            for (String id : new String[] {"sampA", "sampB"}) all.add(submit(w, id, sp, sampled, res, null));
            // logit_bias (added on the device by the CUDA runner, cs_bias, steps one ahead): a greedy request on the
            // first prompt with its first token banned, with log-probabilities (raw); a seeded sampled one; a greedy one
            // whose bias and repetition / presence penalties touch the same prompt tokens, with top-5 log-probabilities
            // (the raw logits restored through both kernels' saved values, in order): all the CPU's tokens
            int firstToken = res.get("first").tokens().get(0).get(0);
            SamplingParams bias0 = SamplingParams.builder().temperature(0).maxTokens(14).ignoreEos(true).logprobs(true)
                    .topLogprobs(3).logitBias(bias(system[3], 2.5, system[5], -1.5, firstToken, -100.0)).build();
            all.add(submit(w, "bias0", firstPrompt, bias0, res, null));
            SamplingParams sbias = SamplingParams.builder().temperature(0.9).topP(0.9).seed(80L).maxTokens(16).ignoreEos(true)
                    .logitBias(bias(system[1], 3.0, system[2], -100.0)).build();
            int[] sbp = concat(system, rnd.ints(7, 3, vocab - 3).toArray());
            for (String id : new String[] {"sbiasA", "sbiasB"}) all.add(submit(w, id, sbp, sbias, res, null));
            all.add(submit(w, "bias2", concat(system, rnd.ints(4, 3, vocab - 3).toArray()), SamplingParams.builder().temperature(0).maxTokens(18)
                    .ignoreEos(true).repetitionPenalty(1.3).presencePenalty(0.4).logprobs(true).topLogprobs(5)
                    .logitBias(bias(system[0], 4.0, system[6], 1.5, system[7], -100.0, firstToken, -3.0)).build(), res, null));
            for (CompletableFuture<?> f : all) f.get(60, TimeUnit.SECONDS);
            List<Integer> biased = res.get("bias0").tokens().get(0), sb = res.get("sbiasA").tokens().get(0);
            check(biased.size() == 14 && !biased.contains(firstToken), "engine: logit_bias -100 bans the greedy first token " + firstToken + ": " + biased);
            check(sb.size() == 16 && !sb.contains(system[2]) && !res.get("bias2").tokens().get(0).contains(system[7]),
                    "engine: logit_bias -100 bans a token in a sampled and a penalized greedy request");
            // the same greedy biased request with the bias left to the host sampler (the row comes back): the same tokens
            CudaModelRunner cb = cuda && w.runner() instanceof CudaModelRunner c ? c : null;
            long biasedBefore = cb != null ? cb.biasedRows() : 0;
            if (cb != null) cb.setDeviceBias(false);   // (no step in flight)
            submit(w, "bias0host", firstPrompt, bias0, res, null).get(60, TimeUnit.SECONDS);
            if (cb != null) {
                cb.setDeviceBias(true);
                check(cb.biasedRows() == biasedBefore && biasedBefore >= 40, "engine: rows biased on the device: " + biasedBefore
                        + ", none with the switch off");
            }
            // wave 4: penalized requests (penalties applied on the device by the CUDA runner, steps one ahead): greedy
            // ones must get the CPU's tokens; two identical seeded sampled ones the same tokens
            all.clear();
            double[][] pens = {{1.3, 0, 0}, {1, 0.8, 0.4}, {1.2, 0.3, 0.2}, {1, 0, -0.3}, {1.05, -0.4, 0.15}};
            for (int i = 0; i < pens.length; i++) {
                SamplingParams pp = SamplingParams.builder().temperature(0).maxTokens(20 + 2 * i).ignoreEos(true)
                        .repetitionPenalty(pens[i][0]).presencePenalty(pens[i][1]).frequencyPenalty(pens[i][2]).build();
                all.add(submit(w, "pen" + i, concat(system, rnd.ints(3 + i, 3, vocab - 3).toArray()), pp, res, null));
            }
            all.add(submit(w, "lp5pen", concat(system, rnd.ints(5, 3, vocab - 3).toArray()), SamplingParams.builder().temperature(0).maxTokens(18)
                    .ignoreEos(true).repetitionPenalty(1.2).frequencyPenalty(0.3).logprobs(true).topLogprobs(5).build(), res, null));
            all.add(submit(w, "lp20", concat(system, rnd.ints(6, 3, vocab - 3).toArray()), SamplingParams.builder().temperature(0).maxTokens(14)
                    .ignoreEos(true).logprobs(true).topLogprobs(20).build(), res, null));
            SamplingParams spen = SamplingParams.builder().temperature(0.9).topP(0.9).seed(78L).maxTokens(20).ignoreEos(true)
                    .repetitionPenalty(1.1).presencePenalty(0.3).frequencyPenalty(0.2).build();
            int[] spp = concat(system, rnd.ints(7, 3, vocab - 3).toArray());
            for (String id : new String[] {"spenA", "spenB"}) all.add(submit(w, id, spp, spen, res, null));
            // two identical seeded sampled penalized n = 2 requests: after the first token (drawn on the host from choice
            // 0's logits) each choice is drawn by the CUDA runner, steps one ahead
            SamplingParams sfork = SamplingParams.builder().temperature(0.9).topK(40).seed(79L).maxTokens(14).ignoreEos(true)
                    .repetitionPenalty(1.1).n(2).build();
            int[] sfp = concat(system, rnd.ints(8, 3, vocab - 3).toArray());
            for (String id : new String[] {"sforkA", "sforkB"}) all.add(submit(w, id, sfp, sfork, res, null));
            for (CompletableFuture<?> f : all) f.get(60, TimeUnit.SECONDS);
            // wave 5: long prompts (300 tokens over a few dozen ids, so repetition-penalized lists of ~200 entries whose
            // counts the output keeps hitting) with repetition plus presence / frequency over up to 64 steps; 12 greedy
            // requests, at most 8 at a time, ending at different steps, so that later ones take the device-resident
            // lists' freed regions. Run twice with the CUDA runner: its lists resident (only what a step changed goes
            // up), then uploaded whole every step; both must get the CPU's tokens.
            int[] pool5 = rnd.ints(60, 3, vocab - 3).toArray();
            int[][] prompts5 = new int[12][];
            for (int i = 0; i < prompts5.length; i++) {
                prompts5[i] = new int[300];
                for (int j = 0; j < 300; j++) prompts5[i][j] = j < 40 ? system[j] : pool5[rnd.nextInt(pool5.length)];
            }
            double[][] pens5 = {{1.15, 0.2, 0.1}, {1.3, 0, 0.25}, {1.1, 0.5, 0}, {0.9, 0.1, 0.05}};
            long[] up0 = cuda && w.runner() instanceof CudaModelRunner c0 ? c0.penaltyUploads() : null;
            for (String mode : new String[] {"lpen", "fpen"}) {
                if (cuda && w.runner() instanceof CudaModelRunner cr) cr.setResidentPenalties(mode.equals("lpen"));   // (no step in flight)
                all.clear();
                for (int i = 0; i < prompts5.length; i++) {
                    double[] pp5 = pens5[i % pens5.length];
                    SamplingParams pp = SamplingParams.builder().temperature(0).maxTokens(10 + 5 * ((i * 7) % 11)).ignoreEos(true)
                            .repetitionPenalty(pp5[0]).presencePenalty(pp5[1]).frequencyPenalty(pp5[2]).build();
                    all.add(submit(w, mode + i, prompts5[i], pp, res, null));
                }
                for (CompletableFuture<?> f : all) f.get(120, TimeUnit.SECONDS);
            }
            if (cuda && w.runner() instanceof CudaModelRunner cr) {
                cr.setResidentPenalties(true);
                long[] up = cr.penaltyUploads();
                // resident wave: every list uploaded whole once (a preempted one again), then one or two entries a step
                check(up[1] - up0[1] >= 12 && up[2] > up0[2], String.format(Locale.ROOT,
                        "engine: device-resident penalty lists: %d entries uploaded (%d lists whole), vs %d uploaded whole with the steps;"
                                + " arena %d entries, %d lists live, %d free in %d blocks", up[0] - up0[0], up[1] - up0[1], up[2] - up0[2], up[4], up[3], up[5], up[6]));
            }
            if (cuda && w.runner() instanceof CudaModelRunner cr && cr.penalizesOnDevice()) {
                check(cr.penalizedRows() >= 100, "engine: rows penalized on the device: " + cr.penalizedRows());
            }
            if (cuda && w.runner() instanceof CudaModelRunner cr && cr.logprobsOnDevice()) {
                check(cr.logprobRows() >= 30, "engine: rows with log-probabilities from the device: " + cr.logprobRows());
            }
            if (cuda && w.runner().pipelines()) {
                long ahead = w.engine().aheadLaunches();
                check(ahead >= 20, "engine: steps launched one ahead of their predecessor's results: " + ahead);
            }
        }
        return res;
    }

    /** A logit_bias from (id, value) pairs; a later pair wins over an earlier one of the same id. */
    static Map<Integer, Double> bias(double... idValue) {
        Map<Integer, Double> m = new java.util.HashMap<>();
        for (int i = 0; i < idValue.length; i += 2) m.put((int) idValue[i], idValue[i + 1]);
        return m;
    }

    static int[] concat(int[] a, int[] b) {
        int[] r = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    static CompletableFuture<Void> submit(Worker w, String id, int[] prompt, SamplingParams p, Map<String, Outcome> res, Integer abortAfter) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        Map<Integer, List<Integer>> toks = new ConcurrentHashMap<>();
        List<RequestOutput.TokenLogprob> lps = java.util.Collections.synchronizedList(new ArrayList<>());
        int[] seen = {0};
        w.engine().submit(new GenerationRequest(id, "t", prompt, p, 0), out -> {
            boolean aborted = false;
            for (RequestOutput.ChoiceDelta d : out.choices()) {
                List<Integer> l = toks.computeIfAbsent(d.index(), k -> new ArrayList<>());
                for (int t : d.tokenIds()) l.add(t);
                if (d.index() == 0 && d.logprobs() != null) lps.addAll(d.logprobs());
                seen[0] += d.tokenIds().length;
                aborted |= d.finish() == io.chunkserve.sampling.FinishReason.ABORT;
            }
            if (abortAfter != null && seen[0] >= abortAfter && !out.finished()) w.engine().abort(id);
            if (out.error() != null) {
                done.completeExceptionally(new IllegalStateException(id + ": " + out.error()));
                return;
            }
            if (out.finished()) {
                boolean wasAborted = aborted;
                res.put(id, new Outcome(new java.util.TreeMap<>(toks), out.usage(), wasAborted, List.copyOf(lps)));
                done.complete(null);
            }
        });
        return done;
    }
}
