package io.chunkserve.bench.sim;

import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * Tiny command-line and JSON helpers for benchmarks (a stand-in until the shared
 * {@code io.chunkserve.bench.Args} reaches this branch; same shape: {@code parse}, {@code json}).
 */
public final class BenchArgs {
    private BenchArgs() { }

    /**
     * {@code --key value} or {@code --key=value} pairs over {@code defaults}; a key not in
     * {@code defaults} or a key without a value throws {@link IllegalArgumentException}.
     */
    public static Map<String, String> parse(String[] args, Map<String, String> defaults) { return parse(args, defaults, Set.of()); }

    /**
     * As {@link #parse(String[], Map)}, and each key of {@code flags} (also a key of {@code defaults})
     * may stand alone: {@code --key} means {@code --key=true}.
     */
    public static Map<String, String> parse(String[] args, Map<String, String> defaults, Set<String> flags) {
        Map<String, String> out = new LinkedHashMap<>(defaults);
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (!a.startsWith("--")) throw new IllegalArgumentException("expected --option, got '" + a + "'");
            String key = a.substring(2), value;
            int eq = key.indexOf('=');
            if (eq >= 0) {
                value = key.substring(eq + 1);
                key = key.substring(0, eq);
            } else if (flags.contains(key)) {
                value = "true";
            } else if (i + 1 < args.length) {
                value = args[++i];
            } else {
                throw new IllegalArgumentException("option --" + key + " needs a value");
            }
            if (!defaults.containsKey(key)) {
                throw new IllegalArgumentException("unknown option --" + key + " (known: --" + String.join(", --", defaults.keySet()) + ")");
            }
            out.put(key, value);
        }
        return out;
    }

    /** JSON of maps, iterables, strings, numbers (NaN and infinities as null), booleans and null. */
    public static String json(Object o) {
        StringBuilder sb = new StringBuilder();
        write(sb, o);
        return sb.toString();
    }

    private static void write(StringBuilder sb, Object o) {
        switch (o) {
            case null -> sb.append("null");
            case Map<?, ?> m -> {
                sb.append('{');
                Iterator<? extends Map.Entry<?, ?>> it = m.entrySet().iterator();
                while (it.hasNext()) {
                    Map.Entry<?, ?> e = it.next();
                    string(sb, String.valueOf(e.getKey()));
                    sb.append(':');
                    write(sb, e.getValue());
                    if (it.hasNext()) sb.append(',');
                }
                sb.append('}');
            }
            case Iterable<?> list -> {
                sb.append('[');
                boolean first = true;
                for (Object x : list) {
                    if (!first) sb.append(',');
                    first = false;
                    write(sb, x);
                }
                sb.append(']');
            }
            case Double d when d.isNaN() || d.isInfinite() -> sb.append("null");
            case Float f when f.isNaN() || f.isInfinite() -> sb.append("null");
            case Number n -> sb.append(n);
            case Boolean b -> sb.append(b);
            default -> string(sb, o.toString());
        }
    }

    private static void string(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                default -> {
                    if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
                    else sb.append(c);
                }
            }
        }
        sb.append('"');
    }
}
