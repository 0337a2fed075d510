package io.chunkserve.runtime.cuda;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The partials kernel's {@code direct} argument and whether a merge launch follows, for every flag combination. */
class CudaAttentionMergeArgTest {
    @Test
    void fusedOnlyWhenDirectAndSomeSequenceIsSplit() {
        for (boolean direct : new boolean[] {false, true}) {
            for (boolean fused : new boolean[] {false, true}) {
                for (boolean planDirect : new boolean[] {false, true}) {
                    for (boolean planMerge : new boolean[] {false, true}) {
                        if (!planDirect && !planMerge) continue;   // a plan has rows of one kind at least
                        int arg = CudaAttention.directArg(direct, fused, planDirect, planMerge);
                        boolean launch = CudaAttention.mergeLaunch(arg, planMerge);
                        String what = direct + "/" + fused + "/" + planDirect + "/" + planMerge;
                        if (direct && fused && planMerge) {
                            assertEquals(2, arg, what);
                            assertFalse(launch, what);
                        } else if (direct && planDirect) {
                            assertEquals(1, arg, what);
                            assertEquals(planMerge, launch, what);
                        } else {
                            assertEquals(0, arg, what);
                            assertTrue(launch, what);   // every row through a record: the merge writes them all
                        }
                        // every split sequence is merged by exactly one of the two paths, every row written
                        if (planMerge) assertTrue(launch ^ arg == 2, what);
                    }
                }
            }
        }
    }
}
