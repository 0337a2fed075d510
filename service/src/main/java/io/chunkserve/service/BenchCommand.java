package io.chunkserve.service;

import io.chunkserve.bench.DecodeBench;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.util.Arrays;
import java.util.List;

/** {@code chunkserve bench <name> [options]}: the benchmark programs, each printing a table and a RESULT line. */
@Command(name = "bench", description = "Run a benchmark: decode (see each benchmark's --help-less options in BENCHMARKS.md).")
public final class BenchCommand implements java.util.concurrent.Callable<Integer> {
    static final String KNOWN = "decode, attention, scheduler, kernels";

    @Parameters(index = "0", description = "benchmark: decode, attention, scheduler, kernels")
    String name;

    @Parameters(index = "1..*", arity = "0..*", description = "benchmark options")
    List<String> rest = List.of();

    @Override
    public Integer call() {
        String[] args = rest.toArray(String[]::new);
        switch (name) {
            case "decode" -> DecodeBench.main(args);
            case "scheduler" -> io.chunkserve.bench.SchedulerBench.main(args);
            case "kernels" -> io.chunkserve.runtime.cpu.KernelBench.main(args);
            case "attention" -> io.chunkserve.attention.AttentionBench.main(args);
            default -> throw new IllegalArgumentException("unknown benchmark '" + name + "' (known: " + KNOWN + ")");
        }
        return 0;
    }

    @Override
    public String toString() { return name + " " + Arrays.toString(rest.toArray()); }
}
