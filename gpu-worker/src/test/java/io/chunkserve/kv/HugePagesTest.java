package io.chunkserve.kv;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HugePagesTest {
    @Test
    void largeBuffersAreZeroedAlignedAndWritableToTheEnd() {
        for (long bytes : new long[] {4096, (2L << 20) + 12345, 6L << 20}) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment s = HugePages.allocate(arena, bytes);
                assertEquals(bytes, s.byteSize());
                assertEquals(0, s.address() % 64, "64-byte aligned");
                if (bytes >= (2L << 20) && System.getProperty("os.name", "").toLowerCase().contains("linux")) {
                    assertEquals(0, s.address() % (2L << 20), "2 MiB aligned on Linux");
                }
                for (long off = 0; off < bytes; off += 4093) assertEquals(0, s.get(ValueLayout.JAVA_BYTE, off), "zeroed at " + off);
                s.set(ValueLayout.JAVA_BYTE, bytes - 1, (byte) 7);
                assertEquals(7, s.get(ValueLayout.JAVA_BYTE, bytes - 1));
            }
        }
    }

    @Test
    void aPoolOnHugePagesStoresAndLoadsLikeAnyOther() {
        KvLayout lay = new KvLayout(2, 2, 64, 64, io.chunkserve.model.DType.F32);
        try (ChunkPool pool = new ChunkPool(lay, 64)) { // 2 MiB slabs
            assertTrue(pool.keys(1).byteSize() >= (2L << 20));
            long last = pool.keys(1).byteSize() - 4;
            pool.keys(1).set(ValueLayout.JAVA_FLOAT_UNALIGNED, last, 1.5f);
            assertEquals(1.5f, pool.keys(1).get(ValueLayout.JAVA_FLOAT_UNALIGNED, last));
            assertEquals(0f, pool.values(1).get(ValueLayout.JAVA_FLOAT_UNALIGNED, last));
        }
    }
}
