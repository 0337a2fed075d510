package io.chunkserve.runtime.cuda;

import jcuda.NativePointerObject;
import jcuda.Pointer;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * cuBLAS through {@code java.lang.foreign}: JCuda 12.6's JCublas links {@code libcublas.so.12}, while the
 * machines we run on may carry only CUDA 13's {@code libcublas.so.13}, so the library is found at run time
 * (system property {@code chunkserve.cublas} = a path, else {@code libcublas.so.13}, {@code .12},
 * {@code libcublas.so} through the loader's search path) and bound by hand: {@code cublasCreate_v2} and
 * {@code cublasGemmEx}. cuBLAS works in the current (primary) context on the legacy default stream, the
 * stream our JCuda launches use, so its work is ordered with ours. One handle per instance; one thread at a time.
 */
public final class Cublas implements AutoCloseable {
    public static final int CUDA_R_32F = 0, CUDA_R_16F = 2, CUDA_R_16BF = 14;
    static final int OP_N = 0, OP_T = 1;
    static final int COMPUTE_32F = 68, COMPUTE_32F_PEDANTIC = 69;
    static final int GEMM_DEFAULT = -1;

    private static final Linker LINKER = Linker.nativeLinker();
    private static volatile Lib lib;

    private final Arena arena = Arena.ofShared();
    private final MemorySegment handle;
    private final MemorySegment one, zero;   // host fp32 scalars alpha = 1, beta = 0 / 1
    private final MethodHandle gemm;
    private boolean closed;

    private record Lib(String path, MethodHandle create, MethodHandle destroy, MethodHandle gemmEx, MethodHandle version) { }

    /** The library that was bound (path or soname). Loads it if needed; throws CudaUnavailableException. */
    public static String library() { return load().path; }

    private static Lib load() {
        Lib l = lib;
        if (l != null) return l;
        synchronized (Cublas.class) {
            if (lib != null) return lib;
            List<String> tried = new ArrayList<>();
            String prop = System.getProperty("chunkserve.cublas");
            List<String> names = new ArrayList<>();
            if (prop != null && !prop.isBlank()) names.add(prop.trim());
            names.addAll(List.of("libcublas.so.13", "libcublas.so.12", "libcublas.so"));
            for (String n : names) {
                try {
                    SymbolLookup look = SymbolLookup.libraryLookup(n, Arena.global());
                    MethodHandle create = LINKER.downcallHandle(look.findOrThrow("cublasCreate_v2"),
                            FunctionDescriptor.of(JAVA_INT, ADDRESS));
                    MethodHandle destroy = LINKER.downcallHandle(look.findOrThrow("cublasDestroy_v2"),
                            FunctionDescriptor.of(JAVA_INT, ADDRESS));
                    MethodHandle version = LINKER.downcallHandle(look.findOrThrow("cublasGetVersion_v2"),
                            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
                    // cublasGemmEx(handle, transa, transb, m, n, k, *alpha, A, Atype, lda, B, Btype, ldb, *beta,
                    //              C, Ctype, ldc, computeType, algo)
                    MethodHandle gemm = LINKER.downcallHandle(look.findOrThrow("cublasGemmEx"),
                            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
                                    ADDRESS, ValueLayout.JAVA_LONG, JAVA_INT, JAVA_INT, ValueLayout.JAVA_LONG, JAVA_INT, JAVA_INT,
                                    ADDRESS, ValueLayout.JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
                    lib = new Lib(n, create, destroy, gemm, version);
                    return lib;
                } catch (IllegalArgumentException | java.util.NoSuchElementException e) {
                    tried.add(n + " (" + CudaDevice.oneLine(e.getMessage()) + ")");
                }
            }
            throw new CudaUnavailableException("CUDA unavailable: no usable cuBLAS found: " + String.join("; ", tried)
                    + " (set -Dchunkserve.cublas=/path/to/libcublas.so.13 or LD_LIBRARY_PATH)");
        }
    }

    /** Creates a handle in the calling thread's current context. */
    public Cublas() {
        Lib l = load();
        gemm = l.gemmEx;
        MemorySegment out = arena.allocate(ADDRESS);
        check(invoke(l.create, out), "cublasCreate");
        handle = out.get(ADDRESS, 0);
        one = arena.allocate(ValueLayout.JAVA_FLOAT);
        one.set(ValueLayout.JAVA_FLOAT, 0, 1f);
        zero = arena.allocate(ValueLayout.JAVA_FLOAT);
        zero.set(ValueLayout.JAVA_FLOAT, 0, 0f);
    }

    /** cuBLAS version number (e.g. 130001). */
    public int version() {
        MemorySegment v = arena.allocate(JAVA_INT);
        check(invoke(load().version, handle, v), "cublasGetVersion");
        return v.get(JAVA_INT, 0);
    }

    /**
     * Row-major y (T, n) = x (T, k) · Wᵀ, W (n, k) row-major, or y += … when {@code accumulate}: one column-major
     * GEMM C (n × T) = op(A) · B with A = W viewed as (k × n), transposed. fp32 accumulation (pedantic, no TF32,
     * when the inputs are fp32); y is fp32.
     *
     * @param w     device address of W, type {@code wType}
     * @param x     device address of x, type {@code xType} (the same as wType)
     * @param y     device address of y (fp32)
     */
    public void linear(long w, int wType, long x, int xType, long y, int T, int n, int k, boolean accumulate) {
        linear(w, wType, x, xType, y, CUDA_R_32F, T, n, k, accumulate);
    }

    /** As {@link #linear(long, int, long, int, long, int, int, int, boolean)} with y of type {@code yType}. */
    public void linear(long w, int wType, long x, int xType, long y, int yType, int T, int n, int k, boolean accumulate) {
        linear(w, wType, x, xType, y, yType, T, n, k, accumulate, GEMM_DEFAULT);
    }

    /** As above with cublasGemmEx's {@code algo} (−1: cuBLAS's heuristic; 0..23, 99..115: the numbered algorithms). */
    public void linear(long w, int wType, long x, int xType, long y, int yType, int T, int n, int k, boolean accumulate, int algo) {
        if (T == 0) return;
        int compute = wType == CUDA_R_32F ? COMPUTE_32F_PEDANTIC : COMPUTE_32F;
        int st;
        MemorySegment beta = accumulate ? one : zero;
        try {
            st = (int) gemm.invokeExact(handle, OP_T, OP_N, n, T, k, one, w, wType, k, x, xType, k,
                    beta, y, yType, n, compute, algo);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        if (st != 0) {
            throw new IllegalStateException("cublasGemmEx failed with status " + st + " (T=" + T + ", n=" + n + ", k=" + k
                    + ", types " + wType + "/" + xType + ")");
        }
    }

    private static int invoke(MethodHandle h, Object... args) {
        try {
            return (int) h.invokeWithArguments(args);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static void check(int status, String what) {
        if (status != 0) throw new CudaUnavailableException("CUDA unavailable: " + what + " failed with cuBLAS status " + status);
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        invoke(load().destroy, handle);
        arena.close();
    }

    // ------------------------------------------------------------ raw addresses of JCuda pointers

    private static final Field NATIVE_POINTER, BYTE_OFFSET;
    static {
        try {
            NATIVE_POINTER = NativePointerObject.class.getDeclaredField("nativePointer");
            NATIVE_POINTER.setAccessible(true);
            BYTE_OFFSET = Pointer.class.getDeclaredField("byteOffset");
            BYTE_OFFSET.setAccessible(true);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** The handle a JCuda object (a CUfunction, a CUstream, ...) wraps. */
    public static long nativeHandle(NativePointerObject o) {
        try {
            return NATIVE_POINTER.getLong(o);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The device address a JCuda pointer (e.g. a CUdeviceptr, possibly with a byte offset) stands for. */
    public static long address(Pointer p) {
        try {
            return NATIVE_POINTER.getLong(p) + BYTE_OFFSET.getLong(p);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
    }
}
