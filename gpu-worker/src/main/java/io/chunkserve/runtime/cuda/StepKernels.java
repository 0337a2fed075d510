package io.chunkserve.runtime.cuda;

import io.chunkserve.model.DType;
import io.chunkserve.model.ModelConfig;
import io.chunkserve.runtime.ForwardBatch;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUmodule;

import java.util.function.IntConsumer;

/**
 * The device work of one {@link CudaModelRunner} step, as the runner's {@link StepInts} plan it: model.cu's kernels
 * (looked up once), the step's scratch buffers (grown as needed; the logits, picks and log-probabilities per step
 * parity, so that a step queued behind another does not overwrite what is still to be read), and the launch sequence —
 * embedding and RoPE tables; per layer RMSNorm → q|k|v GEMM → epilogue (bias, q/k norm, RoPE, KV append) → attention
 * (two-phase for the decode rows, the generic causal kernel for the rest) → o GEMM into the fp32 residual → RMSNorm →
 * gate|up GEMM (SiLU·mul fused where the skinny kernel runs it) → down GEMM into the residual; then the final norm and
 * LM head for the rows that want logits, penalties, picks and log-probabilities. The engine thread's only.
 */
final class StepKernels implements AutoCloseable {
    static final int LP_STRIDE = 2 + 2 * ForwardBatch.MAX_TOP_LOGPROBS;   // model.cu CS_LP_STRIDE

    private final CudaDevice device;
    private final ModelConfig cfg;
    private final DeviceWeights w;
    private final StepInts sp;
    private final DeviceBuffer[] kSlabs, vSlabs;
    private final CudaAttention twoPhase;         // null when it does not apply
    private final Cublas blas;
    private final SkinnyGemm skinny;              // null in the exact mode or when disabled
    private final DevicePenalties penalties;
    private final OpProfile ops;
    private final DeviceWeights.Precision precision;
    private final long fEmbed, fNorm, fRope, fPost, fAttn, fSilu, fArgmax, fSample, fPenalize, fPenScatter, fLogprobs, fConvert, fBias;
    /**
     * The tensor-core prefill attention (model.cu attn_prefill_tc: bf16 activations, f16 / bf16 KV, head dims 64 and 128;
     * 0 elsewhere) and its dynamic shared memory; used instead of the fp32 kernel while {@link #tcPrefill}
     * (-Dchunkserve.cuda.prefillAttn=scalar: the fp32 kernel, as before session 20).
     */
    private final long fAttnTc;
    private final int attnTcSmem;
    private boolean tcPrefill = !"scalar".equals(System.getProperty("chunkserve.cuda.prefillAttn"));
    /** RMSNorm threads a block (-Dchunkserve.cuda.normThreads; 0: by the hidden size). */
    private final int normThreadsProp = Integer.getInteger("chunkserve.cuda.normThreads", 0);
    // -Dchunkserve.cuda.fuseSilu=false: the gate|up GEMM writes fp32 and the SiLU·mul kernel runs (A/B)
    private final boolean fuseSiluMul = !"false".equals(System.getProperty("chunkserve.cuda.fuseSilu"));
    // the model.cu kernels of a layer launch as programmatic dependents (sm_90+; -Dchunkserve.cuda.pdl=false: plain)
    private final boolean pdl;
    private final int attnThreads;                // 64 rows × max(1, D/32) threads per row (model.cu AttnShape)
    private final float scaleLog2;
    private final DeviceBuffer invFreq;
    private final Launcher k = new Launcher();
    private long penalizedRows, logprobRows, biasedRows;

    // scratch, grown as needed
    private DeviceBuffer x, hn, qkv, q16, att, att16, gu, act, cosT, sinT, lastN;
    private final DeviceBuffer[] lg = new DeviceBuffer[2], ids = new DeviceBuffer[2];   // per step parity
    private final DeviceBuffer[] lpOut = new DeviceBuffer[2];      // per parity: cs_logprobs' results
    private final DeviceBuffer[] biasSaved = new DeviceBuffer[2];  // per parity: the raw logits cs_bias replaced

