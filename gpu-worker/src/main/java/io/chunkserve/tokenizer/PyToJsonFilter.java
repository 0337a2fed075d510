package io.chunkserve.tokenizer;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.filter.Filter;

import java.util.Map;

/**
 * Hugging Face's {@code tojson} filter: {@code json.dumps(x, ensure_ascii=False, indent=None,
 * separators=None, sort_keys=False)}, so {@code {"a": 1, "b": [1, 2]}} with Python's spacing,
 * non-ASCII kept, no HTML escaping; accepts {@code indent}, {@code ensure_ascii},
 * {@code sort_keys} and {@code separators} like HF's.
 */
final class PyToJsonFilter implements Filter {

    @Override
    public String getName() {
        return "tojson";
    }

    @Override
    public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
        return filter(var, interpreter, args, Map.of());
    }

    @Override
    public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
        Object indent = kwargs.containsKey("indent") ? kwargs.get("indent") : args.length > 0 ? args[0] : null;
        boolean ensureAscii = truthy(kwargs.get("ensure_ascii"));
        boolean sortKeys = truthy(kwargs.get("sort_keys"));
        String itemSep = null;
        String keySep = null;
        Object seps = kwargs.get("separators");
        if (seps instanceof Iterable<?> it) {
            java.util.Iterator<?> i = it.iterator();
            itemSep = i.hasNext() ? String.valueOf(i.next()) : null;
            keySep = i.hasNext() ? String.valueOf(i.next()) : null;
        }
        return PyFormat.jsonDumps(var, ensureAscii, indent, sortKeys, itemSep, keySep);
    }

    private static boolean truthy(Object v) {
        return v instanceof Boolean b ? b : v != null && !"false".equalsIgnoreCase(String.valueOf(v));
    }

    @Override
    public boolean preserveSafeString() {
        return false;
    }
}
