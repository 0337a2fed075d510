package io.chunkserve.runtime.cuda;

import io.chunkserve.bench.RandomModel;
import io.chunkserve.engine.Engine;
import io.chunkserve.engine.EngineConfig;
import io.chunkserve.engine.sched.SchedulerConfig;
import io.chunkserve.kernels.KernelImages;
import io.chunkserve.kv.ChunkPool;
import io.chunkserve.kv.KvLayout;
import io.chunkserve.kv.PrefixCache;
import io.chunkserve.model.DType;
import io.chunkserve.model.ModelConfig;
import io.chunkserve.sampling.SamplingParams;
import io.chunkserve.tokenizer.Tokenizer;
import jcuda.driver.CUmodule;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import static io.chunkserve.runtime.cuda.ServeBenchRuns.*;

/**
 * Serving benchmark of the CUDA backend through the real engine (scheduler, prefix cache, engine thread):
 * random bf16 models of real shapes made on the device; B requests share a P-token system prompt and own U
 * unique tokens each, greedy (picked on the device), G generated tokens. Decode tokens/s = tokens generated
 * after the last request's first token / that time, beside the roofline (weight bytes + the step's unique KV
 * bytes, over the device copy bandwidth measured in the same run); TTFT of one request with and without a
 * prefix hit. Prints a table and {@code RESULT {json}} (its numbers are read back by tools/gpu/report7.py).
 *
 * <p>Usage: {@code CudaServeBench [--shapes llama-3.2-1b,llama-3-8b] [--batches 1,32,64,128] [--prefix 2048]
 * [--unique 256] [--gen 64] [--chunk 64] [--kv bf16] [--attn-tiles 0,4,8,16] [--attn-ab off:0,auto:0,auto:12] [--pipeline-ab ROUNDS]
 * [--gemm-ab direct,vec] [--sampled-ab ROUNDS] [--penalized-ab ROUNDS] [--logprobs-ab ROUNDS] [--bias-ab ROUNDS] [--prefill-ab ROUNDS]
 * [--merge-ab plain,pre[:ROUNDS]]}
 * (--penalized-ab: B = 64 requests with repetition 1.1, presence 0.3 and frequency 0.2 penalties, greedy and sampled,
 * their penalties applied on the device — lists resident there, only what a step changed uploaded, or uploaded whole every
 * step (the runner prep per step compares the two) — vs on the host, alternating in this process; --logprobs-ab: B = 64 greedy
 * and sampled requests with logprobs and top_logprobs 5, reported from the device vs from the host; --bias-ab: B = 64
 * greedy and sampled requests with a 20-token logit_bias, added on the device vs by the host sampler; --prefill-ab: TTFT
 * with the prefill attention on tensor cores vs in fp32)
 * (--attn-tiles: a piece-size sweep of the two-phase plan at B = 64 through the engine, 0 = the plan's own choice;
 * --attn-ab: plan configurations, warp items off|auto|always : piece tiles [: private split auto|off|N
 * [: partials diagnostics 0|1 (loads only)|2 (math only)|3 (the other of f64 / f64z)|4 (the other of f64z / f64w8; f64z
 * under f64w8p / f64w8h)|5 (f64w8, under f64w8p / f64w8h)
 * [: ops left out, as --skip-ab]]], in this process in the given order,
 * each with its unprofiled GPU ms a step and its profiled attention)
 */
public final class CudaServeBench {
    private CudaServeBench() { }

