package io.chunkserve.service.openai;

import io.chunkserve.service.Server;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The official OpenAI Node client, unchanged, against the server: {@code client-examples/node}
 * (installs its locked dependencies with {@code npm ci} when {@code node_modules} is missing) runs
 * chat and completions, streamed and not, and exits non-zero on any mismatch.
 */
class NodeClientTest {
    @Test
    void officialNodeClientWorksUnchanged() throws Exception {
        Path dir = ApiTestSupport.fixtures().toAbsolutePath().getParent().resolve("client-examples").resolve("node");
        assertTrue(Files.isRegularFile(dir.resolve("package-lock.json")), "missing " + dir.resolve("package-lock.json"));
        Assumptions.assumeTrue(available("npm", "--version"), "npm is not on the PATH: the Node client check needs Node 20+ and npm");
        if (!Files.isDirectory(dir.resolve("node_modules").resolve("openai"))) {
            Result ci = run(dir, Map.of(), 600, "npm", "ci", "--no-audit", "--no-fund");
            assertEquals(0, ci.code, "npm ci failed:\n" + ci.output);
        }
        try (Server server = Server.start(ApiTestSupport.config())) {
            Result r = run(dir, Map.of("CHUNKSERVE_BASE_URL", "http://127.0.0.1:" + server.port() + "/v1"), 300, "node", "openai-client.mjs");
            System.out.println(r.output);
            assertEquals(0, r.code, "the Node client reported mismatches:\n" + r.output);
            assertTrue(r.output.contains("all checks passed"), r.output);
        }
        ApiTestSupport.assertNoBlockedThreads();
    }

    record Result(int code, String output) { }

    static boolean available(String... cmd) {
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            return p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    static Result run(Path dir, Map<String, String> env, int timeoutSeconds, String... cmd) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(List.of(cmd)).directory(dir.toFile()).redirectErrorStream(true);
        pb.environment().putAll(env);
        Process p = pb.start();
        // Drain output on another thread so a chatty process never blocks on a full pipe.
        StringBuilder out = new StringBuilder();
        Thread reader = Thread.ofVirtual().start(() -> {
            try {
                out.append(new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
            } catch (IOException ignored) {
                // the process died; its exit code tells
            }
        });
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            reader.join(5000);
            return new Result(-1, "timed out after " + timeoutSeconds + " s:\n" + out);
        }
        reader.join(5000);
        return new Result(p.exitValue(), out.toString());
    }
}
