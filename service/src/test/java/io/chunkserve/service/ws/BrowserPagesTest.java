package io.chunkserve.service.ws;

import io.chunkserve.service.Server;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The pages at / in a real browser: {@code client-examples/browser/pages.test.mjs} (playwright-core)
 * drives Debian's Chromium against a server on a free port. A missing Chromium or Node fails the
 * test (CI installs Chromium in {@code .ci/run}); {@code npm ci} runs when playwright-core is absent.
 */
class BrowserPagesTest {
    private static final Path CHROMIUM = Path.of(System.getenv().getOrDefault("CHROMIUM", "/usr/bin/chromium"));

    private static ServiceTestSupport.BlockedThreadWatch blocked;
    private static Server server;
    /** The synthetic engine at 20 tokens/s: a 480-token reply lasts 24 s, so a cancel always lands mid-stream. */
    private static Server slow;
    private static Path scripts;

    @BeforeAll
    static void start() throws Exception {
        assertTrue(Files.isExecutable(CHROMIUM), "Chromium not found at " + CHROMIUM
                + ": install it (apt-get install chromium; .ci/run does) or set CHROMIUM to a Chromium binary");
        scripts = ServiceTestSupport.demoModel().getParent().getParent().resolve("client-examples").resolve("browser");
        assertTrue(Files.isRegularFile(scripts.resolve("pages.test.mjs")), "missing " + scripts.resolve("pages.test.mjs"));
        if (!Files.isDirectory(scripts.resolve("node_modules").resolve("playwright-core"))) {
            Result npm = exec(List.of("npm", "ci", "--no-audit", "--no-fund"), 300);
            assertEquals(0, npm.exit, "npm ci failed:\n" + npm.output);
        }
        blocked = ServiceTestSupport.BlockedThreadWatch.install();
        server = Server.start(ServiceTestSupport.config());
        slow = Server.start(ServiceTestSupport.config().withSynthetic(20));
    }

    @AfterAll
    static void stop() {
        if (server != null) server.close();
        if (slow != null) slow.close();
        if (blocked != null) blocked.assertNone();
    }

    @Test
    void chatPageStreamsAReply() throws Exception {
        runCheck(server, "chat");
    }

    @Test
    void chatPageCancelsALongReply() throws Exception {
        runCheck(slow, "chat-cancel");
    }

    @Test
    void completionPageReadsOpenAiSseFraming() throws Exception {
        runCheck(server, "sse-parser");
    }

    @Test
    void completionPageStreamsFromTheServer() throws Exception {
        runCheck(server, "complete");
    }

    private static void runCheck(Server target, String check) throws Exception {
        Result r = exec(List.of("node", "pages.test.mjs", "http://127.0.0.1:" + target.port(), check), 180);
        String skip = "SKIP " + check + ": ";
        for (String line : r.output.split("\n")) {
            if (line.startsWith(skip)) Assumptions.abort(line.substring(skip.length()));
        }
        assertEquals(0, r.exit, r.output);
        assertTrue(r.output.contains("PASS " + check), r.output);
    }

    private record Result(int exit, String output) { }

    private static Result exec(List<String> command, int timeoutSeconds) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(command).directory(scripts.toFile()).redirectErrorStream(true);
        pb.environment().put("CHROMIUM", CHROMIUM.toString());
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            fail("cannot run " + command.getFirst() + " (Node.js 20+ with npm is needed for the browser tests): " + e.getMessage());
            throw e;
        }
        p.getOutputStream().close();
        // Read on another thread so a chatty process cannot block on a full pipe.
        var out = new java.io.ByteArrayOutputStream();
        Thread reader = Thread.ofVirtual().start(() -> {
            try (var in = p.getInputStream()) {
                in.transferTo(out);
            } catch (IOException ignored) {
                // the process died; its exit code tells
            }
        });
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            reader.join(5000);
            fail(String.join(" ", command) + " timed out after " + timeoutSeconds + " s:\n" + out.toString(StandardCharsets.UTF_8));
        }
        reader.join(5000);
        return new Result(p.exitValue(), out.toString(StandardCharsets.UTF_8));
    }
}
