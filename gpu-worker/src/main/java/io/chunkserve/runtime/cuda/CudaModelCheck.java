package io.chunkserve.runtime.cuda;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.chunkserve.bench.RandomModel;
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

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

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
 * Parts 4 and 5 are {@link CudaSamplingCheck} and {@link CudaEngineCheck}; this class runs them and keeps the counts.
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
                    CudaSamplingCheck.sampling(dev);
                } catch (RuntimeException e) {
                    fail("sampling: " + e);
                    e.printStackTrace(System.out);
                }
                try {
                    CudaSamplingCheck.penalties(dev);
                } catch (RuntimeException e) {
                    fail("penalties: " + e);
                    e.printStackTrace(System.out);
                }
                try {
                    CudaSamplingCheck.logprobs(dev);
                } catch (RuntimeException e) {
                    fail("logprobs: " + e);
                    e.printStackTrace(System.out);
                }
                try {
                    CudaPrefillCheck.prefill(dev);
                } catch (RuntimeException e) {
                    fail("prefill attention: " + e);
                    e.printStackTrace(System.out);
                }
            }
            if (engine) {
                for (String n : new String[] {"tiny-llama3", "tiny-qwen3"}) {
                    try {
                        CudaEngineCheck.engine(fixtures.resolve(n));
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

    static void fail(String msg) {
        failures++;
        System.out.println("FAIL " + msg);
    }

    static void check(boolean ok, String msg) {
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
            List<float[]> exact, twoPhase, generic, genericFp32;
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
                g.setTensorCorePrefill(false, 0);   // every row through the fp32 kernel
                genericFp32 = batchRun(g, dp, prefix, suffix, forced);
            }
            List<float[]> skinny, again, atomic, atomicAgain;
            System.setProperty("chunkserve.cuda.skinnyGemm", "force");
            try {
                atomic = skinnyRun(dev, c, w, chunk, prefix, suffix, forced, null);
                atomicAgain = skinnyRun(dev, c, w, chunk, prefix, suffix, forced, null);
                skinny = skinnyRun(dev, c, w, chunk, prefix, suffix, forced, "vec:splitk=ordered");
                again = skinnyRun(dev, c, w, chunk, prefix, suffix, forced, "vec:splitk=ordered");
            } finally {
                System.clearProperty("chunkserve.cuda.skinnyGemm");
            }
            // session 19: with splitk=ordered the k-slices are summed in slice order by the last block to arrive —
            // every run the same bits (the default, atomic, adds them in arrival order)
            boolean same = true, sameAtomic = true;
            double eOrd = 0;
            for (int i = 0; i < skinny.size(); i++) {
                same &= java.util.Arrays.equals(skinny.get(i), again.get(i));
                sameAtomic &= java.util.Arrays.equals(atomic.get(i), atomicAgain.get(i));
                eOrd = Math.max(eOrd, relError(skinny.get(i), atomic.get(i)));
            }
            check(same, "random d" + hd + ": skinny GEMMs with ordered split-k: two runs give bit-identical logits (" + skinny.size() + " rows of steps)");
            check(eOrd < 1e-2, String.format(Locale.ROOT, "random d%d: ordered vs atomic split-k: rel err worst %.2e (tol 1e-2; atomic runs bit-identical to each other: %s)",
                    hd, eOrd, sameAtomic));
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
            // session 20: prefill (and here every) row through the tensor-core kernel vs the fp32 one; they must differ
            // (P rounded to bf16: the tensor-core path ran) and agree within the two-phase kernels' tolerance
            double e6 = 0;
            boolean identical = true;
            for (int i = 0; i < ref.size(); i++) {
                e6 = Math.max(e6, relError(generic.get(i), genericFp32.get(i)));
                identical &= java.util.Arrays.equals(generic.get(i), genericFp32.get(i));
            }
            check(e6 < 1e-2 && !identical, String.format(Locale.ROOT, "random d%d: bf16 attention of prefill and decode rows on tensor cores vs the fp32 kernel: rel err worst %.2e (tol 1e-2)%s",
                    hd, e6, identical ? "; bit-identical: the tensor-core kernel did not run" : ""));
        }
    }

    /** batchRun on a fresh bf16 runner (skinny GEMMs as the properties say), with the given gemm options (null: as set). */
    static List<float[]> skinnyRun(CudaDevice dev, ModelConfig c, ModelWeights w, int chunk, int[] prefix, int[][] suffix, int[][] forced, String opts) {
        String before = System.getProperty("chunkserve.cuda.gemmOptions");
        if (opts != null) System.setProperty("chunkserve.cuda.gemmOptions", opts);
        try (ChunkPool dp = devicePool(c, chunk, DType.BF16, 256);
             CudaModelRunner g = new CudaModelRunner(dev, c, DeviceWeights.upload(c, w, DeviceWeights.Precision.BF16), dp, true)) {
            return batchRun(g, dp, prefix, suffix, forced);
        } finally {
            if (before != null) System.setProperty("chunkserve.cuda.gemmOptions", before);
            else System.clearProperty("chunkserve.cuda.gemmOptions");
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

    static int[] ints(JsonNode a) {
        int[] r = new int[a.size()];
        for (int i = 0; i < r.length; i++) r[i] = a.get(i).asInt();
        return r;
    }
}
