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
        for (String spec : new String[] {"vec", "direct", "vec:res=t64:slices=8", "vec:gu=t64_m1w4s6:res=t64_m2w4s4", "vec:splitk=ordered"}) {
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
    }

    @Test
    void unknownKeysAndVariantsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> SkinnyGemm.Options.parse("fast"));
        assertThrows(IllegalArgumentException.class, () -> SkinnyGemm.Options.parse("vec:cluster=4"));
        assertThrows(IllegalArgumentException.class, () -> SkinnyGemm.Options.parse("vec:gu=t16"));   // not a 64-token variant
        assertThrows(IllegalArgumentException.class, () -> SkinnyGemm.Options.parse("vec:slices"));
        assertThrows(IllegalArgumentException.class, () -> SkinnyGemm.Options.parse("vec:splitk=sorted"));
        assertThrows(IllegalArgumentException.class, () -> SkinnyGemm.Options.parse("direct:splitk=ordered"));
    }
}
