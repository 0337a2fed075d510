package io.chunkserve.engine.sched;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The engine-facing contract: phases, misuse detection, abort accounting. */
class PolicyLifecycleTest {
    @Test
    void misuseThrowsInsteadOfCorruptingAccounts() {
        for (String name : SchedulerConfig.POLICIES) {
            FakeEngine e = new FakeEngine(SchedulerConfig.of(name));
            QueuedRequest r = e.submit("A", 10, 0, 1);
            assertThrows(IllegalStateException.class, () -> e.policy.onArrival(r), name);
            assertThrows(IllegalStateException.class, () -> e.policy.onFinish(r), name);
            assertThrows(IllegalStateException.class, () -> e.policy.onPreempt(r), name);
            List<QueuedRequest> stray = new ArrayList<>(List.of(new QueuedRequest(99, "A", 99, 5, 1)));
            assertThrows(IllegalStateException.class, () -> e.policy.schedule(stray, e::tryAdmit), name);
            e.pass();
            assertEquals(QueuedRequest.Phase.RUNNING, r.phase());
            assertThrows(IllegalStateException.class, () -> e.policy.onStep(List.of(new QueuedRequest(7, "A", 7, 5, 1))));
            e.step();
            assertEquals(QueuedRequest.Phase.FINISHED, r.phase());
            assertThrows(IllegalStateException.class, () -> e.policy.onAbort(r), name);
        }
    }

    @Test
    void abortsGiveBackQueueCountsAndChargeOutputSoFar() {
        for (String name : SchedulerConfig.POLICIES) {
            FakeEngine e = new FakeEngine(SchedulerConfig.of(name));
            e.maxRunning = 1;
            QueuedRequest a = e.submit("A", 10, 0, 5);
            QueuedRequest b = e.submit("A", 10, 0, 5);
            e.pass();
            a.addOutputTokens(2);
            e.running.remove(a);
            e.policy.onAbort(a);
            e.waiting.remove(b);
            e.policy.onAbort(b);
            TenantStats t = e.tenant("A");
            assertEquals(0, t.waiting(), name);
            assertEquals(0, t.running(), name);
            assertEquals(2, t.outputTokens(), name);
            assertEquals(10 + 2 * 2, t.service(), name);
            assertEquals(QueuedRequest.Phase.ABORTED, b.phase());
        }
    }
}
