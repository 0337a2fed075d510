package io.chunkserve.kv;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ChunkKeyTableTest {

    @Test
    void matchesAHashMapUnderRandomPutsAndRemovesWithClusteredKeys() {
        for (long seed = 1; seed <= 3; seed++) {
            SplittableRandom rnd = new SplittableRandom(seed);
            int max = 50;
            ChunkKeyTable t = new ChunkKeyTable(max);
            Map<Long, Integer> ref = new HashMap<>();
            List<Long> keys = new ArrayList<>();
            for (int op = 0; op < 20_000; op++) {
                // keys that share low bits, so probe runs are long and wrap around the table
                long k = seed == 1 ? rnd.nextLong() : ((long) rnd.nextInt(200) << 40) | (rnd.nextInt(4) * 128L);
                if (rnd.nextBoolean() && ref.size() < max && !ref.containsKey(k)) {
                    int v = rnd.nextInt(1000);
                    t.put(k, v);
                    ref.put(k, v);
                    keys.add(k);
                } else if (!keys.isEmpty()) {
                    long victim = keys.remove(rnd.nextInt(keys.size()));
                    assertTrue(t.remove(victim));
                    ref.remove(victim);
                    assertFalse(t.remove(victim));
                }
                assertEquals(ref.size(), t.size());
                for (Map.Entry<Long, Integer> e : ref.entrySet()) assertEquals(e.getValue().intValue(), t.get(e.getKey()));
                assertEquals(ref.containsKey(k) ? ref.get(k) : -1, t.get(k));
            }
        }
    }

    @Test
    void rejectsADuplicateKey() {
        ChunkKeyTable t = new ChunkKeyTable(4);
        t.put(42, 1);
        assertThrows(IllegalStateException.class, () -> t.put(42, 2));
        assertEquals(1, t.get(42));
        assertEquals(-1, t.get(43));
    }
}
