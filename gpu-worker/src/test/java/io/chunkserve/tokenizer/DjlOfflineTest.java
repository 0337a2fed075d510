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
        String out = runProbe(cache);
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

    @Test
    void probeDetectsDjlsTelemetryCallsWhenOfflineModeIsSwitchedOff(@TempDir Path cache)
            throws IOException, InterruptedException {
        // negative control: DJL's defaults contact the EC2 metadata endpoint on every tokenizer
        // creation; the probe refuses the connection before any socket is opened
        String out = runProbe(cache, "-Dai.djl.offline=false", "-DOPT_OUT_TRACKING=false");
        assertTrue(out.contains("NETWORK-ATTEMPT http://169.254.169.254/"), out);
    }

    private static String runProbe(Path cache, String... jvmArgs) throws IOException, InterruptedException {
        String classPath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        Path javaBin = Path.of(System.getProperty("java.home"), "bin", "java");
        List<String> cmd = new java.util.ArrayList<>(List.of(javaBin.toString(), "--enable-native-access=ALL-UNNAMED",
                "-DDJL_CACHE_DIR=" + cache));
        cmd.addAll(List.of(jvmArgs));
        cmd.addAll(List.of("-cp", classPath, OfflineProbeMain.class.getName(), Fixtures.dir("tiny-llama3").toString()));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        for (String var : List.of("DJL_OFFLINE", "OPT_OUT_TRACKING", "DJL_CACHE_DIR", "ENGINE_CACHE_DIR", "RUST_LIBRARY_PATH")) {
            pb.environment().remove(var);
        }
        pb.redirectErrorStream(true);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "probe JVM hung");
        assertEquals(0, p.exitValue(), out);
        return out;
    }
}
