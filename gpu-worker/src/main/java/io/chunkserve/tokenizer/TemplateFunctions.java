package io.chunkserve.tokenizer;

import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import com.hubspot.jinjava.objects.date.StrftimeFormatter;

import java.time.ZonedDateTime;
import java.util.List;
import java.util.Locale;

/**
 * The global functions chat templates get: Hugging Face's {@code raise_exception(message)} and
 * {@code strftime_now(format)}, plus the helper that {@link JinjaSourceRewriter} calls in place of
 * the Python slices Jinjava cannot parse.
 */
final class TemplateFunctions {

    /** Prefix of the subscript key that {@link PyCompatResolver} slices by. */
    static final String SLICE_KEY = "\u0000pyslice:";
    /** Name the rewriter uses for Python slices: {@code x[a:b:c]} → {@code x[__cs_slice(a, b, c)]}. */
    static final String SLICE_FN = "__cs_slice";

    private TemplateFunctions() {}

    /** The function definitions to register in a Jinjava global context. */
    static List<ELFunctionDefinition> definitions() {
        return List.of(
                new ELFunctionDefinition("", "raise_exception", TemplateFunctions.class, "raiseException", Object.class),
                new ELFunctionDefinition("", "strftime_now", TemplateFunctions.class, "strftimeNow", Object.class),
                new ELFunctionDefinition("", SLICE_FN, TemplateFunctions.class, "slice", Object.class, Object.class, Object.class));
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
}
