package io.chunkserve.service;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * chunkserve's command line: {@code serve}, {@code generate}, {@code bench}. Errors are one
 * line on stderr and a non-zero exit code, never a stack trace.
 */
@Command(name = "chunkserve", mixinStandardHelpOptions = true, version = "chunkserve 0.1.0",
        description = "Multi-tenant LLM serving with a prefix-aware chunked KV cache.",
        subcommands = {ServeCommand.class, GenerateCommand.class, BenchCommand.class})
public final class Main implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    public static void main(String[] args) {
        System.exit(execute(args));
    }

    /** One-line log records; quiet third-party start-up chatter (see logging.properties). */
    private static volatile boolean loggingConfigured;

    static synchronized void configureLogging() {
        if (loggingConfigured || System.getProperty("java.util.logging.config.file") != null) return;
        loggingConfigured = true;
        try (var in = Main.class.getResourceAsStream("/logging.properties")) {
            if (in != null) java.util.logging.LogManager.getLogManager().readConfiguration(in);
        } catch (java.io.IOException e) {
            System.err.println("chunkserve: cannot read logging.properties: " + e.getMessage());
        }
    }

    /** Runs the CLI and returns its exit code (tests call this). */
    public static int execute(String... args) {
        configureLogging();
        CommandLine cl = new CommandLine(new Main());
        // Benchmarks parse their own options: hand them over in order, unknown ones included.
        cl.getSubcommands().get("bench").setUnmatchedOptionsArePositionalParams(true);
        cl.setParameterExceptionHandler((ex, a) -> {
            System.err.println("chunkserve: " + ex.getMessage() + " (see --help)");
            return 2;
        });
        cl.setExecutionExceptionHandler((ex, cmd, parse) -> {
            System.err.println("chunkserve: " + oneLine(ex));
            if (Boolean.getBoolean("chunkserve.debug")) ex.printStackTrace();
            return 1;
        });
        return cl.execute(args);
    }

    static String oneLine(Throwable e) {
        String m = e.getMessage();
        if (m == null || m.isBlank()) m = e.getClass().getSimpleName();
        int nl = m.indexOf('\n');
        return nl < 0 ? m : m.substring(0, nl);
    }
}
