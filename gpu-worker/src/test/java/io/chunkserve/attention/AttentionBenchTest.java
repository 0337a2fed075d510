package io.chunkserve.attention;

import io.chunkserve.model.DType;
import org.junit.jupiter.api.Test;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The benchmark program end to end on tiny sizes (not a timing test), and its options. */
class AttentionBenchTest {
    @Test
    void parsesOptionsAndRejectsBadOnes() {
        AttentionBench.Config c = AttentionBench.parse(new String[] {"--batch", "4", "--q-heads", "8", "--kv-heads", "2",
                "--head-dim", "80", "--shared", "96", "--unique", "5", "--chunk", "32", "--dtype", "bf16", "--threads", "2",
                "--layers", "3", "--no-grid"});
        assertEquals(4, c.batch());
        assertEquals(15, c.warmup());
        assertEquals(1000, c.warmupMs());
        assertEquals(2, c.kvHeads());
        assertEquals(80, c.headDim());
        assertEquals(DType.BF16, c.dtype());
        assertEquals(3, c.layers());
        assertFalse(c.grid());
        assertThrows(IllegalArgumentException.class, () -> AttentionBench.parse(new String[] {"--batch"}));
        assertThrows(IllegalArgumentException.class, () -> AttentionBench.parse(new String[] {"--frobnicate", "1"}));
        assertThrows(IllegalArgumentException.class, () -> AttentionBench.parse(new String[] {"--q-heads", "6", "--kv-heads", "4"}));
        assertThrows(IllegalArgumentException.class, () -> AttentionBench.parse(new String[] {"--unique", "0"}));
        assertThrows(IllegalArgumentException.class, () -> AttentionBench.parse(new String[] {"--warmup-ms", "-1"}));
        assertEquals(250, AttentionBench.parse(new String[] {"--warmup-ms", "250"}).warmupMs());
        assertThrows(IllegalArgumentException.class, () -> AttentionBench.parse(new String[] {"--dtype", "int4"}));
    }

    @Test
    void tinyRunPrintsTableAndResultJson() {
        AttentionBench.Config c = AttentionBench.parse(new String[] {"--batch", "3", "--q-heads", "4", "--kv-heads", "2",
                "--head-dim", "32", "--shared", "80", "--unique", "7", "--chunk", "16", "--dtype", "f16", "--threads", "2",
                "--reps", "3", "--warmup", "1", "--warmup-ms", "0", "--working-set-mb", "4", "--bandwidth-mb", "16", "--no-grid"});
        String report = AttentionBench.run(c);
        String result = report.lines().filter(l -> l.startsWith("RESULT ")).findFirst().orElseThrow();
        for (String key : new String[] {"speedup_vs_unaware", "ideal_speedup", "floor_ratio", "read_bw_gbs", "grid", "default"}) {
            assertTrue(result.contains("\"" + key + "\""), key + " missing from " + result);
        }
        // ideal = B(P+S) / (P+BS) = 3·87 / (80+21)
        assertEquals(3.0 * 87 / 101, number(result, "ideal_speedup"), 1e-3);
        assertTrue(number(result, "max_abs_diff") < 1e-4, "aware and unaware runs disagree: " + result);
        // the arithmetic bound: 2·B·Hq·(P+S)·d·layers FMAs (default 16 layers) at the measured peak
        String def = result.substring(result.indexOf("\"default\""));
        assertEquals(2.0 * 3 * 4 * 87 * 32 * 16, number(def, "fmas"), 0.5);
        double peak = number(result, "fma_peak_g_per_s");
        assertTrue(peak > 0, result);
        assertEquals(number(def, "fmas") / (peak * 1e9) * 1e3, number(def, "compute_floor_ms"), 1e-2 * number(def, "compute_floor_ms") + 1e-4);
        double bound = Math.max(number(def, "floor_ms"), number(def, "compute_floor_ms"));
        assertEquals(number(def, "aware_ms") / bound, number(def, "bound_ratio"), 1e-2 * number(def, "bound_ratio")); // 4-decimal ms
    }

    @Test
    void abArmAlternatesAVariantAndRestoresTheSwitches() {
        assertThrows(IllegalArgumentException.class, () -> AttentionBench.parse(new String[] {"--ab", "frobnicate=1"}));
        assertThrows(IllegalArgumentException.class, () -> AttentionBench.parse(new String[] {"--ab", "prefetch"}));
        boolean before = Prefetch.enabled;
        AttentionBench.Config c = AttentionBench.parse(new String[] {"--batch", "3", "--q-heads", "4", "--kv-heads", "2",
                "--head-dim", "32", "--shared", "80", "--unique", "7", "--chunk", "16", "--threads", "2", "--ab", "prefetch=false,warm=false",
                "--reps", "3", "--warmup", "1", "--warmup-ms", "0", "--working-set-mb", "4", "--bandwidth-mb", "16", "--no-grid"});
        String result = AttentionBench.run(c).lines().filter(l -> l.startsWith("RESULT ")).findFirst().orElseThrow();
        assertTrue(result.contains("\"variant\":\"prefetch=false,warm=false\""), result);
        assertTrue(number(result, "variant_aware_ms") > 0, result);
        // the switches only change timing: the variant's output equals the base's
        assertEquals(0.0, number(result.substring(result.indexOf("\"ab\"")), "max_abs_diff"), 1e-6);
        assertEquals(before, Prefetch.enabled, "switch not restored");
        assertTrue(Workspace.WARM_FIRST, "switch not restored");
    }

    private static double number(String json, String key) {
        Matcher m = Pattern.compile("\"" + key + "\":([-0-9.eE+]+)").matcher(json);
        assertTrue(m.find(), key);
        return Double.parseDouble(m.group(1));
    }
}
