package io.chunkserve.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/**
 * The skinny GEMM's option specs (benchmarks' A/B arms, {@code -Dchunkserve.cuda.gemmOptions}) parse and print back, and
 * the class loads on a machine without libcuda (its memset binding is bound on first use).
 */
class SkinnyGemmOptionsTest {
    @Test
    void specsRoundTrip() {
        for (String spec : new String[] {"vec", "direct", "vec:res=t64:slices=8", "vec:gu=t64_m1w4s6:res=t64_m2w4s4", "vec:splitk=ordered", "vec:splitk=auto",
                "vec:gu=t64_wg1s6:res=t64_wg2s5d:head=t64_wg2s4", "vec:splitk=auto:wg=off", "vec:wg=64+128", "vec:gu=t128_wg1s4:wg=on", "vec:wg=64"}) {
            assertEquals(spec, SkinnyGemm.Options.parse(spec).toString());
        }
        SkinnyGemm.Options o = SkinnyGemm.Options.parse("vec:gu=t64_m1w4s6:slices=4");
        assertEquals(SkinnyGemm.variantIndex("t64_m1w4s6"), o.gu());
        assertEquals(4, o.maxSlices());
        // k-slices added atomically unless asked for in slice order; the direct epilogue can only add them atomically
        assertEquals(false, o.ordered());
        assertEquals(true, SkinnyGemm.Options.parse("vec:splitk=ordered").ordered());
        assertEquals(false, SkinnyGemm.Options.parse("vec:splitk=ordered:splitk=atomic").ordered());
        assertEquals(false, SkinnyGemm.Options.parse("direct").ordered());
        assertEquals("vec", SkinnyGemm.Options.parse("vec:splitk=atomic").toString());
        assertEquals(true, SkinnyGemm.Options.parse("vec:splitk=auto").auto());
        assertEquals(false, SkinnyGemm.Options.parse("vec:splitk=auto").ordered());
        assertEquals(SkinnyGemm.DEFAULT_WG_CLASSES, SkinnyGemm.Options.parse("vec").wg());
        assertEquals(0, SkinnyGemm.Options.parse("vec:wg=off").wg());
        assertEquals(31, SkinnyGemm.Options.parse("vec:wg=on").wg());
        assertEquals("vec:wg=8+16+64", SkinnyGemm.Options.parse("vec:wg=64+16+8").toString());
        assertEquals(1 | 4, SkinnyGemm.Options.parse("vec:wg=128+32").wg());
        assertEquals("vec:wg=32+128", SkinnyGemm.Options.parse("vec:wg=128+32").toString());
        assertEquals("vec", SkinnyGemm.Options.parse("vec:wg=8+16+32+64").toString());   // the default classes print as nothing
        assertThrows(IllegalArgumentException.class, () -> SkinnyGemm.Options.parse("vec:wg=256"));
        assertEquals(SkinnyGemm.variantIndex("t64_wg2s4"), SkinnyGemm.Options.parse("vec:head=t64_wg2s4").head());
    }

    @Test
    void warpgroupVariantConstantsNameTheirKernels() {
        // every variant the policy names exists
        for (int v : new int[] {SkinnyGemm.WG1S6, SkinnyGemm.WG2S4, SkinnyGemm.WG2S6, SkinnyGemm.WG4S4, SkinnyGemm.WG2S5D,
                SkinnyGemm.T32_WG1S4, SkinnyGemm.T32_WG1S6, SkinnyGemm.T32_WG2S4, SkinnyGemm.T128_WG1S4, SkinnyGemm.T128_WG2S3,
                SkinnyGemm.T128_WG2S4, SkinnyGemm.T128_WG1S6, SkinnyGemm.T8_WG1S8, SkinnyGemm.T8_WG1S12, SkinnyGemm.T8_WG2S6,
                SkinnyGemm.T16_WG1S6, SkinnyGemm.T16_WG1S8, SkinnyGemm.T16_WG2S6}) {
            assertEquals(true, v >= 0 && SkinnyGemm.VARIANTS[v].wg());
        }
        for (SkinnyGemm.Variant v : SkinnyGemm.VARIANTS) {
            // a warpgroup variant is whole warpgroups of one 16-row tile a warp, 64 tokens, its stages 1 KiB-aligned
            if (v.wg()) {
                assertEquals(0, v.warps() % 4, v.name());
                assertEquals(1, v.mt(), v.name());
                assertEquals(true, java.util.Arrays.stream(SkinnyGemm.WG_NT).anyMatch(nt -> nt == v.nt()), v.name());
                assertEquals(v.stages() * (v.rows() + v.nt()) * 128 + 1024, v.smem(), v.name());
                assertEquals(0, (v.rows() + v.nt()) * 128 % 1024, v.name());
                assertEquals(true, v.name().startsWith("t" + v.nt() + "_wg" + v.warps() / 4 + "s" + v.stages()), v.name());
            }
        }
    }

