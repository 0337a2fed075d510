package io.chunkserve.kv;

import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * The prefix-aware chunked KV cache: ChunkAttention's prefix tree of KV chunks, one tree for all
 * layers, extended with prefix caching across time (SGLang radix cache / vLLM v1 block pool).
 *
 * <ul>
 *   <li>A chunk holds the KV of {@code C} consecutive positions (every layer, K and V) of the
 *       {@link ChunkPool}. Full chunks enter the tree under their parent, keyed by
 *       {@link ChunkHash} {@code (parent key, C token ids, salt)}; a lookup also compares the
 *       parent, salt and token ids, so a key collision is a miss, never wrong KV.</li>
 *   <li>Only full chunks are in the tree and shared; each live sequence privately owns its
 *       partially filled tail and any room reserved past it.</li>
 *   <li>Refcount = live sequences whose chunk table holds the chunk. A tree chunk whose refcount
 *       drops to 0 stays cached in an LRU list ({@link ChunkLru}) and is evicted only when an
 *       allocation finds the pool empty. Sequences are released deepest chunk first, so the list
 *       always orders a chunk before its ancestors: the oldest entry is always a leaf, and
 *       eviction is O(1), leaves first.</li>
 *   <li>Changes to the cached set are queued as {@link KvEvent}s, drained once per step.</li>
 * </ul>
 *
 * Owned by the engine thread (see {@link KvSequence} for who calls what): no locks, primitive
 * arrays, and nothing allocated per token — {@code commit} and {@code reserve} allocate only when
 * a chunk fills or a sequence's table grows. {@link #checkInvariants()} verifies the whole state
 * (tests and debug builds).
 */
public final class PrefixCache {
    /** Computes chunk keys; replaceable by tests to force collisions. */
    @FunctionalInterface
    interface KeyFunction {
        long of(long parentKey, int[] tokens, int off, int n, long salt);
    }

    static final int NONE = -1;

    final ChunkPool pool;
    final int chunkSize;
    final int numChunks;
    final KeyFunction keyFunction;

    // Per chunk id. Tree fields (key, parent, salt, children) mean something only while inTree.
    final int[] tokens;       // (numChunks, chunkSize) token ids of each chunk's filled slots
    final int[] refcount;     // (numChunks) live sequences holding the chunk
    final boolean[] inTree;   // (numChunks)
    final long[] key;         // (numChunks)
    final int[] parent;       // (numChunks) parent chunk, NONE under the root
    final long[] salt;        // (numChunks)
    final int[] children;     // (numChunks) tree children (cached or referenced)

    final ChunkKeyTable byKey;
    final ChunkLru lru;       // exactly the tree chunks with refcount 0
    private final ArrayDeque<KvEvent> events = new ArrayDeque<>();
    private final boolean emitEvents;

    KvSequence[] live = new KvSequence[16]; // [0, liveCount) valid
    int liveCount;
    int referenced;           // chunks with refcount > 0
    private long nextId;
    private long queriedTokens, hitTokens, evictions;

    /** A cache over {@code pool}, which must be entirely free; emits events. */
    public PrefixCache(ChunkPool pool) { this(pool, true); }

    /** As {@link #PrefixCache(ChunkPool)}; without events when {@code emitEvents} is false (no cluster index). */
    public PrefixCache(ChunkPool pool, boolean emitEvents) { this(pool, emitEvents, ChunkHash::of); }

    PrefixCache(ChunkPool pool, boolean emitEvents, KeyFunction keyFunction) {
        this.pool = Objects.requireNonNull(pool);
        this.emitEvents = emitEvents;
        this.keyFunction = keyFunction;
        chunkSize = pool.layout().chunkSize();
        numChunks = pool.numChunks();
        if (pool.freeChunks() != numChunks) throw new IllegalArgumentException("the prefix cache needs an unused pool");
        if ((long) numChunks * chunkSize > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(numChunks + " chunks of " + chunkSize + " tokens exceed the token table");
        }
        tokens = new int[numChunks * chunkSize];
        refcount = new int[numChunks];
        inTree = new boolean[numChunks];
        key = new long[numChunks];
        parent = new int[numChunks];
        Arrays.fill(parent, NONE);
        salt = new long[numChunks];
        children = new int[numChunks];
        byKey = new ChunkKeyTable(numChunks);
        lru = new ChunkLru(numChunks);
    }

