package io.chunkserve.kv;

import java.util.Arrays;

/**
 * Doubly linked list of chunk ids threaded through two int arrays, with a sentinel at index
 * {@code numChunks}: O(1) append, remove and take-oldest, no boxing, no allocation. Holds the
 * cached chunks no live sequence references, least recently released first.
 */
final class ChunkLru {
    private static final int ABSENT = -1;

    private final int[] prev; // (numChunks + 1); ABSENT when the chunk is not in the list
    private final int[] next; // (numChunks + 1)
    private final int sentinel;
    private int size;

    ChunkLru(int numChunks) {
        prev = new int[numChunks + 1];
        next = new int[numChunks + 1];
        Arrays.fill(prev, ABSENT);
        Arrays.fill(next, ABSENT);
        sentinel = numChunks;
        prev[sentinel] = sentinel;
        next[sentinel] = sentinel;
    }

    int size() { return size; }

    boolean contains(int c) { return prev[c] != ABSENT; }

    /** Appends {@code c} as the most recently used. */
    void addLast(int c) {
        if (contains(c)) throw new IllegalStateException("chunk " + c + " already in the LRU list");
        int last = prev[sentinel];
        prev[c] = last;
        next[c] = sentinel;
        next[last] = c;
        prev[sentinel] = c;
        size++;
    }

    void remove(int c) {
        if (!contains(c)) throw new IllegalStateException("chunk " + c + " not in the LRU list");
        next[prev[c]] = next[c];
        prev[next[c]] = prev[c];
        prev[c] = ABSENT;
        next[c] = ABSENT;
        size--;
    }

    /** The least recently used chunk, or -1 when empty. */
    int oldest() { return next[sentinel] == sentinel ? -1 : next[sentinel]; }

    /** The chunk after {@code c} towards the most recent end, or -1 at the end; -1 starts at the oldest. */
    int after(int c) {
        int n = c < 0 ? next[sentinel] : next[c];
        return n == sentinel ? -1 : n;
    }

    /** Checks links both ways and the size; throws on a broken list. */
    void checkLinks() {
        int count = 0;
        for (int c = next[sentinel], p = sentinel; c != sentinel; p = c, c = next[c]) {
            if (c < 0 || c >= sentinel || prev[c] != p) throw new IllegalStateException("LRU list broken at chunk " + c);
            if (++count > size) throw new IllegalStateException("LRU list longer than its size " + size);
        }
        if (count != size) throw new IllegalStateException("LRU list holds " + count + " chunks, size says " + size);
    }
}
