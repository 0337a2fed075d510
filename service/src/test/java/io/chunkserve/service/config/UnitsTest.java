package io.chunkserve.service.config;

import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class UnitsTest {
    @Test
    void binaryAndSiSizes() {
        assertEquals(512L << 20, Units.parseBytes("512MiB"));
        assertEquals(512L << 20, Units.parseBytes("512Mi"));
        assertEquals(2L << 30, Units.parseBytes("2 GiB"));
        assertEquals(3L << 30, Units.parseBytes("3g"));
        assertEquals(1_500_000_000L, Units.parseBytes("1.5GB"));
        assertEquals((long) (1.5 * (1L << 30)), Units.parseBytes("1.5GiB"));
        assertEquals(1048576, Units.parseBytes("1_048_576"));
        assertEquals(4096, Units.parseBytes("4096B"));
    }

    @Test
    void badSizesSayWhatIsExpected() {
        for (String bad : new String[]{"12XB", "", "MiB", "-1MiB", "1.5"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Units.parseBytes(bad), bad);
            assertTrue(e.getMessage().contains("'" + bad + "'"), e.getMessage());
        }
    }

    @Test
    void sizesPrintExactly() {
        assertEquals("512MiB", Units.formatBytes(512L << 20));
        assertEquals("1000B", Units.formatBytes(1000));
        assertEquals("1025KiB", Units.formatBytes(1025L << 10));
        assertEquals("0B", Units.formatBytes(0));
    }

    @Test
    void durations() {
        assertEquals(Duration.ofSeconds(30), Units.parseDuration("30s"));
        assertEquals(Duration.ofSeconds(30), Units.parseDuration("30"));
        assertEquals(Duration.ofMillis(500), Units.parseDuration("500ms"));
        assertEquals(Duration.ofMinutes(2), Units.parseDuration("2m"));
        assertEquals(Duration.ofMillis(1500), Units.parseDuration("1.5s"));
        assertEquals(Duration.ofSeconds(90), Units.parseDuration("PT90S"));
        assertThrows(IllegalArgumentException.class, () -> Units.parseDuration("soon"));
        assertThrows(IllegalArgumentException.class, () -> Units.parseDuration("-3s"));
        assertEquals("2m", Units.formatDuration(Duration.ofMinutes(2)));
        assertEquals("45s", Units.formatDuration(Duration.ofSeconds(45)));
        assertEquals("250ms", Units.formatDuration(Duration.ofMillis(250)));
    }
}
