package io.chunkserve.kv;

/**
 * A change to the set of cached chunks, queued by {@link PrefixCache} in the order it happened and
 * drained once per engine step ({@link PrefixCache#drainEvents}) — the feed of the cluster prefix
 * index. Keys are {@link ChunkHash} keys; a first chunk's parent key is {@link ChunkHash#ROOT}.
 */
public sealed interface KvEvent {
    /** A full chunk entered the prefix tree (its KV can be reused by a matching prompt). */
    record ChunkStored(long key, long parentKey, int tokenCount) implements KvEvent { }

    /** A cached chunk was evicted; its key no longer matches on this worker. */
    record ChunkRemoved(long key) implements KvEvent { }

    /**
     * Forget every key of this worker. {@link PrefixCache#clear()} follows it with a
     * {@link ChunkStored} for each chunk still held by a live sequence, so the index stays exact.
     */
    record AllCleared() implements KvEvent { }
}