    StepKernels(CudaDevice device, CUmodule module, ModelConfig cfg, DeviceWeights w, DType kvType, StepInts sp,
                DeviceBuffer[] kSlabs, DeviceBuffer[] vSlabs, CudaAttention twoPhase, Cublas blas, SkinnyGemm skinny,
                DevicePenalties penalties, OpProfile ops, boolean pdl) {
        this.device = device;
        this.cfg = cfg;
        this.w = w;
        this.sp = sp;
        this.kSlabs = kSlabs;
        this.vSlabs = vSlabs;
        this.twoPhase = twoPhase;
        this.blas = blas;
        this.skinny = skinny;
        this.penalties = penalties;
        this.ops = ops;
        this.pdl = pdl;
        this.precision = w.precision();
        int hd = cfg.headDim();
        String a = precision.suffix, kv = switch (kvType) {
            case F32 -> "f32";
            case F16 -> "f16";
            case BF16 -> "bf16";
        };
        fEmbed = Launcher.handle(CudaDevice.function(module, "cs_embed_" + a));
        fNorm = Launcher.handle(CudaDevice.function(module, "cs_rmsnorm_" + a));
        fRope = Launcher.handle(CudaDevice.function(module, "cs_rope_table"));
        // the q/k/v epilogue with a head in registers (head dims 64 and 128; -Dchunkserve.cuda.postReg=false: the loop kernel)
        boolean postReg = (hd == 64 || hd == 128) && !"false".equals(System.getProperty("chunkserve.cuda.postReg"));
        fPost = Launcher.handle(CudaDevice.function(module, postReg ? "cs_qkv_post_reg_" + kv + "_d" + hd : "cs_qkv_post_" + kv));
        fAttn = Launcher.handle(CudaDevice.function(module, "cs_attn_prefill_" + kv + "_" + a + "_d" + hd));
        if (precision == DeviceWeights.Precision.BF16 && kvType != DType.F32 && (hd == 64 || hd == 128)) {
            attnTcSmem = 4 * 64 * hd * 2;   // K and V tiles of 64 keys, two stages
            jcuda.driver.CUfunction f = CudaDevice.function(module, "cs_attn_prefill_tc_" + kv + "_d" + hd);
            CudaDevice.setDynamicShared(f, attnTcSmem);
            fAttnTc = Launcher.handle(f);
        } else {
            attnTcSmem = 0;
            fAttnTc = 0;
        }
        fSilu = Launcher.handle(CudaDevice.function(module, "cs_silu_mul_" + a));
        fArgmax = Launcher.handle(CudaDevice.function(module, "cs_argmax"));
        fSample = Launcher.handle(CudaDevice.function(module, "cs_sample"));
        fPenalize = Launcher.handle(CudaDevice.function(module, "cs_penalize"));
        fPenScatter = Launcher.handle(CudaDevice.function(module, "cs_pen_scatter"));
        fLogprobs = Launcher.handle(CudaDevice.function(module, "cs_logprobs"));
        fBias = Launcher.handle(CudaDevice.function(module, "cs_bias"));
        fConvert = kvType == DType.F16 ? Launcher.handle(CudaDevice.function(module, "cs_convert_f16_bf16")) : 0;
        attnThreads = 64 * (hd >= 64 ? hd / 32 : 1);
        scaleLog2 = (float) (1.0 / Math.sqrt(hd) / Math.log(2.0));
        invFreq = DeviceBuffer.allocate(4L * (hd / 2));
        invFreq.upload(cfg.rope().inverseFrequencies(hd));
    }

    /** The device picks of parity p's step (one int a greedy-marked row; −1: left to the host sampler). */
    DeviceBuffer ids(int parity) { return ids[parity]; }

    /** Parity p's fp32 logits rows (the rows that want logits, in the step's order). */
    DeviceBuffer logits(int parity) { return lg[parity]; }

    /** Parity p's cs_logprobs results ({@link #LP_STRIDE} ints a row). */
    DeviceBuffer logprobs(int parity) { return lpOut[parity]; }

    /** Rows penalized on the device so far. */
    long penalizedRows() { return penalizedRows; }

    /** Rows whose log-probabilities came from the device so far. */
    long logprobRows() { return logprobRows; }

    /** Rows whose logit_bias was added on the device so far. */
    long biasedRows() { return biasedRows; }

