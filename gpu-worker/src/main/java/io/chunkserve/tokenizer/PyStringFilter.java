package io.chunkserve.tokenizer;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.filter.Filter;

/** Jinja2's {@code string} filter: Python's {@code str(x)} (so a list prints as {@code ['a', 1, True]}). */
final class PyStringFilter implements Filter {

    @Override
    public String getName() {
        return "string";
    }

    @Override
    public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
        return var == null ? "None" : PyFormat.str(var);
    }

    @Override
    public boolean preserveSafeString() {
        return false;
    }
}
