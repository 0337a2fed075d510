package io.chunkserve.service.loadgen;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The paced raw-TCP floor counts every message it sends in the window exactly once and reads each one's stamp
 * back intact: at a low rate the delivered rate equals the offered one and the latencies are those of loopback
 * (well under a second; a stamp assembled from the wrong bytes would give nonsense of seconds or years).
 */
class SocketFloorTest {
    @Test
    void pacedFloorDeliversTheOfferedRateWithSaneLatencies() throws Exception {
        SocketFloor.Paced p = SocketFloor.runPaced(16, ServeBench.FLOOR_EVENT_BYTES, 1.0, 3000);
        assertEquals(3000, p.deliveredPerSecond(), 3000 * 0.02, "delivered messages/s");
        assertTrue(p.p50Ms() >= 0 && p.p50Ms() < 200, "p50 " + p.p50Ms() + " ms");
        assertTrue(p.maxMs() >= p.p99Ms() && p.p99Ms() >= p.p50Ms() && p.maxMs() < 1000, "max " + p.maxMs() + " ms");
    }
}