    /**
     * Whether the attention of rows outside the two-phase kernels runs on tensor cores (where it can); false: fp32.
     * diag (benchmarks), with it on: 1 = the fp32 kernel runs too, after it (the fp32 output kept), 2 = before it.
     */
    void setTensorCorePrefill(boolean on, int diag) {
        tcPrefill = on;
        prefillDiag = diag;
    }

    private int prefillDiag;

    /** Whether it does now (a model and precision it applies to, and not switched off). */
    boolean tensorCorePrefill() { return tcPrefill && fAttnTc != 0; }

    /**
     * A picked row the device left to the host sampler (a non-finite logit), downloaded: back to its raw logits —
     * cs_penalize's saved pairs (the biased values), then cs_bias's (the raw ones).
     */
    void restoreRaw(float[] logits, LaunchedStep st, int row, int seq, int vocab) {
        ForwardBatch b = st.b;
        if (st.penSlot != null && st.penSlot[row] >= 0) penalties.restoreRaw(logits, seq, st.penSlot[row], b.penaltyEntries(seq), vocab, st.parity);
        if (st.biasSlot != null && st.biasSlot[row] >= 0) {
            DevicePenalties.restorePairs(logits, seq, biasSaved[st.parity], st.biasSlot[row], b.bias(seq).size(), vocab);
        }
    }

    /** Sets the picks of a step's rows with device log-probabilities from cs_logprobs' results {@code r} (rows lpSeq). */
    static void setLogprobs(ForwardBatch b, int[] lpSeq, int[] r) {
        for (int q = 0; q < lpSeq.length; q++) {
            int s = lpSeq[q], o = LP_STRIDE * q;
            if (b.sampled(s) < 0) continue;   // no pick: the host sampler decides, log-probabilities included
            int kk = r[o + 1];
            int[] top = new int[kk];
            float[] lps = new float[kk];
            for (int j = 0; j < kk; j++) {
                top[j] = r[o + 2 + 2 * j];
                lps[j] = Float.intBitsToFloat(r[o + 3 + 2 * j]);
            }
            b.setSampled(s, new io.chunkserve.sampling.SampledToken(b.sampled(s), Float.intBitsToFloat(r[o]), top, lps));
        }
    }

    /** Sizes the step's scratch buffers and, when the two-phase kernels apply, prepares their plan for the decode rows. */
    void ensureScratch(ForwardBatch b) {
        int T = sp.T, h = sp.h, qDim = sp.qDim, kvDim = sp.kvDim, inter = sp.inter, half = sp.half, A = sp.A, nDec = sp.nDec;
        boolean tp = sp.tp;
        // 3. scratch
        x = DeviceBuffer.atLeast(x, 4L * T * h);
        hn = DeviceBuffer.atLeast(hn, (long) A * T * Math.max(h, Math.max(qDim, inter)));
        qkv = DeviceBuffer.atLeast(qkv, 4L * T * (qDim + 2 * kvDim));
        att = DeviceBuffer.atLeast(att, (long) A * T * qDim);
        gu = DeviceBuffer.atLeast(gu, 8L * T * inter);
        act = DeviceBuffer.atLeast(act, (long) A * T * inter);
        cosT = DeviceBuffer.atLeast(cosT, 4L * T * half);
        sinT = DeviceBuffer.atLeast(sinT, 4L * T * half);
        if (tp) {
            q16 = DeviceBuffer.atLeast(q16, 2L * nDec * qDim);
            if (fConvert != 0) att16 = DeviceBuffer.atLeast(att16, 2L * nDec * qDim);
            int[][] tables = new int[nDec][];
            int[] lengths = new int[nDec];
            for (int i = 0; i < nDec; i++) {
                tables[i] = b.chunkTable(sp.order[i]);
                lengths[i] = b.startPosition(sp.order[i]) + 1;
            }
            twoPhase.prepare(tables, lengths, true);
        }
    }

