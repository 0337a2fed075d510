package io.chunkserve.attention;

import io.chunkserve.ChildJvm;
import io.chunkserve.kv.ChunkPool;
import io.chunkserve.model.DType;
import io.chunkserve.runtime.cpu.CpuKernels;
import jdk.jfr.Event;
import jdk.jfr.Name;
import jdk.jfr.consumer.RecordedMethod;
import jdk.jfr.consumer.RecordingStream;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link OneTokenDecode#warmUp} leaves C2's profile of the batch-1 path with every branch a serving process takes later:
 * in a fresh JVM (this class's {@link #main}), once C2 has compiled {@code Job.unit}, contexts past one read-ahead block
 * of a head (the old warm-up stopped at 192 positions) with the calling thread's scratch growing again must not
 * deoptimise any of the path's compiled code for a branch or type its profile lacked (an uncommon trap sends it back to
 * tier-3 code until C2 has compiled it again). JFR's {@code jdk.Compilation} and {@code jdk.Deoptimization} events tell both.
 */
class OneTokenWarmUpTest {
    @Test
    void longContextsAfterTheWarmUpDeoptimiseNothing() throws IOException, InterruptedException {
        Process p = new ProcessBuilder(ChildJvm.command(OneTokenWarmUpTest.class)).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(2, TimeUnit.MINUTES), "the child did not finish");
        assertEquals(0, p.exitValue(), "the child failed: " + out);
        assertTrue(out.contains("compiled unit"), "C2 never compiled Job.unit in the child: " + out);
        assertTrue(out.contains("long contexts done"), out);
        assertEquals(List.of(), out.lines().filter(l -> l.startsWith("deopt ")).toList(),
                "the batch-1 path deoptimised on long contexts after the warm-up");
    }

    /** Marks the end of the long contexts in the event stream (events arrive in time order: the ones before it are in). */
    @Name("chunkserve.test.WarmUpMarker")
    static final class Marker extends Event { }

    /**
     * The child: warm-up, short contexts (those the warm-up covered before it went past a read-ahead block) until C2 has
     * compiled {@code Job.unit}, then contexts from one read-ahead block to the warm-up's longest on a fresh scratch; prints
     * each deoptimisation of the attention package's code in that last part as a "deopt" line.
     */
    public static void main(String[] args) throws InterruptedException {
        AtomicBoolean compiled = new AtomicBoolean(), longPart = new AtomicBoolean();
        ConcurrentLinkedQueue<String> deopts = new ConcurrentLinkedQueue<>();
        CountDownLatch marker = new CountDownLatch(1);
        try (RecordingStream rs = new RecordingStream(); CpuKernels k = new CpuKernels(2)) {
            rs.enable("jdk.Compilation").withThreshold(Duration.ZERO);
            rs.enable("jdk.Deoptimization");
            rs.enable(Marker.class);
            rs.onEvent("jdk.Compilation", e -> {
                RecordedMethod m = e.getValue("method");
                if (m != null && m.getType().getName().endsWith("OneTokenDecode$Job") && m.getName().equals("unit")
                        && e.getInt("compileLevel") == 4 && e.getBoolean("succeded") && !e.getBoolean("isOsr")) compiled.set(true);
            });
            rs.onEvent("jdk.Deoptimization", e -> {
                RecordedMethod m = e.getValue("method");
                // what a warm-up answers for: branches and types missing from the profile (unstable_if, class_check, ...);
                // not C2's loop-predicate speculation (profile_predicate, predicate, loop_limit_check), which on a 256-bit
                // machine can still trap once in a process for reasons of its own (BENCHMARKS.md, issue 2, session 27)
                String reason = e.getString("reason");
                boolean loopSpeculation = reason != null && (reason.contains("predicate") || reason.equals("loop_limit_check"));
                if (longPart.get() && !loopSpeculation && m != null && m.getType().getName().startsWith("io.chunkserve.attention.")) {
                    deopts.add(m.getType().getName() + "." + m.getName() + " bci " + e.getInt("bci") + " " + reason);
                }
            });
            rs.onEvent("chunkserve.test.WarmUpMarker", e -> marker.countDown());
            rs.startAsync();

            OneTokenDecode.warmUp(k);
            // contexts the warm-up reached past one read-ahead block (the old warm-up stopped at 192); longer ones are
            // not asked for: past its longest, C2's loop predicates may still trap once on some machines
            int maxLen = OneTokenDecode.warmUpLength();
            int from = OneTokenDecode.blockBytes / (OneTokenDecode.WARM_HEAD_DIM * DType.BF16.bytes()) + 1;
            int[] kvs = {3, 2}, gs = {3, 4};
            ChunkPool[] pools = new ChunkPool[kvs.length];
            int[][] tables = new int[kvs.length][(maxLen + OneTokenDecode.WARM_CHUNK - 1) / OneTokenDecode.WARM_CHUNK];
            try {
                for (int p = 0; p < pools.length; p++) pools[p] = OneTokenDecode.patternPool(kvs[p], DType.BF16, maxLen, tables[p]);
                float[] q = OneTokenDecode.patternQueries(), out = new float[q.length];
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                for (int i = 0; !compiled.get() && System.nanoTime() < deadline; i++) {
                    int p = i % pools.length;
                    OneTokenDecode.attend(pools[p], 0, tables[p], (i * 37) % 192, kvs[p] * gs[p], q, 0, out, 0, k);
                }
                if (compiled.get()) System.out.println("compiled unit");
                longPart.set(true);
                OneTokenDecode.LOCAL.remove(); // this thread's scratch grows again, now under C2's code
                for (int i = 0; i < 200; i++) {
                    int p = i % pools.length;
                    OneTokenDecode.attend(pools[p], 0, tables[p], from - 1 + (i * 5) % (maxLen - from + 1), kvs[p] * gs[p], q, 0, out, 0, k);
                }
                new Marker().commit();
                if (!marker.await(60, TimeUnit.SECONDS)) throw new IllegalStateException("the event stream never delivered the marker");
                System.out.println("long contexts done");
                for (String d : deopts) System.out.println("deopt " + d);
            } finally {
                for (ChunkPool p : pools) if (p != null) p.close();
            }
        }
        System.out.flush();
        System.exit(0);
    }
}
