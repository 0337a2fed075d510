package io.chunkserve.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Python {@code str} semantics in Java, for chat templates: the methods templates call
 * ({@code strip}, {@code split}, {@code startswith}, {@code title}...), indexing and slicing by
 * code point, and Python's notion of whitespace. Stateless.
 */
final class PyStr {

    private PyStr() {}

    /** Python's {@code str.isspace()} for one code point (Zs/Zl/Zp, or bidi class WS/B/S). */
    static boolean isSpace(int cp) {
        return switch (cp) {
            case '\t', '\n', 0x0B, '\f', '\r', 0x1C, 0x1D, 0x1E, 0x1F, ' ', 0x85 -> true;
            default -> cp > 0x7F && Character.isSpaceChar(cp);
        };
    }

    /** {@code s.strip(chars)}: chars null strips whitespace. */
    static String strip(String s, String chars) {
        return rstrip(lstrip(s, chars), chars);
    }

    /** {@code s.lstrip(chars)}: chars null strips whitespace. */
    static String lstrip(String s, String chars) {
        int i = 0;
        while (i < s.length()) {
            int cp = s.codePointAt(i);
            if (!stripped(cp, chars)) {
                break;
            }
            i += Character.charCount(cp);
        }
        return s.substring(i);
    }

    /** {@code s.rstrip(chars)}: chars null strips whitespace. */
    static String rstrip(String s, String chars) {
        int end = s.length();
        while (end > 0) {
            int cp = s.codePointBefore(end);
            if (!stripped(cp, chars)) {
                break;
            }
            end -= Character.charCount(cp);
        }
        return s.substring(0, end);
    }

    private static boolean stripped(int cp, String chars) {
        return chars == null ? isSpace(cp) : chars.indexOf(Character.toString(cp)) >= 0;
    }

    /** {@code s.split(sep, maxsplit)}: sep null splits on runs of whitespace and drops empty ends. */
    static List<String> split(String s, String sep, int maxsplit) {
        List<String> out = new ArrayList<>();
        if (sep == null) {
            int i = 0;
            int n = s.length();
            while (true) {
                while (i < n && isSpace(s.codePointAt(i))) {
                    i += Character.charCount(s.codePointAt(i));
                }
                if (i >= n) {
                    break;
                }
                if (maxsplit >= 0 && out.size() == maxsplit) {
                    out.add(s.substring(i));
                    break;
                }
                int j = i;
                while (j < n && !isSpace(s.codePointAt(j))) {
                    j += Character.charCount(s.codePointAt(j));
                }
                out.add(s.substring(i, j));
                i = j;
            }
            return out;
        }
        if (sep.isEmpty()) {
            throw new IllegalArgumentException("empty separator");
        }
        int start = 0;
        while (maxsplit < 0 || out.size() < maxsplit) {
            int at = s.indexOf(sep, start);
            if (at < 0) {
                break;
            }
            out.add(s.substring(start, at));
            start = at + sep.length();
        }
        out.add(s.substring(start));
        return out;
    }

    /** {@code s.rsplit(sep, maxsplit)}. */
    static List<String> rsplit(String s, String sep, int maxsplit) {
        if (maxsplit < 0) {
            return split(s, sep, -1);
        }
        List<String> rev = new ArrayList<>();
        if (sep == null) {
            int end = s.length();
            while (true) {
                while (end > 0 && isSpace(s.codePointBefore(end))) {
                    end -= Character.charCount(s.codePointBefore(end));
                }
                if (end <= 0) {
                    break;
                }
                if (rev.size() == maxsplit) {
                    rev.add(s.substring(0, end));
                    break;
                }
                int j = end;
                while (j > 0 && !isSpace(s.codePointBefore(j))) {
                    j -= Character.charCount(s.codePointBefore(j));
                }
                rev.add(s.substring(j, end));
                end = j;
            }
        } else {
            if (sep.isEmpty()) {
                throw new IllegalArgumentException("empty separator");
            }
            int end = s.length();
            while (rev.size() < maxsplit) {
                int at = s.lastIndexOf(sep, end - sep.length());
                if (at < 0) {
                    break;
                }
                rev.add(s.substring(at + sep.length(), end));
                end = at;
            }
            rev.add(s.substring(0, end));
        }
        List<String> out = new ArrayList<>(rev.size());
        for (int i = rev.size() - 1; i >= 0; i--) {
            out.add(rev.get(i));
        }
        return out;
    }

    /** {@code s.splitlines(keepends)} (\n, \r, \r\n and the other Unicode line boundaries). */
    static List<String> splitlines(String s, boolean keepends) {
        List<String> out = new ArrayList<>();
        int start = 0;
        int i = 0;
        while (i < s.length()) {
            char c = s.charAt(i);
            int eol = switch (c) {
                case '\n', 0x0B, 0x0C, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029 -> 1;
                case '\r' -> i + 1 < s.length() && s.charAt(i + 1) == '\n' ? 2 : 1;
                default -> 0;
            };
            if (eol == 0) {
                i++;
                continue;
            }
            out.add(s.substring(start, keepends ? i + eol : i));
            i += eol;
            start = i;
        }
        if (start < s.length()) {
            out.add(s.substring(start));
        }
        return out;
    }

