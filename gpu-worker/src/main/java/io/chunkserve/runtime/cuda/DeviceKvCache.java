package io.chunkserve.runtime.cuda;

import io.chunkserve.kv.KvLayout;
import io.chunkserve.model.DType;

/**
 * The chunk pool's K and V slabs on the device, one pair per layer, both token-major: element
 * (chunk c, kv head h, slot t, dim d) at ((c·H + h)·C + t)·D + d (the host pool's V layout; its K blocks are
 * dim-major). Written only by the device's kernels. Chunk ids are the host pool's, so one prefix tree addresses
 * both. fp16 or bf16 only.
 */
public final class DeviceKvCache implements AutoCloseable {
    private final KvLayout layout;
    private final int numChunks;
    private final DeviceBuffer[] keys;     // per layer: (numChunks, kvHeads, chunkSize, headDim)
    private final DeviceBuffer[] values;   // per layer: (numChunks, kvHeads, chunkSize, headDim)

    public DeviceKvCache(KvLayout layout, int numChunks) {
        if (layout.dtype() == DType.F32) throw new IllegalArgumentException("the CUDA KV cache holds fp16 or bf16, not f32");
        if (layout.headDim() != 64 && layout.headDim() != 128) throw new IllegalArgumentException("CUDA attention supports head dims 64 and 128, not " + layout.headDim());
        this.layout = layout;
        this.numChunks = numChunks;
        long slab = layout.chunkElements() * numChunks * 2;
        keys = new DeviceBuffer[layout.layers()];
        values = new DeviceBuffer[layout.layers()];
        try {
            for (int l = 0; l < layout.layers(); l++) {
                keys[l] = DeviceBuffer.allocate(slab);
                values[l] = DeviceBuffer.allocate(slab);
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    public KvLayout layout() { return layout; }

    public int numChunks() { return numChunks; }

    public DeviceBuffer keys(int layer) { return keys[layer]; }

    public DeviceBuffer values(int layer) { return values[layer]; }

    @Override
    public void close() {
        for (DeviceBuffer b : keys) if (b != null) b.close();
        for (DeviceBuffer b : values) if (b != null) b.close();
    }
}
