package io.chunkserve.kv;

import java.util.Arrays;

/**
 * Chunk key → chunk id, for every chunk in the prefix tree. Open addressing with linear probing
 * and backward-shift deletion over primitive arrays; sized once for the whole pool (at most one
 * entry per chunk, load ≤ 1/2), so it never resizes or allocates after construction.
 */
final class ChunkKeyTable {
    private static final int EMPTY = -1;

    private final long[] keys;   // (capacity)
    private final int[] chunks;  // (capacity); EMPTY marks a free slot
    private final int mask;
    private int size;

    ChunkKeyTable(int maxEntries) {
        int cap = Integer.highestOneBit(Math.max(4, maxEntries) * 2 - 1) << 1; // power of two ≥ 2·maxEntries
        if (cap <= 0) throw new IllegalArgumentException("too many chunks for the key table: " + maxEntries);
        keys = new long[cap];
        chunks = new int[cap];
        Arrays.fill(chunks, EMPTY);
        mask = cap - 1;
    }

    int size() { return size; }

    /** The chunk stored under {@code key}, or -1. */
    int get(long key) {
        for (int i = slot(key); ; i = (i + 1) & mask) {
            int c = chunks[i];
            if (c == EMPTY) return -1;
            if (keys[i] == key) return c;
        }
    }

    /** Stores {@code key → chunk}; the key must be absent. */
    void put(long key, int chunk) {
        int i = slot(key);
        for (; chunks[i] != EMPTY; i = (i + 1) & mask) {
            if (keys[i] == key) throw new IllegalStateException("key already present: " + Long.toHexString(key));
        }
        keys[i] = key;
        chunks[i] = chunk;
        size++;
    }

    /** Removes {@code key}; returns whether it was present. */
    boolean remove(long key) {
        int i = slot(key);
        while (true) {
            if (chunks[i] == EMPTY) return false;
            if (keys[i] == key) break;
            i = (i + 1) & mask;
        }
        // backward shift: move later entries of the run into the hole when their home allows it
        int hole = i;
        for (int j = (hole + 1) & mask; chunks[j] != EMPTY; j = (j + 1) & mask) {
            int home = slot(keys[j]);
            // entry j may move to hole iff home is not in the cyclic range (hole, j]
            if (((j - home) & mask) >= ((j - hole) & mask)) {
                keys[hole] = keys[j];
                chunks[hole] = chunks[j];
                hole = j;
            }
        }
        chunks[hole] = EMPTY;
        size--;
        return true;
    }

    private int slot(long key) {
        // keys are already well mixed; fold the high half in anyway so a weak hasher cannot cluster
        return (int) (key ^ (key >>> 32)) & mask;
    }
}
