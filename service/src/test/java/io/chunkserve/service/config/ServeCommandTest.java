package io.chunkserve.service.config;

import io.chunkserve.service.Main;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The {@code serve} command line: one flag per setting, documented; bad values exit 2 with one line. */
class ServeCommandTest {
    @Test
    void helpDocumentsEverySetting() {
        CommandLine serve = new CommandLine(new Main()).getSubcommands().get("serve");
        String help = serve.getUsageMessage(CommandLine.Help.Ansi.OFF);
        for (Setting s : Setting.values()) {
            assertTrue(serve.getCommandSpec().findOption(s.flag()) != null, "no option " + s.flag());
            assertTrue(!serve.getCommandSpec().findOption(s.flag()).description()[0].isBlank(), s.flag());
        }
        assertTrue(help.contains("--config"), help);
        assertTrue(help.contains("CHUNKSERVE_KV_BYTES"), help);
        assertTrue(help.contains("Exit status 2"), help);
    }

    @Test
    void badValueExitsTwoWithOneLine() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream old = System.err;
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        int code;
        try {
            code = Main.execute("serve", "--synthetic", "10", "--kv-bytes", "12XB");
        } finally {
            System.setErr(old);
        }
        assertEquals(2, code);
        String text = err.toString(StandardCharsets.UTF_8).strip();
        assertEquals(1, text.lines().count(), text);
        assertEquals("chunkserve: kv_bytes (flag --kv-bytes): '12XB' is not a size (use e.g. 512MiB, 2GiB, 1.5GB or a byte count)", text);
    }

    @Test
    void deviceCudaWithoutAGpuExitsWithOneLine() {
        io.chunkserve.runtime.cuda.CudaDevice.Probe p = io.chunkserve.runtime.cuda.CudaDevice.tryOpen();
        if (p.available()) p.device().close();
        org.junit.jupiter.api.Assumptions.assumeFalse(p.available(), "a GPU is present");
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream old = System.err;
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        int code;
        try {
            java.nio.file.Path model = java.nio.file.Path.of("..", "fixtures", "tiny-llama3").toAbsolutePath().normalize();
            code = Main.execute("serve", "--model", model.toString(), "--device", "cuda", "--port", "0", "--grpc-port=-1",
                    "--kv-bytes", "4MiB");
        } finally {
            System.setErr(old);
        }
        String text = err.toString(StandardCharsets.UTF_8).strip();
        assertEquals(1, code, text);
        String last = text.lines().reduce((a, b) -> b).orElse("");
        assertTrue(last.startsWith("chunkserve: CUDA unavailable: "), text);
        assertEquals(1, text.lines().filter(l -> l.startsWith("chunkserve:")).count(), text);
    }
}
