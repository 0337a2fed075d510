package io.chunkserve.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Which launch the timeline diagnostics capture: the batch floor, the skipped launches, one capture an arming. */
class TimelineCaptureTest {
    @Test
    void capturesTheFirstFullLaunchAfterTheSkippedOnes() {
        TimelineCapture c = new TimelineCapture();
        assertFalse(c.captureNow(64), "not armed");
        c.arm(64, 2);
        assertFalse(c.captureNow(10), "a smaller batch neither captures nor counts as skipped");
        assertFalse(c.captureNow(64));
        assertFalse(c.captureNow(64));
        assertTrue(c.captureNow(64), "the third launch of 64 sequences, after skipping two");
        c.capturedPartials(384);
        c.capturedMerge(256);
        assertFalse(c.captureNow(64), "one capture an arming");
        assertTrue(c.takeCaptured());
        assertFalse(c.takeCaptured(), "asked once, for the o projection that follows");
    }

    @Test
    void readsNothingWithoutACapture() {
        TimelineCapture c = new TimelineCapture();
        assertEquals(0, c.read(null).length);
        c.arm(1, 0);
        assertEquals(0, c.read(null).length, "armed but not yet launched");
        assertFalse(c.takeCaptured());
    }
}
