package io.chunkserve.runtime.cuda;

import jcuda.Pointer;
import jcuda.driver.CUfunction;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Kernel launches through {@code java.lang.foreign} straight into {@code libcuda.so.1}'s {@code cuLaunchKernel}:
 * the arguments go into preallocated native slots (8 bytes each) and one reused pointer array, so a launch
 * allocates nothing and crosses into native code once. JCuda's launch builds a tree of Pointer objects and pins
 * each argument array through JNI: measured on the H200 machine, a decode step made of such launches was bound
 * by the host (~18 µs a launch). Not thread-safe: one per engine thread.
 *
 * <pre>{@code l.begin().ptr(a).ptr(b).i32(n).f32(eps).launch(f, grid, 1, threads, 0);}</pre>
 */
public final class Launcher {
    private static final int MAX_ARGS = 32;
    private static final MethodHandle LAUNCH, LAUNCH_EX;
    /** CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION (cuda.h). */
    private static final int ATTR_PROGRAMMATIC_SERIALIZATION = 6;
    static {
        Linker linker = Linker.nativeLinker();
        SymbolLookup cuda = SymbolLookup.libraryLookup("libcuda.so.1", Arena.global());
        // CUresult cuLaunchKernel(CUfunction f, uint gx, gy, gz, bx, by, bz, uint smem, CUstream s, void** params, void** extra)
        LAUNCH = linker.downcallHandle(cuda.findOrThrow("cuLaunchKernel"), FunctionDescriptor.of(JAVA_INT, JAVA_LONG,
                JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS, ADDRESS));
        // CUresult cuLaunchKernelEx(const CUlaunchConfig* config, CUfunction f, void** params, void** extra)
        LAUNCH_EX = linker.downcallHandle(cuda.findOrThrow("cuLaunchKernelEx"), FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS, ADDRESS));
    }

    private final Arena arena = Arena.ofShared();
    private final MemorySegment slots = arena.allocate(8L * MAX_ARGS, 16);
    private final MemorySegment params = arena.allocate(ADDRESS.byteSize() * MAX_ARGS, 16);
    // CUlaunchConfig (56 bytes: grid x y z, block x y z, shared bytes, stream @32, attrs @40, numAttrs @48) and one
    // CUlaunchAttribute (72 bytes: id, pad, a 64-byte value union)
    private final MemorySegment config = arena.allocate(56, 16);
    private final MemorySegment attr = arena.allocate(72, 16);
    private int n;

    public Launcher() {
        for (int i = 0; i < MAX_ARGS; i++) params.setAtIndex(ADDRESS, i, slots.asSlice(8L * i, 8));
        attr.set(JAVA_INT, 0, ATTR_PROGRAMMATIC_SERIALIZATION);
        attr.set(JAVA_INT, 8, 1);   // programmaticStreamSerializationAllowed
        config.set(JAVA_LONG, 32, 0L);   // the legacy default stream
        config.set(ADDRESS, 40, attr);
        config.set(JAVA_INT, 48, 1);
    }

    public Launcher begin() {
        n = 0;
        return this;
    }

    private long slot() {
        if (n == MAX_ARGS) throw new IllegalStateException("more than " + MAX_ARGS + " kernel arguments");
        return 8L * n++;
    }

    /** A device pointer argument (a JCuda pointer, offset included; null → NULL). */
    public Launcher ptr(Pointer p) {
        slots.set(JAVA_LONG, slot(), p == null ? 0 : Cublas.address(p));
        return this;
    }

    public Launcher ptr(DeviceBuffer b) { return ptr(b == null ? null : b.ptr()); }

    public Launcher i32(int v) {
        slots.set(JAVA_INT, slot(), v);
        return this;
    }

    public Launcher i64(long v) {
        slots.set(JAVA_LONG, slot(), v);
        return this;
    }

    public Launcher f32(float v) {
        slots.set(ValueLayout.JAVA_FLOAT, slot(), v);
        return this;
    }

    /** Launches on the legacy default stream; throws on a driver error. */
    public void launch(long function, int gx, int gy, int threads, int smem) {
        int st;
        try {
            st = (int) LAUNCH.invokeExact(function, gx, gy, 1, threads, 1, 1, smem, 0L, params, MemorySegment.NULL);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        if (st != 0) throw new IllegalStateException("cuLaunchKernel failed with CUresult " + st + " (grid " + gx + "x" + gy + ", block " + threads + ")");
    }

    /**
     * Launches on the legacy default stream as a programmatic dependent of the kernel before it (sm_90): the
     * driver may start it once every block of that kernel has run {@code griddepcontrol.launch_dependents}; the
     * kernel must run {@code griddepcontrol.wait} before it reads what that kernel wrote. Throws on a driver error.
     */
    public void launchDependent(long function, int gx, int gy, int threads, int smem) {
        config.set(JAVA_INT, 0, gx);
        config.set(JAVA_INT, 4, gy);
        config.set(JAVA_INT, 8, 1);
        config.set(JAVA_INT, 12, threads);
        config.set(JAVA_INT, 16, 1);
        config.set(JAVA_INT, 20, 1);
        config.set(JAVA_INT, 24, smem);
        int st;
        try {
            st = (int) LAUNCH_EX.invokeExact(config, function, params, MemorySegment.NULL);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        if (st != 0) throw new IllegalStateException("cuLaunchKernelEx failed with CUresult " + st + " (grid " + gx + "x" + gy + ", block " + threads + ")");
    }

    /** The driver handle of a JCuda function. */
    public static long handle(CUfunction f) { return Cublas.nativeHandle(f); }
}
