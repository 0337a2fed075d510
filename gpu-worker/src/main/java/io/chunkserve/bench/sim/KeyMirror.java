package io.chunkserve.bench.sim;

import io.chunkserve.kv.ChunkHash;
import io.chunkserve.kv.KvEvent;
import io.chunkserve.kv.PrefixCache;

import java.util.Arrays;

/**
 * The set of chunk keys a {@link PrefixCache} holds, kept from the cache's own {@link KvEvent}s (as
 * the cluster prefix index is), so the simulator's prefix matcher costs a hash-set probe per chunk
 * instead of hashing 64 token ids per chunk: with hundreds of waiting requests on multi-thousand
 * token prompts, {@code matchLength} on every request every step would dominate the bench's run
 * time. The result is the same as {@code matchLength} except on a 64-bit key collision; the
 * simulator checks that on a sample of calls.
 */
final class KeyMirror {
    private static final long EMPTY = 0; // ChunkHash never returns 0 in practice; a real 0 key is kept aside
    private long[] table = new long[1 << 12];
    private int size;
    private boolean hasZero;

    /** Applies the events queued in {@code cache} since the last call. */
    void drain(PrefixCache cache) {
        cache.drainEvents(e -> {
            switch (e) {
                case KvEvent.ChunkStored s -> add(s.key());
                case KvEvent.ChunkRemoved r -> remove(r.key());
                case KvEvent.AllCleared c -> clear();
            }
        });
    }

    /** Keys of the full chunks of {@code tokens}, chained from the root (salt 0). */
    static long[] keysOf(int[] tokens, int chunkSize) {
        long[] keys = new long[tokens.length / chunkSize];
        long parent = ChunkHash.ROOT;
        for (int i = 0; i < keys.length; i++) parent = keys[i] = ChunkHash.of(parent, tokens, i * chunkSize, chunkSize, 0);
        return keys;
    }

    /** Leading keys present: the matched prefix in chunks. */
    int matchedChunks(long[] keys) {
        int n = 0;
        while (n < keys.length && contains(keys[n])) n++;
        return n;
    }

    boolean contains(long k) {
        if (k == EMPTY) return hasZero;
        int mask = table.length - 1;
        for (int i = slot(k, mask); ; i = (i + 1) & mask) {
            if (table[i] == k) return true;
            if (table[i] == EMPTY) return false;
        }
    }

    private void add(long k) {
        if (k == EMPTY) {
            hasZero = true;
            return;
        }
        if (2 * (size + 1) > table.length) grow();
        int mask = table.length - 1;
        int i = slot(k, mask);
        while (table[i] != EMPTY) {
            if (table[i] == k) return;
            i = (i + 1) & mask;
        }
        table[i] = k;
        size++;
    }

    /** Linear-probing delete with backward shift, so no tombstones accumulate. */
    private void remove(long k) {
        if (k == EMPTY) {
            hasZero = false;
            return;
        }
        int mask = table.length - 1;
        int i = slot(k, mask);
        while (table[i] != k) {
            if (table[i] == EMPTY) return;
            i = (i + 1) & mask;
        }
        table[i] = EMPTY;
        size--;
        for (int j = (i + 1) & mask; table[j] != EMPTY; j = (j + 1) & mask) {
            int home = slot(table[j], mask);
            // move table[j] into the hole at i if its home is not cyclically within (i, j]
            if (((j - home) & mask) >= ((j - i) & mask)) {
                table[i] = table[j];
                table[j] = EMPTY;
                i = j;
            }
        }
    }

    private void clear() {
        Arrays.fill(table, EMPTY);
        size = 0;
        hasZero = false;
    }

    private void grow() {
        long[] old = table;
        table = new long[old.length * 2];
        size = 0;
        for (long k : old) if (k != EMPTY) add(k);
    }

    private static int slot(long k, int mask) { return (int) (k ^ (k >>> 32)) & mask; }
}
