package io.chunkserve.kv;

import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.Set;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ChunkHashTest {

    @Test
    void dependsOnParentSaltAndEveryTokenInPlace() {
        int[] t = FakeForward.range(7, 64);
        long k = ChunkHash.of(ChunkHash.ROOT, t, 0, 64, 0);
        assertEquals(k, ChunkHash.of(ChunkHash.ROOT, t.clone(), 0, 64, 0));
        assertNotEquals(k, ChunkHash.of(1, t, 0, 64, 0));
        assertNotEquals(k, ChunkHash.of(ChunkHash.ROOT, t, 0, 64, 1));
        assertNotEquals(k, ChunkHash.of(ChunkHash.ROOT, t, 0, 63, 0));
        for (int i = 0; i < 64; i++) {
            int[] u = t.clone();
            u[i]++;
            assertNotEquals(k, ChunkHash.of(ChunkHash.ROOT, u, 0, 64, 0), "token " + i);
        }
        int[] swapped = t.clone();
        swapped[0] = t[1];
        swapped[1] = t[0];
        assertNotEquals(k, ChunkHash.of(ChunkHash.ROOT, swapped, 0, 64, 0));
        int[] shifted = new int[70];
        System.arraycopy(t, 0, shifted, 6, 64);
        assertEquals(k, ChunkHash.of(ChunkHash.ROOT, shifted, 6, 64, 0)); // offset-independent
    }

    @Test
    void oneTokenChangeFlipsAboutHalfTheBits() {
        SplittableRandom rnd = new SplittableRandom(11);
        long flipped = 0;
        int trials = 5000;
        Set<Long> distinct = new HashSet<>();
        for (int i = 0; i < trials; i++) {
            int[] t = new int[16];
            for (int j = 0; j < 16; j++) t[j] = rnd.nextInt(4); // small vocabulary: near-identical inputs
            long parent = rnd.nextInt(3);
            long a = ChunkHash.of(parent, t, 0, 16, 0);
            distinct.add(a);
            t[rnd.nextInt(16)] ^= 1 << rnd.nextInt(2);
            flipped += Long.bitCount(a ^ ChunkHash.of(parent, t, 0, 16, 0));
        }
        double mean = (double) flipped / trials;
        assertTrue(mean > 30 && mean < 34, "mean flipped bits " + mean);
        assertTrue(distinct.size() > trials * 0.99, "collisions among " + trials + ": " + (trials - distinct.size()));
    }
}
