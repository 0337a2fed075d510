package io.chunkserve.runtime.cuda;

import jcuda.CudaException;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUevent;
import jcuda.driver.CUfunction;
import jcuda.driver.CUfunction_attribute;
import jcuda.driver.CUmodule;
import jcuda.driver.JCudaDriver;

import java.util.logging.Logger;

import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuCtxSynchronize;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetAttribute;
import static jcuda.driver.JCudaDriver.cuDeviceGetCount;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRelease;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuDeviceTotalMem;
import static jcuda.driver.JCudaDriver.cuDriverGetVersion;
import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventElapsedTime;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;
import static jcuda.driver.JCudaDriver.cuFuncSetAttribute;
import static jcuda.driver.JCudaDriver.cuInit;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoD;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;
import static jcuda.driver.JCudaDriver.cuOccupancyMaxActiveBlocksPerMultiprocessor;

/**
 * One CUDA device reached through JCuda's driver API (which needs only {@code libcuda.so.1}): its primary
 * context, its properties, and small helpers for modules, memory and events. Used from one thread (the engine
 * thread) at a time; {@link #makeCurrent()} binds the context to another thread.
 *
 * <p>{@link #tryOpen()} never throws: without the JCuda native library, without a driver ({@code libcuda.so.1})
 * or without a device it answers "CUDA unavailable: reason" and logs one INFO line, so the CPU path can be the
 * default. {@link #open()} is for callers that asked for CUDA explicitly: it fails with one line.
 */