    /**
     * Queues the embedding, the RoPE tables and every decoder layer; {@code queued} hears the count after each layer
     * but the last (the runner's host work may run there). skipOps, partialsDiag: diagnostics of decode-only steps.
     */
    void layers(ForwardBatch b, int skipOps, int partialsDiag, IntConsumer queued) {
        int T = sp.T, logC = sp.logC, h = sp.h, qDim = sp.qDim, kvDim = sp.kvDim, inter = sp.inter;
        int hq = sp.hq, hkv = sp.hkv, hd = sp.hd, half = sp.half, nDec = sp.nDec, units = sp.units;
        boolean tp = sp.tp;
        CUdeviceptr dTok = sp.dTok, dPos = sp.dPos, dChunk = sp.dChunk, dSlot = sp.dSlot, dUnits = sp.dUnits, dTables = sp.dTables;
        DeviceBuffer prevIds = sp.prevIds;
        // 4. embedding and RoPE tables
        k.begin().ptr(w.embed()).ptr(dTok).ptr(prevIds).ptr(x).i32(h).launch(fEmbed, T, 1, 256, 0);
        k.begin().ptr(dPos).ptr(invFreq).ptr(cosT).ptr(sinT).i32(T).i32(half)
                .launch(fRope, Math.max(1, Math.min((T * half + 255) / 256, 4096)), 1, 256, 0);
        float eps = cfg.rmsNormEps();
        int normThreads = normThreadsProp > 0 ? normThreadsProp : h >= 4096 ? 1024 : h >= 1024 ? 512 : h >= 256 ? 256 : 64;
        long wqkvN = qDim + 2L * kvDim;
        long siluN = (long) T * inter;
        int postBlocksY = (hq + 2 * hkv + 7) / 8;   // one warp per head, 8 warps a block
        // SiLU·mul in the gate|up GEMM's epilogue (bf16, interleaved gate|up rows, the wide skinny kernel's T range)
        boolean fuseSilu = fuseSiluMul && skinny != null && w.gateUpInterleaved() && skinny.fusesSiluMul(T, 2 * inter, h);
        int siluBlocks = (int) Math.min((siluN / 4 + 255) / 256 + 1, 8L * device.multiprocessors() * 8);   // (4 elements a thread when inter % 4 == 0)
        final int skip = b.isDecodeOnly() ? skipOps : 0;   // diagnostics only (setSkipOps)
        if (twoPhase != null) twoPhase.skipMerge((skip & 256) != 0);   // "merge": the partials alone
        if (twoPhase != null) twoPhase.skipPrivate((skip & 512) != 0);   // "private": the partials' block items alone
        if (twoPhase != null) twoPhase.partialsDiag(b.isDecodeOnly() ? partialsDiag : 0);
        sp.eps = eps;
        sp.normThreads = normThreads;
        sp.skip = skip;
        // 5. layers
        for (int l = 0; l < cfg.numLayers(); l++) {
            DeviceWeights.Layer L = w.layer(l);
            ops.mark(OpProfile.C_NORM);
            boolean zq = zeroFirst(T, (int) wqkvN, h);
            k.begin().ptr(x).ptr((Pointer) null).ptr(L.attnNorm()).ptr(hn).i32(h).f32(eps).ptr(zq ? qkv : null).i32(zq ? (int) (T * wqkvN) : 0);
            if ((skip & 4) == 0) launch(fNorm, T, 1, normThreads);
            ops.mark(OpProfile.C_QKV);
            if ((skip & 8) == 0) gemm(L.wqkv(), hn, qkv, T, (int) wqkvN, h, false, zq);
            ops.mark(OpProfile.C_POST);
            if ((skip & 2) == 0) {
                k.begin().ptr(qkv).ptr(L.bias()).ptr(L.qNorm()).ptr(L.kNorm()).ptr(cosT).ptr(sinT).ptr(kSlabs[l]).ptr(vSlabs[l])
                        .ptr(dChunk).ptr(dSlot).ptr(tp ? q16 : null).i32(tp ? nDec : 0).i32(hq).i32(hkv).i32(hd).i32(logC).f32(eps);
                launch(fPost, T, postBlocksY, 256);
            }
            ops.mark(OpProfile.C_ATTN);
            if (tp && (skip & 1) == 0) {
                if (fConvert == 0) {
                    twoPhase.decode(l, q16.ptr(), att.ptr());
                } else {
                    twoPhase.decode(l, q16.ptr(), att16.ptr());
                    long n = (long) nDec * qDim;
                    k.begin().ptr(att16).ptr(att).i64(n).launch(fConvert, (int) Math.min((n + 255) / 256, 4096), 1, 256, 0);
                }
            }
            if (units > 0) {
                k.begin().ptr(qkv).ptr(kSlabs[l]).ptr(vSlabs[l]).ptr(dUnits).ptr(dTables).ptr(att).i32(hq).i32(hkv).i32(logC).f32(scaleLog2);
                if (tensorCorePrefill()) {
                    if (prefillDiag == 2) k.launch(fAttn, units, hkv, attnThreads, 0);   // diagnostics: both, the tensor cores' output kept
                    k.launch(fAttnTc, units, hkv, 128, attnTcSmem);
                    if (prefillDiag == 1) k.launch(fAttn, units, hkv, attnThreads, 0);   // diagnostics: both, the fp32 output kept
                } else {
                    k.launch(fAttn, units, hkv, attnThreads, 0);
                }
            }
            ops.mark(OpProfile.C_O);
            // diagnostics (CudaAttention.armTimeline): after a captured partials launch, the o projection's timeline too
            boolean tlO = tp && skinny != null && twoPhase.takeCaptured();
            if (tlO) skinny.armTimeline(true);
            if ((skip & 16) == 0) gemm(L.wo(), att, x, T, h, qDim, true, false);
            if (tlO) skinny.armTimeline(false);
            ops.mark(OpProfile.C_NORM);
            boolean zg = !fuseSilu && zeroFirst(T, 2 * inter, h);
            k.begin().ptr(x).ptr((Pointer) null).ptr(L.mlpNorm()).ptr(hn).i32(h).f32(eps).ptr(zg ? gu : null).i32(zg ? T * 2 * inter : 0);
            if ((skip & 4) == 0) launch(fNorm, T, 1, normThreads);
            ops.mark(OpProfile.C_GU);
            if ((skip & 32) != 0) {
                // diagnostics: gate|up (and SiLU·mul) left out
            } else if (fuseSilu) {
                skinny.runSiluMul(Cublas.address(L.wgu().ptr()), Cublas.address(hn.ptr()), Cublas.address(act.ptr()), T, 2 * inter, h);
            } else {
                gemm(L.wgu(), hn, gu, T, 2 * inter, h, false, zg);
                ops.mark(OpProfile.C_SILU);
                k.begin().ptr(gu).ptr(act).i64(siluN).i32(inter).i32(w.gateUpInterleaved() ? 1 : 0);
                launch(fSilu, siluBlocks, 1, 256);
            }
            ops.mark(OpProfile.C_DOWN);
            if ((skip & 64) == 0) gemm(L.wdown(), act, x, T, h, inter, true, false);
            if (l + 1 < cfg.numLayers()) queued.accept(l + 1);
        }
    }

