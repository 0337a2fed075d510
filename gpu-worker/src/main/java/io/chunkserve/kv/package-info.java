/**
 * The KV cache: a preallocated {@link io.chunkserve.kv.ChunkPool} of fixed-size chunks (every
 * layer's K and V addressed by one chunk id) and the {@link io.chunkserve.kv.PrefixCache} over it —
 * ChunkAttention's prefix tree plus LRU prefix caching across requests.
 *
 * <p>Everything here is owned by the engine thread and is not thread-safe. The engine drives
 * {@link io.chunkserve.kv.KvSequence}s through the cache (see that class for who may call what);
 * schedulers and metrics see {@link io.chunkserve.kv.KvStats} snapshots; the cluster prefix index
 * sees {@link io.chunkserve.kv.KvEvent}s keyed by {@link io.chunkserve.kv.ChunkHash}.
 */
package io.chunkserve.kv;
