package io.chunkserve.runtime.cuda;

import io.chunkserve.bench.RandomModel;
import io.chunkserve.model.ModelConfig;
import io.chunkserve.runtime.ForwardBatch;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The host ints of one CUDA step ({@link StepInts}), which the kernels read by position: a mixed batch (a prefill
 * whose logits the host samples, a greedy decode with a logit_bias, a decode drawn on the device with a logit_bias,
 * penalties and log-probabilities)
 * laid out section by section as model.cu and the sampling kernels expect — decodes first, every header field in its
 * slot. Host code only: runs without a GPU.
 */
class StepIntsTest {
    static final ModelConfig CFG = RandomModel.shape("smollm2-135m");
    static final int QT = Math.max(1, 64 / CFG.groupSize());

    static ForwardBatch mixed(int[] penIds, int[] penCounts) {
        ForwardBatch b = new ForwardBatch();
        b.add(new int[] {11, 12, 13, 14, 15}, 0, 5, 0, new int[] {7}, true);                   // prefill, host-sampled logits
        b.add(new int[] {21}, 0, 1, 70, new int[] {3, 9}, true).markGreedy()                   // greedy decode
                .markBias(io.chunkserve.sampling.LogitBias.of(java.util.Map.of(5, 1.0)));
        b.add(new int[] {31}, 0, 1, 130, new int[] {4, 5, 6}, true)                              // drawn on the device
                .markSampled(0.5, 40, 0.9, 0.05, 0.25)
                .markPenalties(1.1f, 0.2f, 0.3f, penIds, penCounts, penIds.length)
                .markBias(io.chunkserve.sampling.LogitBias.of(java.util.Map.of(4000, -100.0, 100, 2.5)))
                .markLogprobs(3);
        return b;
    }

