package io.chunkserve.kv;

import io.chunkserve.model.DType;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ChunkPoolTest {

    @Test
    void allocatesEveryChunkOnceAndCatchesDoubleFrees() {
        try (ChunkPool pool = new ChunkPool(new KvLayout(1, 1, 4, 16, DType.F32), 3)) {
            int a = pool.allocate(), b = pool.allocate(), c = pool.allocate();
            assertEquals(-1, pool.allocate());
            assertEquals(3, java.util.Set.of(a, b, c).size());
            assertFalse(pool.isFree(b));
            pool.free(b);
            assertTrue(pool.isFree(b));
            assertThrows(IllegalStateException.class, () -> pool.free(b));
            assertThrows(IllegalStateException.class, () -> pool.free(3));
            assertEquals(1, pool.freeChunks());
            assertEquals(b, pool.allocate());
        }
    }

    @Test
    void copyChunkCopiesKAndVOfEveryLayer() {
        for (DType dt : DType.values()) {
            KvLayout lay = new KvLayout(3, 2, 4, 16, dt);
            try (ChunkPool pool = new ChunkPool(lay, 4)) {
                float[] k = new float[8], v = new float[8];
                for (int l = 0; l < 3; l++) {
                    for (int slot = 0; slot < 16; slot++) {
                        for (int i = 0; i < 8; i++) {
                            k[i] = l * 100 + slot + i * 0.5f;
                            v[i] = -k[i];
                        }
                        pool.write(l, 1, slot, k, 0, v, 0);
                    }
                }
                pool.copyChunk(1, 3);
                for (int l = 0; l < 3; l++) {
                    for (int h = 0; h < 2; h++) {
                        for (int slot = 0; slot < 16; slot++) {
                            for (int d = 0; d < 4; d++) {
                                assertEquals(pool.key(l, 1, h, slot, d), pool.key(l, 3, h, slot, d), dt + " K");
                                assertEquals(pool.value(l, 1, h, slot, d), pool.value(l, 3, h, slot, d), dt + " V");
                                assertEquals(l * 100 + slot + (h * 4 + d) * 0.5f, pool.key(l, 3, h, slot, d), 1.0f, dt + " value");
                                assertEquals(-(l * 100 + slot + (h * 4 + d) * 0.5f), pool.value(l, 3, h, slot, d), 1.0f, dt + " value");
                                // the K block is dim-major: slot-neighbours are element-neighbours
                                long i = lay.keyIndex(3, h, slot, d);
                                assertEquals(lay.index(3, h, 0) + (long) d * 16 + slot, i);
                                assertEquals(pool.key(l, 3, h, slot, d), pool.load(pool.keys(l), i));
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void indexOnlyPoolKeepsNoSlabsAndTellsItsMirrorOfCopies() {
        KvLayout layout = new KvLayout(2, 1, 4, 16, DType.BF16);
        try (ChunkPool pool = ChunkPool.indexOnly(layout, layout.bytesPerChunk() * 5)) {
            org.junit.jupiter.api.Assertions.assertEquals(5, pool.numChunks());
            org.junit.jupiter.api.Assertions.assertFalse(pool.hasSlabs());
            org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class, () -> pool.keys(0));
            org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                    () -> pool.write(0, 0, 0, new float[4], 0, new float[4], 0));
            java.util.List<int[]> copies = new java.util.ArrayList<>();
            pool.setMirror((src, dst) -> copies.add(new int[] {src, dst}));
            int a = pool.allocate(), b = pool.allocate();
            pool.copyChunk(a, b);
            org.junit.jupiter.api.Assertions.assertEquals(1, copies.size());
            org.junit.jupiter.api.Assertions.assertArrayEquals(new int[] {a, b}, copies.get(0));
            org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class, () -> pool.setMirror((s, d) -> { }));
        }
    }
}