    public ChunkPool pool() { return pool; }

    public int chunkSize() { return chunkSize; }

    // ---- lookup ---------------------------------------------------------------------------

    /**
     * Tokens of the longest cached full-chunk prefix of {@code tokens} under {@code salt} (a
     * multiple of the chunk size; it may equal the whole prompt — {@link #open} reuses at most
     * all but the last token). No side effects: LRU order and counters are untouched.
     */
    public int matchLength(int[] tokens, long salt) {
        return walk(tokens, salt, tokens.length / chunkSize, null) * chunkSize;
    }

    /**
     * Starts a sequence for {@code prompt}: pins the longest cached full-chunk prefix, at most
     * {@code floor((len−1)/C)} chunks so at least one prompt token is computed (its logits are
     * needed). The result's {@code length()} and {@code cachedTokens()} are the matched tokens;
     * the caller then reserves and computes the rest. Never allocates a chunk, so it cannot fail.
     * Counts queried and hit tokens.
     */
    public KvSequence open(int[] prompt, long salt) {
        int max = prompt.length == 0 ? 0 : (prompt.length - 1) / chunkSize;
        KvSequence s = new KvSequence(this, nextId++, salt, prompt.length / chunkSize + 2);
        int n = walk(prompt, salt, max, s);
        s.sealed = n;
        s.length = n * chunkSize;
        s.cachedTokens = s.length;
        s.version++;
        queriedTokens += prompt.length;
        hitTokens += s.length;
        addLive(s);
        return s;
    }

    /** Follows cached chunks matching {@code tokens}, at most {@code maxChunks}; pins them into {@code into} if given. */
    private int walk(int[] tokens, long salt, int maxChunks, KvSequence into) {
        int parentChunk = NONE;
        long parentKey = ChunkHash.ROOT;
        int n = 0;
        while (n < maxChunks) {
            long k = keyFunction.of(parentKey, tokens, n * chunkSize, chunkSize, salt);
            int c = find(k, parentChunk, salt, tokens, n * chunkSize);
            if (c == NONE) break;
            if (into != null) {
                pin(c);
                into.append(c);
            }
            parentChunk = c;
            parentKey = k;
            n++;
        }
        return n;
    }

    /** The tree chunk with key {@code k} whose parent, salt and tokens also match, or NONE. */
    private int find(long k, int parentChunk, long salt, int[] src, int off) {
        int c = byKey.get(k);
        if (c < 0 || parent[c] != parentChunk || this.salt[c] != salt) return NONE;
        return Arrays.equals(tokens, c * chunkSize, (c + 1) * chunkSize, src, off, off + chunkSize) ? c : NONE;
    }

    // ---- growth -----------------------------------------------------------------------------

    /** Chunks {@link #reserve} would have to allocate for {@code newTokens} more positions. */
    public int chunksToReserve(KvSequence s, int newTokens) {
        long end = (long) s.length + Math.max(0, newTokens);
        return (int) Math.max(0, Math.min(Integer.MAX_VALUE, (end + chunkSize - 1) / chunkSize - s.chunkCount));
    }

    /**
     * Ensures chunks exist for positions {@code length .. length+newTokens−1}: allocates private
     * chunks, evicting least recently used cached chunks (never one a live sequence holds) when the
     * pool is empty. Returns false and changes nothing when free plus evictable chunks are too few.
     */
    public boolean reserve(KvSequence s, int newTokens) {
        checkLive(s);
        if (newTokens < 0) throw new IllegalArgumentException("negative reservation: " + newTokens);
        int need = chunksToReserve(s, newTokens);
        if (need == 0) return true;
        if (need > availableChunks()) return false;
        for (int i = 0; i < need; i++) s.append(takePrivateChunk());
        s.version++;
        return true;
    }