public final class CudaDevice implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(CudaDevice.class.getName());

    private final int ordinal;
    private final CUdevice device;
    private final CUcontext context;
    private final String name;
    private final int multiprocessors, ccMajor, ccMinor, maxSharedPerBlockOptin, l2Bytes, driverVersion;
    private final long totalMemory;
    private boolean closed;

    /** What probing for CUDA found: a device, or the reason there is none. */
    public record Probe(CudaDevice device, String reason) {
        public boolean available() { return device != null; }

        /** "CUDA unavailable: reason" (one line), or null when available. */
        public String message() { return device != null ? null : "CUDA unavailable: " + reason; }

        /** The device, or {@link CudaUnavailableException} with {@link #message()}. */
        public CudaDevice orElseThrow() {
            if (device == null) throw new CudaUnavailableException(message());
            return device;
        }
    }

    private CudaDevice(int ordinal) {
        this.ordinal = ordinal;
        device = new CUdevice();
        cuDeviceGet(device, ordinal);
        byte[] nameBytes = new byte[256];
        cuDeviceGetName(nameBytes, nameBytes.length, device);
        int len = 0;
        while (len < nameBytes.length && nameBytes[len] != 0) len++;
        name = new String(nameBytes, 0, len, java.nio.charset.StandardCharsets.UTF_8);
        multiprocessors = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
        ccMajor = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
        ccMinor = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
        maxSharedPerBlockOptin = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN);
        l2Bytes = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE);
        long[] mem = new long[1];
        cuDeviceTotalMem(mem, device);
        totalMemory = mem[0];
        int[] v = new int[1];
        cuDriverGetVersion(v);
        driverVersion = v[0];
        context = new CUcontext();
        cuDevicePrimaryCtxRetain(context, device);
        cuCtxSetCurrent(context);
    }

    /** Device 0, or the reason CUDA cannot be used here (logged once at INFO). Never throws. */
    public static Probe tryOpen() { return tryOpen(0); }

    /** Device {@code ordinal}, or the reason CUDA cannot be used here (logged once at INFO). Never throws. */
    public static Probe tryOpen(int ordinal) {
        Probe p = probe(ordinal);
        LOG.info(p.available() ? "CUDA device " + ordinal + ": " + p.device().describe() : p.message() + "; using the CPU path");
        return p;
    }

    /** Device {@code ordinal}; throws {@link CudaUnavailableException} (one-line message) when there is none. */
    public static CudaDevice open(int ordinal) { return probe(ordinal).orElseThrow(); }

    /** Device 0; throws {@link CudaUnavailableException} (one-line message) when there is none. */
    public static CudaDevice open() { return open(0); }

    /** Why the JCuda native library did not load, from the first attempt (later attempts only see NoClassDefFoundError). */
    private static volatile String nativeFailure;

    private static Probe probe(int ordinal) {
        if (nativeFailure != null) return new Probe(null, nativeFailure);
        try {
            JCudaDriver.setExceptionsEnabled(true);   // loads the native library
        } catch (LinkageError e) {
            nativeFailure = "JCuda's driver library did not load: " + nativeReason(e);
            return new Probe(null, nativeFailure);
        }
        try {
            cuInit(0);
            int[] count = new int[1];
            cuDeviceGetCount(count);
            if (count[0] == 0) return new Probe(null, "no CUDA device");
            if (ordinal < 0 || ordinal >= count[0]) return new Probe(null, "no CUDA device " + ordinal + " (" + count[0] + " present)");
            return new Probe(new CudaDevice(ordinal), null);
        } catch (CudaException e) {
            return new Probe(null, "driver error: " + oneLine(e.getMessage()));
        } catch (LinkageError e) {
            return new Probe(null, "the CUDA driver did not load (" + oneLine(rootMessage(e)) + ")");
        }
    }

    private static final java.util.regex.Pattern MISSING_SO =
            java.util.regex.Pattern.compile("[\\w.+-]+\\.so[\\w.]*: cannot open shared object file[^\\r\\n]*");

    /** The line of JCuda's long load report that says what was missing (e.g. "libcuda.so.1: cannot open ..."). */
    static String nativeReason(Throwable e) {
        String msg = rootMessage(e);
        java.util.regex.Matcher m = MISSING_SO.matcher(msg);
        if (m.find()) return m.group();
        String last = null;
        for (String line : msg.split("\\R")) {
            int i = line.indexOf("UnsatisfiedLinkError: ");
            if (i >= 0) last = line.substring(i + "UnsatisfiedLinkError: ".length());
        }
        return oneLine(last != null ? last : msg.lines().findFirst().orElse(msg));
    }

    private static String rootMessage(Throwable e) {
        String msg = e.getMessage();
        for (Throwable c = e.getCause(); c != null; c = c.getCause()) {
            if (c.getMessage() != null) msg = c.getMessage();
        }
        return msg == null ? e.getClass().getSimpleName() : msg;
    }

    /** Collapses a multi-line native error to one line of at most 300 characters. */
    static String oneLine(String s) {
        if (s == null) return "no message";
        String t = s.replaceAll("\\s*[\\r\\n]+\\s*", "; ").trim();
        return t.length() <= 300 ? t : t.substring(0, 297) + "...";
    }

    /** Binds this device's context to the calling thread. */
    public void makeCurrent() { cuCtxSetCurrent(context); }

    public int ordinal() { return ordinal; }

    public String name() { return name; }

    public int multiprocessors() { return multiprocessors; }

    public int computeCapability() { return ccMajor * 10 + ccMinor; }

    public int maxSharedPerBlockOptin() { return maxSharedPerBlockOptin; }

    public int l2Bytes() { return l2Bytes; }

    public long totalMemory() { return totalMemory; }

    /** e.g. "NVIDIA H100 80GB HBM3, sm_90, 132 SMs, 50 MiB L2, 79 GiB, driver API 13.0". */
    public String describe() {
        return name + ", sm_" + computeCapability() + ", " + multiprocessors + " SMs, " + (l2Bytes >> 20) + " MiB L2, "
                + (totalMemory >> 30) + " GiB, driver API " + driverVersion / 1000 + "." + driverVersion % 1000 / 10;
    }

    private int attribute(int attr) {
        int[] v = new int[1];
        cuDeviceGetAttribute(v, attr, device);
        return v[0];
    }

    /** Loads a module from a cubin/fatbin/PTX image. */
    public CUmodule loadModule(byte[] image) {
        CUmodule m = new CUmodule();
        cuModuleLoadData(m, image);
        return m;
    }

    public static CUfunction function(CUmodule module, String name) {
        CUfunction f = new CUfunction();
        cuModuleGetFunction(f, module, name);
        return f;
    }

    /** Lets {@code f} use {@code bytes} of dynamic shared memory (above the default 48 KiB). */
    public static void setDynamicShared(CUfunction f, int bytes) {
        cuFuncSetAttribute(f, CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes);
    }

    /** Resident blocks per multiprocessor of {@code f} at this block size and dynamic shared memory. */
    public static int blocksPerMultiprocessor(CUfunction f, int threads, int dynamicShared) {
        int[] n = new int[1];
        cuOccupancyMaxActiveBlocksPerMultiprocessor(n, f, threads, dynamicShared);
        return n[0];
    }

    public DeviceBuffer allocate(long bytes) { return DeviceBuffer.allocate(bytes); }

    public void synchronize() { cuCtxSynchronize(); }

    public static CUevent event() {
        CUevent e = new CUevent();
        cuEventCreate(e, 0);
        return e;
    }

    /** Records an event on the default stream. */
    public static void record(CUevent e) { cuEventRecord(e, null); }

    /** Milliseconds between two recorded events (waits for the second). */
    public static float elapsedMs(CUevent start, CUevent end) {
        cuEventSynchronize(end);
        float[] ms = new float[1];
        cuEventElapsedTime(ms, start, end);
        return ms[0];
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        cuDevicePrimaryCtxRelease(device);
    }

    /**
     * Bytes read plus written per second by a 1 GiB device-to-device copy on this device (the benchmarks' roofline
     * bandwidth): the median of 10 timed copies after 3 warm-ups, CUDA events around each.
     */
    public double copyBandwidth() {
        long n = 1L << 30;
        try (DeviceBuffer a = DeviceBuffer.allocate(n); DeviceBuffer b = DeviceBuffer.allocate(n)) {
            a.fill32(0x3c003c00);
            CUevent e0 = event(), e1 = event();
            double[] ms = new double[10];
            for (int i = -3; i < ms.length; i++) {
                record(e0);
                cuMemcpyDtoD(b.ptr(), a.ptr(), n);
                record(e1);
                float t = elapsedMs(e0, e1);
                if (i >= 0) ms[i] = t;
            }
            java.util.Arrays.sort(ms);
            return 2.0 * n / ((ms[ms.length / 2 - 1] + ms[ms.length / 2]) / 2 * 1e-3);
        }
    }
}
