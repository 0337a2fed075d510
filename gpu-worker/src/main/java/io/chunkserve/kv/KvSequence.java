package io.chunkserve.kv;

import java.util.Arrays;

/**
 * One sequence's view of the chunked KV cache: which chunk holds each position, how many
 * positions hold KV, and how much room is reserved past them.
 *
 * <h2>Who may call what</h2>
 * Everything here belongs to the <b>engine thread</b> that owns the {@link PrefixCache}; no
 * method is thread-safe and none may be called from an event loop or any other thread (they
 * see requests and {@link KvStats}, never a {@code KvSequence}).
 * <ul>
 *   <li>The <b>engine</b> drives the life cycle, only through the cache:
 *       {@link PrefixCache#open} → ({@link PrefixCache#reserve} → forward → {@link PrefixCache#commit})* →
 *       {@link PrefixCache#release}, plus {@link PrefixCache#fork} for n &gt; 1 samples. A sequence
 *       is released exactly once, including on abort; after that it must not be used.</li>
 *   <li>The <b>model runtime</b> only reads: it writes the K/V of positions
 *       {@code length() .. length()+reservedTokens()-1} into
 *       {@code chunkTable()[p / chunkSize]}, slot {@code p % chunkSize} (see
 *       {@link #chunkOf(int)}, {@link #slotOf(int)}), and attends over
 *       {@code chunkTable()[0 .. chunkCount())}. It never writes a position below
 *       {@code length()}: those chunks may be shared with other sequences.</li>
 *   <li>Nobody mutates the array returned by {@link #chunkTable()}. Its entries change on
 *       {@code reserve} (new chunks, possibly a new array) and {@code commit} (a sealed chunk may be
 *       swapped for an identical cached one); re-read it after either, or compare
 *       {@link #tableVersion()} to rebuild an attention plan only when it changed.</li>
 * </ul>
 *
 * <p>Layout of the table: entries {@code [0, sealedChunks)} are full chunks in the prefix tree
 * (possibly shared); entries {@code [sealedChunks, chunkCount)} are private to this sequence —
 * the partially filled tail and any reserved room.
 */
public final class KvSequence {
    final PrefixCache owner;
    final long id;
    final long salt;
    int[] table;        // chunk ids; [0, chunkCount) valid
    int chunkCount;
    int sealed;         // leading entries that are prefix-tree nodes
    int length;         // positions whose KV is present
    int cachedTokens;   // positions whose KV came from the cache at open
    int version;
    /** A key collision stopped this sequence's chunks from entering the tree (they stay private). */
    boolean uncacheable;
    boolean released;
    int liveIndex = -1; // position in the owner's live list

    KvSequence(PrefixCache owner, long id, long salt, int capacity) {
        this.owner = owner;
        this.id = id;
        this.salt = salt;
        this.table = new int[Math.max(4, capacity)];
    }

    /** A number unique among this cache's sequences, for logs. */
    public long id() { return id; }

    /** Cache salt: sequences with different salts never share chunks. */
    public long salt() { return salt; }

    /** Positions 0 .. length−1 hold KV. */
    public int length() { return length; }

    /** Of {@link #length()}, the prompt tokens whose KV came from the prefix cache at open. */
    public int cachedTokens() { return cachedTokens; }

    /** Chunk ids by position / chunkSize; only the first {@link #chunkCount()} entries are valid. Read-only. */
    public int[] chunkTable() { return table; }

    /** Valid entries of {@link #chunkTable()}. */
    public int chunkCount() { return chunkCount; }

    /** Leading entries of the table that are full chunks in the prefix tree. */
    public int sealedChunks() { return sealed; }

    /** Positions past {@link #length()} that reserved chunks cover. */
    public int reservedTokens() { return chunkCount * owner.chunkSize() - length; }

    /** Chunk id holding position {@code p} (which must be below length + reservedTokens). */
    public int chunkOf(int p) {
        int i = p / owner.chunkSize();
        if (p < 0 || i >= chunkCount) throw new IndexOutOfBoundsException("position " + p + " outside " + this);
        return table[i];
    }

    /** Slot of position {@code p} inside its chunk. */
    public int slotOf(int p) { return p % owner.chunkSize(); }

    /** Bumped whenever a table entry is added, removed or replaced. */
    public int tableVersion() { return version; }

    public boolean isReleased() { return released; }

    void append(int chunk) {
        if (chunkCount == table.length) table = Arrays.copyOf(table, table.length * 2);
        table[chunkCount++] = chunk;
    }

    /** No token ids: prompts may be private. */
    @Override
    public String toString() {
        return "KvSequence[id=" + id + ", length=" + length + ", cached=" + cachedTokens + ", chunks=" + chunkCount
                + ", sealed=" + sealed + (released ? ", released" : "") + "]";
    }
}
