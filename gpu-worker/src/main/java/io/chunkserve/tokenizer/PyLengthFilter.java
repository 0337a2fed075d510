package io.chunkserve.tokenizer;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.filter.Filter;
import com.hubspot.jinjava.lib.filter.LengthFilter;

/**
 * Jinja2's {@code length} (alias {@code count}): for strings Python's {@code len}, which counts
 * code points (an emoji is 1, not 2 UTF-16 units); everything else as Jinjava counts it.
 */
final class PyLengthFilter implements Filter {

    private static final LengthFilter JINJAVA = new LengthFilter();

    private final String name;

    PyLengthFilter(String name) {
        this.name = name;
    }

    @Override
    public String getName() {
        return name;
    }

    @Override
    public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
        if (var instanceof CharSequence cs) {
            return (long) PyStr.length(cs.toString());
        }
        return JINJAVA.filter(var, interpreter, args);
    }
}
