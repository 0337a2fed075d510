package io.chunkserve.service.auth;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AdmissionControlTest {
    @Test
    void requestLimitsGlobalAndPerTenant() {
        AdmissionControl a = new AdmissionControl(new AdmissionControl.Limits(3, 1000, 2, 1000));
        AdmissionControl.Ticket t1 = a.admit("x");
        AdmissionControl.Ticket t2 = a.admit("x");
        assertNull(t1.refusal());
        assertNull(t2.refusal());
        AdmissionControl.Ticket t3 = a.admit("x");
        assertEquals("requests", t3.refusal().kind());
        assertTrue(t3.refusal().message().contains("tenant 'x'"));
        assertEquals(AdmissionControl.RETRY_AFTER_SECONDS, t3.refusal().retryAfterSeconds());
        assertNull(a.admit("y").refusal());
        AdmissionControl.Ticket global = a.admit("z");
        assertNotNull(global.refusal(), "global limit of 3");
        global.release(); // a refused ticket holds nothing
        t3.release();
        assertEquals(3, a.requestsInFlight());
        t1.release();
        t1.release(); // idempotent
        assertEquals(2, a.requestsInFlight());
        assertEquals(1, a.requestsInFlight("x"));
        assertNull(a.admit("z").refusal());
    }

    @Test
    void tokenLimits() {
        AdmissionControl a = new AdmissionControl(new AdmissionControl.Limits(10, 100, 10, 60));
        AdmissionControl.Ticket t1 = a.admit("x");
        assertNull(t1.addTokens(50));
        AdmissionControl.Ticket t2 = a.admit("x");
        AdmissionControl.Refusal r = t2.addTokens(20);
        assertEquals("tokens", r.kind());
        t2.release();
        AdmissionControl.Ticket t3 = a.admit("y");
        assertNull(t3.addTokens(50));
        AdmissionControl.Ticket t4 = a.admit("z");
        assertEquals("tokens", t4.addTokens(1).kind(), "global token limit of 100");
        t4.release();
        t1.release();
        assertEquals(50, a.tokensInFlight());
        t3.release();
        assertEquals(0, a.tokensInFlight());
        assertEquals(0, a.requestsInFlight());
    }

    @Test
    void concurrentAdmitsNeverExceedTheLimit() throws Exception {
        AdmissionControl a = new AdmissionControl(new AdmissionControl.Limits(5, 1 << 20, 5, 1 << 20));
        AtomicInteger peak = new AtomicInteger();
        AtomicInteger current = new AtomicInteger();
        ExecutorService ex = Executors.newFixedThreadPool(4);
        try {
            List<Future<?>> fs = new ArrayList<>();
            for (int th = 0; th < 4; th++) {
                fs.add(ex.submit(() -> {
                    for (int i = 0; i < 20_000; i++) {
                        AdmissionControl.Ticket t = a.admit("t" + (i % 3));
                        if (t.refusal() == null) {
                            peak.accumulateAndGet(current.incrementAndGet(), Math::max);
                            current.decrementAndGet();
                            t.release();
                        }
                    }
                }));
            }
            for (Future<?> f : fs) f.get();
        } finally {
            ex.shutdown();
        }
        assertTrue(peak.get() <= 5, "peak " + peak.get());
        assertEquals(0, a.requestsInFlight());
    }
}
