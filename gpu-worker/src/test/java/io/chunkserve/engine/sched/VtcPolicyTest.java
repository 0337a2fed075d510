package io.chunkserve.engine.sched;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** VTC on scripted arrivals (w_e = 1, w_q = 2); orders worked out by hand from {@link VtcPolicy}. */
class VtcPolicyTest {
    @Test
    void servesTheSmallestCounterHeadOfFifoAndNeverSkips() {
        FakeEngine e = new FakeEngine(SchedulerConfig.of("vtc"));
        e.memoryTokens = 160;
        e.submit("A", 100, 0, 0); // 0
        e.submit("A", 10, 0, 0);  // 1
        e.submit("B", 50, 0, 0);  // 2
        e.submit("B", 50, 0, 0);  // 3
        e.submit("A", 10, 0, 0);  // 4
        // A=B=0: oldest head 0 (A=100); B=0: 2 (B=50); B=50 < 100: 3 does not fit -> stop,
        // although 1 (10 tokens) would fit: no skipping.
        assertEquals(List.of(0L, 2L), e.pass());
        assertEquals(List.of(0L, 2L, 3L), e.tried);
        e.running.get(1).addOutputTokens(10);
        e.policy.onStep(e.running);                  // B = 50 + 2*10 = 70
        assertEquals(70, e.credit("B"));
        e.finishAll();
        // B=70 < A=100: 3 (B=120); A=100: 1 (A=110); only A left: 4 (A=120).
        assertEquals(List.of(3L, 1L, 4L), e.pass());
        assertEquals(120, e.credit("A"));
    }

    @Test
    void liftsAReturningTenantToTheSmallestBackloggedCounter() {
        FakeEngine e = new FakeEngine(SchedulerConfig.of("vtc"));
        e.maxRunning = 2;
        e.submit("A", 100, 0, 0);                    // 0
        for (int i = 0; i < 4; i++) e.submit("B", 50, 0, 0); // 1..4
        assertEquals(List.of(0L, 1L), e.pass());     // tie: oldest head 0 (A=100); then B (50)
        e.finishAll();
        assertEquals(List.of(2L, 3L), e.pass());     // only B waits: B=150
        e.submit("A", 50, 0, 0);                     // 5: A idle at 100, lifted to B's 150
        assertEquals(150, e.credit("A"));
        e.finishAll();
        assertEquals(List.of(4L, 5L), e.pass());     // tie at 150: older head 4 first
        e.submit("C", 10, 0, 0);                     // 6: nobody waits: lifted to the last counter to leave (A, 200)
        assertEquals(200, e.credit("C"));
    }

    @Test
    void ignoresThePrefixCacheAndChargesTheWholePrompt() {
        FakeEngine e = new FakeEngine(SchedulerConfig.of("vtc"));
        e.submit("A", 100, 0, 0);
        e.submit("A", 100, 99, 0);
        assertEquals(List.of(0L, 1L), e.pass());
        assertEquals(0, e.matcherCalls);
        assertEquals(200, e.credit("A"));
        assertEquals(100 + 1, e.tenant("A").service()); // service itself counts computed tokens only
    }
}
