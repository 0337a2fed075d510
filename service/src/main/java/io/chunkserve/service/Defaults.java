package io.chunkserve.service;

import java.nio.file.Files;
import java.nio.file.Path;

/** Where the bundled files are: the launcher passes -Dchunkserve.home=<repo root>. */
final class Defaults {
    private Defaults() { }

    static Path home() {
        String h = System.getProperty("chunkserve.home", System.getenv().getOrDefault("CHUNKSERVE_HOME", "."));
        return Path.of(h);
    }

    /** The bundled random-weight demo model. */
    static Path demoModel() {
        Path p = home().resolve("fixtures").resolve("tiny-llama3");
        if (!Files.isDirectory(p)) throw new IllegalStateException("bundled demo model not found at " + p + "; pass --model DIR");
        return p;
    }
}
