package io.chunkserve.runtime;

import io.chunkserve.sampling.SampledToken;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The marks a runner reads beside a row it picks: penalties (a held list) and log-probabilities; reset per row and per step. */
class ForwardBatchMarksTest {

    @Test
    void penaltyAndLogprobMarksFollowTheirRows() {
        ForwardBatch b = new ForwardBatch();
        int[] table = {0};
        int[] ids = {4, 9, 2}, counts = {0, 3, 1};
        b.add(new int[] {1, 2}, 0, 2, 0, table, true);
        assertThrows(IllegalStateException.class, () -> b.markPenalties(1.1f, 0, 0, ids, counts, 3), "a row the runner does not pick");
        assertThrows(IllegalStateException.class, () -> b.markLogprobs(2));
        b.markGreedy().markPenalties(1.1f, 0.5f, 0.25f, ids, counts, 2).markLogprobs(5);
        b.add(new int[] {3}, 0, 1, 2, table, true).markSampled(0.8, 0, 0.9, 0, 0.5);
        b.add(new int[] {3}, 0, 1, 2, table, true).markSampled(0.8, 0, 0.9, 0, 0.5).markPenalties(1f, 0f, 0.3f, ids, counts, 3);
        for (int s = 0; s < 40; s++) b.add(new int[] {5}, 0, 1, 1, table, true);   // grows every array
        assertEquals(2, b.penalizedRows());
        assertTrue(b.isPenalized(0) && !b.isPenalized(1) && b.isPenalized(2) && !b.isPenalized(3));
        assertEquals(1.1f, b.repetitionPenalty(0));
        assertEquals(0.5f, b.presencePenalty(0));
        assertEquals(0.25f, b.frequencyPenalty(0));
        assertEquals(2, b.penaltyEntries(0));
        assertSame(ids, b.penaltyIds(0));   // held, not copied: the runner reads them at launch
        assertSame(counts, b.penaltyCounts(2));
        assertEquals(3, b.penaltyEntries(2));
        assertTrue(b.wantsRunnerLogprobs(0) && !b.wantsRunnerLogprobs(1) && !b.wantsRunnerLogprobs(41));
        assertEquals(5, b.topLogprobs(0));
        assertThrows(IllegalArgumentException.class, () -> b.add(new int[] {1}, 0, 1, 0, table, true).markGreedy().markLogprobs(21));
        assertThrows(IllegalArgumentException.class, () -> b.markPenalties(1f, 0, 0, ids, counts, 4));
        assertNull(b.penaltyKey(0));   // marked without a key: the runner uploads the whole list
        // with the list's identity (a runner's device-resident copy): the key, the records counted, the last entry touched
        Object key = new Object();
        b.add(new int[] {7}, 0, 1, 3, table, true).markGreedy().markPenalties(1.2f, 0f, 0f, ids, counts, 3, key, 5L, 2);
        int last = b.size() - 1;
        assertSame(key, b.penaltyKey(last));
        assertEquals(5L, b.penaltyRecords(last));
        assertEquals(2, b.penaltyLastEntry(last));
        assertThrows(IllegalArgumentException.class, () -> b.add(new int[] {1}, 0, 1, 0, table, true).markGreedy()
                .markPenalties(1.2f, 0f, 0f, ids, counts, 2, key, 5L, 2), "the last entry beyond the entries");
        b.add(new int[] {7}, 0, 1, 3, table, true).markGreedy();
        assertNull(b.penaltyKey(b.size() - 1));   // a reused row forgets the key

        SampledToken t = new SampledToken(9, -1.5f, new int[] {9, 4}, new float[] {-1.5f, -2f});
        b.setSampled(0, t);
        assertEquals(9, b.sampled(0));
        assertSame(t, b.sampledToken(0));
        b.setSampled(1, 3);
        assertNull(b.sampledToken(1));
        assertArrayEquals(new int[] {9, 4}, b.sampledToken(0).topTokenIds());

        b.clear();
        assertEquals(0, b.penalizedRows());
        b.add(new int[] {1}, 0, 1, 0, table, true).markGreedy();
        assertFalse(b.isPenalized(0));
        assertFalse(b.wantsRunnerLogprobs(0));
        assertNull(b.sampledToken(0));
        assertEquals(-1, b.sampled(0));
    }
}
