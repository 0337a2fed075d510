package io.chunkserve.runtime.cuda;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.chunkserve.bench.RandomModel;
import io.chunkserve.engine.EngineConfig;
import io.chunkserve.engine.GenerationRequest;
import io.chunkserve.engine.RequestOutput;
import io.chunkserve.engine.Worker;
import io.chunkserve.engine.WorkerConfig;
import io.chunkserve.kv.ChunkPool;
import io.chunkserve.kv.KvLayout;
import io.chunkserve.model.DType;
import io.chunkserve.model.Model;
import io.chunkserve.model.ModelConfig;
import io.chunkserve.model.ModelWeights;
import io.chunkserve.runtime.ForwardBatch;
import io.chunkserve.runtime.ModelRunner;
import io.chunkserve.runtime.cpu.CpuKernels;
import io.chunkserve.runtime.cpu.CpuModelRunner;
import io.chunkserve.sampling.SamplingParams;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * On a CUDA machine: the CUDA backend against the CPU backend (the reference the golden tests pin to Hugging
 * Face), printing every comparison and a summary; exit status 0 only when every check passed.
 * <ol>
 *   <li>fixtures, exact mode (fp32 matrices, fp32 KV): chunked prefill then 24 greedy steps; logits ‖Δ‖/‖ref‖
 *       &lt; 1e-4 per step and the same greedy tokens as the CPU and as the golden file;</li>
 *   <li>fixtures, bf16 mode (bf16 matrices and matrix inputs, bf16 KV), teacher-forced with the CPU's tokens: logits
 *       within 3e-2; an argmax may differ only where the CPU's top-2 margin is below twice the step's largest
 *       |Δlogit| (a near tie that bf16 rounding can flip); both reported;</li>
 *   <li>random models with head dims 64 and 128 (bf16 weights): batches of sequences sharing a prefix by chunk id,
 *       prefill pieces then joint decode steps: exact mode with f16 KV against the CPU with f16 KV (1e-4), bf16 mode
 *       with the two-phase decode kernels and with the generic kernel (3e-2 vs the CPU; 1e-2 between the two);</li>
 *   <li>draws on the device ({@code cs_sample}) against {@code SamplingReference}; penalties on the device
 *       ({@code cs_penalize}) against {@code PenaltyList} bit for bit; log-probabilities on the device
 *       ({@code cs_logprobs}) against the host sampler's;</li>
 *   <li>the real engine on fixtures (CPU worker vs CUDA worker, exact mode): prefills with prefix hits, decodes,
 *       n = 2 forks, an aborted request, device greedy, penalized requests and requests with log-probabilities picked
 *       on the device: every request's tokens equal (log-probabilities within 1e-3).</li>
 * </ol>
 * Usage: {@code CudaModelCheck --fixtures DIR [--skip-engine | --engine-only]} (--engine-only: part 4 alone, e.g. under
 * compute-sanitizer, where its penalized waves run {@code cs_pen_scatter} on the device-resident lists).
 */
public final class CudaModelCheck {
    private static int failures, checks;
    private static CpuKernels cpu;

    private CudaModelCheck() { }

