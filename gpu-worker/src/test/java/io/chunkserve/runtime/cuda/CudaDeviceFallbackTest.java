package io.chunkserve.runtime.cuda;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Where there is no GPU driver (this machine, CI), probing for CUDA must answer cleanly: an "unavailable" result
 * with a one-line reason and one INFO log line, while asking for CUDA explicitly fails with that one line. On a
 * machine with a GPU the probe must find it instead.
 */
class CudaDeviceFallbackTest {
    @Test
    void probeAnswersWithOneLineReasonAndOneInfoLineOrFindsTheDevice() {
        Logger log = Logger.getLogger(CudaDevice.class.getName());
        List<LogRecord> records = new ArrayList<>();
        Handler h = new Handler() {
            @Override public void publish(LogRecord r) { records.add(r); }
            @Override public void flush() { }
            @Override public void close() { }
        };
        log.addHandler(h);
        try {
            CudaDevice.Probe p = CudaDevice.tryOpen();
            assertEquals(1, records.size(), "one log line per probe");
            assertEquals(Level.INFO, records.get(0).getLevel());
            if (p.available()) {   // a GPU machine
                assertNull(p.message());
                assertTrue(records.get(0).getMessage().startsWith("CUDA device 0: "));
                p.device().close();
                return;
            }
            String msg = p.message();
            assertTrue(msg.startsWith("CUDA unavailable: "), msg);
            assertFalse(msg.contains("\n") || msg.contains("\r"), "one line: " + msg);
            assertTrue(msg.length() < 400, msg);
            assertTrue(records.get(0).getMessage().startsWith(msg), records.get(0).getMessage());

            // a second probe gives the same clean reason (the JVM only reports NoClassDefFoundError by then)
            records.clear();
            assertEquals(msg, CudaDevice.tryOpen().message());
            assertEquals(1, records.size());

            // asking explicitly fails loudly, with the same one line
            CudaUnavailableException e = assertThrows(CudaUnavailableException.class, CudaDevice::open);
            assertEquals(msg, e.getMessage());
        } finally {
            log.removeHandler(h);
        }
    }

    @Test
    void nativeReasonPicksTheMissingLibraryOutOfJCudasReport() {
        String report = """
                Error while loading native library "JCudaDriver-12.6.0-linux-x86_64"
                Operating system name: Linux
                ---(start of nested stack traces)---
                java.lang.UnsatisfiedLinkError: no JCudaDriver-12.6.0-linux-x86_64 in java.library.path: /usr/lib
                \tat java.base/java.lang.ClassLoader.loadLibrary(ClassLoader.java:2285)
                java.lang.UnsatisfiedLinkError: /tmp/libJCudaDriver-12.6.0-linux-x86_64.so: libcuda.so.1: cannot open shared object file: No such file or directory
                ---(end of nested stack traces)---""";
        assertEquals("libcuda.so.1: cannot open shared object file: No such file or directory",
                CudaDevice.nativeReason(new UnsatisfiedLinkError(report)));
        assertEquals("no X in java.library.path", CudaDevice.nativeReason(new UnsatisfiedLinkError("boom\njava.lang.UnsatisfiedLinkError: no X in java.library.path")));
        assertEquals("a; b", CudaDevice.oneLine("a\n  b"));
    }
}
