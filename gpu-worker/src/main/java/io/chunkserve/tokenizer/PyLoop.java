package io.chunkserve.tokenizer;

import com.hubspot.jinjava.util.ForLoop;

import java.util.List;

/**
 * Jinja2's {@code loop} object: Jinjava's {@link ForLoop} (index, index0, revindex, revindex0,
 * first, last, length, cycle; what {@code break} / {@code continue} act on) plus
 * {@code loop.previtem} and {@code loop.nextitem} (null, i.e. undefined, at the ends).
 */
public final class PyLoop extends ForLoop {

    private final List<Object> items;

    PyLoop(List<Object> items) {
        super(items.iterator(), items.size());
        this.items = items;
    }

    /** The previous item, or null on the first iteration. */
    public Object getPrevitem() {
        int i = getIndex0();
        return i > 0 && i - 1 < items.size() ? items.get(i - 1) : null;
    }

    /** The next item, or null on the last iteration. */
    public Object getNextitem() {
        int i = getIndex0();
        return i + 1 < items.size() ? items.get(i + 1) : null;
    }
}
