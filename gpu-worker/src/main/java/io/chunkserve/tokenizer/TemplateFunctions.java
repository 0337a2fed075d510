package io.chunkserve.tokenizer;

import com.hubspot.jinjava.interpret.JinjavaInterpreter.InterpreterScopeClosable;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import com.hubspot.jinjava.objects.date.StrftimeFormatter;
import com.hubspot.jinjava.util.ForLoop;
import com.hubspot.jinjava.util.ObjectIterator;
import com.hubspot.jinjava.util.ObjectTruthValue;

import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The global functions chat templates get: Hugging Face's {@code raise_exception(message)} and
 * {@code strftime_now(format)}, plus two helpers that {@link JinjaSourceRewriter} calls in place of
 * syntax Jinjava cannot parse: Python slices and {@code for ... if ...} loop filters.
 */
final class TemplateFunctions {

    /** Prefix of the subscript key that {@link PyCompatResolver} slices by. */
    static final String SLICE_KEY = "\u0000pyslice:";
    /** Name the rewriter uses for Python slices: {@code x[a:b:c]} → {@code x[__cs_slice(a, b, c)]}. */
    static final String SLICE_FN = "__cs_slice";
    /** Name the rewriter uses for loop filters: {@code for x in xs if c} → {@code for x in __cs_loop_filter(xs, 'x', 'c')}. */
    static final String LOOP_FILTER_FN = "__cs_loop_filter";

    private TemplateFunctions() {}

    /** The function definitions to register in a Jinjava global context. */
    static List<ELFunctionDefinition> definitions() {
        return List.of(
                new ELFunctionDefinition("", "raise_exception", TemplateFunctions.class, "raiseException", Object.class),
                new ELFunctionDefinition("", "strftime_now", TemplateFunctions.class, "strftimeNow", Object.class),
                new ELFunctionDefinition("", SLICE_FN, TemplateFunctions.class, "slice", Object.class, Object.class, Object.class),
                new ELFunctionDefinition("", LOOP_FILTER_FN, TemplateFunctions.class, "loopFilter", Object.class,
                        String.class, String.class));
    }

    /** Thrown by {@code raise_exception}: the template's own error message. */
    static final class RaisedByTemplate extends RuntimeException {
        RaisedByTemplate(String message) {
            super(message, null, false, false);
        }
    }

    /** {@code raise_exception(message)}: aborts rendering with the template's message. */
    public static Object raiseException(Object message) {
        throw new RaisedByTemplate(PyFormat.str(message));
    }

    /** {@code strftime_now(format)}: the local time now, formatted like Python's {@code strftime}. */
    public static String strftimeNow(Object format) {
        return StrftimeFormatter.format(ZonedDateTime.now(), PyFormat.str(format), Locale.ENGLISH);
    }

    /** The subscript key of the slice {@code [start:stop:step]} (null parts are omitted bounds). */
    public static String slice(Object start, Object stop, Object step) {
        return SLICE_KEY + bound(start) + ":" + bound(stop) + ":" + bound(step);
    }

    private static String bound(Object v) {
        if (v == null) {
            return "";
        }
        if (v instanceof Number n && !(v instanceof Double) && !(v instanceof Float)) {
            return Long.toString(Math.max(Integer.MIN_VALUE, Math.min(Integer.MAX_VALUE, n.longValue())));
        }
        throw new IllegalArgumentException("slice indices must be integers or None, not " + PyFormat.repr(v));
    }

    /**
     * The items of {@code iterable} for which {@code condition} holds, with the loop's target
     * variables ({@code "x"} or {@code "k, v"}) bound to each item: Jinja2's
     * {@code {% for targets in iterable if condition %}}, so that {@code loop.index},
     * {@code loop.first} and {@code loop.last} count only the kept items.
     */
    public static List<Object> loopFilter(Object iterable, String targets, String condition) {
        JinjavaInterpreter interpreter = JinjavaInterpreter.getCurrent();
        if (interpreter == null) {
            throw new IllegalStateException(LOOP_FILTER_FN + " outside of a template");
        }
        List<String> names = Arrays.stream(targets.split(",")).map(String::strip).filter(s -> !s.isEmpty()).toList();
        List<Object> kept = new ArrayList<>();
        ForLoop loop = ObjectIterator.getLoop(iterable);
        while (loop.hasNext()) {
            Object item = loop.next();
            try (InterpreterScopeClosable scope = interpreter.enterScope()) {
                bind(interpreter, names, item);
                Object ok = interpreter.resolveELExpression(condition, interpreter.getLineNumber());
                if (ObjectTruthValue.evaluate(ok)) {
                    kept.add(item);
                }
            }
        }
        return kept;
    }

    private static void bind(JinjavaInterpreter interpreter, List<String> names, Object item) {
        if (names.size() == 1) {
            interpreter.getContext().put(names.get(0), item);
            return;
        }
        List<Object> parts = new ArrayList<>();
        if (item instanceof Map.Entry<?, ?> e) {
            parts.add(e.getKey());
            parts.add(e.getValue());
        } else if (item instanceof Iterable<?> it) {
            it.forEach(parts::add);
        } else if (item != null && item.getClass().isArray()) {
            PyFormat.iterable(item).forEach(parts::add);
        }
        if (parts.size() != names.size()) {
            throw new IllegalArgumentException("cannot unpack " + PyFormat.repr(item) + " into " + names);
        }
        for (int i = 0; i < names.size(); i++) {
            interpreter.getContext().put(names.get(i), parts.get(i));
        }
    }
}