    /**
     * Queues the final norm and LM head for the rows that want logits, then the penalties, the device's picks (argmax or
     * draw) and log-probabilities of the greedy-marked ones into {@link #ids} / {@link #logprobs} of the step's parity.
     */
    void head() {
        int h = sp.h, vocab = sp.vocab, A = sp.A, nLog = sp.nLog, nGreedy = sp.nGreedy, nDraw = sp.nDraw, nPen = sp.nPen, nEnt = sp.nEnt;
        int nLp = sp.nLp, nDelta = sp.nDelta, p = sp.p, normThreads = sp.normThreads, skip = sp.skip;
        boolean resident = sp.resident;
        float eps = sp.eps;
        int[] logSeq = sp.logSeq;
        DeviceBuffer prevIds = sp.prevIds;
        CUdeviceptr dRows = sp.dRows, dDraw = sp.dDraw, dPen = sp.dPen, dEnt = sp.dEnt, dLp = sp.dLp, dDelta = sp.dDelta;
        // 6. final norm and LM head for the rows that want logits; greedy ones picked on the device
        lastN = DeviceBuffer.atLeast(lastN, (long) A * nLog * h);
        lg[p] = DeviceBuffer.atLeast(lg[p], 4L * nLog * vocab);
        k.begin().ptr(x).ptr(dRows).ptr(w.norm()).ptr(lastN).i32(h).f32(eps).ptr((Pointer) null).i32(0);
        if ((skip & 128) == 0) {   // diagnostics: the final norm and LM head left out (the argmax reads stale logits)
            launch(fNorm, nLog, 1, normThreads);
            gemm(w.lmHead(), lastN, lg[p], nLog, vocab, h, false, false);
        }
        int nNeed = nLog - nGreedy;
        if (nGreedy > 0) {
            ids[p] = DeviceBuffer.atLeast(ids[p], 4L * nGreedy);
            if (sp.nBias > 0) {   // the logit_bias first, then the penalties (the host sampler's order)
                biasSaved[p] = DeviceBuffer.atLeast(biasSaved[p], 8L * sp.nBiasEnt);
                k.begin().ptr(lg[p]).i32(vocab).ptr(sp.dBias).ptr(sp.dBiasEnt).ptr(biasSaved[p]).launch(fBias, sp.nBias, 1, 256, 0);
                biasedRows += sp.nBias;
            }
            if (nPen > 0) {
                DeviceBuffer saved = penalties.saved(p, 8L * (nEnt + nPen));
                if (nDelta > 0) k.begin().ptr(penalties.arenaBuffer()).ptr(dDelta).i32(nDelta).launch(fPenScatter, (nDelta + 255) / 256, 1, 256, 0);
                k.begin().ptr(lg[p]).i32(vocab).ptr(dPen).ptr(resident ? penalties.arenaBuffer().ptr() : dEnt).ptr(prevIds).ptr(saved).launch(fPenalize, nPen, 1, 256, 0);
                penalizedRows += nPen;
            }
            int nArg = nGreedy - nDraw;
            if (nArg > 0) k.begin().ptr(lg[p].at(4L * nNeed * vocab)).i32(vocab).ptr(ids[p]).launch(fArgmax, nArg, 1, 1024, 0);
            if (nDraw > 0) k.begin().ptr(lg[p]).i32(vocab).ptr(dDraw).ptr(ids[p].at(4L * nArg)).launch(fSample, nDraw, 1, 512, 0);
            if (nLp > 0) {
                lpOut[p] = DeviceBuffer.atLeast(lpOut[p], 4L * LP_STRIDE * nLp);
                k.begin().ptr(lg[p]).i32(vocab).ptr(dLp).ptr(ids[p]).ptr(nPen > 0 ? penalties.saved(p) : null)
                        .ptr(sp.nBias > 0 ? biasSaved[p] : null).ptr(lpOut[p]).launch(fLogprobs, nLp, 1, 512, 0);
                logprobRows += nLp;
            }
        }
    }

