package io.chunkserve.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class L2PrefetchTest {

    @Test
    void offAndEmptyMeanNone() {
        assertFalse(L2Prefetch.parse("off").on());
        assertFalse(L2Prefetch.parse("").on());
        assertFalse(L2Prefetch.parse(null).on());
        assertEquals(-1, L2Prefetch.parse("off").persistMiB());
    }

    @Test
    void parsesPlacementWeightsAndOptions() {
        L2Prefetch k = L2Prefetch.parse("kernel:o");
        assertEquals(L2Prefetch.KERNEL, k.where());
        assertTrue(k.o());
        assertFalse(k.down());
        assertEquals(0, k.flags());
        assertEquals(-1, k.persistMiB());
        L2Prefetch a = L2Prefetch.parse("attn:down+o:last:persist40");
        assertEquals(L2Prefetch.ATTN, a.where());
        assertTrue(a.o() && a.down());
        assertEquals(1, a.flags());
        assertEquals(40, a.persistMiB());
    }

    @Test
    void toStringParsesBackToTheSameConfiguration() {
        for (String s : new String[] {"off", "kernel:o", "attn:o+down:last", "kernel:down:persist0", "attn:o:last:persist24"}) {
            L2Prefetch p = L2Prefetch.parse(s);
            assertEquals(p, L2Prefetch.parse(p.toString()), s);
        }
    }

    @Test
    void rejectsBadSpecsWithTheReason() {
        for (String s : new String[] {"on", "kernel", "attn:qkv", "kernel:o:first", "attn:o:persist", "attn:o:persist-3", "kernel:"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> L2Prefetch.parse(s), s);
            assertTrue(e.getMessage().contains("l2Prefetch"), e.getMessage());
        }
    }
}
