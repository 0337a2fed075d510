package io.chunkserve.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** The partials variants' kernel names, block sizes and shared memory as the launches use them (no GPU needed). */
class CudaAttentionVariantsTest {
    @Test
    void warpgroupVariantIsTheEightWarpKernelAtHeadDim64AndF64zAt128() {
        assertEquals("f64w8h", CudaAttention.DEFAULT_VARIANT);
        assertEquals("f64w8h", CudaAttention.kernelOf("f64w8h", 64));
        assertEquals("f64z", CudaAttention.kernelOf("f64w8h", 128));
        assertEquals(2 * CudaAttention.THREADS, CudaAttention.threadsOf("f64w8h", 64));
        assertEquals(CudaAttention.THREADS, CudaAttention.threadsOf("f64w8h", 128));
    }

    @Test
    void warpgroupVariantAsksForTheAlignmentPadOnlyWhereItsKernelRuns() {
        // the kernel aligns its tiles to 1 KiB inside the block's dynamic shared memory: 1 KiB more than f64w8 at d64
        assertEquals(CudaAttention.smemBytesFor("f64w8", 64, 3, 64) + 1024, CudaAttention.smemBytesFor("f64w8h", 64, 3, 64));
        // at d128 it is the f64z kernel, which has no pad
        assertEquals(CudaAttention.smemBytesFor("f64z", 128, 3, 64), CudaAttention.smemBytesFor("f64w8h", 128, 3, 64));
        // (64 query rows + 3 stages of 64 K and 64 V tokens) × d × 2 bytes + the row sequences and item counts
        assertEquals((64 * 64 + 3 * 2 * 64 * 64) * 2 + 2 * 64 * 4 + 1024, CudaAttention.smemBytesFor("f64w8h", 64, 3, 64));
        // session 23's A/B variant: 8 warp items a warp block (8 warps' query copies and 3 stages); f64z at d128
        assertEquals(8 * (16 * 64 + 3 * 2 * 16 * 64) * 2 + 1024, CudaAttention.smemBytesFor("f64w8hw", 64, 3, 64));
        assertEquals(CudaAttention.smemBytesFor("f64z", 128, 3, 64), CudaAttention.smemBytesFor("f64w8hw", 128, 3, 64));
    }
}
