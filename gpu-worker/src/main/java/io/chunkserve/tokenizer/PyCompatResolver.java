package io.chunkserve.tokenizer;

import com.hubspot.jinjava.el.ext.NamedParameter;

import java.beans.FeatureDescriptor;
import java.lang.reflect.Array;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

/**
 * The Python side of Jinja2 that Jinjava lacks, as an EL resolver placed before Jinjava's own:
 * <ul>
 *   <li>Python {@code str} methods ({@code strip/lstrip/rstrip} with optional chars,
 *       {@code split/rsplit} with and without separator, {@code startswith/endswith} (also with a
 *       tuple/list), {@code upper/lower/title/capitalize/swapcase}, {@code replace},
 *       {@code find/rfind/index/rindex/count}, {@code is*} predicates, {@code join},
 *       {@code format}, {@code splitlines}, {@code partition/rpartition},
 *       {@code removeprefix/removesuffix}, {@code zfill}, {@code center/ljust/rjust});</li>
 *   <li>indexing a string by code point, negative indices included ({@code s[0]}, {@code s[-1]});</li>
 *   <li>Python slicing of lists, tuples and strings ({@code x[1:]}, {@code x[::-1]},
 *       {@code x[:-1]}, {@code x[a:b:c]}), which the source rewriter turns into a subscript by a
 *       {@link TemplateFunctions#slice slice key}.</li>
 * </ul>
 * Anything else is left unresolved for Jinjava's resolvers. Stateless, thread-safe.
 */
final class PyCompatResolver extends ELResolver {

    @Override
    public Object getValue(ELContext context, Object base, Object property) {
        if (base == null || property == null) {
            return null;
        }
        if (property instanceof String p && p.startsWith(TemplateFunctions.SLICE_KEY)) {
            Object sliced = slice(base, p);
            context.setPropertyResolved(true);
            return sliced;
        }
        if (base instanceof CharSequence cs) {
            Integer index = index(property);
            if (index != null) {
                String s = cs.toString();
                int n = PyStr.length(s);
                int i = index < 0 ? index + n : index;
                context.setPropertyResolved(true);
                if (i < 0 || i >= n) {
                    return null; // Jinja2: undefined
                }
                int at = PyStr.offset(s, i);
                return s.substring(at, s.offsetByCodePoints(at, 1));
            }
        }
        return null;
    }

