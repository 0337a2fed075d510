package io.chunkserve.runtime.cuda;

import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.TreeMap;

/**
 * The host-side bookkeeping of the device-resident penalty lists: one region of an arena of (id, count) entries per
 * sequence (keyed by its list's identity, {@code Sampler#penaltyKey}), and, per step, the entries that must go up so
 * that the device copy equals the host list: the whole list the first time (or after the region moved, or when more
 * than one token was counted since the copy), else only what one counted token changed — the entry it incremented and
 * any appended one. The deltas, (arena position, id, count) triples, are written on the device before
 * {@code cs_penalize} reads the regions, in stream order after every step queued before, so a region freed and reused
 * is never overwritten under a step still reading it.
 *
 * <p>Regions come from a first-fit free list (neighbours merged) over the arena, which only grows (at its end, so a
 * region keeps its position; the runner copies the old device arena into the new one). A region whose key was in no
 * step for {@link #RETAIN_STEPS} steps is freed: a sequence that ended, was aborted or preempted (a preempted one is
 * uploaded whole when it returns). Engine thread only.
 */
final class PenaltyArena {
    /** Steps a key may be absent before its region is freed. */
    static final int RETAIN_STEPS = 4;

    private static final class Slot {
        int off, cap, n;      // region [off, off + cap); entries [0, n) are on the device
        long records;         // the host list's records the device copy reflects
        long seen;            // the last step that placed it
    }

    private final IdentityHashMap<Object, Slot> slots = new IdentityHashMap<>();
    private final TreeMap<Integer, Integer> free = new TreeMap<>();   // offset → length
    private int capacity;
    private long step;
    private int[] deltas = new int[3 * 256];
    private int nDeltas;
    private long uploadedEntries, fullUploads;

    PenaltyArena(int initialCapacity) {
        capacity = Math.max(0, initialCapacity);
        if (capacity > 0) free.put(0, capacity);
    }

    /** Starts a step: no deltas yet. */
    void beginStep() {
        step++;
        nDeltas = 0;
    }

    /**
     * Places a sequence's list for this step and queues the entries its device copy lacks; returns the arena position
     * of its entry 0. {@code records} / {@code lastEntry}: as {@code Sampler#penaltyRecords} / {@code penaltyLastEntry}.
     */
    int place(Object key, int[] ids, int[] counts, int n, long records, int lastEntry) {
        Slot sl = slots.get(key);
        if (sl != null && n > sl.cap) {   // outgrew its region: a new one, uploaded whole
            release(sl.off, sl.cap);
            slots.remove(key);
            sl = null;
        }
        if (sl == null) {
            sl = new Slot();
            sl.cap = regionFor(n);
            sl.off = allocate(sl.cap);
            sl.records = -1;
            slots.put(key, sl);
        }
        sl.seen = step;
        if (sl.records == records && sl.n == n) return sl.off;
        if (sl.records >= 0 && records == sl.records + 1 && n >= sl.n && n - sl.n <= 1 && lastEntry >= 0) {
            if (lastEntry < sl.n) delta(sl.off + lastEntry, ids[lastEntry], counts[lastEntry]);
            for (int j = sl.n; j < n; j++) delta(sl.off + j, ids[j], counts[j]);
        } else {
            for (int j = 0; j < n; j++) delta(sl.off + j, ids[j], counts[j]);
            fullUploads++;
        }
        sl.n = n;
        sl.records = records;
        return sl.off;
    }

    /** Ends a step's placing: frees the regions of keys absent for {@link #RETAIN_STEPS} steps. */
    void endStep() {
        for (Iterator<Map.Entry<Object, Slot>> it = slots.entrySet().iterator(); it.hasNext(); ) {
            Slot sl = it.next().getValue();
            if (step - sl.seen >= RETAIN_STEPS) {
                release(sl.off, sl.cap);
                it.remove();
            }
        }
    }

    /** Forgets every device copy (after a failed step, whose deltas may not have reached the device; or to close). */
    void clear() {
        slots.clear();
        free.clear();
        if (capacity > 0) free.put(0, capacity);
        nDeltas = 0;
    }

    /** The arena's size in entries now (the device buffer must hold this many (id, count) pairs). */
    int capacity() { return capacity; }

    /** This step's deltas: {@link #deltaCount} triples (arena position, id, count). */
    int[] deltas() { return deltas; }

    int deltaCount() { return nDeltas; }

    /** Sequences with a region now. */
    int liveSlots() { return slots.size(); }

    /** Entries not in any region (the whole capacity when no region is live). */
    int freeEntries() {
        int f = 0;
        for (int len : free.values()) f += len;
        return f;
    }

    /** Free blocks (1 when nothing is live: the free list merged back into one block). */
    int freeBlocks() { return free.size(); }

    /** Entries queued for upload so far, and whole lists among them (benchmarks). */
    long uploadedEntries() { return uploadedEntries; }

    long fullUploads() { return fullUploads; }

    private void delta(int pos, int id, int count) {
        if (3 * nDeltas + 3 > deltas.length) deltas = Arrays.copyOf(deltas, deltas.length * 2);
        deltas[3 * nDeltas] = pos;
        deltas[3 * nDeltas + 1] = id;
        deltas[3 * nDeltas + 2] = count;
        nDeltas++;
        uploadedEntries++;
    }

    /** Room for n entries and the tokens generated next (a list grows by at most one entry a token). */
    static int regionFor(int n) {
        long c = n + (long) n / 8 + 64;
        return (int) Math.min(Integer.MAX_VALUE / 4, (c + 31) & ~31L);
    }

    private int allocate(int len) {
        for (Map.Entry<Integer, Integer> f : free.entrySet()) {
            if (f.getValue() >= len) {
                int off = f.getKey(), rest = f.getValue() - len;
                free.remove(off);
                if (rest > 0) free.put(off + len, rest);
                return off;
            }
        }
        // grow at the end (positions stay): at least double, by whole regions
        int grown = (int) Math.min(Integer.MAX_VALUE / 4, Math.max(2L * capacity, (long) capacity + len) + 1024);
        if (grown - capacity < len) throw new IllegalStateException("penalty arena of " + grown + " entries cannot hold " + len + " more");
        release(capacity, grown - capacity);
        capacity = grown;
        return allocate(len);
    }

    private void release(int off, int len) {
        Map.Entry<Integer, Integer> lo = free.floorEntry(off);
        if (lo != null && lo.getKey() + lo.getValue() == off) {
            off = lo.getKey();
            len += lo.getValue();
            free.remove(off);
        }
        Integer hi = free.get(off + len);
        if (hi != null) {
            free.remove(off + len);
            len += hi;
        }
        free.put(off, len);
    }
}
