package io.chunkserve.service;

import io.chunkserve.bench.DecodeBench;
import io.chunkserve.service.loadgen.ServeBench;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.util.Arrays;
import java.util.List;

/** {@code chunkserve bench <name> [options]}: the benchmark programs, each printing a table and a RESULT line. */
@Command(name = "bench", description = {"Run a benchmark: decode, decode-ab, attention, scheduler, kernels, serve (see BENCHMARKS.md).",
                "  serve: streaming load against a server it starts (--synthetic RATE, default 100; or --model DIR) or --url; bench serve --help"})
public final class BenchCommand implements java.util.concurrent.Callable<Integer> {
    static final String KNOWN = "decode, decode-ab, attention, scheduler, kernels, serve";

    @Parameters(index = "0", description = "benchmark: " + KNOWN)
    String name;

    @Parameters(index = "1..*", arity = "0..*", description = "benchmark options")
    List<String> rest = List.of();

    @Override
    public Integer call() throws Exception {
        String[] args = rest.toArray(String[]::new);
        switch (name) {
            case "decode" -> DecodeBench.main(args);
            case "decode-ab" -> io.chunkserve.bench.DecodeAbBench.main(args);
            case "scheduler" -> io.chunkserve.bench.SchedulerBench.main(args);
            case "kernels" -> io.chunkserve.runtime.cpu.KernelBench.main(args);
            case "attention" -> io.chunkserve.attention.AttentionBench.main(args);
            case "serve" -> {
                return ServeBench.run(args);
            }
            default -> throw new IllegalArgumentException("unknown benchmark '" + name + "' (known: " + KNOWN + ")");
        }
        return 0;
    }

    @Override
    public String toString() { return name + " " + Arrays.toString(rest.toArray()); }
}
