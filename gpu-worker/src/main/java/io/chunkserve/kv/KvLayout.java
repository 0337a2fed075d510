package io.chunkserve.kv;

import io.chunkserve.model.DType;

/**
 * Shape of the chunked KV cache. Each layer has one K slab and one V slab; chunk {@code c}
 * occupies a contiguous block of each, and within it KV head h a contiguous (chunkSize·headDim)
 * block starting at element (c·kvHeads + h)·chunkSize·headDim ({@link #index}(c, h, 0)).
 * <ul>
 * <li>V is token-major: element (c, h, slot t, dim d) at {@link #index}(c, h, t) + d.</li>
 * <li>K is dim-major within each (chunk, head) block: element (c, h, t, d) at
 * {@link #index}(c, h, 0) + d·chunkSize + t ({@link #keyIndex}), so the keys of consecutive
 * slots sit in consecutive elements and a score kernel can hold keys in vector lanes
 * (scores for a vector of tokens = Σ_d broadcast(q[d]) · K[d, tokens]) straight from the slab.</li>
 * </ul>
 * Copying whole chunks is layout-agnostic. The CUDA backend keeps its own device slabs
 * (token-major K, written only on the device: the host pool then holds the prefix tree's
 * bookkeeping, not the K/V).
 */
public record KvLayout(int layers, int kvHeads, int headDim, int chunkSize, DType dtype) {
    public KvLayout {
        if (chunkSize != 16 && chunkSize != 32 && chunkSize != 64 && chunkSize != 128) {
            throw new IllegalArgumentException("chunk size must be 16, 32, 64 or 128, got " + chunkSize);
        }
        if (layers < 1 || kvHeads < 1 || headDim < 1) throw new IllegalArgumentException("bad KV shape");
    }

    /** Elements of one chunk in one slab (one layer, K or V). */
    public long chunkElements() { return (long) kvHeads * chunkSize * headDim; }

    /** Bytes one chunk costs over all layers, K and V. */
    public long bytesPerChunk() { return 2L * layers * chunkElements() * dtype.bytes(); }

    /** Bytes one token costs over all layers, K and V. */
    public long bytesPerToken() { return 2L * layers * kvHeads * headDim * dtype.bytes(); }

    /** Element index of (chunk, head, slot, 0) within a layer's V slab; with slot 0, where the (chunk, head) block starts in either slab. */
    public long index(int chunk, int head, int slot) {
        return (((long) chunk * kvHeads + head) * chunkSize + slot) * headDim;
    }

    /** Element index of K (chunk, head, slot, dim) within a layer's K slab (dim-major blocks). */
    public long keyIndex(int chunk, int head, int slot, int dim) {
        return index(chunk, head, 0) + (long) dim * chunkSize + slot;
    }
}