    /** {@code s.title()}: a cased character after an uncased one is title-cased, others lower-cased. */
    static String title(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        boolean prevCased = false;
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            i += Character.charCount(cp);
            if (prevCased) {
                sb.append(lower(Character.toString(cp)));
            } else {
                sb.appendCodePoint(Character.toTitleCase(cp));
            }
            prevCased = Character.isUpperCase(cp) || Character.isLowerCase(cp) || Character.isTitleCase(cp);
        }
        return sb.toString();
    }

    /** {@code s.capitalize()}: first character title-cased, the rest lower-cased. */
    static String capitalize(String s) {
        if (s.isEmpty()) {
            return s;
        }
        int cp = s.codePointAt(0);
        return new StringBuilder().appendCodePoint(Character.toTitleCase(cp))
                .append(lower(s.substring(Character.charCount(cp)))).toString();
    }

    static String upper(String s) {
        return s.toUpperCase(Locale.ROOT);
    }

    static String lower(String s) {
        return s.toLowerCase(Locale.ROOT);
    }

    static String swapcase(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        s.codePoints().forEach(cp -> {
            if (Character.isUpperCase(cp)) {
                sb.append(lower(Character.toString(cp)));
            } else if (Character.isLowerCase(cp)) {
                sb.append(upper(Character.toString(cp)));
            } else {
                sb.appendCodePoint(cp);
            }
        });
        return sb.toString();
    }

    /** {@code s.replace(old, new, count)}; count &lt; 0 replaces all. */
    static String replace(String s, String old, String rep, int count) {
        if (count < 0) {
            return s.replace(old, rep);
        }
        StringBuilder sb = new StringBuilder();
        int start = 0;
        int done = 0;
        while (done < count) {
            int at = old.isEmpty() ? (start <= s.length() ? start : -1) : s.indexOf(old, start);
            if (at < 0) {
                break;
            }
            sb.append(s, start, at).append(rep);
            if (old.isEmpty()) {
                if (at < s.length()) {
                    int cp = s.codePointAt(at);
                    sb.appendCodePoint(cp);
                    start = at + Character.charCount(cp);
                } else {
                    start = at + 1;
                }
            } else {
                start = at + old.length();
            }
            done++;
        }
        if (start <= s.length()) {
            sb.append(s, Math.min(start, s.length()), s.length());
        }
        return sb.toString();
    }

    /** Number of code points (Python's {@code len(s)}). */
    static int length(String s) {
        return s.codePointCount(0, s.length());
    }

    /** Code point index → char index (index in [0, length]). */
    static int offset(String s, int cpIndex) {
        return s.offsetByCodePoints(0, cpIndex);
    }

    /** {@code s.find(sub, start, end)} in code points; -1 if absent. */
    static int find(String s, String sub, int start, int end, boolean last) {
        int n = length(s);
        int[] r = sliceBounds(n, start, end);
        String window = s.substring(offset(s, r[0]), offset(s, r[1]));
        int at = last ? window.lastIndexOf(sub) : window.indexOf(sub);
        return at < 0 ? -1 : r[0] + window.codePointCount(0, at);
    }

    /** {@code s.count(sub)} (non-overlapping). */
    static int count(String s, String sub) {
        if (sub.isEmpty()) {
            return length(s) + 1;
        }
        int c = 0;
        for (int at = s.indexOf(sub); at >= 0; at = s.indexOf(sub, at + sub.length())) {
            c++;
        }
        return c;
    }

    /** Clamps Python start/end (negatives count from the end) to [0, n]. */
    static int[] sliceBounds(int n, int start, int end) {
        int s = start < 0 ? Math.max(0, start + n) : Math.min(start, n);
        int e = end < 0 ? Math.max(0, end + n) : Math.min(end, n);
        return new int[] {s, Math.max(s, e)};
    }

    /** Python's {@code str.format} for automatic, numbered and named fields without format specs. */
    static String format(String fmt, List<Object> args, Map<String, Object> kwargs) {
        StringBuilder sb = new StringBuilder();
        int auto = 0;
        for (int i = 0; i < fmt.length(); i++) {
            char c = fmt.charAt(i);
            if (c == '{' && i + 1 < fmt.length() && fmt.charAt(i + 1) == '{') {
                sb.append('{');
                i++;
            } else if (c == '}' && i + 1 < fmt.length() && fmt.charAt(i + 1) == '}') {
                sb.append('}');
                i++;
            } else if (c == '{') {
                int close = fmt.indexOf('}', i);
                if (close < 0) {
                    throw new IllegalArgumentException("Single '{' encountered in format string");
                }
                String field = fmt.substring(i + 1, close);
                if (field.contains(":") || field.contains("!")) {
                    throw new IllegalArgumentException("format specs are not supported: {" + field + "}");
                }
                Object v;
                if (field.isEmpty()) {
                    v = arg(args, auto++);
                } else if (field.chars().allMatch(Character::isDigit)) {
                    v = arg(args, Integer.parseInt(field));
                } else if (kwargs.containsKey(field)) {
                    v = kwargs.get(field);
                } else {
                    throw new IllegalArgumentException("KeyError: '" + field + "'");
                }
                sb.append(PyFormat.str(v));
                i = close;
            } else if (c == '}') {
                throw new IllegalArgumentException("Single '}' encountered in format string");
            } else {
                sb.append(c);
            }
        }
        return sb.toString();
    }

    private static Object arg(List<Object> args, int i) {
        if (i >= args.size()) {
            throw new IllegalArgumentException("Replacement index " + i + " out of range for positional args tuple");
        }
        return args.get(i);
    }

    /** Predicates {@code isdigit/isalpha/...} over all code points; false for "". */
    static boolean all(String s, java.util.function.IntPredicate p) {
        return !s.isEmpty() && s.codePoints().allMatch(p);
    }
}