    @Override
    public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
        if (!(base instanceof CharSequence cs) || method == null) {
            return null;
        }
        List<Object> args = new ArrayList<>();
        Map<String, Object> kwargs = new LinkedHashMap<>();
        if (params != null) {
            for (Object p : params) {
                if (p instanceof NamedParameter np) {
                    kwargs.put(np.getName(), np.getValue());
                } else {
                    args.add(p);
                }
            }
        }
        String s = cs.toString();
        Object result;
        try {
            result = stringMethod(s, method.toString(), args, kwargs);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("str." + method + ": " + e.getMessage(), e);
        }
        if (result == NOT_A_METHOD) {
            return null;
        }
        context.setPropertyResolved(true);
        return result;
    }

    private static final Object NOT_A_METHOD = new Object();

    private static Object stringMethod(String s, String name, List<Object> a, Map<String, Object> kw) {
        switch (name) {
            case "strip": return PyStr.strip(s, optString(a, kw, 0, "chars"));
            case "lstrip": return PyStr.lstrip(s, optString(a, kw, 0, "chars"));
            case "rstrip": return PyStr.rstrip(s, optString(a, kw, 0, "chars"));
            case "split": return PyStr.split(s, optString(a, kw, 0, "sep"), optInt(a, kw, 1, "maxsplit", -1));
            case "rsplit": return PyStr.rsplit(s, optString(a, kw, 0, "sep"), optInt(a, kw, 1, "maxsplit", -1));
            case "splitlines": return PyStr.splitlines(s, truthy(arg(a, kw, 0, "keepends")));
            case "startswith": return affix(s, a, kw, true);
            case "endswith": return affix(s, a, kw, false);
            case "upper": return PyStr.upper(s);
            case "lower": return PyStr.lower(s);
            case "casefold": return PyStr.lower(s);
            case "title": return PyStr.title(s);
            case "capitalize": return PyStr.capitalize(s);
            case "swapcase": return PyStr.swapcase(s);
            case "replace":
                return PyStr.replace(s, reqString(a, kw, 0, "old"), reqString(a, kw, 1, "new"), optInt(a, kw, 2, "count", -1));
            case "find": return (long) PyStr.find(s, reqString(a, kw, 0, "sub"), optInt(a, kw, 1, "start", 0),
                    optInt(a, kw, 2, "end", Integer.MAX_VALUE), false);
            case "rfind": return (long) PyStr.find(s, reqString(a, kw, 0, "sub"), optInt(a, kw, 1, "start", 0),
                    optInt(a, kw, 2, "end", Integer.MAX_VALUE), true);
            case "index", "rindex": {
                int at = PyStr.find(s, reqString(a, kw, 0, "sub"), optInt(a, kw, 1, "start", 0),
                        optInt(a, kw, 2, "end", Integer.MAX_VALUE), name.equals("rindex"));
                if (at < 0) {
                    throw new IllegalArgumentException("substring not found");
                }
                return (long) at;
            }
            case "count": return (long) PyStr.count(s, reqString(a, kw, 0, "sub"));
            case "isdigit", "isdecimal", "isnumeric": return PyStr.all(s, Character::isDigit);
            case "isalpha": return PyStr.all(s, Character::isLetter);
            case "isalnum": return PyStr.all(s, Character::isLetterOrDigit);
            case "isspace": return PyStr.all(s, PyStr::isSpace);
            case "islower": return s.codePoints().anyMatch(Character::isLowerCase) && !s.codePoints().anyMatch(
                    cp -> Character.isUpperCase(cp) || Character.isTitleCase(cp));
            case "isupper": return s.codePoints().anyMatch(Character::isUpperCase) && !s.codePoints().anyMatch(
                    cp -> Character.isLowerCase(cp) || Character.isTitleCase(cp));
            case "istitle": return !s.isEmpty() && PyStr.title(s).equals(s) && s.codePoints().anyMatch(Character::isLetter);
            case "join": {
                Object items = arg(a, kw, 0, "iterable");
                StringBuilder sb = new StringBuilder();
                boolean first = true;
                for (Object item : items instanceof Iterable<?> it ? castIterable(it) : PyFormat.iterable(items)) {
                    if (!first) {
                        sb.append(s);
                    }
                    first = false;
                    if (!(item instanceof CharSequence)) {
                        throw new IllegalArgumentException("sequence item: expected str instance, "
                                + (item == null ? "NoneType" : item.getClass().getSimpleName()) + " found");
                    }
                    sb.append(item);
                }
                return sb.toString();
            }
            case "format": return PyStr.format(s, a, kw);
            case "removeprefix": {
                String p = reqString(a, kw, 0, "prefix");
                return s.startsWith(p) ? s.substring(p.length()) : s;
            }
            case "removesuffix": {
                String p = reqString(a, kw, 0, "suffix");
                return !p.isEmpty() && s.endsWith(p) ? s.substring(0, s.length() - p.length()) : s;
            }
            case "partition", "rpartition": {
                String sep = reqString(a, kw, 0, "sep");
                int at = name.equals("partition") ? s.indexOf(sep) : s.lastIndexOf(sep);
                if (at < 0) {
                    return name.equals("partition") ? List.of(s, "", "") : List.of("", "", s);
                }
                return List.of(s.substring(0, at), sep, s.substring(at + sep.length()));
            }
            case "zfill": {
                int width = optInt(a, kw, 0, "width", 0);
                int n = PyStr.length(s);
                if (n >= width) {
                    return s;
                }
                String pad = "0".repeat(width - n);
                return !s.isEmpty() && (s.charAt(0) == '+' || s.charAt(0) == '-') ? s.charAt(0) + pad + s.substring(1) : pad + s;
            }
            case "center", "ljust", "rjust": {
                int width = optInt(a, kw, 0, "width", 0);
                String fill = optString(a, kw, 1, "fillchar");
                String f = fill == null ? " " : fill;
                int n = PyStr.length(s);
                if (n >= width) {
                    return s;
                }
                int total = width - n;
                int left = switch (name) {
                    case "ljust" -> 0;
                    case "rjust" -> total;
                    default -> total / 2 + (total & width & 1);
                };
                return f.repeat(left) + s + f.repeat(total - left);
            }
            default: return NOT_A_METHOD;
        }
    }

    @SuppressWarnings("unchecked")
    private static Iterable<Object> castIterable(Iterable<?> it) {
        return (Iterable<Object>) it;
    }

    private static boolean affix(String s, List<Object> a, Map<String, Object> kw, boolean prefix) {
        Object what = arg(a, kw, 0, prefix ? "prefix" : "suffix");
        int n = PyStr.length(s);
        int[] r = PyStr.sliceBounds(n, optInt(a, kw, 1, "start", 0), optInt(a, kw, 2, "end", Integer.MAX_VALUE));
        String window = s.substring(PyStr.offset(s, r[0]), PyStr.offset(s, r[1]));
        List<Object> options = new ArrayList<>();
        if (what instanceof CharSequence) {
            options.add(what);
        } else if (what instanceof Iterable<?> || (what != null && what.getClass().isArray())) {
            (what instanceof Iterable<?> it ? castIterable(it) : PyFormat.iterable(what)).forEach(options::add);
        } else {
            throw new IllegalArgumentException("expected a str or a tuple of str, got " + PyFormat.repr(what));
        }
        for (Object o : options) {
            String p = String.valueOf(o);
            if (prefix ? window.startsWith(p) : window.endsWith(p)) {
                return true;
            }
        }
        return false;
    }

    private static Object arg(List<Object> a, Map<String, Object> kw, int i, String name) {
        if (i < a.size()) {
            return a.get(i);
        }
        return kw.get(name);
    }

    private static String optString(List<Object> a, Map<String, Object> kw, int i, String name) {
        Object v = arg(a, kw, i, name);
        if (v == null) {
            return null;
        }
        if (!(v instanceof CharSequence) && !(v instanceof Character)) {
            throw new IllegalArgumentException("argument '" + name + "' must be str or None, not " + PyFormat.repr(v));
        }
        return v.toString();
    }

    private static String reqString(List<Object> a, Map<String, Object> kw, int i, String name) {
        String v = optString(a, kw, i, name);
        if (v == null) {
            throw new IllegalArgumentException("missing argument '" + name + "'");
        }
        return v;
    }

    private static int optInt(List<Object> a, Map<String, Object> kw, int i, String name, int def) {
        Object v = arg(a, kw, i, name);
        if (v == null) {
            return def;
        }
        if (v instanceof Number num) {
            long l = num.longValue();
            return (int) Math.max(Integer.MIN_VALUE, Math.min(Integer.MAX_VALUE, l));
        }
        throw new IllegalArgumentException("argument '" + name + "' must be an integer, not " + PyFormat.repr(v));
    }

    private static boolean truthy(Object v) {
        return v != null && !Boolean.FALSE.equals(v) && !(v instanceof Number n && n.doubleValue() == 0);
    }

    private static Integer index(Object property) {
        if (property instanceof Number n && !(property instanceof Double) && !(property instanceof Float)) {
            return n.intValue();
        }
        if (property instanceof String p && !p.isEmpty() && p.matches("-?\\d{1,9}")) {
            return Integer.parseInt(p);
        }
        return null;
    }

    /** Python slicing of a list, tuple, array or string by a {@link TemplateFunctions#slice} key. */
    static Object slice(Object base, String key) {
        String[] parts = key.substring(TemplateFunctions.SLICE_KEY.length()).split(":", -1);
        Integer start = parts[0].isEmpty() ? null : Integer.valueOf(parts[0]);
        Integer stop = parts[1].isEmpty() ? null : Integer.valueOf(parts[1]);
        int step = parts[2].isEmpty() ? 1 : Integer.parseInt(parts[2]);
        if (step == 0) {
            throw new IllegalArgumentException("slice step cannot be zero");
        }
        if (base instanceof CharSequence cs) {
            int[] cps = cs.toString().codePoints().toArray();
            StringBuilder sb = new StringBuilder();
            for (int i : indices(cps.length, start, stop, step)) {
                sb.appendCodePoint(cps[i]);
            }
            return sb.toString();
        }
        List<Object> items = new ArrayList<>();
        if (base instanceof List<?> l) {
            items.addAll(l);
        } else if (base instanceof Collection<?> c) {
            items.addAll(c);
        } else if (base.getClass().isArray()) {
            for (int i = 0; i < Array.getLength(base); i++) {
                items.add(Array.get(base, i));
            }
        } else if (base instanceof Iterable<?> it) {
            for (Iterator<?> i = it.iterator(); i.hasNext(); ) {
                items.add(i.next());
            }
        } else {
            throw new IllegalArgumentException("'" + base.getClass().getSimpleName() + "' object is not subscriptable");
        }
        List<Object> out = new ArrayList<>();
        for (int i : indices(items.size(), start, stop, step)) {
            out.add(items.get(i));
        }
        return out;
    }

    /** The indices {@code range(n)[start:stop:step]} (CPython's PySlice_AdjustIndices). */
    static int[] indices(int n, Integer start, Integer stop, int step) {
        int lo;
        int hi;
        if (step > 0) {
            lo = start == null ? 0 : clamp(start, n, 0, n);
            hi = stop == null ? n : clamp(stop, n, 0, n);
        } else {
            lo = start == null ? n - 1 : clamp(start, n, -1, n - 1);
            hi = stop == null ? -1 : clamp(stop, n, -1, n - 1);
        }
        List<Integer> out = new ArrayList<>();
        for (int i = lo; step > 0 ? i < hi : i > hi; i += step) {
            out.add(i);
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    private static int clamp(int i, int n, int min, int max) {
        if (i < 0) {
            i += n;
        }
        return Math.max(min, Math.min(max, i));
    }

    @Override
    public Class<?> getType(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public void setValue(ELContext context, Object base, Object property, Object value) {
        // not ours: leave to Jinjava's resolvers
    }

    @Override
    public boolean isReadOnly(ELContext context, Object base, Object property) {
        return false;
    }

    @Override
    public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) {
        return null;
    }

    @Override
    public Class<?> getCommonPropertyType(ELContext context, Object base) {
        return base instanceof CharSequence ? Integer.class : null;
    }
}
