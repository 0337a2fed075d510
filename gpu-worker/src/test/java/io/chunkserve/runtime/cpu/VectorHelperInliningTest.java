package io.chunkserve.runtime.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.reflect.Method;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import jdk.incubator.vector.Vector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShuffle;
import org.junit.jupiter.api.Test;

/**
 * Our own methods that return a vector are force-inlined by every JVM we start: C2 does not inline a helper it has
 * already compiled on its own into a big method, and a vector returned from a call that is not inlined is boxed, with
 * every operation on it then run out of line. Whether that happens depended on which compilation finished first: the
 * batch-1 decode attention ran 2–45× slower for a whole process in some runs (session 11, BENCHMARKS.md). The rule:
 * such methods end in {@code Vec}, and the launcher and the test JVMs pass
 * {@code -XX:CompileCommand=inline,io.chunkserve.*::*Vec}.
 */
class VectorHelperInliningTest {
    static final String FLAG = "-XX:CompileCommand=inline,io.chunkserve.*::*Vec";

    @Test
    void everyMethodReturningAVectorEndsInVec() throws Exception {
        Path root = Path.of(Vec.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        List<String> bad = new ArrayList<>();
        int vectorMethods = 0;
        try (Stream<Path> files = Files.walk(root)) {
            for (Path p : (Iterable<Path>) files.filter(f -> f.toString().endsWith(".class"))::iterator) {
                String name = root.relativize(p).toString().replace('/', '.').replaceAll("\\.class$", "");
                if (!name.startsWith("io.chunkserve.")) continue;
                Class<?> c = Class.forName(name, false, Vec.class.getClassLoader());
                for (Method m : c.getDeclaredMethods()) {
                    Class<?> r = m.getReturnType();
                    if (!Vector.class.isAssignableFrom(r) && !VectorMask.class.isAssignableFrom(r) && !VectorShuffle.class.isAssignableFrom(r)) continue;
                    vectorMethods++;
                    if (!m.getName().endsWith("Vec") && !m.isSynthetic()) bad.add(name + "::" + m.getName());
                }
            }
        }
        assertTrue(vectorMethods >= 5, "the scan found the attention helpers (" + vectorMethods + ")");
        assertEquals(List.of(), bad, "methods returning a vector must end in Vec (force-inlined by " + FLAG + ")");
    }

    @Test
    void theTestJvmAndTheLauncherForceInlineThem() throws IOException, URISyntaxException {
        List<String> args = ManagementFactory.getRuntimeMXBean().getInputArguments();
        assertTrue(args.contains(FLAG), "surefire's argLine lacks " + FLAG + ": " + args);
        assertTrue(args.contains("-XX:CompileCommand=quiet"), "without quiet the JVM prints the command on stdout (breaks --json)");
        Path launcher = Path.of(System.getProperty("user.dir")).resolveSibling("chunkserve");
        if (!Files.exists(launcher)) launcher = Path.of(System.getProperty("user.dir"), "chunkserve");
        String script = Files.readString(launcher);
        assertTrue(script.contains("\"" + FLAG + "\""), "the launcher's JVM flags lack " + FLAG);
        assertTrue(script.contains("-XX:CompileCommand=quiet"), "the launcher's JVM flags lack -XX:CompileCommand=quiet");
    }
}
