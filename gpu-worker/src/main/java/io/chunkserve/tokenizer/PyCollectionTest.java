package io.chunkserve.tokenizer;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.exptest.ExpTest;

import java.util.Map;

/**
 * Jinja2's {@code is iterable} and {@code is sequence} tests, which (Python being Python) are true
 * for strings and dicts as well as lists; Jinjava's say false for strings.
 */
final class PyCollectionTest implements ExpTest {

    private final String name;

    /** @param name "iterable" or "sequence" (same answer for the values a template sees) */
    PyCollectionTest(String name) {
        this.name = name;
    }

    @Override
    public String getName() {
        return name;
    }

    @Override
    public boolean evaluate(Object var, JinjavaInterpreter interpreter, Object... args) {
        return var instanceof CharSequence || var instanceof Iterable<?> || var instanceof Map<?, ?>
                || (var != null && var.getClass().isArray());
    }
}
