package io.chunkserve.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DjlOfflineTest {

    @Test
    void tokenizerTurnsOnDjlOfflineModeInThisJvm() {
        Fixtures.tokenizer("tiny-llama3");
        assertEquals("true", System.getProperty("ai.djl.offline"));
        assertEquals("true", System.getProperty("OPT_OUT_TRACKING"));
    }

    @Test
    void freshJvmWithEmptyCacheExtractsTheNativeLibraryFromTheJarWithoutAnyNetworkAccess(@TempDir Path cache)
            throws IOException, InterruptedException {
        String classPath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        Path javaBin = Path.of(System.getProperty("java.home"), "bin", "java");
        ProcessBuilder pb = new ProcessBuilder(javaBin.toString(), "--enable-native-access=ALL-UNNAMED",
                "-DDJL_CACHE_DIR=" + cache, "-cp", classPath, OfflineProbeMain.class.getName(),
                Fixtures.dir("tiny-llama3").toString());
        pb.environment().remove("DJL_OFFLINE");
        pb.environment().remove("OPT_OUT_TRACKING");
        pb.environment().remove("DJL_CACHE_DIR");
        pb.environment().remove("ENGINE_CACHE_DIR");
        pb.environment().remove("RUST_LIBRARY_PATH");
        pb.redirectErrorStream(true);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "probe JVM hung");
        assertEquals(0, p.exitValue(), out);
        assertFalse(out.contains("NETWORK-ATTEMPT"), out);
        int[] want = Fixtures.tokenizer("tiny-llama3").encode("Hello, world!", false);
        assertTrue(out.contains("IDS " + java.util.Arrays.toString(want)), out);
        assertTrue(out.contains("OFFLINE true"), out);
        try (Stream<Path> files = Files.walk(cache)) {
            List<Path> libs = files.filter(f -> f.getFileName().toString().startsWith("libtokenizers")).toList();
            assertEquals(1, libs.size(), "extracted libraries: " + libs);
            Path lib = cache.relativize(libs.get(0));
            assertTrue(lib.toString().startsWith("tokenizers/") && lib.toString().contains("-cpu-"), lib.toString());
        }
    }
}