    /**
     * Records that the forward wrote the K/V of {@code tokens[off .. off+n)} at positions
     * {@code length .. length+n−1} (which must be reserved): length += n, and each chunk that
     * fills is sealed — keyed and put in the tree under its parent, or, when an identical chunk is
     * already cached, replaced by it (the duplicate goes back to the pool), so concurrent identical
     * prefills end up sharing.
     */
    public void commit(KvSequence s, int[] tokens, int off, int n) {
        checkLive(s);
        Objects.checkFromIndexSize(off, n, tokens.length);
        if (n > s.reservedTokens()) {
            throw new IllegalStateException("commit of " + n + " tokens past the " + s.reservedTokens() + " reserved in " + s);
        }
        int p = s.length, end = p + n, src = off;
        while (p < end) {
            int idx = p / chunkSize, slot = p % chunkSize, take = Math.min(chunkSize - slot, end - p);
            System.arraycopy(tokens, src, this.tokens, s.table[idx] * chunkSize + slot, take);
            p += take;
            src += take;
            s.length = p;
            if (slot + take == chunkSize) seal(s, idx);
        }
    }

    /** Puts the just-filled private chunk {@code s.table[idx]} into the tree, or swaps it for its cached twin. */
    private void seal(KvSequence s, int idx) {
        if (s.uncacheable) return; // its parent is not in the tree: stays private
        int c = s.table[idx];
        int parentChunk = idx == 0 ? NONE : s.table[idx - 1];
        long parentKey = idx == 0 ? ChunkHash.ROOT : key[parentChunk];
        long k = keyFunction.of(parentKey, tokens, c * chunkSize, chunkSize, s.salt);
        int twin = byKey.get(k);
        if (twin >= 0) {
            if (find(k, parentChunk, s.salt, tokens, c * chunkSize) == twin) {
                pin(twin);
                s.table[idx] = twin;
                refcount[c] = 0;
                referenced--;
                pool.free(c);
                s.sealed++;
                s.version++;
            } else {
                s.uncacheable = true; // 64-bit key collision: keep this path private rather than share wrong KV
            }
            return;
        }
        inTree[c] = true;
        key[c] = k;
        parent[c] = parentChunk;
        salt[c] = s.salt;
        children[c] = 0;
        if (parentChunk != NONE) children[parentChunk]++;
        byKey.put(k, c);
        s.sealed++;
        emit(new KvEvent.ChunkStored(k, parentKey, chunkSize));
    }

    /**
     * A second sequence continuing from {@code s} (n &gt; 1 samples): shares every tree chunk of
     * {@code s} and copies its private partially filled chunk (K/V of all layers) into a new
     * private chunk; reserved room is not copied. Returns null when no chunk is available.
     */
    public KvSequence fork(KvSequence s) {
        checkLive(s);
        int filled = (s.length + chunkSize - 1) / chunkSize;
        int copies = filled - s.sealed;
        if (copies > availableChunks()) return null;
        KvSequence f = new KvSequence(this, nextId++, s.salt, s.chunkCount + 1);
        for (int i = 0; i < s.sealed; i++) {
            pin(s.table[i]);
            f.append(s.table[i]);
        }
        for (int i = s.sealed; i < filled; i++) {
            int src = s.table[i], dst = takePrivateChunk();
            pool.copyChunk(src, dst);
            System.arraycopy(tokens, src * chunkSize, tokens, dst * chunkSize, chunkSize);
            f.append(dst);
        }
        f.sealed = s.sealed;
        f.length = s.length;
        f.cachedTokens = s.cachedTokens;
        f.uncacheable = s.uncacheable;
        f.version++;
        addLive(f);
        return f;
    }

    // ---- release and eviction -------------------------------------------------------------

    /**
     * Ends a sequence: private chunks go back to the pool; tree chunks lose one reference and, at
     * zero, stay cached as most recently used — deepest first, so they are evicted before their
     * ancestors. A second release throws.
     */
    public void release(KvSequence s) {
        if (s.owner != this) throw new IllegalArgumentException(s + " belongs to another cache");
        if (s.released) throw new IllegalStateException(s + " released twice");
        for (int i = s.chunkCount - 1; i >= s.sealed; i--) {
            int c = s.table[i];
            if (refcount[c] != 1 || inTree[c]) throw new IllegalStateException("private chunk " + c + " of " + s + " is shared");
            refcount[c] = 0;
            referenced--;
            pool.free(c);
        }
        for (int i = s.sealed - 1; i >= 0; i--) unpin(s.table[i]);
        s.released = true;
        s.chunkCount = 0;
        s.version++;
        removeLive(s);
    }

