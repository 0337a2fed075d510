package io.chunkserve.tokenizer;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.filter.Filter;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Jinja2 3.1's {@code items} filter: the (key, value) pairs of a mapping; empty for undefined. */
final class PyItemsFilter implements Filter {

    @Override
    public String getName() {
        return "items";
    }

    @Override
    public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
        if (var == null) {
            return List.of();
        }
        if (!(var instanceof Map<?, ?> m)) {
            throw new IllegalArgumentException("items filter: can only get item pairs from a mapping, got "
                    + PyFormat.repr(var));
        }
        return new ArrayList<Map.Entry<?, ?>>(m.entrySet());
    }
}