    public static void main(String[] args) throws Exception {
        Path fixtures = Path.of("fixtures");
        boolean engine = true, kernels = true;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--fixtures")) fixtures = Path.of(args[++i]);
            if (args[i].equals("--skip-engine")) engine = false;
            if (args[i].equals("--engine-only")) kernels = false;
        }
        cpu = new CpuKernels(Math.max(1, Math.min(8, Runtime.getRuntime().availableProcessors())));
        try (CudaDevice dev = CudaDevice.open()) {
            System.out.println("device: " + dev.describe() + "; cuBLAS " + Cublas.library());
            if (kernels) {
                String[] names = {"tiny-llama3", "tiny-qwen2", "tiny-qwen3", "tiny-llama2", "tiny-mistral", "tiny-llama3-bf16", "tiny-llama3-f16"};
                for (String n : names) {
                    Path dir = fixtures.resolve(n);
                    try {
                        fixture(dev, dir);
                    } catch (RuntimeException e) {
                        fail(n + ": " + e);
                        e.printStackTrace(System.out);
                    }
                }
                for (int hd : new int[] {64, 128}) {
                    try {
                        randomModel(dev, hd);
                    } catch (RuntimeException e) {
                        fail("random d" + hd + ": " + e);
                        e.printStackTrace(System.out);
                    }
                }
                try {
                    sampling(dev);
                } catch (RuntimeException e) {
                    fail("sampling: " + e);
                    e.printStackTrace(System.out);
                }
                try {
                    penalties(dev);
                } catch (RuntimeException e) {
                    fail("penalties: " + e);
                    e.printStackTrace(System.out);
                }
                try {
                    logprobs(dev);
                } catch (RuntimeException e) {
                    fail("logprobs: " + e);
                    e.printStackTrace(System.out);
                }
            }
            if (engine) {
                for (String n : new String[] {"tiny-llama3", "tiny-qwen3"}) {
                    try {
                        engine(fixtures.resolve(n));
                    } catch (Exception e) {
                        fail("engine " + n + ": " + e);
                        e.printStackTrace(System.out);
                    }
                }
            }
        } finally {
            cpu.close();
        }
        System.out.printf(Locale.ROOT, "CHECK SUMMARY: %d checks, %d failed%n", checks, failures);
        System.exit(failures == 0 ? 0 : 1);
    }

    private static void fail(String msg) {
        failures++;
        System.out.println("FAIL " + msg);
    }

    private static void check(boolean ok, String msg) {
        checks++;
        if (ok) System.out.println("ok   " + msg);
        else fail(msg);
    }

    static double relError(float[] a, float[] b) {
        double num = 0, den = 0;
        for (int i = 0; i < b.length; i++) {
            double d = (double) a[i] - b[i];
            num += Float.isFinite(a[i]) ? d * d : Double.POSITIVE_INFINITY;
            den += (double) b[i] * b[i];
        }
        return Math.sqrt(num / den);
    }

    static double maxAbs(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < b.length; i++) m = Math.max(m, Float.isFinite(a[i]) ? Math.abs(a[i] - b[i]) : Double.POSITIVE_INFINITY);
        return m;
    }

    static int argmax(float[] a) {
        int best = 0;
        for (int i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
        return best;
    }

    static double margin(float[] a) {
        int best = argmax(a);
        float second = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < a.length; i++) if (i != best) second = Math.max(second, a[i]);
        return a[best] - second;
    }

    /** One sequence: prefill in pieces, then steps decode steps; tokens forced (teacher) or greedy. Logits per step. */
    static List<float[]> run(ModelRunner r, ChunkPool pool, int[] prompt, int steps, int piece, int[] forced, List<Integer> out) {
        ModelConfig c = r.config();
        int chunk = pool.layout().chunkSize();
        int total = prompt.length + steps + 1;
        int[] table = new int[(total + chunk - 1) / chunk];
        for (int i = 0; i < table.length; i++) table[i] = pool.allocate();
        try {
            List<float[]> all = new ArrayList<>();
            ForwardBatch b = new ForwardBatch();
            float[] logits = new float[c.vocabSize()];
            for (int pos = 0; pos < prompt.length; pos += piece) {
                int n = Math.min(piece, prompt.length - pos);
                Arrays.fill(logits, Float.NaN);
                r.forward(b.clear().add(prompt, pos, n, pos, table, pos + n == prompt.length), pool, logits);
            }
            all.add(logits.clone());
            int pos = prompt.length;
            for (int i = 0; i < steps; i++) {
                int t = forced != null ? forced[i] : argmax(logits);
                out.add(t);
                Arrays.fill(logits, Float.NaN);
                r.forward(b.clear().add(new int[] {t}, 0, 1, pos++, table, true), pool, logits);
                all.add(logits.clone());
            }
            return all;
        } finally {
            for (int id : table) pool.free(id);
        }
    }

    static ChunkPool hostPool(ModelConfig c, int chunk, DType kv) {
        return new ChunkPool(new KvLayout(c.numLayers(), c.numKvHeads(), c.headDim(), chunk, kv), 64);
    }

    static ChunkPool devicePool(ModelConfig c, int chunk, DType kv, int chunks) {
        KvLayout l = new KvLayout(c.numLayers(), c.numKvHeads(), c.headDim(), chunk, kv);
        return ChunkPool.indexOnly(l, l.bytesPerChunk() * chunks);
    }

    static void fixture(CudaDevice dev, Path dir) throws Exception {
        String name = dir.getFileName().toString();
        JsonNode golden = new ObjectMapper().readTree(Files.readString(dir.resolve("golden.json")));
        try (Model m = Model.load(dir)) {
            ModelConfig c = m.config();
            int steps = 24, chunk = 16;
            try (ChunkPool hp = hostPool(c, chunk, DType.F32);
                 CpuModelRunner cr = new CpuModelRunner(c, m.weights(), cpu);
                 ChunkPool dp = devicePool(c, chunk, DType.F32, 64);
                 CudaModelRunner gx = new CudaModelRunner(dev, c, DeviceWeights.upload(c, m.weights(), DeviceWeights.Precision.F32), dp, true);
                 ChunkPool dpb = devicePool(c, chunk, DType.BF16, 64);
                 CudaModelRunner gb = new CudaModelRunner(dev, c, DeviceWeights.upload(c, m.weights(), DeviceWeights.Precision.BF16), dpb, true)) {
                for (JsonNode p : golden.get("prompts")) {
                    String pn = name + "/" + p.get("name").asText();
                    int[] ids = ints(p.get("ids"));
                    int[] want = ints(p.get("greedy"));
                    List<Integer> cpuToks = new ArrayList<>(), gpuToks = new ArrayList<>(), forcedToks = new ArrayList<>();
                    List<float[]> ref = run(cr, hp, ids, steps, ids.length, null, cpuToks);
                    int piece = 5 + (ids.length % 7);  // chunked prefill, pieces across chunk boundaries
                    List<float[]> got = run(gx, dp, ids, steps, piece, null, gpuToks);
                    double worst = 0;
                    for (int i = 0; i < ref.size(); i++) worst = Math.max(worst, relError(got.get(i), ref.get(i)));
                    int[] ct = cpuToks.stream().mapToInt(Integer::intValue).toArray(), gt = gpuToks.stream().mapToInt(Integer::intValue).toArray();
                    check(worst < 1e-4, String.format(Locale.ROOT, "%s exact: logits rel err worst %.2e over %d steps (tol 1e-4), prefill piece %d",
                            pn, worst, ref.size(), piece));
                    check(Arrays.equals(ct, gt), pn + " exact: greedy tokens equal the CPU's " + (Arrays.equals(ct, gt) ? "" : Arrays.toString(ct) + " vs " + Arrays.toString(gt)));
                    check(Arrays.equals(want, gt), pn + " exact: greedy tokens equal the golden file's");
                    // bf16, teacher-forced with the CPU's tokens
                    List<float[]> gotB = run(gb, dpb, ids, steps, piece, ct, forcedToks);
                    double worstB = 0;
                    int flips = 0, nearTies = 0;
                    for (int i = 0; i < ref.size(); i++) {
                        float[] r = ref.get(i), g = gotB.get(i);
                        worstB = Math.max(worstB, relError(g, r));
                        if (argmax(g) != argmax(r)) {
                            if (margin(r) < 2 * maxAbs(g, r)) nearTies++;
                            else flips++;
                        }
                    }
                    check(worstB < 3e-2 && flips == 0, String.format(Locale.ROOT,
                            "%s bf16: logits rel err worst %.2e (tol 3e-2); argmax differs at %d near ties (margin < 2·max|Δ|), %d elsewhere",
                            pn, worstB, nearTies, flips));
                }
            }
        }
    }

    /**
     * Batches over a random bf16 model: B sequences share a prefix of P tokens by chunk id (prefilled once by
     * sequence 0, then the others prefill their own suffix pieces), then joint decode steps (teacher-forced).
     */
    static void randomModel(CudaDevice dev, int hd) {
        int heads = hd == 64 ? 8 : 4, kvHeads = hd == 64 ? 2 : 1;
        ModelConfig c = new ModelConfig("llama", 1000, heads * hd, 384, 2, heads, kvHeads, hd, 1e-5f, 4096, false,
                new io.chunkserve.model.RopeScaling("llama3", 500000, 32, 1, 4, 8192));
        int chunk = 32, B = 6, P = 96, steps = 40;
        java.util.Random rnd = new java.util.Random(hd);
        try (Arena arena = Arena.ofShared()) {
            ModelWeights w = RandomModel.weights(c, DType.BF16, arena, 7 + hd);
            int[] prefix = rnd.ints(P, 0, c.vocabSize()).toArray();
            int[][] suffix = new int[B][];
            for (int s = 0; s < B; s++) suffix[s] = rnd.ints(3 + 11 * s, 0, c.vocabSize()).toArray();
            int[][] forced = new int[steps][B];
            for (int[] f : forced) for (int s = 0; s < B; s++) f[s] = rnd.nextInt(c.vocabSize());
            List<float[]> ref;
            try (ChunkPool hp = new ChunkPool(new KvLayout(2, kvHeads, hd, chunk, DType.F16), 256);
                 CpuModelRunner cr = new CpuModelRunner(c, w, cpu)) {
                ref = batchRun(cr, hp, prefix, suffix, forced);
            }
            List<float[]> exact, twoPhase, generic;
            try (ChunkPool dp = devicePool(c, chunk, DType.F16, 256);
                 CudaModelRunner g = new CudaModelRunner(dev, c, DeviceWeights.upload(c, w, DeviceWeights.Precision.F32), dp, true)) {
                exact = batchRun(g, dp, prefix, suffix, forced);
            }
            List<float[]> refBf;
            try (ChunkPool hp = new ChunkPool(new KvLayout(2, kvHeads, hd, chunk, DType.BF16), 256);
                 CpuModelRunner cr = new CpuModelRunner(c, w, cpu)) {
                refBf = batchRun(cr, hp, prefix, suffix, forced);
            }
            try (ChunkPool dp = devicePool(c, chunk, DType.BF16, 256);
                 CudaModelRunner g = new CudaModelRunner(dev, c, DeviceWeights.upload(c, w, DeviceWeights.Precision.BF16), dp, true)) {
                check(g.twoPhaseActive(), "random d" + hd + ": two-phase decode kernels active in bf16 mode");
                twoPhase = batchRun(g, dp, prefix, suffix, forced);
                g.setTwoPhase(false);
                generic = batchRun(g, dp, prefix, suffix, forced);
            }
            List<float[]> skinny;
            System.setProperty("chunkserve.cuda.skinnyGemm", "force");
            try (ChunkPool dp = devicePool(c, chunk, DType.BF16, 256);
                 CudaModelRunner g = new CudaModelRunner(dev, c, DeviceWeights.upload(c, w, DeviceWeights.Precision.BF16), dp, true)) {
                skinny = batchRun(g, dp, prefix, suffix, forced);
            } finally {
                System.clearProperty("chunkserve.cuda.skinnyGemm");
            }
            double e4 = 0, e5 = 0;
            for (int i = 0; i < ref.size(); i++) {
                e4 = Math.max(e4, relError(skinny.get(i), twoPhase.get(i)));
                e5 = Math.max(e5, relError(skinny.get(i), refBf.get(i)));
            }
            // alone the skinny kernel matches cuBLAS to < 1e-4 (CudaGemmBench); in the model every bf16 re-rounding
            // of an activation that the other summation order moves across a rounding boundary adds 2^-9: 4.1e-3
            // measured on an H200 (run 6, then checked against an a-priori 2e-3), the 1e-2 of the other bf16-vs-bf16 pair
            check(e4 < 1e-2, String.format(Locale.ROOT, "random d%d: bf16 with every GEMM of <= 128 tokens through the skinny kernel vs cuBLAS: rel err worst %.2e (tol 1e-2)", hd, e4));
            check(e5 < 3e-2, String.format(Locale.ROOT, "random d%d: bf16 with every GEMM of <= 128 tokens through the skinny kernel vs CPU bf16 KV: rel err worst %.2e (tol 3e-2)", hd, e5));
            double e1 = 0, e2 = 0, e3 = 0;
            for (int i = 0; i < ref.size(); i++) {
                e1 = Math.max(e1, relError(exact.get(i), ref.get(i)));
                e2 = Math.max(e2, relError(twoPhase.get(i), refBf.get(i)));
                e3 = Math.max(e3, relError(twoPhase.get(i), generic.get(i)));
            }
            check(e1 < 1e-4, String.format(Locale.ROOT, "random d%d B=%d shared prefix %d: exact mode, f16 KV vs CPU f16 KV: rel err worst %.2e (tol 1e-4)", hd, B, P, e1));
            check(e2 < 3e-2, String.format(Locale.ROOT, "random d%d: bf16 mode (two-phase decode) vs CPU bf16 KV: rel err worst %.2e (tol 3e-2)", hd, e2));
            // the two-phase kernels round the softmax probabilities to bf16 for the tensor-core P·V product, the
            // generic kernel keeps them fp32: ~2^-9 relative per weight, 5.5e-3 measured on an H200
            check(e3 < 1e-2, String.format(Locale.ROOT, "random d%d: bf16 two-phase vs generic decode kernel: rel err worst %.2e (tol 1e-2)", hd, e3));
        }
    }

    /** Logit rows of every step (each step's rows for the sequences wanting logits, concatenated). */
    static List<float[]> batchRun(ModelRunner r, ChunkPool pool, int[] prefix, int[][] suffix, int[][] forced) {
        int chunk = pool.layout().chunkSize(), B = suffix.length, V = r.config().vocabSize(), P = prefix.length;
        int shared = P / chunk;                  // full chunks of the prefix, shared by id
        List<Integer> taken = new ArrayList<>();
        int[] sharedIds = new int[shared];
        for (int i = 0; i < shared; i++) taken.add(sharedIds[i] = pool.allocate());
        int[][] tables = new int[B][];
        int[][] seqs = new int[B][];
        for (int s = 0; s < B; s++) {
            seqs[s] = new int[P + suffix[s].length + forced.length];
            System.arraycopy(prefix, 0, seqs[s], 0, P);
            System.arraycopy(suffix[s], 0, seqs[s], P, suffix[s].length);
            int need = (seqs[s].length + chunk - 1) / chunk;
            tables[s] = new int[need];
            System.arraycopy(sharedIds, 0, tables[s], 0, shared);
            for (int i = shared; i < need; i++) taken.add(tables[s][i] = pool.allocate());
        }
        List<float[]> out = new ArrayList<>();
        try {
            ForwardBatch b = new ForwardBatch();
            float[] logits = new float[B * V];
            // sequence 0 prefills the prefix (two pieces); every other sequence starts after the shared chunks
            int[] len = new int[B];
            r.forward(b.clear().add(seqs[0], 0, P / 2, 0, tables[0], false), pool, logits);
            r.forward(b.clear().add(seqs[0], P / 2, P - P / 2, P / 2, tables[0], false), pool, logits);
            len[0] = P;
            for (int s = 1; s < B; s++) len[s] = shared * chunk;
            // mixed steps: each sequence prefills the rest of its prompt in pieces of ≤ 13 while others decode
            int[] promptLen = new int[B];
            for (int s = 0; s < B; s++) promptLen[s] = P + suffix[s].length;
            int[] decoded = new int[B];
            boolean any = true;
            while (any) {
                any = false;
                b.clear();
                for (int s = 0; s < B; s++) {
                    if (len[s] < promptLen[s]) {
                        int n = Math.min(13, promptLen[s] - len[s]);
                        b.add(seqs[s], len[s], n, len[s], tables[s], len[s] + n == promptLen[s]);
                        any = true;
                    } else if (decoded[s] < forced.length) {
                        seqs[s][len[s]] = forced[decoded[s]][s];
                        b.add(seqs[s], len[s], 1, len[s], tables[s], true);
                        any = true;
                    }
                }
                if (!any) break;
                Arrays.fill(logits, Float.NaN);
                r.forward(b, pool, logits);
                int k = 0;
                for (int s = 0, q = 0; s < B; s++) {
                    boolean inBatch = len[s] < promptLen[s] || decoded[s] < forced.length;
                    if (!inBatch) continue;
                    int n = b.count(q);
                    if (b.wantsLogits(q)) out.add(Arrays.copyOfRange(logits, q * V, (q + 1) * V));
                    if (len[s] >= promptLen[s]) decoded[s]++;
                    len[s] += n;
                    q++;
                    k++;
                }
            }
            return out;
        } finally {
            for (int id : taken) pool.free(id);
        }
    }

    // ------------------------------------------------------------------ draws on the device (cs_sample) vs SamplingReference

    /**
     * cs_sample against {@link io.chunkserve.sampling.SamplingReference} (the host sampler's distribution): random
     * logit rows (vocab 300, 49,152 and 128,256; peaked and flat; tied values) × temperature / top_k / top_p / min_p
     * sets × 256 stratified draws, all in one launch. Every device token must be a kept token whose cumulative
     * interval (id order) holds u · mass up to rounding; tokens equal to the reference's in all but rounding cases.
     */
    static void sampling(CudaDevice dev) {
        jcuda.driver.CUmodule mod = dev.loadModule(io.chunkserve.kernels.KernelImages.model().orElseThrow());
        long f = Launcher.handle(CudaDevice.function(mod, "cs_sample"));
        java.util.Random rnd = new java.util.Random(17);
        int[] vocabs = {300, 49152, 128256};
        double[][] sets = {{1.0, 0, 1.0, 0}, {0.7, 0, 0.9, 0}, {1.0, 40, 1.0, 0}, {0.8, 50, 0.95, 0.02}, {1.3, 0, 0.5, 0.1}, {0.5, 1, 1.0, 0}};
        int draws = 256;
        for (int vocab : vocabs) {
            int rowsL = 3;
            float[] logits = new float[rowsL * vocab];
            for (int r = 0; r < rowsL; r++) {
                double sigma = r == 0 ? 1 : r == 1 ? 4 : 0.3;
                for (int i = 0; i < vocab; i++) logits[r * vocab + i] = (float) (rnd.nextGaussian() * sigma);
                for (int t = 0; t < vocab / 20; t++) logits[r * vocab + rnd.nextInt(vocab)] = logits[r * vocab + rnd.nextInt(vocab)];
            }
            int blocks = rowsL * sets.length * draws;
            int[] params = new int[8 * blocks];
            double[] us = new double[blocks];
            for (int r = 0, bi = 0; r < rowsL; r++) {
                for (double[] set : sets) {
                    for (int j = 0; j < draws; j++, bi++) {
                        double u = (j + rnd.nextDouble()) / draws;
                        us[bi] = u;
                        long ub = Double.doubleToRawLongBits(u);
                        int o = 8 * bi;
                        params[o] = Float.floatToRawIntBits((float) (1.0 / set[0]));
                        params[o + 1] = (int) set[1];
                        params[o + 2] = Float.floatToRawIntBits((float) set[2]);
                        params[o + 3] = Float.floatToRawIntBits((float) set[3]);
                        params[o + 4] = (int) ub;
                        params[o + 5] = (int) (ub >>> 32);
                        params[o + 6] = r;
                    }
                }
            }
            int[] got = new int[blocks];
            try (DeviceBuffer dl = DeviceBuffer.allocate(4L * logits.length); DeviceBuffer dp = DeviceBuffer.allocate(4L * params.length);
                 DeviceBuffer dout = DeviceBuffer.allocate(4L * blocks)) {
                dl.upload(logits);
                dp.upload(params);
                new Launcher().begin().ptr(dl).i32(vocab).ptr(dp).ptr(dout).launch(f, blocks, 1, 512, 0);
                dev.synchronize();
                dout.download(got);
            }
            int bad = 0, differ = 0;
            String firstBad = "";
            for (int r = 0, bi = 0; r < rowsL; r++) {
                for (double[] set : sets) {
                    double[] w = io.chunkserve.sampling.SamplingReference.keptWeights(logits, r * vocab, vocab, (float) (1.0 / set[0]), (int) set[1],
                            (float) set[2], (float) set[3]);
                    double total = 0;
                    for (double x : w) total += x;
                    double[] cumBefore = new double[vocab];
                    double acc = 0;
                    for (int i = 0; i < vocab; i++) {
                        cumBefore[i] = acc;
                        acc += w[i];
                    }
                    for (int j = 0; j < draws; j++, bi++) {
                        int t = got[bi];
                        int ref = io.chunkserve.sampling.SamplingReference.draw(w, us[bi]);
                        if (t != ref) differ++;
                        double x = us[bi] * total, tol = 1e-6 * total;
                        boolean ok = t >= 0 && t < vocab && w[t] > 0 && x >= cumBefore[t] - tol && x <= cumBefore[t] + w[t] + tol;
                        if (!ok) {
                            if (bad++ == 0) firstBad = "row " + r + " set " + Arrays.toString(set) + " u " + us[bi] + ": device " + t + ", reference " + ref;
                        }
                    }
                }
            }
            check(bad == 0, "sampling vocab " + vocab + ": " + blocks + " device draws inside their token's interval" + (bad == 0 ? "" : " (" + bad + " not; first: " + firstBad + ")"));
            check(differ <= blocks / 200, "sampling vocab " + vocab + ": device token = reference token in all but " + differ + " of " + blocks + " draws");
        }
        jcuda.driver.JCudaDriver.cuModuleUnload(mod);
    }

    // ------------------------------------------------------------------ penalties on the device (cs_penalize) vs PenaltyList

    /**
     * cs_penalize against {@link io.chunkserve.sampling.PenaltyList} (the host sampler's penalties, bit for bit):
     * rows of vocab 300 and 128,256 (zeros, ±FLT_MAX, NaN and ±inf among the logits), lists of up to 3,000 entries
     * with counts 0-5 and ids outside the vocabulary, an extra token listed, not listed or none, repetition above
     * and below 1, negative presence / frequency; then the saved (id, raw) pairs restore the raw rows exactly, and
     * cs_argmax on the penalized rows gives the reference's argmax (or -1 where a logit is not finite).
     */
    static void penalties(CudaDevice dev) {
        jcuda.driver.CUmodule mod = dev.loadModule(io.chunkserve.kernels.KernelImages.model().orElseThrow());
        long fPen = Launcher.handle(CudaDevice.function(mod, "cs_penalize"));
        long fArg = Launcher.handle(CudaDevice.function(mod, "cs_argmax"));
        java.util.Random rnd = new java.util.Random(23);
        float[][] sets = {{1.3f, 0, 0}, {1, 0.7f, 0.25f}, {1.15f, 0.4f, 0.3f}, {0.8f, -0.5f, 0.5f}, {1, 0, -0.2f}, {0.5f, 1.5f, 0}};
        for (int vocab : new int[] {300, 128256}) {
            int rows = 24;
            float[] raw = new float[rows * vocab];
            for (int i = 0; i < raw.length; i++) {
                raw[i] = (float) (rnd.nextGaussian() * 3);
                int q = rnd.nextInt(400);
                if (q == 0) raw[i] = 0f;
                if (q == 1) raw[i] = Float.MAX_VALUE;
                if (q == 2) raw[i] = -Float.MAX_VALUE;
            }
            raw[5 * vocab + 7] = Float.NaN;                       // rows 5 and 6: a non-finite logit
            raw[6 * vocab + 3] = Float.NEGATIVE_INFINITY;
            int[] hdr = new int[8 * rows];
            java.util.List<int[]> lists = new java.util.ArrayList<>();
            int[] extras = new int[rows], prev = new int[rows];
            int ent = 0;
            for (int r = 0; r < rows; r++) {
                int n = r % 4 == 3 ? 0 : 1 + rnd.nextInt(r % 2 == 0 ? 40 : Math.min(3000, vocab));
                java.util.LinkedHashSet<Integer> idset = new java.util.LinkedHashSet<>();
                while (idset.size() < n) idset.add(rnd.nextInt(vocab + (r == 8 ? 50 : 0)));
                int[] list = new int[2 * n];
                int j = 0;
                for (int id : idset) {
                    list[2 * j] = id;
                    list[2 * j + 1] = rnd.nextInt(6);
                    j++;
                }
                lists.add(list);
                int kind = r % 3;   // 0: none, 1: a listed token, 2: another token
                extras[r] = kind == 0 || (kind == 1 && n == 0) ? -1 : kind == 1 ? list[2 * rnd.nextInt(n)] : rnd.nextInt(vocab);
                if (extras[r] >= vocab) extras[r] = -1;
                prev[r] = extras[r] >= 0 ? extras[r] : 0;
                float[] set = sets[r % sets.length];
                int o = 8 * r;
                hdr[o] = ent;
                hdr[o + 1] = n;
                hdr[o + 2] = extras[r] >= 0 ? r : -1;
                hdr[o + 3] = Float.floatToRawIntBits(set[0]);
                hdr[o + 4] = Float.floatToRawIntBits(set[1]);
                hdr[o + 5] = Float.floatToRawIntBits(set[2]);
                hdr[o + 6] = r;
                hdr[o + 7] = ent + r;
                ent += n;
            }
            int[] entries = new int[2 * Math.max(1, ent)];
            for (int r = 0, q = 0; r < rows; r++) {
                System.arraycopy(lists.get(r), 0, entries, q, lists.get(r).length);
                q += lists.get(r).length;
            }
            float[] got = new float[raw.length];
            int[] saved = new int[2 * (ent + rows)];
            int[] am = new int[rows];
            try (DeviceBuffer dl = DeviceBuffer.allocate(4L * raw.length); DeviceBuffer dh = DeviceBuffer.allocate(4L * hdr.length);
                 DeviceBuffer de = DeviceBuffer.allocate(4L * entries.length); DeviceBuffer dp = DeviceBuffer.allocate(4L * rows);
                 DeviceBuffer ds = DeviceBuffer.allocate(4L * saved.length); DeviceBuffer da = DeviceBuffer.allocate(4L * rows)) {
                dl.upload(raw);
                dh.upload(hdr);
                de.upload(entries);
                dp.upload(prev);
                new Launcher().begin().ptr(dl).i32(vocab).ptr(dh).ptr(de).ptr(dp).ptr(ds).launch(fPen, rows, 1, 256, 0);
                new Launcher().begin().ptr(dl).i32(vocab).ptr(da).launch(fArg, rows, 1, 1024, 0);
                dev.synchronize();
                dl.download(got);
                ds.download(saved);
                da.download(am);
            }
            int badRows = 0, badArg = 0;
            String first = "";
            float[] restored = got.clone();
            for (int r = 0; r < rows; r++) {
                float[] set = sets[r % sets.length];
                int[] list = lists.get(r);
                int n = list.length / 2;
                int[] lid = new int[n], lc = new int[n];
                for (int j = 0; j < n; j++) {
                    lid[j] = list[2 * j];
                    lc[j] = list[2 * j + 1];
                }
                float[] ref = Arrays.copyOfRange(raw, r * vocab, (r + 1) * vocab);
                io.chunkserve.sampling.PenaltyList.apply(ref, 0, vocab, set[0], set[1], set[2], lid, lc, n, extras[r]);
                for (int i = 0; i < vocab; i++) {
                    if (Float.floatToIntBits(ref[i]) != Float.floatToIntBits(got[r * vocab + i])) {   // (bits; any NaN one value)
                        if (badRows++ == 0) first = "row " + r + " id " + i + ": device " + got[r * vocab + i] + ", reference " + ref[i];
                        break;
                    }
                }
                int s0 = hdr[8 * r + 7];
                for (int j = 0; j <= n; j++) {
                    int id = saved[2 * (s0 + j)];
                    if (id >= 0 && id < vocab) restored[r * vocab + id] = Float.intBitsToFloat(saved[2 * (s0 + j) + 1]);
                }
                boolean finite = true;
                int best = 0;
                for (int i = 0; i < vocab; i++) {
                    finite &= Float.isFinite(ref[i]);
                    if (ref[i] > ref[best]) best = i;
                }
                if (am[r] != (finite ? best : -1)) badArg++;
            }
            boolean restoredOk = true;
            for (int i = 0; i < raw.length; i++) restoredOk &= Float.floatToIntBits(raw[i]) == Float.floatToIntBits(restored[i]);
            check(badRows == 0, "penalties vocab " + vocab + ": " + rows + " rows (" + ent + " entries) penalized on the device = PenaltyList bit for bit"
                    + (badRows == 0 ? "" : " (" + badRows + " rows differ; first: " + first + ")"));
            check(restoredOk, "penalties vocab " + vocab + ": the saved (id, raw) pairs restore every raw row exactly");
            check(badArg == 0, "penalties vocab " + vocab + ": cs_argmax of the penalized rows = the reference's (" + badArg + " differ)");
        }
        jcuda.driver.JCudaDriver.cuModuleUnload(mod);
    }

    // ------------------------------------------------------------------ log-probabilities on the device (cs_logprobs)

    /**
     * cs_logprobs against the host sampler's log-probabilities ({@link io.chunkserve.sampling.SamplingReference#logprobs}):
     * rows of vocab 300 and 128,256 with tied values, K = 0, 1, 5 and 20, the picked token anywhere, some rows
     * "penalized" (values changed, their raw values in saved pairs: the kernel must restore them first), one row with
     * no pick (-1): the same top ids in the same order, every log-probability within 1e-4.
     */
    static void logprobs(CudaDevice dev) {
        jcuda.driver.CUmodule mod = dev.loadModule(io.chunkserve.kernels.KernelImages.model().orElseThrow());
        long f = Launcher.handle(CudaDevice.function(mod, "cs_logprobs"));
        java.util.Random rnd = new java.util.Random(29);
        int stride = 2 + 2 * ForwardBatch.MAX_TOP_LOGPROBS;
        int[] ks = {0, 1, 5, 20};
        for (int vocab : new int[] {300, 128256}) {
            int rows = 16;
            float[] raw = new float[rows * vocab];
            for (int r = 0; r < rows; r++) {
                double sigma = r % 3 == 0 ? 0.5 : r % 3 == 1 ? 3 : 8;
                for (int i = 0; i < vocab; i++) raw[r * vocab + i] = (float) (rnd.nextGaussian() * sigma);
                for (int t = 0; t < vocab / 10; t++) raw[r * vocab + rnd.nextInt(vocab)] = raw[r * vocab + rnd.nextInt(vocab)];   // ties
                int best = 0;
                for (int i = 0; i < vocab; i++) if (raw[r * vocab + i] > raw[r * vocab + best]) best = i;
                for (int t = 0; t < 3; t++) raw[r * vocab + rnd.nextInt(vocab)] = raw[r * vocab + best];   // ties at the top
            }
            float[] dev0 = raw.clone();
            int[] hdr = new int[8 * rows], picks = new int[rows];
            List<Integer> savedL = new ArrayList<>();
            for (int r = 0; r < rows; r++) {
                picks[r] = r == 7 ? -1 : rnd.nextInt(vocab);
                int o = 8 * r;
                hdr[o] = r;
                hdr[o + 1] = r;
                hdr[o + 4] = ks[r % ks.length];
                if (r % 2 == 1) {   // penalized: some values changed on the device copy, their raw values saved
                    int n = 1 + rnd.nextInt(Math.min(500, vocab / 2));
                    hdr[o + 2] = savedL.size() / 2;
                    hdr[o + 3] = n + 1;
                    java.util.Set<Integer> used = new java.util.HashSet<>();
                    for (int j = 0; j < n; j++) {
                        int id = rnd.nextInt(vocab);
                        if (!used.add(id)) id = -1;
                        savedL.add(id);
                        savedL.add(id >= 0 ? Float.floatToRawIntBits(raw[r * vocab + id]) : 0);
                        if (id >= 0) dev0[r * vocab + id] = raw[r * vocab + id] * 1.7f - 2f;
                    }
                    savedL.add(-1);
                    savedL.add(0);
                } else {
                    hdr[o + 2] = -1;
                }
            }
            int[] saved = new int[Math.max(2, savedL.size())];
            for (int i = 0; i < savedL.size(); i++) saved[i] = savedL.get(i);
            int[] out = new int[stride * rows];
            try (DeviceBuffer dl = DeviceBuffer.allocate(4L * raw.length); DeviceBuffer dh = DeviceBuffer.allocate(4L * hdr.length);
                 DeviceBuffer dp = DeviceBuffer.allocate(4L * rows); DeviceBuffer ds = DeviceBuffer.allocate(4L * saved.length);
                 DeviceBuffer dout = DeviceBuffer.allocate(4L * out.length)) {
                dl.upload(dev0);
                dh.upload(hdr);
                dp.upload(picks);
                ds.upload(saved);
                new Launcher().begin().ptr(dl).i32(vocab).ptr(dh).ptr(dp).ptr(ds).ptr(dout).launch(f, rows, 1, 512, 0);
                dev.synchronize();
                dout.download(out);
            }
            int bad = 0;
            double worst = 0;
            String first = "";
            for (int r = 0; r < rows; r++) {
                int o = stride * r;
                if (picks[r] < 0) {
                    if (out[o] != -1) bad++;
                    continue;
                }
                io.chunkserve.sampling.SampledToken ref = io.chunkserve.sampling.SamplingReference.logprobs(raw, r * vocab, vocab, picks[r], ks[r % ks.length]);
                boolean ok = out[o + 1] == ref.topTokenIds().length;
                double d = Math.abs(Float.intBitsToFloat(out[o]) - ref.logprob());
                for (int j = 0; ok && j < out[o + 1]; j++) {
                    ok = out[o + 2 + 2 * j] == ref.topTokenIds()[j];
                    d = Math.max(d, Math.abs(Float.intBitsToFloat(out[o + 3 + 2 * j]) - ref.topLogprobs()[j]));
                }
                worst = Math.max(worst, d);
                if (!ok || !(d <= 1e-4)) {
                    if (bad++ == 0) first = "row " + r + " K " + ks[r % ks.length] + ": device k " + out[o + 1] + " logprob " + Float.intBitsToFloat(out[o])
                            + ", reference " + ref;
                }
            }
            check(bad == 0, String.format(Locale.ROOT, "logprobs vocab %d: %d rows (K 0-20, ties, restored penalized rows, a row without pick): same top ids, "
                    + "log-probabilities within 1e-4 of the host's (worst %.1e)%s", vocab, rows, worst, bad == 0 ? "" : " (" + bad + " rows not; first: " + first + ")"));
        }
        jcuda.driver.JCudaDriver.cuModuleUnload(mod);
    }

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
            if (id.startsWith("samp") || id.startsWith("spen") || id.startsWith("sfork")) {
                // drawn on the device by the CUDA runner (its own walk order): reproducible within a backend
                if (id.equals("sampA")) {
                    check(a.tokens().equals(cpuOut.get("sampB").tokens()) && g.tokens().equals(gpuOut.get("sampB").tokens())
                                    && g.tokens().get(0).size() == 16,
                            "engine " + name + ": two identical seeded sampled requests get the same 16 tokens (CPU and CUDA each)");
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
            for (CompletableFuture<?> f : all) f.get(60, TimeUnit.SECONDS);
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

    static int[] ints(JsonNode a) {
        int[] r = new int[a.size()];
        for (int i = 0; i < r.length; i++) r[i] = a.get(i).asInt();
        return r;
    }
}