    /** Whether a sequence of {@code tokens} positions could fit the pool even alone. */
    public boolean canEverFit(int tokens) {
        return tokens >= 0 && (tokens + (long) chunkSize - 1) / chunkSize <= numChunks;
    }

    /** Chunks an allocation can get now: free plus evictable cached ones. */
    public int availableChunks() { return pool.freeChunks() + lru.size(); }

    /**
     * Drops every cached chunk no live sequence holds and emits {@link KvEvent.AllCleared},
     * followed by a {@link KvEvent.ChunkStored} for each tree chunk live sequences still hold
     * (parents first), which stay matchable.
     */
    public void clear() {
        for (int c = lru.oldest(); c >= 0; c = lru.oldest()) dropCached(c);
        if (!emitEvents) return;
        emit(new KvEvent.AllCleared());
        boolean[] announced = new boolean[numChunks]; // rare operation: a scratch array is fine
        for (int i = 0; i < liveCount; i++) {
            KvSequence s = live[i];
            for (int j = 0; j < s.sealed; j++) {
                int c = s.table[j];
                if (announced[c]) continue;
                announced[c] = true;
                emit(new KvEvent.ChunkStored(key[c], j == 0 ? ChunkHash.ROOT : key[s.table[j - 1]], chunkSize));
            }
        }
    }

    private int takePrivateChunk() {
        int c = pool.allocate();
        if (c < 0) {
            c = lru.oldest();
            if (c < 0) throw new IllegalStateException("no chunk to allocate or evict");
            dropCached(c);
            evictions++;
            emit(new KvEvent.ChunkRemoved(key[c]));
            c = pool.allocate();
        }
        refcount[c] = 1;
        referenced++;
        return c;
    }

    /** Removes an unreferenced cached leaf from the tree and the LRU list and frees it. */
    private void dropCached(int c) {
        if (children[c] != 0) throw new IllegalStateException("evicting chunk " + c + " with " + children[c] + " children");
        lru.remove(c);
        byKey.remove(key[c]);
        inTree[c] = false;
        if (parent[c] != NONE) children[parent[c]]--;
        parent[c] = NONE;
        pool.free(c);
    }

    private void pin(int c) {
        if (refcount[c]++ == 0) {
            lru.remove(c);
            referenced++;
        }
    }

    private void unpin(int c) {
        if (refcount[c] <= 0) throw new IllegalStateException("chunk " + c + " unpinned below zero");
        if (--refcount[c] == 0) {
            referenced--;
            lru.addLast(c);
        }
    }

    // ---- events, stats, checks ------------------------------------------------------------

    private void emit(KvEvent e) {
        if (emitEvents) events.add(e);
    }

    /** Hands every queued event to {@code sink}, oldest first, and empties the queue. */
    public void drainEvents(Consumer<? super KvEvent> sink) {
        for (KvEvent e; (e = events.poll()) != null; ) sink.accept(e);
    }

    public KvStats stats() {
        return new KvStats(chunkSize, numChunks, pool.freeChunks(), lru.size(), referenced, liveCount,
                queriedTokens, hitTokens, evictions);
    }

    /** Verifies every structural invariant; throws {@link IllegalStateException} on the first violation. */
    public void checkInvariants() { PrefixCacheInvariants.check(this); }

    private void checkLive(KvSequence s) {
        if (s.owner != this) throw new IllegalArgumentException(s + " belongs to another cache");
        if (s.released) throw new IllegalStateException(s + " is released");
    }

    private void addLive(KvSequence s) {
        if (liveCount == live.length) live = Arrays.copyOf(live, liveCount * 2);
        s.liveIndex = liveCount;
        live[liveCount++] = s;
    }

    private void removeLive(KvSequence s) {
        KvSequence last = live[--liveCount];
        live[s.liveIndex] = last;
        last.liveIndex = s.liveIndex;
        live[liveCount] = null;
        s.liveIndex = -1;
    }
}
