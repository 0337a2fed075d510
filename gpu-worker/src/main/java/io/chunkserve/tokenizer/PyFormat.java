package io.chunkserve.tokenizer;

import java.lang.reflect.Array;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * How Python prints values, for chat templates: {@code str(x)} (what {@code {{ x }}} outputs),
 * {@code repr(x)} (items inside a printed list or dict) and {@code json.dumps(x, ...)} (what
 * Hugging Face's {@code tojson} filter returns). Stateless.
 */
final class PyFormat {

    private PyFormat() {}

    /**
     * Python's {@code str(x)}: True/False for booleans, Python float formatting, lists and dicts in
     * repr form. {@code null} prints as "" rather than "None": Jinjava cannot tell an undefined
     * variable (which Jinja2 prints as "") from None.
     */
    static String str(Object v) {
        if (v == null) {
            return "";
        }
        if (v instanceof CharSequence cs) {
            return cs.toString();
        }
        return repr(v);
    }

    /** Python's {@code repr(x)} for the types templates see. */
    static String repr(Object v) {
        StringBuilder sb = new StringBuilder();
        repr(v, sb, 0);
        return sb.toString();
    }

    private static void repr(Object v, StringBuilder sb, int depth) {
        if (depth > 100) {
            sb.append("...");
            return;
        }
        if (v == null) {
            sb.append("None");
        } else if (v instanceof Optional<?> o) {
            repr(o.orElse(null), sb, depth);
        } else if (v instanceof CharSequence cs) {
            reprString(cs.toString(), sb);
        } else if (v instanceof Boolean b) {
            sb.append(b ? "True" : "False");
        } else if (v instanceof Double || v instanceof Float) {
            sb.append(floatRepr(((Number) v).doubleValue()));
        } else if (v instanceof BigDecimal bd) {
            sb.append(floatRepr(bd.doubleValue()));
        } else if (v instanceof Number || v instanceof BigInteger) {
            sb.append(v);
        } else if (v instanceof Character c) {
            reprString(c.toString(), sb);
        } else if (v instanceof Map<?, ?> m) {
            sb.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : m.entrySet()) {
                if (!first) {
                    sb.append(", ");
                }
                first = false;
                repr(e.getKey(), sb, depth + 1);
                sb.append(": ");
                repr(e.getValue(), sb, depth + 1);
            }
            sb.append('}');
        } else if (v instanceof Map.Entry<?, ?> e) {
            sb.append('(');
            repr(e.getKey(), sb, depth + 1);
            sb.append(", ");
            repr(e.getValue(), sb, depth + 1);
            sb.append(')');
        } else if (v instanceof Collection<?> || v.getClass().isArray()) {
            sb.append('[');
            boolean first = true;
            for (Object item : iterable(v)) {
                if (!first) {
                    sb.append(", ");
                }
                first = false;
                repr(item, sb, depth + 1);
            }
            sb.append(']');
        } else {
            sb.append(v);
        }
    }

    /** The elements of a collection or array. */
    static Iterable<Object> iterable(Object v) {
        if (v instanceof Collection<?> c) {
            @SuppressWarnings("unchecked")
            Iterable<Object> it = (Iterable<Object>) c;
            return it;
        }
        List<Object> out = new ArrayList<>();
        int n = Array.getLength(v);
        for (int i = 0; i < n; i++) {
            out.add(Array.get(v, i));
        }
        return out;
    }

    private static void reprString(String s, StringBuilder sb) {
        char quote = s.indexOf('\'') >= 0 && s.indexOf('"') < 0 ? '"' : '\'';
        sb.append(quote);
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            i += Character.charCount(cp);
            if (cp == quote || cp == '\\') {
                sb.append('\\').appendCodePoint(cp);
            } else if (cp == '\n') {
                sb.append("\\n");
            } else if (cp == '\r') {
                sb.append("\\r");
            } else if (cp == '\t') {
                sb.append("\\t");
            } else if (isPrintable(cp)) {
                sb.appendCodePoint(cp);
            } else if (cp < 0x100) {
                sb.append(String.format("\\x%02x", cp));
            } else if (cp < 0x10000) {
                sb.append(String.format("\\u%04x", cp));
            } else {
                sb.append(String.format("\\U%08x", cp));
            }
        }
        sb.append(quote);
    }

    /** Python's {@code str.isprintable()} for one code point. */
    private static boolean isPrintable(int cp) {
        if (cp == ' ') {
            return true;
        }
        return switch (Character.getType(cp)) {
            case Character.CONTROL, Character.FORMAT, Character.SURROGATE, Character.PRIVATE_USE,
                 Character.UNASSIGNED, Character.LINE_SEPARATOR, Character.PARAGRAPH_SEPARATOR,
                 Character.SPACE_SEPARATOR -> false;
            default -> true;
        };
    }

    /** Python's {@code repr(float)}: shortest round-trip digits, exponent form below 1e-4 and from 1e16. */
    static String floatRepr(double d) {
        if (Double.isNaN(d)) {
            return "nan";
        }
        if (Double.isInfinite(d)) {
            return d > 0 ? "inf" : "-inf";
        }
        if (d == 0) {
            return (1 / d < 0) ? "-0.0" : "0.0";
        }
        // Double.toString gives the shortest uniquely-distinguishing decimal (JDK 19+), as Python's repr
        BigDecimal bd = new BigDecimal(Double.toString(Math.abs(d))).stripTrailingZeros();
        String digits = bd.unscaledValue().toString();
        int exp = digits.length() - 1 - bd.scale(); // value = d.ddd × 10^exp
        StringBuilder sb = new StringBuilder();
        if (d < 0) {
            sb.append('-');
        }
        if (exp >= -4 && exp < 16) {
            if (exp < 0) {
                sb.append("0.").append("0".repeat(-exp - 1)).append(digits);
            } else if (digits.length() <= exp + 1) {
                sb.append(digits).append("0".repeat(exp + 1 - digits.length())).append(".0");
            } else {
                sb.append(digits, 0, exp + 1).append('.').append(digits, exp + 1, digits.length());
            }
        } else {
            sb.append(digits.charAt(0));
            if (digits.length() > 1) {
                sb.append('.').append(digits, 1, digits.length());
            }
            sb.append('e').append(exp < 0 ? '-' : '+');
            int a = Math.abs(exp);
            if (a < 10) {
                sb.append('0');
            }
            sb.append(a);
        }
        return sb.toString();
    }

    /**
     * Python's {@code json.dumps(v, ensure_ascii=ensureAscii, indent=indent, separators=None,
     * sort_keys=sortKeys)}: ", " and ": " separators without indent, "," and ": " with it.
     *
     * @param indent null for none, else a String (the indent unit) or Number (that many spaces)
     */
    static String jsonDumps(Object v, boolean ensureAscii, Object indent, boolean sortKeys,
                            String itemSeparator, String keySeparator) {
        String unit = null;
        if (indent instanceof Number n) {
            unit = " ".repeat(Math.max(0, n.intValue()));
        } else if (indent instanceof CharSequence cs) {
            unit = cs.toString();
        }
        String itemSep = itemSeparator != null ? itemSeparator : unit == null ? ", " : ",";
        String keySep = keySeparator != null ? keySeparator : ": ";
        StringBuilder sb = new StringBuilder();
        json(v, sb, ensureAscii, unit, sortKeys, itemSep, keySep, 0);
        return sb.toString();
    }

    private static void json(Object v, StringBuilder sb, boolean ascii, String unit, boolean sort,
                             String itemSep, String keySep, int level) {
        if (level > 200) {
            throw new IllegalArgumentException("Circular reference detected");
        }
        if (v instanceof Optional<?> o) {
            v = o.orElse(null);
        }
        if (v == null) {
            sb.append("null");
        } else if (v instanceof CharSequence || v instanceof Character) {
            jsonString(v.toString(), sb, ascii);
        } else if (v instanceof Boolean b) {
            sb.append(b ? "true" : "false");
        } else if (v instanceof Double || v instanceof Float || v instanceof BigDecimal) {
            double d = ((Number) v).doubleValue();
            sb.append(Double.isNaN(d) ? "NaN" : Double.isInfinite(d) ? (d > 0 ? "Infinity" : "-Infinity") : floatRepr(d));
        } else if (v instanceof Number) {
            sb.append(v);
        } else if (v instanceof Map<?, ?> m) {
            if (m.isEmpty()) {
                sb.append("{}");
                return;
            }
            List<Map.Entry<?, ?>> entries = new ArrayList<>(m.entrySet());
            if (sort) {
                entries.sort((a, b) -> jsonKey(a.getKey()).compareTo(jsonKey(b.getKey())));
            }
            sb.append('{');
            for (int i = 0; i < entries.size(); i++) {
                if (i > 0) {
                    sb.append(itemSep);
                }
                newline(sb, unit, level + 1);
                jsonString(jsonKey(entries.get(i).getKey()), sb, ascii);
                sb.append(keySep);
                json(entries.get(i).getValue(), sb, ascii, unit, sort, itemSep, keySep, level + 1);
            }
            newline(sb, unit, level);
            sb.append('}');
        } else if (v instanceof Collection<?> || v.getClass().isArray() || v instanceof Map.Entry<?, ?>) {
            Iterable<Object> items = v instanceof Map.Entry<?, ?> e
                    ? java.util.Arrays.asList(e.getKey(), e.getValue()) : iterable(v);
            Iterator<Object> it = items.iterator();
            if (!it.hasNext()) {
                sb.append("[]");
                return;
            }
            sb.append('[');
            boolean first = true;
            while (it.hasNext()) {
                if (!first) {
                    sb.append(itemSep);
                }
                first = false;
                newline(sb, unit, level + 1);
                json(it.next(), sb, ascii, unit, sort, itemSep, keySep, level + 1);
            }
            newline(sb, unit, level);
            sb.append(']');
        } else {
            throw new IllegalArgumentException("Object of type " + v.getClass().getSimpleName() + " is not JSON serializable");
        }
    }

    private static String jsonKey(Object k) {
        if (k == null) {
            return "null";
        }
        if (k instanceof Boolean b) {
            return b ? "true" : "false";
        }
        if (k instanceof Double || k instanceof Float) {
            return floatRepr(((Number) k).doubleValue());
        }
        return k.toString();
    }

    private static void newline(StringBuilder sb, String unit, int level) {
        if (unit != null) {
            sb.append('\n').append(unit.repeat(level));
        }
    }

    private static void jsonString(String s, StringBuilder sb, boolean ascii) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                default -> {
                    if (c < 0x20 || (ascii && c > 0x7F)) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        sb.append('"');
    }
}
