package io.chunkserve.runtime.cuda;

import io.chunkserve.model.ModelConfig;
import io.chunkserve.runtime.ForwardBatch;
import jcuda.driver.CUdeviceptr;

import java.util.function.IntFunction;

/**
 * What the parts of one step's enqueue share (one instance per runner, reused step after step): the step's shape and
 * counts ({@link #plan}), the layout of its host ints and the ints themselves ({@link #fill}: token rows, attention
 * units and tables, logit rows, draw / penalty / log-probability headers, the resident penalty lists' changes), then
 * the device pointers of their sections and the launch parameters, which {@link CudaModelRunner} sets. Host work only:
 * nothing here touches the device.
 */
final class StepInts {
    /** The step's sequences, single-token ones first (the two-phase kernels read their queries as rows 0 .. nDec−1). */
    int[] order = new int[16];
    int S, T, C, logC, h, qDim, kvDim, inter, vocab, hq, hkv, hd, half, A, qt;
    int nDec, units, tableInts, nLog, nGreedy, nDraw, nPen, nEnt, nLp, nDelta, nEntInline, nBias, nBiasEnt;
    boolean tp, resident, decodeOnly;
    int[] penFirst;
    int oUnits, oTables, oRows, oDraw, oPen, oEnt, oLp, oDelta, oBias, oBiasEnt, total;
    int[] in, logSeq, penSlot, lpSeq, biasSlot;
    CUdeviceptr dTok, dPos, dChunk, dSlot, dUnits, dTables, dRows, dDraw, dPen, dEnt, dLp, dDelta, dBias, dBiasEnt;
    long hostStart;
    int p, e, normThreads, skip;
    float eps;
    DeviceBuffer prevIds;

    /**
     * Host side of a step: checks its tokens, orders its sequences (single-token first) and counts its units and rows.
     * {@code twoPhase}: the decode rows go to the two-phase kernels; {@code sampling}, {@code penalties}, {@code logprobs},
     * {@code bias}: whether the runner may draw, penalize, report log-probabilities and add logit_biases on the device
     * (rows marked for what it does not do are refused).
     */
    void plan(ForwardBatch b, ModelConfig cfg, int chunkSize, int actBytes, int qt, boolean twoPhase, int[] prevGreedyIndex,
              boolean sampling, boolean penalties, boolean logprobs, boolean bias) {
        int S = b.size();
        decodeOnly = b.isDecodeOnly();
        int T = b.totalTokens(), C = chunkSize, logC = Integer.numberOfTrailingZeros(C);
        int h = cfg.hiddenSize(), qDim = cfg.qDim(), kvDim = cfg.kvDim(), inter = cfg.intermediateSize(), vocab = cfg.vocabSize();
        int hq = cfg.numHeads(), hkv = cfg.numKvHeads(), hd = cfg.headDim(), half = hd / 2, A = actBytes;
        for (int s = 0; s < S; s++) {
            if (b.previousRow(s) >= 0) {
                if (b.previousRow(s) >= prevGreedyIndex.length || prevGreedyIndex[b.previousRow(s)] < 0) {
                    throw new IllegalStateException("sequence " + s + " takes the token of row " + b.previousRow(s) + ", which the step before did not pick");
                }
                continue;
            }
            for (int i = b.offset(s), e = i + b.count(s); i < e; i++) {
                int tok = b.token(i);
                if (tok < 0 || tok >= vocab) throw new IllegalArgumentException("token id " + tok + " outside the vocabulary");
            }
        }
        // 1. order: single-token sequences first (the two-phase kernels read their queries as rows 0 .. nDec-1)
        if (order.length < S) order = new int[Math.max(S, order.length * 2)];
        int nDec = 0;
        for (int s = 0; s < S; s++) if (b.count(s) == 1) order[nDec++] = s;
        for (int s = 0, k = nDec; s < S; s++) if (b.count(s) != 1) order[k++] = s;
        boolean tp = twoPhase && nDec > 0;
        // 2. the step's ints: tokens, positions, chunks, slots (T each), units (4 per), tables, logit rows
        int units = 0, tableInts = 0;
        for (int i = tp ? nDec : 0; i < S; i++) {
            int s = order[i];
            units += (b.count(s) + qt - 1) / qt;
            tableInts += (b.startPosition(s) + b.count(s) + C - 1) / C;
        }
        int nLog = 0, nGreedy = 0, nDraw = 0, nPen = 0, nEnt = 0, nLp = 0, nBias = 0, nBiasEnt = 0;
        for (int s = 0; s < S; s++) {
            if (b.wantsLogits(s)) {
                nLog++;
                if (b.isGreedy(s)) nGreedy++;
                if (b.isRunnerSampled(s)) nDraw++;
                if (b.isGreedy(s) && b.isPenalized(s)) {
                    nPen++;
                    nEnt += b.penaltyEntries(s);
                }
                if (b.isGreedy(s) && b.wantsRunnerLogprobs(s)) nLp++;
                if (b.isGreedy(s) && b.bias(s) != null) {
                    nBias++;
                    nBiasEnt += b.bias(s).size();
                }
            }
        }
        if (nDraw > 0 && !sampling) throw new IllegalStateException("rows marked for a draw, but this runner does not sample");
        if (nPen > 0 && !penalties) throw new IllegalStateException("rows marked with penalties, but this runner does not apply them");
        if (nLp > 0 && !logprobs) throw new IllegalStateException("rows marked for log-probabilities, but this runner does not report them");
        if (nBias > 0 && !bias) throw new IllegalStateException("rows marked with a logit_bias, but this runner does not add it");
        this.S = S; this.T = T; this.C = C; this.logC = logC; this.qt = qt;
        this.h = h; this.qDim = qDim; this.kvDim = kvDim; this.inter = inter; this.vocab = vocab;
        this.hq = hq; this.hkv = hkv; this.hd = hd; this.half = half; this.A = A;
        this.nDec = nDec; this.tp = tp; this.units = units; this.tableInts = tableInts;
        this.nLog = nLog; this.nGreedy = nGreedy; this.nDraw = nDraw; this.nPen = nPen; this.nEnt = nEnt; this.nLp = nLp;
        this.nBias = nBias; this.nBiasEnt = nBiasEnt;
    }

