package io.chunkserve.runtime.cuda;

import io.chunkserve.kv.ChunkPool;
import io.chunkserve.kv.KvLayout;
import io.chunkserve.model.DType;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

import java.lang.foreign.MemorySegment;

import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;

/**
 * The chunk pool's K and V slabs on the device, one pair per layer, in {@link KvLayout}'s layout: element
 * (chunk c, kv head h, slot t, dim d) at ((c·H + h)·C + t)·D + d. Chunk ids are the host pool's, so one prefix
 * tree addresses both. fp16 or bf16 only.
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

    /**
     * Copies every layer's slabs of a host pool of the same layout and chunk count to the device. The host K
     * blocks are dim-major ({@link KvLayout#keyIndex}); the device's are token-major, so K is transposed on the
     * way, one chunk at a time.
     */
    public void upload(ChunkPool host) {
        if (!host.layout().equals(layout) || host.numChunks() != numChunks) throw new IllegalArgumentException("pool layout/size differs");
        long bytes = layout.chunkElements() * numChunks * 2;
        int c = layout.chunkSize(), hd = layout.headDim(), heads = layout.kvHeads();
        long chunkBytes = layout.chunkElements() * 2;
        java.nio.ByteBuffer tmp = java.nio.ByteBuffer.allocateDirect((int) chunkBytes).order(java.nio.ByteOrder.nativeOrder());
        for (int l = 0; l < layout.layers(); l++) {
            MemorySegment ks = host.keys(l), t = MemorySegment.ofBuffer(tmp);
            for (int ch = 0; ch < numChunks; ch++) {
                for (int h = 0; h < heads; h++) {
                    for (int s = 0; s < c; s++) {
                        for (int d = 0; d < hd; d++) {
                            short x = ks.get(I16, layout.keyIndex(ch, h, s, d) * 2);
                            t.set(I16, ((long) (h * c + s) * hd + d) * 2, x);
                        }
                    }
                }
                cuMemcpyHtoD(keys[l].ptr().withByteOffset(ch * chunkBytes), Pointer.to(tmp), chunkBytes);
            }
            copy(host.values(l), values[l].ptr(), bytes);
        }
    }

    private static final java.lang.foreign.ValueLayout.OfShort I16 = java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;

    private static void copy(MemorySegment src, CUdeviceptr dst, long bytes) {
        long step = 1L << 30;
        for (long off = 0; off < bytes; off += step) {
            long n = Math.min(step, bytes - off);
            cuMemcpyHtoD(dst.withByteOffset(off), Pointer.to(src.asSlice(off, n).asByteBuffer()), n);
        }
    }

    @Override
    public void close() {
        for (DeviceBuffer b : keys) if (b != null) b.close();
        for (DeviceBuffer b : values) if (b != null) b.close();
    }
}
