package io.chunkserve.attention;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Locale;

/**
 * Software prefetch of cache lines, which Java has no instruction for: a 20-byte x86-64 routine
 * ({@code prefetcht0} of two streams, 64-byte steps) placed in an executable page at class
 * initialisation and called through the FFM linker as a critical (no thread-state transition)
 * downcall, ~5 ns a call. Elsewhere (another architecture or OS, no executable mapping,
 * {@code -Dchunkserve.prefetch=false}) every call is a no-op and {@link #AVAILABLE} is false.
 *
 * <p>Why: the chunk-first tile is bound by arithmetic, yet each (chunk, head) block it folds has
 * to come from DRAM first, and a demand load that misses stalls the core (measured: copy then
 * arithmetic cost their sum, ~1.6 + 1.8 µs per 32 KiB f32 block on one Zen 5 core). Prefetches
 * retire without waiting for their line, so the next block's lines, requested a few at a time
 * between the current block's register blocks, arrive while the arithmetic runs. A burst of
 * hundreds of prefetches gains nothing (the core's miss buffers fill and the prefetches wait
 * like loads), so callers spread them.
 */
final class Prefetch {
    private Prefetch() { }

    /** Bytes per prefetched line. */
    static final int LINE = 64;

    private static final MethodHandle PAIR = make();

    /** Whether prefetches are issued (false: every call is a no-op). */
    static final boolean AVAILABLE = PAIR != null;

    /** A/B switch for benchmarks in one process; prefetching changes timing only, never results. */
    static volatile boolean enabled = true;

    /**
     * Requests lines a, a+64, …, a+64·(n−1) and b, b+64, … (n lines each) into the cache. The
     * addresses are raw native addresses inside live segments; a prefetch never faults, so a stale
     * address costs a wasted line, not a crash. Needs n ≥ 1.
     */
    static void pair(long a, long b, int n) {
        if (PAIR == null) return;
        try {
            PAIR.invokeExact(a, b, (long) n);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    private static MethodHandle make() {
        if (!Boolean.parseBoolean(System.getProperty("chunkserve.prefetch", "true"))) return null;
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT), os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        if (!(arch.equals("amd64") || arch.equals("x86_64")) || !os.contains("linux")) return null;
        try {
            Linker lk = Linker.nativeLinker();
            MethodHandle mmap = lk.downcallHandle(lk.defaultLookup().find("mmap").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT,
                            ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG));
            MethodHandle mprotect = lk.downcallHandle(lk.defaultLookup().find("mprotect").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));
            // PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS; never unmapped (one page for the process)
            MemorySegment page = (MemorySegment) mmap.invokeExact(MemorySegment.NULL, 4096L, 3, 0x22, -1, 0L);
            if (page.address() == -1L || page.address() == 0L) return null;
            page = page.reinterpret(4096);
            // prefetcht0 (into L1 and L2): measured ahead of t1, t2 and nta here (2.9 against 3.0–3.3 µs per block)
            byte[] code = {
                0x0f, 0x18, 0x0f,                     // loop: prefetcht0 [rdi]
                0x0f, 0x18, 0x0e,                     //       prefetcht0 [rsi]
                0x48, (byte) 0x83, (byte) 0xc7, 0x40, // add rdi, 64
                0x48, (byte) 0x83, (byte) 0xc6, 0x40, // add rsi, 64
                0x48, (byte) 0xff, (byte) 0xca,       // dec rdx
                0x75, (byte) 0xed,                    // jnz loop
                (byte) 0xc3,                          // ret
            };
            MemorySegment.copy(MemorySegment.ofArray(code), 0, page, 0, code.length);
            int rc = (int) mprotect.invokeExact(page, 4096L, 5); // PROT_READ|PROT_EXEC
            if (rc != 0) return null;
            MethodHandle h = lk.downcallHandle(page, FunctionDescriptor.ofVoid(ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG),
                    Linker.Option.critical(false));
            // one call on a local buffer before anyone relies on it
            try (var arena = java.lang.foreign.Arena.ofConfined()) {
                MemorySegment buf = arena.allocate(2 * LINE, LINE);
                h.invokeExact(buf.address(), buf.address() + LINE, 1L);
            }
            return h;
        } catch (Throwable t) {
            return null;
        }
    }
}
