package io.chunkserve.kv;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class ChunkLruTest {

    @Test
    void keepsInsertionOrderUnderRandomAppendsAndRemoves() {
        SplittableRandom rnd = new SplittableRandom(5);
        int n = 30;
        ChunkLru lru = new ChunkLru(n);
        LinkedHashSet<Integer> ref = new LinkedHashSet<>();
        for (int op = 0; op < 10_000; op++) {
            int c = rnd.nextInt(n);
            if (ref.contains(c)) {
                lru.remove(c);
                ref.remove(c);
            } else {
                lru.addLast(c);
                ref.add(c);
            }
            if (rnd.nextInt(10) == 0 && !ref.isEmpty()) { // take the oldest, as eviction does
                int oldest = ref.iterator().next();
                assertEquals(oldest, lru.oldest());
                lru.remove(oldest);
                ref.remove(oldest);
            }
            lru.checkLinks();
            List<Integer> walk = new ArrayList<>();
            for (int x = lru.after(-1); x >= 0; x = lru.after(x)) walk.add(x);
            assertEquals(new ArrayList<>(ref), walk);
            assertEquals(ref.isEmpty() ? -1 : ref.iterator().next(), lru.oldest());
        }
    }

    @Test
    void rejectsDoubleInsertAndRemovalOfAnAbsentChunk() {
        ChunkLru lru = new ChunkLru(4);
        lru.addLast(2);
        assertThrows(IllegalStateException.class, () -> lru.addLast(2));
        assertThrows(IllegalStateException.class, () -> lru.remove(3));
        assertEquals(1, lru.size());
    }
}
