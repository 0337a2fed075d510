package io.chunkserve.runtime.cpu;

import io.chunkserve.attention.SequenceAttention;
import io.chunkserve.attention.TwoPhaseAttention;
import io.chunkserve.attention.TwoPhasePlan;
import io.chunkserve.kv.ChunkPool;
import io.chunkserve.model.ModelConfig;
import io.chunkserve.model.ModelWeights;
import io.chunkserve.model.Weight;
import io.chunkserve.runtime.ForwardBatch;
import io.chunkserve.runtime.ModelRunner;

/**
 * The Llama-family forward pass on the CPU: Vector API kernels, weights in their stored dtype,
 * every sequence of the batch in one pass over the weights. Not thread-safe: one engine thread
 * calls it; the kernels fan out to the {@link CpuKernels} pool.
 */
public final class CpuModelRunner implements ModelRunner {
    private final ModelConfig cfg;
    private final ModelWeights w;
    private final CpuKernels k;
    private final float[] invFreq; // (headDim/2)
    private final Weight[][] qkv;   // per layer: {wq, wk, wv}, one dispatch
    // touch-ahead plans of the one-token dispatches (CpuKernels.upcoming): per layer q/k/v, o, gate/up, down; the LM head
    private final TouchPlan[] tQkv, tO, tGateUp, tDown;
    private final TouchPlan tHead;
    private boolean touchAhead = TOUCH_BYTES > 0;
    private Scratch s = new Scratch(0, 0, null);
    private float[][] qkvOut; // the scratch buffers matmulMany writes, regrouped when the scratch grows
    private final TwoPhaseAttention twoPhase;
    private TwoPhasePlan plan;            // decode plan, rebuilt only when the batch or the tree changes
    private int[] decodeSeqs = new int[0]; // (D) batch index of each single-token sequence this step
    private int decodeCount;
    private float[] decQ = new float[0];   // (D, heads·headDim) gathered decode queries
    private float[] decOut = new float[0]; // (D, heads·headDim)
    private boolean sharing = true;
    private int[] logitRows = new int[0]; // batch index of each sequence wanting logits this step

    public CpuModelRunner(ModelConfig cfg, ModelWeights w, CpuKernels kernels) {
        this.cfg = cfg;
        this.w = w;
        this.k = kernels;
        this.invFreq = cfg.rope().inverseFrequencies(cfg.headDim());
        this.twoPhase = new TwoPhaseAttention(kernels.threads());
        int n = w.layers().length;
        this.qkv = new Weight[n][];
        for (int l = 0; l < n; l++) {
            ModelWeights.Layer L = w.layers()[l];
            qkv[l] = new Weight[]{L.wq(), L.wk(), L.wv()};
        }
        int threads = kernels.threads();
        long budget = Math.max(TouchPlan.LINE, TOUCH_BYTES);
        tQkv = new TouchPlan[n];
        tO = new TouchPlan[n];
        tGateUp = new TouchPlan[n];
        tDown = new TouchPlan[n];
        for (int l = 0; l < n; l++) {
            ModelWeights.Layer L = w.layers()[l];
            tQkv[l] = TouchPlan.of(kernels.planMany(qkv[l]), threads, budget);
            tO[l] = TouchPlan.of(kernels.planResidual(L.wo()), threads, budget);
            tGateUp[l] = TouchPlan.of(kernels.planGateUp(L.wGate(), L.wUp()), threads, budget);
            tDown[l] = TouchPlan.of(kernels.planResidual(L.wDown()), threads, budget);
        }
        tHead = TouchPlan.of(kernels.planMany(new Weight[]{w.lmHead()}), threads, budget);
    }

    /**
     * Most bytes of each row stream of the next one-token matmul that a waiting thread touches ahead
     * (0: none). SmolLM2-135M's ranges are 83–442 KB a stream, so 256 KB covers most of each.
     */
    private static final long TOUCH_BYTES = Long.getLong("chunkserve.cpu.touchBytes", 256 * 1024);

    /** Benchmarks switch the touch-ahead of the next matmul off to measure its effect with the same code. */
    public void setTouchAhead(boolean on) {
        touchAhead = on;
        if (!on) k.upcoming(null);
    }

    /** Declares the next one-token matmul to the kernels' waiting threads (decode steps only). */
    private void upcoming(TouchPlan p, int T) { k.upcoming(T == 1 && touchAhead ? p : null); }

    @Override
    public void close() { k.upcoming(null); } // no stale plan outlives the weights

    @Override
    public ModelConfig config() { return cfg; }

