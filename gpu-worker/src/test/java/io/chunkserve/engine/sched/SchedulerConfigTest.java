package io.chunkserve.engine.sched;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SchedulerConfigTest {
    @Test
    void createsEachPolicyByName() {
        assertInstanceOf(DlpmPolicy.class, SchedulerConfig.defaults().create(r -> 0));
        assertInstanceOf(VtcPolicy.class, SchedulerConfig.of("VTC").create(null));
        assertInstanceOf(LpmPolicy.class, SchedulerConfig.of(" lpm ").create(r -> 0));
        assertInstanceOf(FcfsPolicy.class, SchedulerConfig.of("fcfs").create(null));
        assertEquals("dlpm", SchedulerConfig.defaults().create(r -> 0).name());
    }

    @Test
    void rejectsUnknownNamesAndBadParametersWithClearMessages() {
        var e = assertThrows(IllegalArgumentException.class, () -> SchedulerConfig.of("round-robin"));
        assertEquals("unknown scheduling policy 'round-robin' (expected one of dlpm, vtc, lpm, fcfs)", e.getMessage());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> SchedulerConfig.defaults().withQuantum(0))
                .getMessage().contains("quantum Q_u must be >= 1"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> SchedulerConfig.defaults().withAgingLimit(0))
                .getMessage().contains("aging_limit"));
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> SchedulerConfig.defaults().withTenantWeights(Map.of("a", 0))).getMessage().contains("tenant 'a'"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> SchedulerConfig.of("lpm").create(null))
                .getMessage().contains("needs a prefix matcher"));
    }

    @Test
    void parsesStringOptions() {
        SchedulerConfig c = SchedulerConfig.fromMap(Map.of("policy", "dlpm", "quantum", "16_384", "w_q", "3",
                "lpm_max_waiting", "512", "aging_limit", "8", "tenant_weights", "alice:2, bob:1"));
        assertEquals(16384, c.quantum());
        assertEquals(1, c.inputWeight());
        assertEquals(3, c.outputWeight());
        assertEquals(512, c.lpmMaxWaiting());
        assertEquals(8, c.agingLimit());
        assertEquals(2, c.weightOf("alice"));
        assertEquals(1, c.weightOf("carol"));
        assertEquals(SchedulerConfig.defaults(), SchedulerConfig.fromMap(Map.of()));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> SchedulerConfig.fromMap(Map.of("quantm", "5")))
                .getMessage().contains("unknown scheduler option(s) [quantm]"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> SchedulerConfig.fromMap(Map.of("quantum", "lots")))
                .getMessage().contains("quantum must be an integer, got 'lots'"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> SchedulerConfig.fromMap(Map.of("tenant_weights", "alice")))
                .getMessage().contains("not tenant:weight"));
    }
}
