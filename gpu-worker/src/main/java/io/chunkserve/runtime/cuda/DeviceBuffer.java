package io.chunkserve.runtime.cuda;

import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuMemsetD16;
import static jcuda.driver.JCudaDriver.cuMemsetD32;

/** A plain device allocation (cuMemAlloc) of a fixed size, with typed host copies. Not thread-safe. */
public final class DeviceBuffer implements AutoCloseable {
    private final CUdeviceptr ptr;
    private final long bytes;
    private boolean freed;

    private DeviceBuffer(CUdeviceptr ptr, long bytes) {
        this.ptr = ptr;
        this.bytes = bytes;
    }

    /**
     * b when it holds at least {@code bytes}, else a new buffer of max(bytes, 1.5 × b's size) (b freed, its contents not
     * kept): scratch that grows with the largest request seen.
     */
    static DeviceBuffer atLeast(DeviceBuffer b, long bytes) {
        if (b != null && b.bytes() >= bytes) return b;
        long size = Math.max(bytes, b == null ? 0 : b.bytes() * 3 / 2);
        if (b != null) b.close();
        return allocate(size);
    }

    /** At least one byte, so that an empty array still has a valid pointer to pass. */
    public static DeviceBuffer allocate(long bytes) {
        CUdeviceptr p = new CUdeviceptr();
        long n = Math.max(bytes, 16);
        cuMemAlloc(p, n);
        return new DeviceBuffer(p, n);
    }

    public CUdeviceptr ptr() { return ptr; }

    public long bytes() { return bytes; }

    /** Pointer {@code byteOffset} bytes into the buffer. */
    public CUdeviceptr at(long byteOffset) { return ptr.withByteOffset(byteOffset); }

    public void upload(int[] a) { upload(Pointer.to(a), 4L * a.length); }

    public void upload(short[] a) { upload(Pointer.to(a), 2L * a.length); }

    public void upload(float[] a) { upload(Pointer.to(a), 4L * a.length); }

    private void upload(Pointer host, long n) {
        if (n > bytes) throw new IllegalArgumentException(n + " bytes into a buffer of " + bytes);
        if (n > 0) cuMemcpyHtoD(ptr, host, n);
    }

    public void download(short[] a) { download(Pointer.to(a), 2L * a.length); }

    public void download(float[] a) { download(Pointer.to(a), 4L * a.length); }

    public void download(int[] a) { download(Pointer.to(a), 4L * a.length); }

    private void download(Pointer host, long n) {
        if (n > bytes) throw new IllegalArgumentException(n + " bytes from a buffer of " + bytes);
        if (n > 0) cuMemcpyDtoH(host, ptr, n);
    }

    /** Sets every 16-bit element to {@code bits} (e.g. a NaN pattern to poison outputs). */
    public void fill16(short bits) { cuMemsetD16(ptr, bits, bytes / 2); }

    /** Sets every 32-bit word to {@code bits}. */
    public void fill32(int bits) { cuMemsetD32(ptr, bits, bytes / 4); }

    @Override
    public void close() {
        if (!freed) {
            freed = true;
            cuMemFree(ptr);
        }
    }
}