    /** Activation buffers for up to {@code tokens} tokens, reused across steps. */
    private record Scratch(int tokens, int seqs, float[][] b) {
        float[] x() { return b[0]; }      // (T, hidden) residual stream
        float[] hn() { return b[1]; }     // (T, hidden) normalised
        float[] q() { return b[2]; }      // (T, heads·headDim)
        float[] kk() { return b[3]; }     // (T, kvHeads·headDim)
        float[] v() { return b[4]; }      // (T, kvHeads·headDim)
        float[] att() { return b[5]; }    // (T, heads·headDim)
        float[] o() { return b[6]; }      // (T, hidden)
        float[] gate() { return b[7]; }   // (T, intermediate)
        float[] up() { return b[8]; }     // (T, intermediate)
        float[] cos() { return b[9]; }    // (T, headDim/2)
        float[] sin() { return b[10]; }   // (T, headDim/2)
        float[] last() { return b[11]; }  // (S, hidden) last token of each sequence wanting logits
        float[] lastN() { return b[12]; } // (S, hidden)
        float[] lg() { return b[13]; }    // (S, vocab)
    }

    private Scratch scratch(int tokens, int seqs) {
        if (tokens <= s.tokens && seqs <= s.seqs) return s;
        int t = Math.max(tokens, s.tokens), n = Math.max(seqs, s.seqs);
        int h = cfg.hiddenSize(), q = cfg.qDim(), kv = cfg.kvDim(), inter = cfg.intermediateSize(), half = cfg.headDim() / 2;
        s = new Scratch(t, n, new float[][]{new float[t * h], new float[t * h], new float[t * q], new float[t * kv], new float[t * kv],
                new float[t * q], new float[t * h], new float[t * inter], new float[t * inter], new float[t * half], new float[t * half],
                new float[n * h], new float[n * h], new float[n * cfg.vocabSize()]});
        qkvOut = new float[][]{s.q(), s.kk(), s.v()};
        return s;
    }

    @Override
    public void forward(ForwardBatch b, ChunkPool pool, float[] logits) {
        int T = b.totalTokens(), h = cfg.hiddenSize();
        Scratch sc = scratch(T, b.size());
        float[] x = sc.x();
        for (int i = 0; i < T; i++) {
            int tok = b.token(i);
            if (tok < 0 || tok >= cfg.vocabSize()) throw new IllegalArgumentException("token id " + tok + " outside the vocabulary");
            CpuKernels.row(w.embed(), tok, x, i * h);
        }
        ropeTables(b, sc);
        planDecodes(b, pool.layout().chunkSize());
        for (int l = 0; l < cfg.numLayers(); l++) layer(l, b, pool, sc);
        // Final norm and LM head only for the last token of sequences that want logits.
        int n = 0;
        if (logitRows.length < b.size()) logitRows = new int[b.size()];
        int[] rows = logitRows;
        for (int q = 0; q < b.size(); q++) {
            if (!b.wantsLogits(q)) continue;
            System.arraycopy(x, (b.offset(q) + b.count(q) - 1) * h, sc.last(), n * h, h);
            rows[n++] = q;
        }
        if (n == 0) return;
        CpuKernels.rmsnorm(sc.lastN(), sc.last(), w.norm(), n, cfg.rmsNormEps());
        upcoming(tQkv[0], n); // the next step's first matmul
        long t0 = CpuTuning.phases ? System.nanoTime() : 0;
        k.matmul(w.lmHead(), sc.lastN(), n, sc.lg());
        mark(8, t0);
        int vocab = cfg.vocabSize();
        for (int i = 0; i < n; i++) System.arraycopy(sc.lg(), i * vocab, logits, rows[i] * vocab, vocab);
    }

    /**
     * Collects the single-token sequences of the step and (re)builds their two-phase plan: chunks
     * shared by several of them are read once per step for all their queries.
     */
    private void planDecodes(ForwardBatch b, int chunkSize) {
        int n = 0;
        for (int s = 0; s < b.size(); s++) if (b.count(s) == 1) n++;
        if (decodeSeqs.length < n) decodeSeqs = new int[n];
        decodeCount = n;
        if (n <= 1) return;
        int[][] tables = new int[n][];
        int[] lengths = new int[n];
        for (int s = 0, i = 0; s < b.size(); s++) {
            if (b.count(s) != 1) continue;
            decodeSeqs[i] = s;
            tables[i] = b.chunkTable(s);
            lengths[i++] = b.startPosition(s) + 1;
        }
        plan = sharing ? TwoPhasePlan.reuseOrBuild(plan, tables, lengths, chunkSize)
                : TwoPhasePlan.build(tables, lengths, chunkSize, false);
        int need = n * cfg.qDim();
        if (decQ.length < need) {
            decQ = new float[need];
            decOut = new float[need];
        }
    }

    /** Benchmarks switch chunk sharing off to measure the prefix-unaware baseline with the same code. */
    public void setSharing(boolean on) { sharing = on; plan = null; }

    private void ropeTables(ForwardBatch b, Scratch sc) {
        int half = cfg.headDim() / 2;
        for (int q = 0; q < b.size(); q++) {
            for (int j = 0; j < b.count(q); j++) {
                int t = b.offset(q) + j;
                float pos = b.startPosition(q) + j;
                for (int i = 0; i < half; i++) {
                    float angle = invFreq[i] * pos; // fp32 product, as Hugging Face computes it
                    sc.cos()[t * half + i] = (float) Math.cos(angle);
                    sc.sin()[t * half + i] = (float) Math.sin(angle);
                }
            }
        }
    }