    @Test
    void gateUpTakesTheWarpgroupVariantFillingMostOfOneWave() {
        // resident blocks per SM as on the H200 (shared memory bound): wg1s6 2, wg2s6 1, wg2s4 2, wg4s4 1; 132 SMs
        int[] occ = new int[SkinnyGemm.VARIANTS.length];
        java.util.Arrays.fill(occ, 1);
        occ[SkinnyGemm.WG1S6] = 2;
        occ[SkinnyGemm.WG2S4] = 2;
        assertEquals(SkinnyGemm.WG1S6, SkinnyGemm.wgGateUp(1, 16384, occ, 132));   // Llama-3.2-1B: 256 blocks of 64 rows, 0.97 wave
        assertEquals(SkinnyGemm.WG2S4, SkinnyGemm.wgGateUp(1, 28672, occ, 132));   // Llama-3-8B: 224 of 128 (wg1s6 would be 1.7 waves)
        assertEquals(SkinnyGemm.WG2S4, SkinnyGemm.wgGateUp(1, 37888, occ, 132));   // no candidate in one wave
        assertEquals(SkinnyGemm.WG1S6, SkinnyGemm.wgGateUp(1, 3072, occ, 132));    // SmolLM2: small, the 64-row blocks
        // the 128-token class: t128_wg1s4 at 2 an SM, the others 1
        occ[SkinnyGemm.T128_WG1S4] = 2;
        assertEquals(SkinnyGemm.T128_WG1S4, SkinnyGemm.wgGateUp(2, 16384, occ, 132));   // 256 blocks of 64 rows
        assertEquals(SkinnyGemm.T128_WG2S3, SkinnyGemm.wgGateUp(2, 28672, occ, 132));  // none in one wave: the class's fallback
    }

    @Test
    void splitkAutoOrdersTheEightBShapesAtFewTokensOnly() {
        assertEquals("vec:splitk=auto", SkinnyGemm.DEFAULT_OPTIONS);
        // Llama-3-8B decode (hidden 4096, intermediate 14336): q|k|v, o, down at B = 1, 2, 4 — where ordered measured faster
        for (int T : new int[] {1, 2, 4}) {
            assertEquals(true, SkinnyGemm.autoOrders(T, 6144, 4096));
            assertEquals(true, SkinnyGemm.autoOrders(T, 4096, 4096));
            assertEquals(true, SkinnyGemm.autoOrders(T, 4096, 14336));
        }
        assertEquals(false, SkinnyGemm.autoOrders(8, 4096, 4096));      // slower from B = 8
        assertEquals(false, SkinnyGemm.autoOrders(16, 6144, 4096));
        assertEquals(false, SkinnyGemm.autoOrders(1, 2048, 8192));      // Llama-3.2-1B down: slower ordered
        assertEquals(false, SkinnyGemm.autoOrders(1, 16384, 2048));     // 1B gate|up
    }

    @Test
    void unknownKeysAndVariantsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> SkinnyGemm.Options.parse("fast"));
        assertThrows(IllegalArgumentException.class, () -> SkinnyGemm.Options.parse("vec:cluster=4"));
        assertThrows(IllegalArgumentException.class, () -> SkinnyGemm.Options.parse("vec:gu=t16"));   // not a 64-token variant
        assertThrows(IllegalArgumentException.class, () -> SkinnyGemm.Options.parse("vec:slices"));
        assertThrows(IllegalArgumentException.class, () -> SkinnyGemm.Options.parse("vec:splitk=sorted"));
        assertThrows(IllegalArgumentException.class, () -> SkinnyGemm.Options.parse("direct:splitk=ordered"));
        assertThrows(IllegalArgumentException.class, () -> SkinnyGemm.Options.parse("direct:splitk=auto"));
    }
}
