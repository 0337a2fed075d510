package io.chunkserve.kv;

/**
 * A snapshot of the KV cache for the scheduler and metrics — the boundary type: callers see
 * counts, never the tree. Every chunk is exactly one of free, cached (in the tree, no live
 * sequence uses it, evictable) or referenced (used by at least one live sequence).
 *
 * @param chunkSize        tokens per chunk
 * @param totalChunks      chunks in the pool
 * @param freeChunks       chunks holding nothing
 * @param cachedChunks     full chunks kept for reuse that no live sequence references (evictable)
 * @param referencedChunks chunks at least one live sequence uses
 * @param liveSequences    sequences opened and not yet released
 * @param queriedTokens    prompt tokens looked up by {@code open} since start
 * @param hitTokens        of those, tokens whose KV came from the cache
 * @param evictions        cached chunks evicted to make room since start
 */
public record KvStats(int chunkSize, int totalChunks, int freeChunks, int cachedChunks, int referencedChunks,
                      int liveSequences, long queriedTokens, long hitTokens, long evictions) {

    /** Chunks an allocation can get now: free ones plus evictable cached ones. */
    public int availableChunks() { return freeChunks + cachedChunks; }

    /** Fraction of the pool live sequences hold, 0..1 (cached chunks count as reclaimable). */
    public double usageRatio() { return totalChunks == 0 ? 0 : (double) referencedChunks / totalChunks; }

    /** Prefix-cache hit rate over queried prompt tokens, 0..1. */
    public double hitRate() { return queriedTokens == 0 ? 0 : (double) hitTokens / queriedTokens; }
}
