package io.chunkserve.engine.sched;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * DLPM on scripted arrivals: each expected admission order is worked out by hand from the
 * pseudo-code in {@link DlpmPolicy} (Q_u = 100 unless stated, w_e = 1, w_q = 2). Request ids are
 * arrival numbers; "cached" is the matched prefix the matcher reports.
 */
class DlpmPolicyTest {
    private static FakeEngine dlpm(long quantum) {
        return new FakeEngine(SchedulerConfig.of("dlpm").withQuantum(quantum));
    }

    @Test
    void chargesDuringThePassSkipsTenantsWithoutCreditAndRefillsOnlyWhenNoBackloggedTenantHasCredit() {
        FakeEngine e = dlpm(100);
        e.submit("A", 100, 90, 0); // 0: extend 10
        e.submit("A", 140, 80, 0); // 1: extend 60
        e.submit("A", 120, 70, 0); // 2: extend 50
        e.submit("A", 100, 60, 0); // 3: extend 40
        e.submit("B", 80, 50, 0);  // 4: extend 30
        e.submit("B", 100, 0, 0);  // 5: extend 100
        // LPM order 0,1,2,3,4,5. Refill at 0 (A=B=100); A: 90, 30, -20 -> 3 skipped (B still has
        // credit, no refill); B: 70, -30.
        assertEquals(List.of(0L, 1L, 2L, 4L, 5L), e.pass());
        assertEquals(-20, e.credit("A"));
        assertEquals(-30, e.credit("B"));
        // Only A waits, nobody waiting has credit: refill gives every tenant at <= 0 a quantum
        // (A 80, B 70); 3 goes in, A = 40.
        assertEquals(List.of(3L), e.pass());
        assertEquals(40, e.credit("A"));
        assertEquals(70, e.credit("B"));
        assertEquals(2, ((DlpmPolicy) e.policy).refills());
    }

    @Test
    void chargingDuringThePassKeepsOneTenantFromFillingTheBatch() {
        FakeEngine e = dlpm(100);
        e.maxRunning = 4;
        for (int i = 0; i < 6; i++) e.submit("A", 140, 100, 0); // 0..5: hot, extend 40 each
        for (int i = 0; i < 3; i++) e.submit("B", 40, 0, 0);    // 6..8: cold, extend 40 each
        // A: 100 -> 60 -> 20 -> -20 after three; 3,4,5 skipped; B's 6 fills the batch, 7 is BATCH_FULL.
        // Charged after the batch instead, A's six hot requests would have filled it.
        assertEquals(List.of(0L, 1L, 2L, 6L), e.pass());
        assertEquals(List.of(0L, 1L, 2L, 6L, 7L), e.tried);
    }

    @Test
    void stopsThePassWhenKvMemoryIsFull() {
        FakeEngine e = dlpm(100);
        e.memoryTokens = 300;
        e.submit("A", 100, 50, 0); // 0: needs 50 tokens of KV
        e.submit("B", 300, 40, 0); // 1: needs 260
        e.submit("A", 20, 0, 0);   // 2: needs 20 — would fit, but is never tried
        assertEquals(List.of(0L), e.pass());
        assertEquals(List.of(0L, 1L), e.tried);
        e.finishAll();
        assertEquals(List.of(1L, 2L), e.pass()); // 260 + 20 <= 300; A still has 50 credit
    }

    @Test
    void aDeepDebtTakesOneRefillPerPassAndRefillNeverTopsUpATenantWithCredit() {
        FakeEngine e = dlpm(100);
        e.submit("A", 360, 10, 0); // 0: extend 350
        e.submit("A", 15, 5, 0);   // 1: extend 10
        e.submit("B", 10, 0, 0);   // 2: extend 10
        assertEquals(List.of(0L, 2L), e.pass()); // A = 100 - 350 = -250; 1 skipped; B = 90
        assertEquals(-250, e.credit("A"));
        assertEquals(List.of(), e.pass());       // refill: A -150
        assertEquals(List.of(), e.pass());       // refill: A -50
        assertEquals(-50, e.credit("A"));
        assertEquals(List.of(1L), e.pass());     // refill: A 50; admit: A 40
        assertEquals(40, e.credit("A"));
        assertEquals(90, e.credit("B"));         // B stayed above 0: never refilled past Q_u
        assertEquals(4, ((DlpmPolicy) e.policy).refills());
    }

