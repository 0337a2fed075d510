package io.chunkserve.runtime.cuda;

import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static jcuda.driver.JCudaDriver.cuCtxSynchronize;
import static jcuda.driver.JCudaDriver.cuMemAllocHost;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoHAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;

/**
 * Page-locked host memory for the copies of a step that must not wait for the device: a plain
 * {@code cuMemcpyHtoD} from pageable memory first waits for everything queued on the legacy stream, which would
 * stall a step queued behind a running one. Two halves, one per step parity: a step writes its host data into
 * its half ({@link #upload}, {@link #downloadAsync}) while the copies queued from the other half by the step
 * before may still be pending; the caller guarantees the half's previous step completed (at most two steps in
 * flight, collected in order). Growing waits for the device first. Engine thread only.
 */
final class PinnedStage implements AutoCloseable {
    private Pointer host;
    private ByteBuffer buf;
    private long halfBytes;
    private int half;
    private long used;

    PinnedStage(long halfBytes) { allocate(Math.max(4096, halfBytes)); }

    private void allocate(long half) {
        host = new Pointer();
        cuMemAllocHost(host, 2 * half);
        buf = host.getByteBuffer(0, 2 * half).order(ByteOrder.nativeOrder());
        halfBytes = half;
    }

    /** Starts a step: its copies go into half {@code parity & 1} from the start. */
    void begin(int parity) {
        half = parity & 1;
        used = 0;
    }

    /** Room for {@code bytes} more in the current half; growing waits for every queued copy first. */
    private long take(long bytes) {
        long aligned = (bytes + 63) & ~63L;
        if (used + aligned > halfBytes) {
            cuCtxSynchronize();                      // copies queued from the old memory complete first
            Pointer oldHost = host;
            ByteBuffer old = buf;
            long oldHalf = halfBytes;
            allocate(Math.max(2 * halfBytes, used + aligned));
            for (int h = 0; h < 2; h++) {            // downloads not read yet keep their (half, offset)
                buf.put((int) (h * halfBytes), old, (int) (h * oldHalf), (int) oldHalf);
            }
            cuMemFreeHost(oldHost);
        }
        long rel = used;
        used += aligned;
        return rel;
    }

    /** Queues the upload of {@code a[0 .. n)} to {@code dst} (legacy stream, asynchronous). */
    void upload(CUdeviceptr dst, int[] a, int n) {
        if (n == 0) return;
        long off = half * halfBytes + take(4L * n);
        buf.slice((int) off, 4 * n).order(ByteOrder.nativeOrder()).asIntBuffer().put(a, 0, n);
        cuMemcpyHtoDAsync(dst, host.withByteOffset(off), 4L * n, null);
    }

    /**
     * Queues the download of {@code n} ints from {@code src} into this half; returns the handle to read them with
     * {@link #readInts} once the device passed the copy (an event recorded after it).
     */
    long downloadAsync(CUdeviceptr src, int n) {
        long rel = take(4L * Math.max(n, 1));
        if (n > 0) cuMemcpyDtoHAsync(host.withByteOffset(half * halfBytes + rel), src, 4L * n, null);
        return ((long) half << 40) | rel;
    }

    /** Reads n ints of a completed {@link #downloadAsync}. */
    void readInts(long handle, int[] into, int n) {
        long off = (handle >>> 40) * halfBytes + (handle & ((1L << 40) - 1));
        buf.slice((int) off, 4 * n).order(ByteOrder.nativeOrder()).asIntBuffer().get(into, 0, n);
    }

    @Override
    public void close() {
        if (host != null) {
            cuMemFreeHost(host);
            host = null;
        }
    }
}
