package io.chunkserve.engine.sched;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The two unfair baselines on scripted arrivals. */
class LpmAndFcfsPolicyTest {
    @Test
    void lpmTakesLongestMatchFirstTiesByArrivalAndStopsAtTheFirstMisfit() {
        FakeEngine e = new FakeEngine(SchedulerConfig.of("lpm"));
        e.memoryTokens = 200;
        e.submit("A", 100, 10, 0); // 0: needs 90
        e.submit("B", 100, 50, 0); // 1: needs 50
        e.submit("A", 100, 50, 0); // 2: needs 50
        e.submit("B", 100, 0, 0);  // 3: needs 100
        e.submit("A", 100, 90, 0); // 4: needs 10
        assertEquals(List.of(4L, 1L, 2L, 0L), e.pass()); // 10+50+50+90 = 200
        assertEquals(List.of(4L, 1L, 2L, 0L, 3L), e.tried);
        assertEquals(List.of(3L), e.waiting.stream().map(QueuedRequest::id).toList());
    }

    @Test
    void lpmRefreshesMatchesEveryPass() {
        FakeEngine e = new FakeEngine(SchedulerConfig.of("lpm"));
        e.maxRunning = 1;
        e.submit("A", 100, 0, 0);  // 0
        e.submit("A", 100, 20, 0); // 1
        e.submit("A", 100, 10, 0); // 2
        assertEquals(List.of(1L), e.pass());
        e.finishAll();
        e.matched.put(0L, 64);     // request 1's KV now covers request 0's prefix
        assertEquals(List.of(0L), e.pass());
    }

    @Test
    void fcfsTakesArrivalOrderAndAPreemptedRequestKeepsItsPlace() {
        FakeEngine e = new FakeEngine(SchedulerConfig.of("fcfs"));
        e.maxRunning = 2;
        for (int i = 0; i < 4; i++) e.submit(i % 2 == 0 ? "A" : "B", 10, 0, 0);
        assertEquals(List.of(0L, 1L), e.pass());
        assertEquals(List.of(0L, 1L, 2L), e.tried);
        QueuedRequest r0 = e.running.removeFirst();
        e.usedTokens -= FakeEngine.kvTokens(r0, 0);
        e.policy.onPreempt(r0);
        e.waiting.add(r0);         // at the back of the engine's list
        e.finishAll();
        assertEquals(List.of(0L, 2L), e.pass());
        assertEquals(20, e.tenant("A").extendTokens()); // requests 0 and 2: 0 charged once despite two admissions
        assertEquals(3, e.tenant("A").admitted());
    }
}
