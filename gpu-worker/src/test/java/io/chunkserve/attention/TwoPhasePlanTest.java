package io.chunkserve.attention;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Shared groups and private chunk lists of hand-built batches (chunk size 4 unless stated). */
class TwoPhasePlanTest {
    private static final int C = 4;

    /** Group g as "depth:[chunks]{seqs}" for compact assertions. */
    private static List<String> groups(TwoPhasePlan p) {
        List<String> out = new ArrayList<>();
        for (int g = 0; g < p.groupCount(); g++) {
            out.add(p.groupDepth(g) + ":" + java.util.Arrays.toString(p.groupChunks(g)) + java.util.Arrays.toString(p.groupSequences(g)));
        }
        return out;
    }

    @Test
    void nestedPrefixesGiveOneGroupPerDistinctHolderSet() {
        // rows 0..3 share chunks 10, 11; rows 0, 1 then share 20, 21; rows 2, 3 share 30; then private tails
        int[][] t = {
                {10, 11, 20, 21, 40},
                {10, 11, 20, 21, 41, 42},
                {10, 11, 30, 43},
                {10, 11, 30, 44},
        };
        int[] len = {4 * C + 1, 5 * C + 3, 3 * C + 2, 3 * C + 4};
        TwoPhasePlan p = TwoPhasePlan.build(t, len, C);
        assertEquals(List.of("0:[10, 11][0, 1, 2, 3]", "2:[20, 21][0, 1]", "2:[30][2, 3]"), groups(p));
        assertArrayEquals(new int[] {40}, p.privateChunks(0));
        assertArrayEquals(new int[] {41, 42}, p.privateChunks(1));
        assertArrayEquals(new int[] {43}, p.privateChunks(2));
        assertArrayEquals(new int[] {44}, p.privateChunks(3));
        assertEquals(1, p.tailTokens(0));
        assertEquals(3, p.tailTokens(1));
        assertEquals(2, p.tailTokens(2));
        assertEquals(C, p.tailTokens(3)); // exactly on a boundary: the tail chunk is full
        assertArrayEquals(new int[] {0, 1}, p.sequenceGroups(0));
        assertArrayEquals(new int[] {0, 2}, p.sequenceGroups(3));
        assertEquals(5, p.sharedChunkCount());
        assertEquals(5, p.privateChunkCount());
    }

    @Test
    void partlyFilledChunkIsNeverShared() {
        // chunk 7 sits at index 1 of both tables but holds only 2 tokens for row 1
        int[][] t = {{5, 7, 8}, {5, 7}};
        TwoPhasePlan p = TwoPhasePlan.build(t, new int[] {2 * C + 1, C + 2}, C);
        assertEquals(List.of("0:[5][0, 1]"), groups(p));
        assertArrayEquals(new int[] {7, 8}, p.privateChunks(0));
        assertArrayEquals(new int[] {7}, p.privateChunks(1));
        assertEquals(2, p.tailTokens(1));
    }

    @Test
    void sequenceEndingInsideSharedRunHasNoPrivateChunk() {
        // row 1 ends exactly at the end of the shared chunks: all its chunks are shared
        int[][] t = {{1, 2, 3}, {1, 2}};
        TwoPhasePlan p = TwoPhasePlan.build(t, new int[] {2 * C + 3, 2 * C}, C);
        assertEquals(List.of("0:[1, 2][0, 1]"), groups(p));
        assertArrayEquals(new int[] {}, p.privateChunks(1));
        assertEquals(0, p.tailTokens(1));
    }

    @Test
    void sameIdAtDifferentIndexIsNotSharing() {
        int[][] t = {{1, 9}, {9, 2}};
        TwoPhasePlan p = TwoPhasePlan.build(t, new int[] {2 * C, 2 * C}, C);
        assertEquals(0, p.groupCount());
        assertArrayEquals(new int[] {1, 9}, p.privateChunks(0));
    }

