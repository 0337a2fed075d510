package io.chunkserve.attention;

import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The "kernel context" of two-phase decode attention for a batch of B sequences: which chunks
 * are read once for several sequences (shared groups, chunk-first phase) and which by one
 * sequence only (private chunks, sequence-first phase).
 *
 * <p>A chunk id at the same table index in several sequences' tables denotes one shared tree
 * node. A <em>shared group</em> is a maximal run of consecutive chunks (by table index) that are
 * full and held by exactly the same set of ≥ 2 sequences; it lists its chunk ids and its
 * sequences (batch rows, ascending). Every other chunk a sequence covers is private to it; only
 * its last chunk can be partly filled. A chunk that is partly filled for any holder is never
 * shared. With sharing disabled every chunk is private (the prefix-unaware baseline).
 *
 * <p><b>Cost of {@link #build}:</b> O(N) expected time and memory, N = Σ_b ⌈len_b / C⌉ the
 * table entries in use: one hash insert per entry (key = (index, chunk id)), one pass to list
 * each key's holders (Σ holders = N), one pass in batch order that opens or extends groups
 * (comparing two holder lists costs at most their length, ≤ N in total), one pass that emits
 * each sequence's groups and private chunks. At B = 16 and 34 chunks per sequence that is a few
 * microseconds; the runtime builds a plan only when the batch or the tree changes
 * ({@link #sameAs}, {@link #reuseOrBuild}); decode steps within a tail chunk only move the
 * lengths ({@link #updateLengths}, O(B)).
 *
 * <p>Not thread-safe: owned by the engine thread, read concurrently by the attention tasks.
 */
public final class TwoPhasePlan {
    private static final AtomicLong VERSIONS = new AtomicLong();

    private final long version;
    private final int chunkSize;
    private final boolean sharing;
    private final int[][] tables;      // per sequence: its chunk ids at indices 0 .. nChunks-1 (copy)
    private final int[] lengths;       // (B) tokens per sequence, the last one being the new token
    // shared groups (compressed rows)
    final int[] groupChunkStart;       // (G+1) group g's chunk ids are groupChunks[groupChunkStart[g] ..)
    final int[] groupChunks;           // (Σ group chunks) chunk ids, group after group, in table order
    final int[] groupDepth;            // (G) table index of each group's first chunk
    final int[] groupSeqStart;         // (G+1) group g's sequences are groupSeqs[groupSeqStart[g] ..)
    final int[] groupSeqs;             // (Σ group sizes) batch rows, ascending within a group
    // per sequence (compressed rows)
    final int[] privStart;             // (B+1) sequence b's private chunks are privChunks[privStart[b] ..)
    final int[] privChunks;            // (Σ private chunks) chunk ids in table order
    final int[] privIndex;             // (Σ private chunks) table index of each private chunk
    final int[] seqGroupStart;         // (B+1) sequence b's groups are seqGroups[seqGroupStart[b] ..)
    final int[] seqGroups;             // group ids, in table order
    final int[] seqGroupRow;           // the sequence's position in that group's sequence list

    private TwoPhasePlan(int chunkSize, boolean sharing, int[][] tables, int[] lengths, int[][] parts) {
        this.version = VERSIONS.incrementAndGet();
        this.chunkSize = chunkSize;
        this.sharing = sharing;
        this.tables = tables;
        this.lengths = lengths;
        groupChunkStart = parts[0]; groupChunks = parts[1]; groupDepth = parts[2];
        groupSeqStart = parts[3]; groupSeqs = parts[4];
        privStart = parts[5]; privChunks = parts[6]; privIndex = parts[7];
        seqGroupStart = parts[8]; seqGroups = parts[9]; seqGroupRow = parts[10];
    }

    /** A plan with sharing enabled. */
    public static TwoPhasePlan build(int[][] tables, int[] lengths, int chunkSize) {
        return build(tables, lengths, chunkSize, true);
    }

    /**
     * Builds the plan of a decode batch.
     *
     * @param tables    per sequence, its chunk table (at least ⌈lengths[b] / chunkSize⌉ entries; extra entries are ignored)
     * @param lengths   per sequence, its tokens including the new one (≥ 1)
     * @param chunkSize tokens per chunk
     * @param sharing   false treats every chunk as private (the prefix-unaware baseline)
     */
    public static TwoPhasePlan build(int[][] tables, int[] lengths, int chunkSize, boolean sharing) {
        int batch = tables.length;
        if (lengths.length != batch) throw new IllegalArgumentException(batch + " tables but " + lengths.length + " lengths");
        if (chunkSize < 1) throw new IllegalArgumentException("chunk size " + chunkSize);
        int[][] used = new int[batch][];
        int n = 0;
        for (int b = 0; b < batch; b++) {
            if (lengths[b] < 1) throw new IllegalArgumentException("sequence " + b + " has length " + lengths[b]);
            int nc = chunksOf(lengths[b], chunkSize);
            if (tables[b].length < nc) {
                throw new IllegalArgumentException("sequence " + b + ": " + lengths[b] + " tokens need " + nc + " chunks, table has " + tables[b].length);
            }
            used[b] = Arrays.copyOf(tables[b], nc);
            n += nc;
        }
        int[][] parts = new Builder(used, lengths, chunkSize, sharing, n).run();
        return new TwoPhasePlan(chunkSize, sharing, used, lengths.clone(), parts);
    }

    /** {@code prev} with the new lengths adopted when {@link #sameAs} holds, else a new plan (sharing as in prev). */
    public static TwoPhasePlan reuseOrBuild(TwoPhasePlan prev, int[][] tables, int[] lengths, int chunkSize) {
        if (prev != null && prev.chunkSize == chunkSize && prev.sameAs(tables, lengths)) {
            prev.updateLengths(lengths);
            return prev;
        }
        return build(tables, lengths, chunkSize, prev == null || prev.sharing);
    }

    /**
     * True when this plan's groups and private chunk lists hold for the given batch: same batch
     * size, same chunk count and chunk ids per sequence, and each last chunk equally full or
     * partial (only the fill of tail chunks may differ). O(N), allocation-free.
     */
    public boolean sameAs(int[][] tables, int[] lengths) {
        if (tables.length != this.tables.length || lengths.length != this.lengths.length) return false;
        for (int b = 0; b < tables.length; b++) {
            int[] mine = this.tables[b];
            if (lengths[b] < 1 || chunksOf(lengths[b], chunkSize) != mine.length || tables[b].length < mine.length) return false;
            if ((lengths[b] % chunkSize == 0) != (this.lengths[b] % chunkSize == 0)) return false;
            if (!Arrays.equals(mine, 0, mine.length, tables[b], 0, mine.length)) return false;
        }
        return true;
    }

    /**
     * Adopts new lengths that leave the structure unchanged (see {@link #sameAs}; the chunk ids
     * are not re-checked). O(B). Used between decode steps while every sequence stays in its tail.
     *
     * @throws IllegalArgumentException if a sequence's chunk count or last-chunk fullness changed
     */
    public void updateLengths(int[] lengths) {
        if (lengths.length != this.lengths.length) throw new IllegalArgumentException("batch size changed");
        for (int b = 0; b < lengths.length; b++) {
            if (lengths[b] < 1 || chunksOf(lengths[b], chunkSize) != tables[b].length
                    || (lengths[b] % chunkSize == 0) != (this.lengths[b] % chunkSize == 0)) {
                throw new IllegalArgumentException("sequence " + b + " moved from " + this.lengths[b] + " to " + lengths[b] + " tokens across a chunk boundary; rebuild the plan");
            }
        }
        System.arraycopy(lengths, 0, this.lengths, 0, lengths.length);
    }

    /** Identity of this plan's structure: a new value for every {@link #build}, unchanged by {@link #updateLengths}. */
    public long version() { return version; }

    public int batchSize() { return lengths.length; }

    public int chunkSize() { return chunkSize; }

    public boolean sharing() { return sharing; }

    /** Tokens of sequence b, the last one being its new token. */
    public int length(int b) { return lengths[b]; }

    public int groupCount() { return groupDepth.length; }

    /** Chunk ids of group g in table order (a copy). */
    public int[] groupChunks(int g) { return Arrays.copyOfRange(groupChunks, groupChunkStart[g], groupChunkStart[g + 1]); }

    /** Batch rows of group g, ascending (a copy). */
    public int[] groupSequences(int g) { return Arrays.copyOfRange(groupSeqs, groupSeqStart[g], groupSeqStart[g + 1]); }

    /** Table index of group g's first chunk. */
    public int groupDepth(int g) { return groupDepth[g]; }

    /** Private chunk ids of sequence b in table order (a copy). */
    public int[] privateChunks(int b) { return Arrays.copyOfRange(privChunks, privStart[b], privStart[b + 1]); }

    /** Valid tokens of sequence b's last private chunk (0 when it has none). */
    public int tailTokens(int b) {
        int e = privStart[b + 1] - 1;
        return e < privStart[b] ? 0 : validTokens(b, privIndex[e]);
    }

    /** Groups sequence b belongs to, in table order (a copy). */
    public int[] sequenceGroups(int b) { return Arrays.copyOfRange(seqGroups, seqGroupStart[b], seqGroupStart[b + 1]); }

    /** Distinct chunks read by the chunk-first phase. */
    public int sharedChunkCount() { return groupChunks.length; }

    /** Chunk reads of the sequence-first phase (Σ over sequences). */
    public int privateChunkCount() { return privChunks.length; }

    /** Tokens of sequence b held by its chunk at table index i. */
    int validTokens(int b, int i) { return Math.min(chunkSize, lengths[b] - i * chunkSize); }

    static int chunksOf(int len, int chunkSize) { return (len + chunkSize - 1) / chunkSize; }

    @Override
    public String toString() {
        return "TwoPhasePlan[v" + version + ", B=" + lengths.length + ", groups=" + groupCount() + ", shared chunks="
                + sharedChunkCount() + ", private chunks=" + privateChunkCount() + (sharing ? "" : ", sharing off") + "]";
    }

    /** The O(N) construction; see the class comment. */
    private static final class Builder {
        private final int[][] tables;
        private final int[] lengths;
        private final int chunkSize, n;
        private final boolean sharing;
        // open-addressing map (table index, chunk id) → key number
        private final long[] slotKey;
        private final int[] slotVal;
        private final int mask;

        Builder(int[][] tables, int[] lengths, int chunkSize, boolean sharing, int n) {
            this.tables = tables;
            this.lengths = lengths;
            this.chunkSize = chunkSize;
            this.sharing = sharing;
            this.n = n;
            int cap = Integer.highestOneBit(Math.max(4, 2 * n) - 1) << 1;
            slotKey = new long[cap];
            slotVal = new int[cap];
            Arrays.fill(slotVal, -1);
            mask = cap - 1;
        }

        int[][] run() {
            int batch = tables.length;
            // 1. key per entry; holders count and "partly filled somewhere" per key
            int[] entryKey = new int[n];               // (N) key of each (b, i) entry, entries in batch then index order
            int[] count = new int[n], partial = new int[n];
            int keys = 0;
            for (int b = 0, e = 0; b < batch; b++) {
                for (int i = 0; i < tables[b].length; i++, e++) {
                    long key = ((long) i << 32) | (tables[b][i] & 0xffffffffL);
                    int slot = slotOf(key);
                    if (slotVal[slot] < 0) { slotKey[slot] = key; slotVal[slot] = keys++; }
                    int k = slotVal[slot];
                    entryKey[e] = k;
                    count[k]++;
                    if ((i + 1) * chunkSize > lengths[b]) partial[k] = 1;
                }
            }
            // 2. holders of each key, ascending rows, and each entry's position among them
            int[] holderStart = new int[keys + 1];
            for (int k = 0; k < keys; k++) holderStart[k + 1] = holderStart[k] + count[k];
            int[] holders = new int[n], fill = new int[keys], entryPos = new int[n];
            for (int b = 0, e = 0; b < batch; b++) {
                for (int i = 0; i < tables[b].length; i++, e++) {
                    int k = entryKey[e];
                    entryPos[e] = fill[k];
                    holders[holderStart[k] + fill[k]++] = b;
                }
            }
            // 3. groups, opened by the first (lowest-row) holder of their keys, extended along its table
            int[] keyGroup = new int[keys];
            IntList gChunkStart = new IntList(), gChunks = new IntList(), gDepth = new IntList();
            IntList gSeqStart = new IntList(), gSeqs = new IntList();
            for (int b = 0, e = 0; b < batch; b++) {
                int open = -1, openKey = -1;
                for (int i = 0; i < tables[b].length; i++, e++) {
                    int k = entryKey[e];
                    if (!shared(k, count, partial) || holders[holderStart[k]] != b) { open = -1; continue; }
                    if (open < 0 || !sameHolders(holders, holderStart, k, openKey)) {
                        open = gDepth.size();
                        gDepth.add(i);
                        gChunkStart.add(gChunks.size());
                        gSeqStart.add(gSeqs.size());
                        for (int h = holderStart[k]; h < holderStart[k + 1]; h++) gSeqs.add(holders[h]);
                    }
                    gChunks.add(tables[b][i]);
                    keyGroup[k] = open;
                    openKey = k;
                }
            }
            gChunkStart.add(gChunks.size());
            gSeqStart.add(gSeqs.size());
            // 4. per sequence: its groups (at their first chunk) and its private chunks
            int[] privStart = new int[batch + 1], seqGroupStart = new int[batch + 1];
            IntList priv = new IntList(), privIdx = new IntList(), sGroups = new IntList(), sRows = new IntList();
            int[] depth = gDepth.toArray();
            for (int b = 0, e = 0; b < batch; b++) {
                for (int i = 0; i < tables[b].length; i++, e++) {
                    int k = entryKey[e];
                    if (shared(k, count, partial)) {
                        if (depth[keyGroup[k]] == i) { sGroups.add(keyGroup[k]); sRows.add(entryPos[e]); }
                    } else {
                        priv.add(tables[b][i]);
                        privIdx.add(i);
                    }
                }
                privStart[b + 1] = priv.size();
                seqGroupStart[b + 1] = sGroups.size();
            }
            return new int[][] {gChunkStart.toArray(), gChunks.toArray(), depth, gSeqStart.toArray(), gSeqs.toArray(),
                    privStart, priv.toArray(), privIdx.toArray(), seqGroupStart, sGroups.toArray(), sRows.toArray()};
        }

        private boolean shared(int k, int[] count, int[] partial) {
            return sharing && count[k] >= 2 && partial[k] == 0;
        }

        private static boolean sameHolders(int[] holders, int[] start, int a, int b) {
            return Arrays.equals(holders, start[a], start[a + 1], holders, start[b], start[b + 1]);
        }

        private int slotOf(long key) {
            long h = key * 0x9E3779B97F4A7C15L;
            int s = (int) (h >>> 32) & mask;
            while (slotVal[s] >= 0 && slotKey[s] != key) s = (s + 1) & mask;
            return s;
        }
    }

    /** A growable int array (the builder's only allocation pattern). */
    private static final class IntList {
        private int[] a = new int[16];
        private int size;

        void add(int x) {
            if (size == a.length) a = Arrays.copyOf(a, 2 * size);
            a[size++] = x;
        }

        int size() { return size; }

        int[] toArray() { return Arrays.copyOf(a, size); }
    }
}