    @Test
    void anIdleTenantRestartsFromZeroButABusyOneKeepsItsDebt() {
        FakeEngine e = dlpm(100);
        e.submit("A", 360, 10, 0);
        assertEquals(List.of(0L), e.pass());
        assertEquals(-250, e.credit("A"));
        e.submit("A", 10, 0, 0);                 // A still runs request 0: not idle
        assertEquals(-250, e.credit("A"));
        e.finishAll();
        e.waiting.forEach(e.policy::onAbort);
        e.waiting.clear();
        e.submit("A", 10, 0, 0);                 // nothing waiting or running: idle, reset
        assertEquals(0, e.credit("A"));
    }

    @Test
    void outputTokensAreChargedPerStep() {
        FakeEngine e = dlpm(100);
        e.submit("A", 10, 0, 3);
        assertEquals(List.of(0L), e.pass());     // A = 100 - 10
        e.step();
        assertEquals(88, e.credit("A"));
        e.step();
        e.step();                                // third token: finishes
        assertEquals(84, e.credit("A"));
        assertEquals(10 + 2 * 3, e.tenant("A").service());
        assertEquals(1, e.tenant("A").finished());
    }

    @Test
    void agingPromotesACacheColdRequestAfterItsLimitOfOvertakes() {
        FakeEngine e = new FakeEngine(SchedulerConfig.of("dlpm").withQuantum(1000).withAgingLimit(2));
        e.maxRunning = 1;
        QueuedRequest cold = e.submit("A", 100, 0, 0); // 0
        e.submit("A", 100, 90, 0);                      // 1: hot
        e.submit("A", 100, 90, 0);                      // 2: hot
        assertEquals(List.of(1L), e.pass());
        assertEquals(1, cold.age());
        e.finishAll();
        e.submit("A", 100, 90, 0);                      // 3
        assertEquals(List.of(2L), e.pass());
        assertEquals(2, cold.age());                    // promoted
        e.finishAll();
        e.submit("A", 100, 90, 0);                      // 4
        assertEquals(List.of(0L), e.pass());
    }

    @Test
    void withoutAgingLpmStarvesTheColdRequestForAsLongAsHotOnesKeepComing() {
        FakeEngine e = new FakeEngine(SchedulerConfig.of("lpm"));
        e.maxRunning = 1;
        e.submit("A", 100, 0, 0);
        for (int round = 0; round < 20; round++) {
            e.submit("A", 100, 90, 0);
            List<Long> got = e.pass();
            assertEquals(1, got.size());
            assertTrue(got.get(0) != 0L, "cold request admitted in round " + round);
            e.finishAll();
        }
    }

    @Test
    void fallsBackToArrivalOrderWithoutMatchingAboveTheWaitingLimit() {
        FakeEngine e = new FakeEngine(SchedulerConfig.of("dlpm").withQuantum(1000).withLpmMaxWaiting(3));
        e.maxRunning = 2;
        e.submit("A", 100, 0, 0);  // 0
        e.submit("A", 100, 50, 0); // 1
        e.submit("A", 100, 10, 0); // 2
        e.submit("A", 100, 90, 0); // 3
        assertEquals(List.of(0L, 1L), e.pass());    // 4 waiting > 3: FCFS, no prefix matching
        assertEquals(0, e.matcherCalls);
        e.finishAll();
        assertEquals(List.of(3L, 2L), e.pass());    // 2 waiting: LPM again
        assertEquals(2, e.matcherCalls);
        assertEquals(1, e.policy.stats().fcfsPasses());
        assertEquals(2, e.policy.stats().passes());
    }

    @Test
    void weightedQuantumSharesServiceByWeight() {
        FakeEngine e = new FakeEngine(SchedulerConfig.of("dlpm").withQuantum(100).withTenantWeights(Map.of("A", 3)));
        e.maxRunning = 1;
        for (int i = 0; i < 400; i++) {
            e.submit("A", 100, 0, 0);
            e.submit("B", 100, 0, 0);
        }
        for (int i = 0; i < 400; i++) {
            e.pass();
            e.finishAll();
        }
        long a = e.tenant("A").admitted(), b = e.tenant("B").admitted();
        assertEquals(400, a + b);
        assertEquals(300, a, 2); // 3:1, within one refill round
    }
}