    /**
     * Launches the kernel whose arguments {@link #k} holds: as a programmatic dependent of the kernel before it
     * where that is on (sm_90+; the model.cu kernels wait for it in {@code pdl_wait} first), else plainly.
     */
    private void launch(long f, int gx, int gy, int threads) {
        if (pdl) k.launchDependent(f, gx, gy, threads, 0);
        else k.launch(f, gx, gy, threads, 0);
    }

    /** Whether the GEMM y = x·Wᵀ of this shape adds k-slices atomically into y, which must be zeroed first. */
    private boolean zeroFirst(int T, int n, int k) {
        return skinny != null && skinny.prefers(T, n, k) && skinny.splitsK(T, n, k);
    }

    /** y (T, n) fp32 = x (T, k) · Wᵀ (+ y when accumulate), in the precision's types; yZeroed: see zeroFirst. */
    private void gemm(DeviceBuffer wm, DeviceBuffer xin, DeviceBuffer y, int T, int n, int k, boolean accumulate, boolean yZeroed) {
        if (skinny != null && skinny.prefers(T, n, k)) {
            skinny.run(Cublas.address(wm.ptr()), Cublas.address(xin.ptr()), Cublas.address(y.ptr()), T, n, k, accumulate, yZeroed);
            return;
        }
        blas.linear(Cublas.address(wm.ptr()), precision.cudaType, Cublas.address(xin.ptr()), precision.cudaType,
                Cublas.address(y.ptr()), T, n, k, accumulate);
    }



    @Override
    public void close() {
        for (DeviceBuffer d : new DeviceBuffer[] {x, hn, qkv, q16, att, att16, gu, act, cosT, sinT, lastN, lg[0], lg[1], ids[0], ids[1], lpOut[0], lpOut[1],
                biasSaved[0], biasSaved[1], invFreq}) {
            if (d != null) d.close();
        }
        if (skinny != null) skinny.close();   // its split-k workspace; the GEMMs are this class's
    }
}
