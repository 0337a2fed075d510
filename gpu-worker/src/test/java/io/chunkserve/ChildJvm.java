package io.chunkserve;

import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Command lines for tests that run a class's {@code main} in a fresh JVM with this JVM's flags and class path. */
public final class ChildJvm {
    private ChildJvm() { }

    /**
     * java, this JVM's arguments (without agents, and without any of {@code extraJvmArgs}), then {@code extraJvmArgs},
     * the class path and {@code main}'s name.
     */
    public static List<String> command(Class<?> main, String... extraJvmArgs) {
        List<String> extra = List.of(extraJvmArgs), cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (!a.startsWith("-javaagent") && !a.startsWith("-agentlib") && !extra.contains(a)) cmd.add(a);
        }
        cmd.addAll(extra);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), main.getName()));
        return cmd;
    }
}
