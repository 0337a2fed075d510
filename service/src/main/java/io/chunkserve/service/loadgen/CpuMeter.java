package io.chunkserve.service.loadgen;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where the machine's CPU time went over the measured window (Linux {@code /proc}): this process
 * (the load generator), the server process when its pid is known, and everything else. The
 * machine is shared, so this says how much of it the benchmark actually had, and the CPU time per
 * event of each side is a figure that other load does not distort much.
 */
final class CpuMeter {
    /** CPU seconds at one instant; NaN where unknown. */
    record Sample(long nanos, double self, double server, double machineBusy) { }

    /** What the window cost, in cores (CPU seconds per second); NaN where unknown. */
    record Usage(double seconds, double self, double server, double others, double machineBusy) { }

    private static final double TICK = 0.01; // USER_HZ is 100 on Linux

    private final long serverPid;

    CpuMeter(long serverPid) {
        this.serverPid = serverPid;
    }

    Sample sample() {
        double self = ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os
                ? os.getProcessCpuTime() / 1e9 : Double.NaN;
        return new Sample(System.nanoTime(), self, serverPid > 0 ? processSeconds(serverPid) : Double.NaN, machineBusySeconds());
    }

    static Usage between(Sample a, Sample b) {
        double s = (b.nanos() - a.nanos()) / 1e9;
        double self = (b.self() - a.self()) / s, server = (b.server() - a.server()) / s, busy = (b.machineBusy() - a.machineBusy()) / s;
        double others = busy - self - (Double.isNaN(server) ? 0 : server);
        return new Usage(s, self, server, Double.isNaN(server) ? Double.NaN : Math.max(0, others), busy);
    }

    /** utime + stime of a process, from /proc/PID/stat. */
    private static double processSeconds(long pid) {
        try {
            String st = Files.readString(Path.of("/proc/" + pid + "/stat"));
            String[] f = st.substring(st.lastIndexOf(')') + 2).split(" "); // fields from 3 (state) on
            return (Long.parseLong(f[11]) + Long.parseLong(f[12])) * TICK;    // fields 14, 15
        } catch (IOException | RuntimeException e) {
            return Double.NaN;
        }
    }

    /**
     * CPU time of every process now alive, from /proc/PID/stat (exact per process; the tick-sampled
     * totals of /proc/stat miss much of the short bursts an event loop runs in). Processes that
     * start and exit within the window are missed.
     */
    private static double machineBusySeconds() {
        double sum = 0;
        try (var dirs = Files.newDirectoryStream(Path.of("/proc"), "[0-9]*")) {
            for (Path d : dirs) {
                double v = processSeconds(Long.parseLong(d.getFileName().toString()));
                if (!Double.isNaN(v)) sum += v;
            }
        } catch (IOException | RuntimeException e) {
            return Double.NaN;
        }
        return sum;
    }
}