    @Test
    void runsSplitWhereTheHolderSetChangesAndNonAdjacentRowsGroup() {
        // rows 0 and 2 share 3 chunks; row 1 joins them on the first only; row 3 shares nothing
        int[][] t = {{1, 2, 3, 50}, {1, 60}, {1, 2, 3, 70}, {80}};
        TwoPhasePlan p = TwoPhasePlan.build(t, new int[] {3 * C + 1, C + 1, 4 * C, 1}, C);
        assertEquals(List.of("0:[1][0, 1, 2]", "1:[2, 3][0, 2]"), groups(p));
        assertArrayEquals(new int[] {80}, p.privateChunks(3));
        assertEquals(1, p.tailTokens(3));
    }

    @Test
    void sharingOffMakesEveryChunkPrivate() {
        int[][] t = {{1, 2, 3}, {1, 2, 4}};
        TwoPhasePlan p = TwoPhasePlan.build(t, new int[] {3 * C, 2 * C + 1}, C, false);
        assertEquals(0, p.groupCount());
        assertArrayEquals(new int[] {1, 2, 3}, p.privateChunks(0));
        assertArrayEquals(new int[] {1, 2, 4}, p.privateChunks(1));
        assertFalse(p.sharing());
    }

    @Test
    void extraTableEntriesBeyondLengthAreIgnored() {
        int[][] t = {{1, 2, 99, 98}, {1, 2, 97}};
        TwoPhasePlan p = TwoPhasePlan.build(t, new int[] {2 * C, 2 * C}, C);
        assertEquals(List.of("0:[1, 2][0, 1]"), groups(p));
        assertEquals(0, p.privateChunkCount());
    }

    @Test
    void sameAsTracksStructureNotTailFill() {
        int[][] t = {{1, 2, 3}, {1, 2, 4}};
        int[] len = {2 * C + 1, 2 * C + 2};
        TwoPhasePlan p = TwoPhasePlan.build(t, len, C);
        long v = p.version();
        assertTrue(p.sameAs(t, new int[] {2 * C + 2, 2 * C + 3}));               // tails grew
        assertFalse(p.sameAs(t, new int[] {2 * C + 1, 2 * C + 4}));              // a tail filled up
        assertFalse(p.sameAs(new int[][] {{1, 2, 3}, {1, 5, 4}}, len));          // a chunk changed
        assertFalse(p.sameAs(new int[][] {{1, 2, 3}}, new int[] {9}));            // batch changed
        assertFalse(p.sameAs(new int[][] {{1, 2, 3, 6}, {1, 2, 4}}, new int[] {3 * C + 1, 2 * C + 2})); // a new chunk
        TwoPhasePlan q = TwoPhasePlan.reuseOrBuild(p, t, new int[] {2 * C + 3, 2 * C + 2}, C);
        assertSame(p, q);
        assertEquals(v, q.version());
        assertEquals(2 * C + 3, q.length(0));
        assertEquals(3, q.tailTokens(0));
        TwoPhasePlan r = TwoPhasePlan.reuseOrBuild(p, new int[][] {{1, 2, 3, 6}, {1, 2, 4}}, new int[] {3 * C + 1, 2 * C + 2}, C);
        assertNotEquals(v, r.version());
        assertThrows(IllegalArgumentException.class, () -> p.updateLengths(new int[] {3 * C + 1, 2 * C + 2}));
    }

    @Test
    void rejectsBadInput() {
        assertThrows(IllegalArgumentException.class, () -> TwoPhasePlan.build(new int[][] {{1}}, new int[] {0}, C));
        assertThrows(IllegalArgumentException.class, () -> TwoPhasePlan.build(new int[][] {{1}}, new int[] {C + 1}, C));
        assertThrows(IllegalArgumentException.class, () -> TwoPhasePlan.build(new int[][] {{1}}, new int[] {1, 2}, C));
    }
}