    @Test
    void aMixedBatchIsLaidOutAsTheKernelsRead() {
        int[] penIds = {100, 200}, penCounts = {2, 1};
        ForwardBatch b = mixed(penIds, penCounts);
        StepInts sp = new StepInts();
        sp.plan(b, CFG, 64, 2, QT, true, new int[0], true, true, true, true);
        assertArrayEquals(new int[] {1, 2, 0}, java.util.Arrays.copyOf(sp.order, 3), "decodes first, then the prefill");
        assertEquals(2, sp.nDec);
        assertTrue(sp.tp);
        assertEquals(3, sp.S);
        assertEquals(7, sp.T);
        assertEquals(1, sp.units, "the prefill's 5 tokens in one unit of ≤ " + QT);
        assertEquals(1, sp.tableInts, "only the non-decode sequences' tables (the two-phase plan has the others)");
        assertEquals(3, sp.nLog);
        assertEquals(2, sp.nGreedy);
        assertEquals(1, sp.nDraw);
        assertEquals(1, sp.nPen);
        assertEquals(2, sp.nEnt);
        assertEquals(1, sp.nLp);
        assertEquals(2, sp.nBias);
        assertEquals(3, sp.nBiasEnt);
        // the runner's part between plan and fill, lists not resident: entries go inline
        sp.resident = false;
        sp.penFirst = null;
        sp.nDelta = 0;
        sp.nEntInline = sp.nEnt;
        sp.fill(b, new int[0], new int[0], int[]::new);
        int[] in = sp.in;
        int T = 7;
        assertArrayEquals(new int[] {21, 31, 11, 12, 13, 14, 15}, java.util.Arrays.copyOfRange(in, 0, T), "tokens");
        assertArrayEquals(new int[] {70, 130, 0, 1, 2, 3, 4}, java.util.Arrays.copyOfRange(in, T, 2 * T), "positions");
        assertArrayEquals(new int[] {9, 6, 7, 7, 7, 7, 7}, java.util.Arrays.copyOfRange(in, 2 * T, 3 * T), "chunk ids");
        assertArrayEquals(new int[] {6, 2, 0, 1, 2, 3, 4}, java.util.Arrays.copyOfRange(in, 3 * T, 4 * T), "slots");
        assertEquals(28, sp.oUnits, "units after 4·T ints, aligned to 4");
        assertArrayEquals(new int[] {0, 2, 5, 0}, java.util.Arrays.copyOfRange(in, sp.oUnits, sp.oUnits + 4), "unit: table offset, first row, tokens, start");
        assertEquals(7, in[sp.oTables], "the prefill's chunk table");
        // logit rows: host-sampled first, then greedy, then drawn on the device; each a sequence's last token row
        assertArrayEquals(new int[] {6, 0, 1}, java.util.Arrays.copyOfRange(in, sp.oRows, sp.oRows + 3));
        assertArrayEquals(new int[] {0, 1, 2}, sp.logSeq);
        long u = Double.doubleToRawLongBits(0.25);
        assertArrayEquals(new int[] {Float.floatToRawIntBits(2f), 40, Float.floatToRawIntBits(0.9f), Float.floatToRawIntBits(0.05f),
                (int) u, (int) (u >>> 32), 2, 0}, java.util.Arrays.copyOfRange(in, sp.oDraw, sp.oDraw + 8), "draw header");
        assertArrayEquals(new int[] {0, 2, -1, Float.floatToRawIntBits(1.1f), Float.floatToRawIntBits(0.2f), Float.floatToRawIntBits(0.3f), 2, 0},
                java.util.Arrays.copyOfRange(in, sp.oPen, sp.oPen + 8), "penalty header: inline entries from 0, 2 of them, no previous pick, logits row 2, slot 0");
        assertArrayEquals(new int[] {100, 2, 200, 1}, java.util.Arrays.copyOfRange(in, sp.oEnt, sp.oEnt + 4), "inline (id, count) entries");
        assertArrayEquals(new int[] {2, 1, 0, 3, 3, 1, 2, 0}, java.util.Arrays.copyOfRange(in, sp.oLp, sp.oLp + 8),
                "logprob header: logits row, index of its pick among the picks, first saved slot, slots, top-k, first bias slot, bias slots");
        assertArrayEquals(new int[] {-1, -1, 0}, sp.penSlot);
        assertArrayEquals(new int[] {2}, sp.lpSeq);
        assertEquals(sp.oLp + 8, sp.oDelta);
        assertEquals(sp.oDelta, sp.oBias, "no list changes");
        assertArrayEquals(new int[] {0, 1, 1, 0, 1, 2, 2, 1}, java.util.Arrays.copyOfRange(in, sp.oBias, sp.oBias + 8),
                "bias headers in logits-row order: first entry, entries, logits row, first saved slot");
        assertEquals(sp.oBias + 8, sp.oBiasEnt);
        assertArrayEquals(new int[] {5, Float.floatToRawIntBits(1f), 100, Float.floatToRawIntBits(2.5f), 4000, Float.floatToRawIntBits(-100f)},
                java.util.Arrays.copyOfRange(in, sp.oBiasEnt, sp.oBiasEnt + 6), "bias entries (id, value bits), ids ascending");
        assertEquals(sp.oBiasEnt + 6, sp.total);
        assertArrayEquals(new int[] {-1, 0, 1}, sp.biasSlot);
    }

    @Test
    void rowsMarkedForWhatTheRunnerDoesNotDoAreRefused() {
        ForwardBatch b = mixed(new int[] {1}, new int[] {1});
        StepInts sp = new StepInts();
        assertThrows(IllegalStateException.class, () -> sp.plan(b, CFG, 64, 2, QT, true, new int[0], false, true, true, true));
        assertThrows(IllegalStateException.class, () -> sp.plan(b, CFG, 64, 2, QT, true, new int[0], true, false, true, true));
        assertThrows(IllegalStateException.class, () -> sp.plan(b, CFG, 64, 2, QT, true, new int[0], true, true, false, true));
        assertThrows(IllegalStateException.class, () -> sp.plan(b, CFG, 64, 2, QT, true, new int[0], true, true, true, false));
        ForwardBatch bad = new ForwardBatch().add(new int[] {CFG.vocabSize()}, 0, 1, 0, new int[] {0}, true);
        StepInts s2 = new StepInts();
        assertThrows(IllegalArgumentException.class, () -> s2.plan(bad, CFG, 64, 2, QT, true, new int[0], true, true, true, true));
    }
}