    private void layer(int l, ForwardBatch b, ChunkPool pool, Scratch sc) {
        ModelWeights.Layer L = w.layers()[l];
        int T = b.totalTokens(), h = cfg.hiddenSize(), hd = cfg.headDim();
        int qDim = cfg.qDim(), kvDim = cfg.kvDim();
        float eps = cfg.rmsNormEps();
        float[] x = sc.x(), hn = sc.hn(), q = sc.q(), kk = sc.kk(), v = sc.v();

        long t0 = CpuTuning.phases ? System.nanoTime() : 0;
        CpuKernels.rmsnorm(hn, x, L.attnNorm(), T, eps);
        t0 = mark(0, t0);
        // while waiting at the end of each matmul (and between them), the threads touch the next one's first rows
        upcoming(tO[l], T);
        k.matmulMany(qkv[l], hn, T, qkvOut);
        t0 = mark(1, t0);
        if (L.bq() != null) addBias(q, L.bq(), T);
        if (L.bk() != null) addBias(kk, L.bk(), T);
        if (L.bv() != null) addBias(v, L.bv(), T);
        if (L.qNorm() != null) {
            CpuKernels.rmsnorm(q, q, L.qNorm(), T * cfg.numHeads(), eps);
            CpuKernels.rmsnorm(kk, kk, L.kNorm(), T * cfg.numKvHeads(), eps);
        }
        rope(q, T, cfg.numHeads(), sc);
        rope(kk, T, cfg.numKvHeads(), sc);

        int chunk = pool.layout().chunkSize();
        for (int s = 0; s < b.size(); s++) {
            int[] table = b.chunkTable(s);
            for (int j = 0; j < b.count(s); j++) {
                int t = b.offset(s) + j, pos = b.startPosition(s) + j;
                pool.write(l, table[pos / chunk], pos % chunk, kk, t * kvDim, v, t * kvDim);
            }
        }
        float[] att = sc.att();
        t0 = mark(2, t0);
        for (int s = 0; s < b.size(); s++) {
            if (b.count(s) == 1 && decodeCount > 1) continue; // in the two-phase decode below
            SequenceAttention.attend(pool, l, b.chunkTable(s), b.startPosition(s), b.count(s), cfg.numHeads(),
                    q, b.offset(s) * qDim, att, b.offset(s) * qDim, k);
        }
        if (decodeCount > 1) {
            for (int i = 0; i < decodeCount; i++) System.arraycopy(q, b.offset(decodeSeqs[i]) * qDim, decQ, i * qDim, qDim);
            twoPhase.decode(pool, l, plan, cfg.numHeads(), decQ, decOut, k);
            for (int i = 0; i < decodeCount; i++) System.arraycopy(decOut, i * qDim, att, b.offset(decodeSeqs[i]) * qDim, qDim);
        }
        t0 = mark(3, t0);
        upcoming(tGateUp[l], T);
        k.matmulAdd(L.wo(), att, T, sc.o(), x);
        t0 = mark(4, t0);

        CpuKernels.rmsnorm(hn, x, L.mlpNorm(), T, eps);
        t0 = mark(5, t0);
        upcoming(tDown[l], T);
        k.gateUpSilu(L.wGate(), L.wUp(), hn, T, sc.gate(), sc.up());
        t0 = mark(6, t0);
        upcoming(l + 1 < cfg.numLayers() ? tQkv[l + 1] : tHead, T);
        k.matmulAdd(L.wDown(), sc.gate(), T, sc.o(), x);
        mark(7, t0);
    }

    /** Adds the time since t0 to phase p (when timing phases); returns now. */
    private static long mark(int p, long t0) {
        if (!CpuTuning.phases) return 0;
        long now = System.nanoTime();
        CpuTuning.PHASE_NS[p] += now - t0;
        return now;
    }

    private static void addBias(float[] y, float[] bias, int T) {
        int n = bias.length;
        for (int t = 0; t < T; t++) {
            for (int i = 0; i < n; i++) y[t * n + i] += bias[i];
        }
    }

    /** Rotates every head of every token in place ("rotate half": pairs i and i + headDim/2). */
    private void rope(float[] y, int T, int heads, Scratch sc) {
        int hd = cfg.headDim(), half = hd / 2;
        float[] cos = sc.cos(), sin = sc.sin();
        for (int t = 0; t < T; t++) {
            for (int hh = 0; hh < heads; hh++) {
                int o = (t * heads + hh) * hd;
                for (int i = 0; i < half; i++) {
                    float c = cos[t * half + i], sn = sin[t * half + i];
                    float x1 = y[o + i], x2 = y[o + half + i];
                    y[o + i] = x1 * c - x2 * sn;
                    y[o + half + i] = x2 * c + x1 * sn;
                }
            }
        }
    }
}