    /**
     * Fills the step's host ints (after {@link #plan} and the runner's placing of resident penalty lists): token rows,
     * attention units and tables, logit rows, draw/penalty/logprob headers, the lists' changes ({@code deltas}, 3 ints
     * each), the logit_bias headers and entries. {@code ints} returns a host buffer of at least n ints (reused across steps).
     */
    void fill(ForwardBatch b, int[] prevGreedyIndex, int[] deltas, IntFunction<int[]> ints) {
        int oUnits = (4 * T + 3) & ~3, oTables = oUnits + 4 * units, oRows = oTables + tableInts, oDraw = oRows + nLog;
        int oPen = oDraw + 8 * nDraw, oEnt = oPen + 8 * nPen;   // penalized rows' headers (8 ints), their entries (id, count) unless resident
        int oLp = oEnt + 2 * nEntInline;   // rows with log-probabilities: headers (8 ints)
        int oDelta = oLp + 8 * nLp;        // resident lists' changes: (arena position, id, count)
        int oBias = oDelta + 3 * nDelta;   // biased rows: headers (4 ints: first entry, n, logits row, first saved slot)
        int oBiasEnt = oBias + 4 * nBias;  // their entries: (id, bias bits); one saved slot each
        int total = oBiasEnt + 2 * nBiasEnt;
        int[] in = ints.apply(total);
        int row = 0;
        int[] rowOf = new int[S];   // first internal token row of each batch sequence
        for (int i = 0; i < S; i++) {
            int s = order[i], n = b.count(s), start = b.startPosition(s), off = b.offset(s);
            int[] table = b.chunkTable(s);
            if (table.length < (start + n + C - 1) / C) throw new IllegalArgumentException("sequence " + s + ": chunk table too short");
            rowOf[s] = row;
            int prev = b.previousRow(s);
            for (int j = 0; j < n; j++, row++) {
                int pos = start + j;
                in[row] = prev >= 0 ? -1 - prevGreedyIndex[prev] : b.token(off + j);   // (negative: the pick's index in the last ids)
                in[T + row] = pos;
                in[2 * T + row] = table[pos >> logC];
                in[3 * T + row] = pos & (C - 1);
            }
        }
        int u = 0, tOff = 0;
        for (int i = tp ? nDec : 0; i < S; i++) {
            int s = order[i], n = b.count(s), start = b.startPosition(s);
            int chunks = (start + n + C - 1) / C;
            System.arraycopy(b.chunkTable(s), 0, in, oTables + tOff, chunks);
            for (int j = 0; j < n; j += qt, u++) {
                in[oUnits + 4 * u] = tOff;
                in[oUnits + 4 * u + 1] = rowOf[s] + j;
                in[oUnits + 4 * u + 2] = Math.min(qt, n - j);
                in[oUnits + 4 * u + 3] = start + j;
            }
            tOff += chunks;
        }
        // logit rows: sequences that need their logits first, then the greedy ones, then those drawn on the device
        // (their parameters: 1/T, top_k, top_p, min_p, u as two words, the logits row, 0)
        int[] logSeq = new int[nLog];
        int[] penSlot = nPen > 0 ? new int[nLog] : null;   // logits row → first saved slot of a penalized row, else -1
        int[] biasSlot = nBias > 0 ? new int[nLog] : null; // logits row → first bias saved slot of a biased row, else -1
        int bi = 0, be = 0;                                // biased rows and their entries so far
        int li = 0, di = 0, pi = 0, ei = 0, lpi = 0, ii = 0;   // ei: saved slots before the row; ii: inline entries
        int nNeedRows = nLog - nGreedy;
        int[] lpSeq = nLp > 0 ? new int[nLp] : null;
        for (int pass = 0; pass < 3; pass++) {
            for (int s = 0; s < S; s++) {
                if (!b.wantsLogits(s) || (pass == 0 ? b.isGreedy(s) : pass == 1 ? !b.isGreedy(s) || b.isRunnerSampled(s) : !b.isRunnerSampled(s))) continue;
                if (pass == 2) {
                    int o = oDraw + 8 * di++;
                    long ub = Double.doubleToRawLongBits(b.draw(s));
                    in[o] = Float.floatToRawIntBits(b.inverseTemperature(s));
                    in[o + 1] = b.topK(s);
                    in[o + 2] = Float.floatToRawIntBits(b.topP(s));
                    in[o + 3] = Float.floatToRawIntBits(b.minP(s));
                    in[o + 4] = (int) ub;
                    in[o + 5] = (int) (ub >>> 32);
                    in[o + 6] = li;
                    in[o + 7] = 0;
                }
                if (pass > 0 && b.isPenalized(s)) {
                    int o = oPen + 8 * pi, n = b.penaltyEntries(s), prev = b.previousRow(s);
                    in[o] = resident ? penFirst[s] : ii;
                    in[o + 1] = n;
                    in[o + 2] = prev >= 0 ? prevGreedyIndex[prev] : -1;   // the pick of the step before, not in the list yet
                    in[o + 3] = Float.floatToRawIntBits(b.repetitionPenalty(s));
                    in[o + 4] = Float.floatToRawIntBits(b.presencePenalty(s));
                    in[o + 5] = Float.floatToRawIntBits(b.frequencyPenalty(s));
                    in[o + 6] = li;
                    in[o + 7] = ei + pi;   // n + 1 saved slots a row
                    penSlot[li] = ei + pi;
                    if (!resident) {
                        int[] pid = b.penaltyIds(s), pc = b.penaltyCounts(s);
                        for (int j = 0, q = oEnt + 2 * ii; j < n; j++, q += 2) {
                            in[q] = pid[j];
                            in[q + 1] = pc[j];
                        }
                        ii += n;
                    }
                    ei += n;
                    pi++;
                } else if (penSlot != null) {
                    penSlot[li] = -1;
                }
                io.chunkserve.sampling.LogitBias bias = pass > 0 ? b.bias(s) : null;
                if (bias != null) {
                    int o = oBias + 4 * bi++, n = bias.size();
                    in[o] = be;
                    in[o + 1] = n;
                    in[o + 2] = li;
                    in[o + 3] = be;
                    biasSlot[li] = be;
                    for (int j = 0, q = oBiasEnt + 2 * be; j < n; j++, q += 2) {
                        in[q] = bias.id(j);
                        in[q + 1] = Float.floatToRawIntBits(bias.value(j));
                    }
                    be += n;
                } else if (biasSlot != null) {
                    biasSlot[li] = -1;
                }
                if (pass > 0 && b.wantsRunnerLogprobs(s)) {
                    int o = oLp + 8 * lpi;
                    boolean pen = b.isPenalized(s);
                    in[o] = li;
                    in[o + 1] = li - nNeedRows;   // its pick's index in the ids
                    in[o + 2] = pen ? penSlot[li] : -1;
                    in[o + 3] = pen ? b.penaltyEntries(s) + 1 : 0;
                    in[o + 4] = b.topLogprobs(s);
                    in[o + 5] = bias != null ? biasSlot[li] : -1;   // restored after the penalties' pairs
                    in[o + 6] = bias != null ? bias.size() : 0;
                    in[o + 7] = 0;
                    lpSeq[lpi++] = s;
                }
                logSeq[li] = s;
                in[oRows + li++] = rowOf[s] + b.count(s) - 1;
            }
        }
        if (nDelta > 0) System.arraycopy(deltas, 0, in, oDelta, 3 * nDelta);
        this.oUnits = oUnits; this.oTables = oTables; this.oRows = oRows; this.oDraw = oDraw;
        this.oPen = oPen; this.oEnt = oEnt; this.oLp = oLp; this.oDelta = oDelta; this.oBias = oBias; this.oBiasEnt = oBiasEnt;
        this.total = total;
        this.in = in;
        this.logSeq = logSeq;
        this.penSlot = penSlot;
        this.biasSlot = biasSlot;
        this.lpSeq = lpSeq;
    }
}
