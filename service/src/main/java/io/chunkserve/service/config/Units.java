package io.chunkserve.service.config;

import java.time.Duration;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Parses and prints the human units config values use: byte sizes ({@code 512MiB}, {@code 2GiB},
 * {@code 1.5GB}, {@code 1048576}) and durations ({@code 30s}, {@code 500ms}, {@code 2m},
 * {@code 1h}, a bare number meaning seconds). Errors are {@link IllegalArgumentException}s whose
 * message says what a valid value looks like.
 */
public final class Units {
    private Units() { }

    private static final Pattern SIZE = Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*([kmgt]?i?b?)?", Pattern.CASE_INSENSITIVE);
    private static final Pattern DURATION = Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*(ms|s|m|h)?", Pattern.CASE_INSENSITIVE);

    /**
     * Bytes from {@code 512MiB}-style text. Binary suffixes (KiB, MiB, GiB, TiB; also K, M, G, T
     * as in Kubernetes quantities without the i, which people mean as binary) are powers of 1024;
     * the SI forms KB, MB, GB, TB are powers of 1000; no suffix or B means bytes.
     */
    public static long parseBytes(String text) {
        String t = text.trim().replace("_", "");
        Matcher m = SIZE.matcher(t);
        if (!m.matches()) throw new IllegalArgumentException("'" + text + "' is not a size (use e.g. 512MiB, 2GiB, 1.5GB or a byte count)");
        double n = Double.parseDouble(m.group(1));
        String unit = m.group(2) == null ? "" : m.group(2).toLowerCase(Locale.ROOT);
        long mult = switch (unit) {
            case "", "b" -> 1L;
            case "k", "ki", "kib" -> 1L << 10;
            case "m", "mi", "mib" -> 1L << 20;
            case "g", "gi", "gib" -> 1L << 30;
            case "t", "ti", "tib" -> 1L << 40;
            case "kb" -> 1_000L;
            case "mb" -> 1_000_000L;
            case "gb" -> 1_000_000_000L;
            case "tb" -> 1_000_000_000_000L;
            default -> throw new IllegalArgumentException("'" + text + "' has an unknown size unit (use B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)");
        };
        double bytes = n * mult;
        if (bytes >= Long.MAX_VALUE) throw new IllegalArgumentException("'" + text + "' is too large");
        if (unit.isEmpty() && m.group(1).contains(".")) throw new IllegalArgumentException("'" + text + "' is not a whole number of bytes");
        return (long) bytes;
    }

    /** The shortest exact binary form: 536870912 → "512MiB", 1000 → "1000B". */
    public static String formatBytes(long bytes) {
        String[] units = {"B", "KiB", "MiB", "GiB", "TiB"};
        int u = 0;
        long v = bytes;
        while (u < units.length - 1 && v != 0 && v % 1024 == 0) {
            v /= 1024;
            u++;
        }
        return v + units[u];
    }

    /** A duration from {@code 30s}, {@code 500ms}, {@code 2m}, {@code 1h} or a bare number of seconds. */
    public static Duration parseDuration(String text) {
        String t = text.trim();
        try {
            if (t.toUpperCase(Locale.ROOT).startsWith("PT")) return Duration.parse(t);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("'" + text + "' is not a duration (use e.g. 30s, 500ms, 2m)");
        }
        Matcher m = DURATION.matcher(t);
        if (!m.matches()) throw new IllegalArgumentException("'" + text + "' is not a duration (use e.g. 30s, 500ms, 2m)");
        double n = Double.parseDouble(m.group(1));
        String unit = m.group(2) == null ? "s" : m.group(2).toLowerCase(Locale.ROOT);
        double ms = switch (unit) {
            case "ms" -> n;
            case "s" -> n * 1e3;
            case "m" -> n * 60e3;
            case "h" -> n * 3600e3;
            default -> throw new AssertionError(unit);
        };
        return Duration.ofMillis(Math.round(ms));
    }

    /** "30s", "500ms", "2m", "1h" where exact, else milliseconds. */
    public static String formatDuration(Duration d) {
        long ms = d.toMillis();
        if (ms != 0 && ms % 3_600_000 == 0) return ms / 3_600_000 + "h";
        if (ms != 0 && ms % 60_000 == 0) return ms / 60_000 + "m";
        if (ms % 1000 == 0) return ms / 1000 + "s";
        return ms + "ms";
    }
}
