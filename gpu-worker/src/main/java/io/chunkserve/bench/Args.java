package io.chunkserve.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/** Tiny helpers shared by the benchmark programs: flag parsing, JSON output, machine description. */
public final class Args {
    private Args() { }

    /** Parses {@code --name value} pairs over defaults; an unknown flag is an error naming the known ones. */
    public static Map<String, String> parse(String[] args, Map<String, String> defaults) {
        Map<String, String> out = new HashMap<>(defaults);
        for (int i = 0; i < args.length; i++) {
            String k = args[i];
            if (!defaults.containsKey(k)) throw new IllegalArgumentException("unknown option " + k + " (options: " + String.join(" ", defaults.keySet()) + ")");
            if (i + 1 >= args.length) throw new IllegalArgumentException("option " + k + " needs a value");
            out.put(k, args[++i]);
        }
        return out;
    }

    /** The CPU model and core count, for benchmark headers. */
    public static String machine() {
        String cpu = "unknown CPU";
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("model name")) {
                    cpu = line.substring(line.indexOf(':') + 1).trim();
                    break;
                }
            }
        } catch (IOException ignored) {
            // not Linux: keep the placeholder
        }
        return cpu + ", " + Runtime.getRuntime().availableProcessors() + " cores";
    }

    /** Minimal JSON for numbers, strings, booleans, lists and maps. */
    public static String json(Object o) {
        if (o == null) return "null";
        if (o instanceof String s) return '"' + s.replace("\\", "\\\\").replace("\"", "\\\"") + '"';
        if (o instanceof Number || o instanceof Boolean) return o.toString();
        if (o instanceof Map<?, ?> m) {
            StringBuilder b = new StringBuilder("{");
            Iterator<? extends Map.Entry<?, ?>> it = m.entrySet().iterator();
            while (it.hasNext()) {
                Map.Entry<?, ?> e = it.next();
                b.append(json(String.valueOf(e.getKey()))).append(':').append(json(e.getValue()));
                if (it.hasNext()) b.append(',');
            }
            return b.append('}').toString();
        }
        if (o instanceof List<?> l) {
            StringBuilder b = new StringBuilder("[");
            for (int i = 0; i < l.size(); i++) b.append(i > 0 ? "," : "").append(json(l.get(i)));
            return b.append(']').toString();
        }
        return json(o.toString());
    }
}