    public static void main(String[] args) throws Exception {
        Map<String, String> a = new LinkedHashMap<>(Map.of("--shapes", "llama-3.2-1b,llama-3-8b", "--batches", "1,32,64,128",
                "--prefix", "2048", "--unique", "256", "--gen", "64", "--chunk", "64", "--kv", "bf16", "--budget", "8192",
                "--attn-tiles", "", "--attn-ab", ""));
        a.put("--pipeline-ab", "0");
        a.put("--gemm-ab", "");
        a.put("--sampled-ab", "0");
        a.put("--skip-ab", "");
        a.put("--penalized-ab", "0");
        a.put("--logprobs-ab", "0");
        a.put("--merge-ab", "");
        a.put("--bias-ab", "0");
        a.put("--prefill-ab", "0");
        for (int i = 0; i + 1 < args.length; i += 2) a.put(args[i], args[i + 1]);
        int P = Integer.parseInt(a.get("--prefix")), U = Integer.parseInt(a.get("--unique")), G = Integer.parseInt(a.get("--gen"));
        int chunk = Integer.parseInt(a.get("--chunk")), budget = Integer.parseInt(a.get("--budget"));
        DType kv = DType.parse(a.get("--kv"));
        int[] batches = Arrays.stream(a.get("--batches").split(",")).mapToInt(Integer::parseInt).toArray();
        Path tokDir = writeTokenizer(128256 + 1024);
        Map<String, Object> result = new LinkedHashMap<>();
        try (CudaDevice dev = CudaDevice.open(); Tokenizer tok = Tokenizer.load(tokDir)) {
            CUmodule mod = dev.loadModule(KernelImages.model().orElseThrow());
            double bw = dev.copyBandwidth();
            System.out.printf(Locale.ROOT, "device: %s; cuBLAS %s; device copy %.0f GB/s (read + write, 1 GiB cuMemcpyDtoD, median of 10)%n",
                    dev.describe(), Cublas.library(), bw / 1e9);
            result.put("device", dev.name());
            result.put("copy_GBps", Math.round(bw / 1e9));
            System.out.printf(Locale.ROOT, "%-13s %5s %10s %10s %8s %9s %9s %9s %9s %8s %9s %9s %9s %9s %8s%n", "shape", "B", "tok/s", "roofline", "of roof",
                    "step ms", "GPU ms", "host ms", "roof ms", "steps", "prep ms", "engine ms", "overlap ms", "period ms", "of roof");
            for (String shape : a.get("--shapes").split(",")) {
                ModelConfig c = RandomModel.shape(shape);
                Map<String, Object> r = new LinkedHashMap<>();
                KvLayout layout = new KvLayout(c.numLayers(), c.numKvHeads(), c.headDim(), chunk, kv);
                int maxB = Arrays.stream(batches).max().orElse(1);
                long tokens = (long) P + (long) maxB * (U + G + 2L * chunk) + 8L * (P + U);
                long kvBytes = tokens * layout.bytesPerToken();
                try (DeviceWeights w = DeviceWeights.random(c, 11, dev, CudaDevice.function(mod, "cs_fill_bf16"));
                     ChunkPool pool = ChunkPool.indexOnly(layout, kvBytes);
                     CudaModelRunner runner = new CudaModelRunner(dev, c, w, pool, false)) {
                    r.put("weight_bytes_per_step", w.matrixBytesPerStep());
                    r.put("gemm_policy", runner.gemmPolicy());
                    System.out.println(shape + ": GEMMs: " + runner.gemmPolicy() + "; two-phase partials: " + runner.attentionKernel());
                    r.put("kv_pool_GB", Math.round(runner.kvBytes() / 1e8) / 10.0);
                    Engine engine = new Engine(runner, new PrefixCache(pool), tok, new EngineConfig(Math.max(maxB, 8), budget),
                            SchedulerConfig.of("fcfs"));
                    try {
                        java.util.Random rnd = new java.util.Random(3);
                        int[] system = rnd.ints(P, 10, c.vocabSize() - 10).toArray();
                        // warm-up (cuBLAS heuristics, module loads, the JIT of the engine and launch paths): the
                        // shared prompt goes into the cache
                        run(engine, system, U, 4, 1, rnd, c.vocabSize(), 0);
                        for (int wb : new int[] {8, 1, 64, 1}) run(engine, system, U, 48, wb, rnd, c.vocabSize(), 0);
                        // TTFT: a prefix hit (the system prompt is cached) and a miss (salted: nothing cached)
                        double hit = Double.MAX_VALUE, miss = Double.MAX_VALUE;
                        for (int i = 0; i < 3; i++) {
                            hit = Math.min(hit, run(engine, system, U, 1, 1, rnd, c.vocabSize(), 0).ttftMs());
                            miss = Math.min(miss, run(engine, system, U, 1, 1, rnd, c.vocabSize(), 1000 + i).ttftMs());
                        }
                        r.put("ttft_ms_prefix_hit", round(hit));
                        r.put("ttft_ms_no_hit", round(miss));
                        System.out.printf(Locale.ROOT, "%-13s TTFT (one request, %d + %d tokens): %.1f ms with the %d-token prefix cached, %.1f ms without%n",
                                shape, P, U, hit, P, miss);
                        int pfRounds = Integer.parseInt(a.get("--prefill-ab"));
                        if (pfRounds > 0) {
                            // TTFT with the prefill attention on tensor cores (the default) vs the fp32 kernel, alternating
                            double[][] best = {{Double.MAX_VALUE, Double.MAX_VALUE}, {Double.MAX_VALUE, Double.MAX_VALUE}};
                            try {
                                for (int round = 0; round < pfRounds; round++) {
                                    for (int v = 0; v < 2; v++) {
                                        runner.setTensorCorePrefill(v == 0, 0);
                                        best[v][0] = Math.min(best[v][0], run(engine, system, U, 1, 1, rnd, c.vocabSize(), 0).ttftMs());
                                        best[v][1] = Math.min(best[v][1], run(engine, system, U, 1, 1, rnd, c.vocabSize(), 2000 + 10 * round + v).ttftMs());
                                    }
                                }
                            } finally {
                                runner.setTensorCorePrefill(true, 0);
                            }
                            System.out.printf(Locale.ROOT, "%-13s TTFT prefill attention A/B (best of %d, alternating): tensor cores %.1f / %.1f ms, fp32 %.1f / %.1f ms "
                                    + "(prefix cached / not): %.2fx / %.2fx%n", shape, pfRounds, best[0][0], best[0][1], best[1][0], best[1][1],
                                    best[1][0] / best[0][0], best[1][1] / best[0][1]);
                            r.put("ttft_prefill_ab", Map.of("tc_hit_ms", round(best[0][0]), "tc_no_hit_ms", round(best[0][1]),
                                    "fp32_hit_ms", round(best[1][0]), "fp32_no_hit_ms", round(best[1][1])));
                        }
                        for (int B : batches) {
                            runner.decodeTiming(B, true);
                            // profilers (ncu --profile-from-start off): -Dchunkserve.cuda.profileB=B limits the profiled range to this run
                            boolean prof = Integer.getInteger("chunkserve.cuda.profileB", -1) == B;
                            if (prof) jcuda.driver.JCudaDriver.cuProfilerStart();
                            Run x = run(engine, system, U, G, B, rnd, c.vocabSize(), 0);
                            if (prof) jcuda.driver.JCudaDriver.cuProfilerStop();
                            double[] tm = runner.decodeTiming(B, false);
                            double gpuMs = tm == null ? Double.NaN : tm[1], hostMs = tm == null ? Double.NaN : tm[2];
                            double avgCtx = P + U + G / 2.0;
                            double kvStep = (P + B * (avgCtx - P)) * layout.bytesPerToken();
                            double roofStep = (w.matrixBytesPerStep() + kvStep) / bw;
                            double roofTps = B / roofStep;
                            double stepMs = B / x.decodeTps() * 1e3;
                            double prepMs = tm == null ? Double.NaN : tm[3], overlapMs = tm == null ? Double.NaN : tm[4];
                            double engineMs = tm == null ? Double.NaN : tm[5];
                            double periodMs = tm == null ? Double.NaN : tm[6];
                            System.out.printf(Locale.ROOT, "%-13s %5d %10.0f %10.0f %7.0f%% %9.3f %9.3f %9.3f %9.3f %8d %9.3f %9.3f %9.3f %9.3f %7.1f%%%n", shape, B, x.decodeTps(), roofTps,
                                    100 * x.decodeTps() / roofTps, stepMs, gpuMs, hostMs, roofStep * 1e3, x.decodeSteps(), prepMs, engineMs, overlapMs,
                                    periodMs, 100 * roofStep * 1e3 / periodMs);
                            Map<String, Object> rb = new LinkedHashMap<>();
                            rb.put("decode_tok_s", round(x.decodeTps()));
                            rb.put("roofline_tok_s", round(roofTps));
                            rb.put("fraction_of_roofline", Math.round(1000 * x.decodeTps() / roofTps) / 1000.0);
                            rb.put("step_ms", round(stepMs));
                            rb.put("roofline_step_ms", round(roofStep * 1e3));
                            rb.put("gpu_ms_per_decode_step", round(gpuMs));
                            rb.put("host_enqueue_ms_per_decode_step", round(hostMs));
                            rb.put("runner_prep_ms_per_decode_step", Math.round(prepMs * 1000) / 1000.0);
                            rb.put("engine_between_steps_ms", Math.round(engineMs * 1000) / 1000.0);
                            rb.put("engine_work_during_step_ms", Math.round(overlapMs * 1000) / 1000.0);
                            rb.put("gpu_fraction_of_roofline", Math.round(1000 * roofStep * 1e3 / gpuMs) / 1000.0);
                            rb.put("device_step_period_ms", Math.round(periodMs * 1000) / 1000.0);
                            rb.put("period_fraction_of_roofline", Math.round(1000 * roofStep * 1e3 / periodMs) / 1000.0);
                            r.put("b" + B, rb);
                        }
                        int pb = Arrays.stream(batches).anyMatch(b -> b == 64) ? 64 : batches[batches.length - 1];
                        Ctx cx = new Ctx(engine, runner, system, U, G, pb, rnd, c.vocabSize());
                        int sampledRounds = Integer.parseInt(a.get("--sampled-ab"));
                        if (sampledRounds > 0) {
                            // B = pb requests sampled (temperature 0.8, top_p 0.95, seeded) drawn on the device (pipelined) and on
                            // the host (logits rows come back, the engine's sampler threads, no step ahead), beside greedy ones,
                            // alternating in this process
                            String[] names = {"greedy", "sampled on device", "sampled on host"};
                            ArmStats[] st;
                            try {
                                st = runArms(cx, sampledRounds, names.length, (v, round) -> {
                                    runner.setDeviceSampling(v != 2);
                                    return v == 0 ? greedy(G) : SamplingParams.builder().temperature(0.8).topP(0.95).seed(round * 1000L + v).maxTokens(G).ignoreEos(true).build();
                                }, null);
                            } finally {
                                runner.setDeviceSampling(true);
                            }
                            Map<String, Object> sr = new LinkedHashMap<>();
                            for (int v = 0; v < names.length; v++) {
                                System.out.println(st[v].line(shape, pb, names[v], 18, false) + String.format(" (%d sampler threads)", engine.samplerThreads()));
                                sr.put(names[v].replace(' ', '_'), st[v].json(false));
                            }
                            r.put("sampled_ab_b" + pb, sr);
                        }
                        int penRounds = Integer.parseInt(a.get("--penalized-ab"));
                        if (penRounds > 0) {
                            // B = pb penalized requests (repetition 1.1 over prompt + output, presence 0.3, frequency 0.2),
                            // greedy and sampled (temperature 0.8, top_p 0.95, seeded): penalties on the device (pipelined,
                            // picked there) vs on the host (logits rows come back, the engine's sampler threads, no step ahead)
                            // (device: the lists resident on the device, only what a step changed uploaded — the default — or
                            // uploaded whole every step, as in session 7: the runner prep per step compares the two)
                            String[] names = {"greedy+pen device", "greedy+pen dev-full", "greedy+pen host", "sampled+pen device", "sampled+pen dev-full", "sampled+pen host"};
                            String[] keys = {"greedy_pen_device", "greedy_pen_device_full_upload", "greedy_pen_host", "sampled_pen_device", "sampled_pen_device_full_upload", "sampled_pen_host"};
                            ArmStats[] st;
                            try {
                                st = runArms(cx, penRounds, names.length, (v, round) -> {
                                    runner.setDevicePenalties(v % 3 != 2);
                                    runner.setResidentPenalties(v % 3 == 0);
                                    SamplingParams.Builder sb = SamplingParams.builder().maxTokens(G).ignoreEos(true)
                                            .repetitionPenalty(1.1).presencePenalty(0.3).frequencyPenalty(0.2);
                                    return v < 3 ? sb.temperature(0).build() : sb.temperature(0.8).topP(0.95).seed(round * 1000L + v).build();
                                }, v -> {
                                    long pen0 = runner.penalizedRows();
                                    long[] up0 = runner.penaltyUploads();
                                    return () -> {   // penalty entries uploaded a penalized row
                                        long[] up1 = runner.penaltyUploads();
                                        long rows = runner.penalizedRows() - pen0;
                                        if ((rows > 0) != (v % 3 != 2)) throw new IllegalStateException(names[v] + ": rows penalized on the device " + rows);
                                        return rows == 0 ? 0 : (double) (up1[0] - up0[0] + up1[2] - up0[2]) / rows;
                                    };
                                });
                            } finally {
                                runner.setDevicePenalties(true);
                                runner.setResidentPenalties(true);
                            }
                            Map<String, Object> pr = new LinkedHashMap<>();
                            for (int v = 0; v < names.length; v++) {
                                ArmStats s = st[v];
                                System.out.println(s.line(shape, pb, names[v], 20, true) + String.format(Locale.ROOT, ", penalty entries uploaded %.1f a row (%d sampler threads)",
                                        s.extra, engine.samplerThreads()));
                                Map<String, Object> one = s.json(true);
                                one.put("entries_uploaded_per_row", Math.round(s.extra * 10) / 10.0);
                                one.put("rounds_tok_s", s.roundTps);
                                one.put("rounds_runner_prep_ms", s.roundPrep);
                                one.put("rounds_device_period_ms", s.roundPeriod);
                                System.out.printf(Locale.ROOT, "%-13s B=%d %-20s rounds: tok/s %s, runner prep ms %s, device period ms %s%n",
                                        shape, pb, names[v], s.roundTps, s.roundPrep, s.roundPeriod);
                                pr.put(keys[v], one);
                            }
                            pr.put("greedy_device_vs_host", Math.round(100 * st[0].tps / st[2].tps) / 100.0);
                            pr.put("sampled_device_vs_host", Math.round(100 * st[3].tps / st[5].tps) / 100.0);
                            pr.put("greedy_prep_ms_resident_vs_full", List.of(ms3(st[0].prep), ms3(st[1].prep)));
                            pr.put("sampled_prep_ms_resident_vs_full", List.of(ms3(st[3].prep), ms3(st[4].prep)));
                            System.out.printf(Locale.ROOT, "%-13s B=%d penalized: device / host %.2fx greedy, %.2fx sampled; runner prep resident / full upload %.3f / %.3f ms greedy, %.3f / %.3f ms sampled%n",
                                    shape, pb, st[0].tps / st[2].tps, st[3].tps / st[5].tps, st[0].prep, st[1].prep, st[3].prep, st[4].prep);
                            r.put("penalized_ab_b" + pb, pr);
                        }
                        int lpRounds = Integer.parseInt(a.get("--logprobs-ab"));
                        if (lpRounds > 0) {
                            // B = pb requests with logprobs and top_logprobs 5, greedy and sampled (temperature 0.8, top_p 0.95):
                            // log-probabilities from the device (K + 1 pairs a row, pipelined) vs from the host (the row comes back)
                            String[] names = {"greedy+lp device", "greedy+lp host", "sampled+lp device", "sampled+lp host"};
                            ArmStats[] st;
                            try {
                                st = runArms(cx, lpRounds, names.length, (v, round) -> {
                                    runner.setDeviceLogprobs(v % 2 == 0);
                                    SamplingParams.Builder sb = SamplingParams.builder().maxTokens(G).ignoreEos(true).logprobs(true).topLogprobs(5);
                                    return v < 2 ? sb.temperature(0).build() : sb.temperature(0.8).topP(0.95).seed(round * 1000L + v).build();
                                }, deviceRows(runner::logprobRows, v -> v % 2 == 0, names, "with log-probabilities"));
                            } finally {
                                runner.setDeviceLogprobs(true);
                            }
                            Map<String, Object> lr = armLines(shape, pb, names, st, 18);
                            lr.put("greedy_device_vs_host", Math.round(100 * st[0].tps / st[1].tps) / 100.0);
                            lr.put("sampled_device_vs_host", Math.round(100 * st[2].tps / st[3].tps) / 100.0);
                            System.out.printf(Locale.ROOT, "%-13s B=%d logprobs: device / host %.2fx greedy, %.2fx sampled%n", shape, pb, st[0].tps / st[1].tps, st[2].tps / st[3].tps);
                            r.put("logprobs_ab_b" + pb, lr);
                        }
                        if (pfRounds > 0) {
                            // decode at B = pb after its requests were prefilled with the tensor-core attention or the fp32 one
                            ArmStats[] st;
                            try {
                                st = runArms(cx, pfRounds, 4, (v, round) -> {   // tc, fp32, both (fp32 output), both (tc output)
                                    runner.setTensorCorePrefill(v != 1, v == 2 ? 1 : v == 3 ? 2 : 0);
                                    return greedy(G);
                                }, null);
                            } finally {
                                runner.setTensorCorePrefill(true, 0);
                            }
                            String[] names = {"prefill tc", "prefill fp32", "both, fp32 kept", "both, tc kept"};
                            for (int v = 0; v < 4; v++) {
                                System.out.println(st[v].line(shape, pb, names[v], 14, false) + "; rounds: GPU ms " + st[v].roundGpu + ", period ms " + st[v].roundPeriod
                                        + ", steps at B=" + pb + " / steps after the last first token " + st[v].roundSteps);
                            }
                        }
                        int biasRounds = Integer.parseInt(a.get("--bias-ab"));
                        if (biasRounds > 0) {
                            // B = pb requests with a logit_bias (16 tokens banned, 4 raised by 2), greedy and sampled (temperature
                            // 0.8, top_p 0.95): the bias added on the device (cs_bias, pipelined) vs by the host sampler (the row comes
                            // back, no step ahead), beside unbiased greedy requests
                            String[] names = {"greedy", "greedy+bias device", "greedy+bias host", "sampled+bias device", "sampled+bias host"};
                            Map<Integer, Double> bias = new java.util.HashMap<>();
                            while (bias.size() < 20) bias.put(3 + rnd.nextInt(c.vocabSize() - 3), bias.size() < 16 ? -100.0 : 2.0);
                            ArmStats[] st;
                            try {
                                st = runArms(cx, biasRounds, names.length, (v, round) -> {
                                    runner.setDeviceBias(v == 1 || v == 3);
                                    SamplingParams.Builder sb = SamplingParams.builder().maxTokens(G).ignoreEos(true);
                                    if (v > 0) sb.logitBias(bias);
                                    return v < 3 ? sb.temperature(0).build() : sb.temperature(0.8).topP(0.95).seed(round * 1000L + v).build();
                                }, deviceRows(runner::biasedRows, v -> v == 1 || v == 3, names, "biased"));
                            } finally {
                                runner.setDeviceBias(true);
                            }
                            Map<String, Object> br = armLines(shape, pb, names, st, 20);
                            br.put("greedy_device_vs_host", Math.round(100 * st[1].tps / st[2].tps) / 100.0);
                            br.put("sampled_device_vs_host", Math.round(100 * st[3].tps / st[4].tps) / 100.0);
                            br.put("greedy_biased_device_vs_unbiased", Math.round(100 * st[1].tps / st[0].tps) / 100.0);
                            System.out.printf(Locale.ROOT, "%-13s B=%d logit_bias: device / host %.2fx greedy, %.2fx sampled; biased on the device / unbiased %.2fx%n",
                                    shape, pb, st[1].tps / st[2].tps, st[3].tps / st[4].tps, st[1].tps / st[0].tps);
                            r.put("bias_ab_b" + pb, br);
                        }
                        if (!a.get("--merge-ab").isEmpty()) {
                            // the two-phase merge kernels (CudaAttention.MERGE_VARIANTS) at B = pb, greedy, alternating in this
                            // process: --merge-ab V1,V2,..[:ROUNDS] (default 3 rounds)
                            String[] f = a.get("--merge-ab").split(":");
                            String[] names = f[0].split(",");
                            int rounds = f.length > 1 ? Integer.parseInt(f[1]) : 3;
                            String keep = runner.attentionMergeVariant();
                            ArmStats[] st;
                            try {
                                st = runArms(cx, rounds, names.length, (v, round) -> {
                                    runner.attentionMergeVariant(names[v]);
                                    return greedy(G);
                                }, null);
                            } finally {
                                runner.attentionMergeVariant(keep);
                            }
                            Map<String, Object> mr = new LinkedHashMap<>();
                            for (int v = 0; v < names.length; v++) {
                                ArmStats s = st[v];
                                System.out.println(s.line(shape, pb, "merge " + names[v], 12, false)
                                        + String.format(Locale.ROOT, "; rounds: GPU ms %s, device period ms %s", s.roundGpu, s.roundPeriod));
                                Map<String, Object> one = s.json(false);
                                one.put("rounds_gpu_ms", s.roundGpu);
                                one.put("rounds_device_period_ms", s.roundPeriod);
                                mr.put(names[v], one);
                            }
                            r.put("merge_ab_b" + pb, mr);
                        }
                        int abRounds = Integer.parseInt(a.get("--pipeline-ab"));
                        if (abRounds > 0 && runner.pipelines()) {
                            // the same B = pb run with each step waiting for the one before, alternating with pipelined runs in
                            // this process (rounds of each)
                            ArmStats[] st;
                            try {
                                st = runArms(cx, abRounds, 2, (v, round) -> {
                                    runner.setPipelining(v == 0);
                                    return greedy(G);
                                }, null);
                            } finally {
                                runner.setPipelining(true);
                            }
                            double on = st[0].tps, off = st[1].tps;
                            System.out.printf(Locale.ROOT, "%-13s B=%d pipelining A/B (%d rounds, alternating): pipelined %.0f tok/s (step %.3f ms, GPU %.3f ms, "
                                    + "period %.3f ms), each step waits %.0f tok/s (step %.3f ms, GPU %.3f ms, period %.3f ms): %.3fx%n", shape, pb, abRounds, on,
                                    1e3 * pb / on, st[0].gpuMs, st[0].period, off, 1e3 * pb / off, st[1].gpuMs, st[1].period, on / off);
                            Map<String, Object> ab = new LinkedHashMap<>();
                            ab.put("pipelined_tok_s", round(on));
                            ab.put("waiting_tok_s", round(off));
                            ab.put("speedup", Math.round(1000 * on / off) / 1000.0);
                            ab.put("pipelined_period_ms", ms3(st[0].period));
                            ab.put("waiting_period_ms", ms3(st[1].period));
                            r.put("pipeline_ab_b" + pb, ab);
                        }
                        if (!a.get("--attn-tiles").isEmpty()) {
                            // piece-size sweep of the two-phase plan at B = pb, through the engine (profiled attention)
                            for (String ts : a.get("--attn-tiles").split(",")) {
                                int tiles = Integer.parseInt(ts);
                                runner.forceAttentionTiles(tiles);
                                runner.setProfile(true);
                                runner.decodeTiming(pb, true);
                                Run x = run(engine, system, U, 24, pb, rnd, c.vocabSize(), 0);
                                Map<String, Double> prof = runner.profile();
                                double[] tm = runner.decodeTiming(pb, false);
                                runner.setProfile(false);
                                System.out.printf(Locale.ROOT, "%-13s B=%d attention pieces %s: attention %.3f ms/step (profiled), GPU %.3f ms/step, %.0f tok/s; %s%n",
                                        shape, pb, tiles == 0 ? "auto" : tiles + " tiles", attention(prof), tm == null ? Double.NaN : tm[1],
                                        x.decodeTps(), runner.attentionPlan());
                            }
                            runner.forceAttentionTiles(0);
                        }
                        if (!a.get("--attn-ab").isEmpty()) {
                            // two-phase plan configurations at B = pb in this process, in the order given (repeat
                            // them to alternate): warp items off|auto|always : piece tiles (0 = cost model); each an
                            // unprofiled 32-token run (GPU ms a step, tok/s), then a profiled 16-token run (attention)
                            int splitKeep = runner.attentionPrivateSplit();
                            Map<String, Object> ar = new LinkedHashMap<>();
                            int aIdx = 0;
                            for (String spec : a.get("--attn-ab").split(",")) {
                                String[] f = spec.split(":");
                                int mode = switch (f[0]) {
                                    case "off" -> CudaPlan.WARP_OFF;
                                    case "always" -> CudaPlan.WARP_ALWAYS;
                                    default -> CudaPlan.WARP_AUTO;
                                };
                                runner.attentionWarpItems(mode);
                                runner.forceAttentionTiles(f.length > 1 ? Integer.parseInt(f[1]) : 0);
                                runner.attentionPrivateSplit(CudaAttention.parsePrivateSplit(f.length > 2 ? f[2] : CudaAttention.DEFAULT_PRIVATE_SPLIT));
                                runner.attentionPartialsDiag(f.length > 3 ? Integer.parseInt(f[3]) : 0);
                                runner.setSkipOps(f.length > 4 ? skipMask(f[4]) : 0);
                                // diagnostics 6, 8, 9: one launch's timeline, a layer of the fourth step or later with all pb sequences
                                // (and, with the default merge and the 1B / 8B o projection's variants, their launches after it)
                                if (f.length > 3 && java.util.Set.of("6", "8", "9").contains(f[3])) runner.attention().armTimeline(pb, 3 * c.numLayers());
                                Timed t = timedThenProfiled(cx);
                                System.out.printf(Locale.ROOT, "%-13s B=%d attn-ab %-9s GPU %.3f ms/step (unprofiled, %.0f steps), step %.3f ms, %.0f tok/s; attention %.3f ms/step (profiled); %s%n",
                                        shape, pb, spec, t.at(1), t.tm() == null ? 0 : t.tm()[0], 1e3 * pb / t.x().decodeTps(), t.x().decodeTps(),
                                        attention(t.prof()), t.plan());
                                if (t.timeline() != null && t.timeline().length > 0) {   // diagnostics 6: the last launch's timeline
                                    AttnTimeline tl = AttnTimeline.of(t.timeline());
                                    tl.summary(dev.multiprocessors()).forEach(System.out::println);
                                    String dir = System.getProperty("chunkserve.cuda.timelineDir");
                                    if (dir != null) tl.csv(java.nio.file.Path.of(dir, "timeline-" + shape + "-b" + pb + "-" + aIdx + ".csv"));
                                }
                                Map<String, Object> one = new LinkedHashMap<>();
                                one.put("gpu_ms", ms3(t.at(1)));
                                one.put("period_ms", ms3(t.at(6)));
                                one.put("attention_ms_profiled", ms3(attention(t.prof())));
                                ar.put(spec + "_" + (aIdx++), one);
                            }
                            r.put("attn_ab_b" + pb, ar);
                            runner.attentionWarpItems(CudaPlan.WARP_AUTO);
                            runner.forceAttentionTiles(0);
                            runner.attentionPrivateSplit(splitKeep);
                            runner.attentionPartialsDiag(0);
                            runner.setSkipOps(0);
                        }
                        if (!a.get("--gemm-ab").isEmpty() && runner.skinny() != null) {
                            // skinny GEMM options (SkinnyGemm.Options.parse: direct|vec[:gu=V][:res=V][:slices=N]) at
                            // B = pb in this process, in the order given (repeat them to alternate): each an unprofiled
                            // 32-token run (GPU ms a step), then a profiled 16-token run (the GEMMs, events around each op)
                            SkinnyGemm sg = runner.skinny();
                            SkinnyGemm.Options keep = sg.options();
                            for (String spec : a.get("--gemm-ab").split(",")) {
                                sg.configure(SkinnyGemm.Options.parse(spec));
                                Timed t = timedThenProfiled(cx);
                                Map<String, Double> prof = t.prof();
                                System.out.printf(Locale.ROOT, "%-13s B=%d gemm-ab %-14s GPU %.3f ms/step (unprofiled, %.0f steps), step %.3f ms, %.0f tok/s; profiled ms/step: qkv %.3f, o %.3f, gate_up %.3f, down %.3f, rmsnorm %.3f, lm head %.3f%n",
                                        shape, pb, spec, t.at(1), t.tm() == null ? 0 : t.tm()[0], 1e3 * pb / t.x().decodeTps(), t.x().decodeTps(),
                                        prof.get("gemm qkv"), prof.get("gemm o"), prof.get("gemm gate_up"), prof.get("gemm down"), prof.get("rmsnorm"),
                                        prof.get("lm head+argmax"));
                            }
                            sg.configure(keep);
                        }
                        if (!a.get("--skip-ab").isEmpty()) {
                            // diagnostics (session 7): decode steps at B = pb with ops left out (CudaModelRunner.SKIP_NAMES,
                            // "+"-joined; "none" = the full step), in the order given, each an unprofiled 32-token run: the
                            // GPU time an op adds in the dependent-launch chain. The tokens of such runs are garbage.
                            Map<String, Object> sr = new LinkedHashMap<>();
                            int idx = 0;
                            try {
                                for (String spec : a.get("--skip-ab").split(",")) {
                                    runner.setSkipOps(skipMask(spec));
                                    Timed t = timed(cx);
                                    System.out.printf(Locale.ROOT, "%-13s B=%d skip-ab %-10s GPU %.3f ms/step (unprofiled, %.0f steps), device period %.3f ms%n",
                                            shape, pb, spec, t.at(1), t.tm() == null ? 0 : t.tm()[0], t.at(6));
                                    sr.put(spec + "_" + (idx++), ms3(t.at(1)));
                                }
                            } finally {
                                runner.setSkipOps(0);
                            }
                            r.put("skip_ab_gpu_ms_b" + pb, sr);
                        }
                        runner.setProfile(true);
                        run(engine, system, U, 16, pb, rnd, c.vocabSize(), 0);
                        Map<String, Double> prof = runner.profile();
                        runner.setProfile(false);
                        StringBuilder ps = new StringBuilder();
                        Map<String, Object> pr = new LinkedHashMap<>();
                        double sum = 0;
                        for (var e : prof.entrySet()) {
                            if (e.getKey().equals("steps")) continue;
                            sum += e.getValue();
                            ps.append(String.format(Locale.ROOT, "%s %.3f, ", e.getKey(), e.getValue()));
                            pr.put(e.getKey().replace(' ', '_').replace('+', '_'), round(e.getValue() * 1000) / 1000.0);
                        }
                        System.out.printf(Locale.ROOT, "%-13s GPU ms per decode step at B=%d by op (%.0f profiled steps, events around each op): %stotal %.3f%n",
                                shape, pb, prof.get("steps"), ps, sum);
                        System.out.printf(Locale.ROOT, "%-13s attention plan at B=%d: %s%n", shape, pb, runner.attentionPlan());
                        r.put("profile_b" + pb + "_ms", pr);
                    } finally {
                        engine.close();
                    }
                }
                result.put(shape, r);
            }
        }
        StringBuilder sb = new StringBuilder("{");
        json(sb, result);
        System.out.println("RESULT " + sb.append("}"));
    }
}
