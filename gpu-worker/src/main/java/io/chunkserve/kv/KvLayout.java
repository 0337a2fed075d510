package io.chunkserve.kv;

import io.chunkserve.model.DType;

/**
 * Shape of the chunked KV cache. Each layer has one K slab and one V slab; chunk {@code c}
 * occupies a contiguous block of each: (kvHeads, chunkSize, headDim), so element
 * (chunk c, head h, slot t, dim d) sits at index ((c·kvHeads + h)·chunkSize + t)·headDim + d.
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

    /** Element index of (chunk, head, slot, 0) within a layer's slab. */
    public long index(int chunk, int head, int slot) {
        return (((long) chunk * kvHeads + head) * chunkSize + slot) * headDim;
    }
}
