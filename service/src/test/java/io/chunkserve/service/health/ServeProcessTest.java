package io.chunkserve.service.health;

import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Once for real: {@code chunkserve serve} in its own JVM, stopped with SIGTERM, drains and exits 0. */
class ServeProcessTest {
    private static final Pattern SERVING = Pattern.compile("chunkserve: serving synthetic on http://127\\.0\\.0\\.1:(\\d+)");

    @Test
    void sigtermDrainsAndExitsZero() throws Exception {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        ProcessBuilder pb = new ProcessBuilder(java.toString(), "-cp", System.getProperty("java.class.path"),
                "-XX:TieredStopAtLevel=1", "io.chunkserve.service.Main", "serve", "--synthetic", "100", "--host", "127.0.0.1",
                "--port", "0", "--grpc-port", "-1", "--drain-timeout", "5s").redirectErrorStream(true);
        pb.environment().keySet().removeIf(k -> k.startsWith("CHUNKSERVE_"));
        Process p = pb.start();
        List<String> lines = new ArrayList<>();
        try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            int port = -1;
            for (String l; port < 0 && (l = out.readLine()) != null; ) {
                lines.add(l);
                Matcher m = SERVING.matcher(l);
                if (m.find()) port = Integer.parseInt(m.group(1));
            }
            assertTrue(port > 0, "no 'serving' line in: " + lines);
            assertTrue(lines.stream().anyMatch(l -> l.startsWith("chunkserve: configuration")), lines.toString());
            assertTrue(lines.stream().anyMatch(l -> l.contains("synthetic") && l.contains("(flag)")), lines.toString());
            HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            HttpResponse<String> ready = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/ready")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, ready.statusCode());

            p.toHandle().destroy(); // SIGTERM (Process.destroy would also close our end of its output)
            assertTrue(p.waitFor(30, TimeUnit.SECONDS), "did not exit");
            for (String l; (l = out.readLine()) != null; ) lines.add(l);
        } finally {
            p.destroyForcibly();
        }
        assertEquals(0, p.exitValue(), String.join("\n", lines));
        assertTrue(lines.stream().anyMatch(l -> l.contains("drained")), String.join("\n", lines));
    }
}
