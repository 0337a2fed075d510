package io.chunkserve.service;

import picocli.CommandLine.Command;

/** {@code chunkserve generate}: one generation from the command line. */
@Command(name = "generate", description = "Generate text once (use --json for scripts).")
public final class GenerateCommand implements java.util.concurrent.Callable<Integer> {
    @Override
    public Integer call() {
        throw new UnsupportedOperationException("generate is not wired yet");
    }
}
