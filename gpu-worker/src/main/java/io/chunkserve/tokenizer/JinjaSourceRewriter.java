package io.chunkserve.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Rewrites a Jinja2 template (as Hugging Face renders chat templates: {@code trim_blocks=True},
 * {@code lstrip_blocks=True}, {@code keep_trailing_newline=False}) into a template that Jinjava
 * renders the same way. Jinja2's own lexer rules are applied here, so Jinjava runs with no
 * whitespace handling of its own:
 * <ul>
 *   <li>line endings become {@code \n} and one trailing newline is dropped;</li>
 *   <li>{@code {%- / {{- / {#-} strip all whitespace before the tag, {@code -%} / -}} / -#}}
 *       all whitespace after it;</li>
 *   <li>lstrip_blocks: spaces and tabs between a line start and a {@code {%} or {@code {#} are
 *       removed (not before {@code {{}, not with {@code {%+});</li>
 *   <li>trim_blocks: the first newline after {@code %}} or {@code #}} is removed (not after
 *       {@code }}}, not with {@code +%}});</li>
 *   <li>comments are dropped, {@code {% raw %}} blocks are kept verbatim.</li>
 * </ul>
 * Inside tags it rewrites the Python syntax that Jinjava's parser lacks:
 * <ul>
 *   <li>slices {@code x[a:b:c]} (any part optional) → {@code x[__cs_slice(a, b, c)]}, resolved by
 *       {@link PyCompatResolver};</li>
 *   <li>keyword arguments {@code f(k=v)} → {@code f(k=(v))}: Jinjava binds {@code =} tighter than
 *       operators, so {@code namespace(n=xs|length - 1)} would otherwise compute
 *       {@code (n=xs|length) - 1};</li>
 *   <li>string literals are re-escaped so that Python escapes ({@code \x41}, {@code \u00e9},
 *       {@code \U0001F600}, {@code \0}) mean what they mean in Python.</li>
 * </ul>
 * Also keeps, for error messages, which source line each output line came from.
 */
final class JinjaSourceRewriter {

    /** The rewritten template and, per output line (0-based), its 1-based source line. */
    record Result(String template, int[] sourceLines) {
        int sourceLine(int outputLine) {
            if (outputLine < 1 || sourceLines.length == 0) {
                return 1;
            }
            return sourceLines[Math.min(outputLine, sourceLines.length) - 1];
        }
    }

    private static final Set<String> KEYWORDS = Set.of("and", "or", "not", "in", "is", "if", "else", "elif",
            "for", "recursive");
    private static final Pattern KWARG = Pattern.compile("^(\\s*[A-Za-z_][A-Za-z0-9_]*\\s*=)(?!=)(.*)$", Pattern.DOTALL);
    private static final Pattern RAW_BEGIN = Pattern.compile("\\{%([-+]?)\\s*raw\\s*(-%}\\s*|%})");
    private static final Pattern RAW_END = Pattern.compile("\\{%([-+]?)\\s*endraw\\s*(\\+%}|-%}\\s*|%}\\n?)");

    private final String src;
    private final StringBuilder out = new StringBuilder();
    private final List<Integer> lineMap = new ArrayList<>();
    private int pos;
    private boolean lineStarting = true;

    private JinjaSourceRewriter(String src) {
        this.src = src;
        lineMap.add(1);
    }

    /** Rewrites a Hugging Face chat template; throws ChatTemplateException on unbalanced syntax. */
    static Result rewrite(String template) {
        String s = template.replace("\r\n", "\n").replace('\r', '\n');
        if (s.endsWith("\n")) {
            s = s.substring(0, s.length() - 1);
        }
        JinjaSourceRewriter r = new JinjaSourceRewriter(s);
        r.run();
        return new Result(r.out.toString(), r.lineMap.stream().mapToInt(Integer::intValue).toArray());
    }

    private void run() {
        while (pos < src.length()) {
            int start = nextTagStart(pos);
            if (start < 0) {
                emitData(pos, src.length(), false);
                return;
            }
            char kind = src.charAt(start + 1);
            Matcher raw = kind == '%' ? RAW_BEGIN.matcher(src).region(start, src.length()) : null;
            boolean isRaw = raw != null && raw.lookingAt();
            char mod = start + 2 < src.length() ? src.charAt(start + 2) : 0;
            int dataEnd = leadingDataEnd(pos, start, mod, kind);
            emitData(pos, dataEnd, true);
            if (isRaw) {
                raw(start, raw);
            } else if (kind == '#') {
                comment(start, mod);
            } else {
                tag(start, kind, mod);
            }
        }
    }

    private int nextTagStart(int from) {
        int i = src.indexOf('{', from);
        while (i >= 0 && i + 1 < src.length()) {
            char c = src.charAt(i + 1);
            if (c == '{' || c == '%' || c == '#') {
                return i;
            }
            i = src.indexOf('{', i + 1);
        }
        return -1;
    }

    /** End of the data before a tag at {@code start}, after {@code -} stripping or lstrip_blocks. */
    private int leadingDataEnd(int from, int start, char mod, char kind) {
        if (mod == '-') {
            int end = start;
            while (end > from && PyStr.isSpace(src.codePointBefore(end))) {
                end -= Character.charCount(src.codePointBefore(end));
            }
            return end;
        }
        if (mod != '+' && kind != '{') {
            int nl = src.lastIndexOf('\n', start - 1);
            int lpos = nl < from ? from : nl + 1;
            if ((lpos > from || (nl < from && lineStarting)) && lpos < start) {
                boolean allSpace = true;
                for (int i = lpos; i < start; i++) {
                    if (!PyStr.isSpace(src.charAt(i))) {
                        allSpace = false;
                        break;
                    }
                }
                if (allSpace) {
                    return lpos;
                }
            }
        }
        return start;
    }

    private void tag(int start, char kind, char mod) {
        int codeStart = start + 2 + (mod == '-' || mod == '+' ? 1 : 0);
        String close = kind == '{' ? "}}" : "%}";
        int end = findTagEnd(codeStart, close, start);
        int codeEnd = end;
        char endMod = end > codeStart ? src.charAt(end - 1) : 0;
        if (endMod == '-' || (endMod == '+' && kind == '%')) {
            codeEnd--;
        }
        String code = src.substring(codeStart, codeEnd);
        int after = end + 2;
        String rewritten;
        try {
            rewritten = kind == '{' ? expression(code, true) : statement(code);
        } catch (IllegalArgumentException e) {
            throw new ChatTemplateException("template syntax error (line " + lineOf(start) + "): " + e.getMessage());
        }
        emit(kind == '{' ? "{{ " + rewritten + " }}" : "{% " + rewritten + " %}", codeStart, codeEnd);
        pos = trailing(after, endMod, kind == '%');
    }

    /** Consumes what follows a tag end: all whitespace after '-', one newline (trim_blocks) for blocks. */
    private int trailing(int after, char endMod, boolean block) {
        int p = after;
        if (endMod == '-') {
            while (p < src.length() && PyStr.isSpace(src.codePointAt(p))) {
                p += Character.charCount(src.codePointAt(p));
            }
        } else if (block && endMod != '+' && p < src.length() && src.charAt(p) == '\n') {
            p++;
        }
        lineStarting = p > after ? src.charAt(p - 1) == '\n' : false;
        return p;
    }

    private void comment(int start, char mod) {
        int end = src.indexOf("#}", start + 2);
        if (end < 0) {
            throw new ChatTemplateException("template syntax error (line " + lineOf(start) + "): missing end of comment tag");
        }
        char endMod = end > start + 2 ? src.charAt(end - 1) : 0;
        // the comment's own newlines vanish from the output; keep the line map aligned
        pos = trailing(end + 2, endMod == '-' || endMod == '+' ? endMod : 0, true);
    }

    private void raw(int start, Matcher begin) {
        int contentStart = begin.end();
        Matcher end = RAW_END.matcher(src);
        if (!end.find(contentStart)) {
            throw new ChatTemplateException("template syntax error (line " + lineOf(start) + "): missing end of raw directive");
        }
        lineStarting = src.charAt(begin.end() - 1) == '\n';
        int contentEnd = leadingDataEnd(contentStart, end.start(), end.group(1).isEmpty() ? 0 : end.group(1).charAt(0), '%');
        out.append("{% raw %}");
        emit(src.substring(contentStart, contentEnd), contentStart, contentEnd);
        out.append("{% endraw %}");
        String closeMark = end.group(2);
        pos = end.end();
        lineStarting = closeMark.endsWith("\n") || (closeMark.startsWith("-") && src.charAt(pos - 1) == '\n');
    }

    /** Index of the closing "}}" / "%}" of a tag, skipping strings and nested brackets. */
    private int findTagEnd(int from, String close, int tagStart) {
        int depth = 0;
        int i = from;
        while (i < src.length()) {
            char c = src.charAt(i);
            if (c == '\'' || c == '"') {
                i = skipString(src, i);
                continue;
            }
            if (depth == 0 && src.startsWith(close, i)) {
                return i;
            }
            if (c == '(' || c == '[' || c == '{') {
                depth++;
            } else if ((c == ')' || c == ']' || c == '}') && depth > 0) {
                depth--;
            }
            i++;
        }
        throw new ChatTemplateException("template syntax error (line " + lineOf(tagStart) + "): unclosed '"
                + src.substring(tagStart, Math.min(src.length(), tagStart + 2)) + "' tag");
    }

    /** Appends data from the source; with {@code beforeTag}, a final '{' is emitted as an expression. */
    private void emitData(int from, int to, boolean beforeTag) {
        if (from >= to) {
            return;
        }
        int end = to;
        boolean braceLast = beforeTag && src.charAt(to - 1) == '{';
        if (braceLast) {
            end--;
        }
        int begin = from;
        // "}}}" or "%}}" after a tag: spell the '}' as an expression so no engine reads a tag end into it
        boolean braceFirst = begin < end && src.charAt(begin) == '}' && !out.isEmpty() && out.charAt(out.length() - 1) == '}';
        if (braceFirst) {
            out.append("{{ '}' }}");
            begin++;
        }
        emit(src.substring(begin, end), begin, end);
        if (braceLast) {
            out.append("{{ '{' }}");
        }
    }

    /** Appends {@code text} whose newlines are, in order, those of {@code src[from, to)}. */
    private void emit(String text, int from, int to) {
        int srcNl = src.indexOf('\n', from);
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            out.append(c);
            if (c == '\n') {
                if (srcNl < 0 || srcNl >= to) {
                    lineMap.add(lineOf(to));
                } else {
                    lineMap.add(lineOf(srcNl) + 1);
                    srcNl = src.indexOf('\n', srcNl + 1);
                }
            }
        }
    }

    private int lineOf(int offset) {
        int line = 1;
        for (int i = src.indexOf('\n'); i >= 0 && i < offset; i = src.indexOf('\n', i + 1)) {
            line++;
        }
        return line;
    }

    // ---------------------------------------------------------------- tag contents

    private static String statement(String code) {
        String trimmed = code.strip();
        String word = firstWord(trimmed);
        return expression(code, !word.equals("macro"));
    }

    private static String firstWord(String s) {
        int i = 0;
        while (i < s.length() && (Character.isLetterOrDigit(s.charAt(i)) || s.charAt(i) == '_')) {
            i++;
        }
        return s.substring(0, i);
    }

    /** Index of a keyword at bracket depth 0, outside strings, from {@code from}; -1 if absent. */
    static int topLevelKeyword(String c, String kw, int from) {
        int depth = 0;
        int i = from;
        while (i < c.length()) {
            char ch = c.charAt(i);
            if (ch == '\'' || ch == '"') {
                i = skipString(c, i);
                continue;
            }
            if (ch == '(' || ch == '[' || ch == '{') {
                depth++;
            } else if (ch == ')' || ch == ']' || ch == '}') {
                depth--;
            } else if (depth == 0 && isIdentStart(ch) && (i == 0 || !isIdentPart(c.charAt(i - 1)))) {
                int end = i;
                while (end < c.length() && isIdentPart(c.charAt(end))) {
                    end++;
                }
                if (c.substring(i, end).equals(kw)) {
                    return i;
                }
                i = end;
                continue;
            }
            i++;
        }
        return -1;
    }

    private enum Prev { OPERATOR, NAME, CLOSE, STRING, NUMBER }

    /** Rewrites slices, keyword arguments and string literals of an expression. */
    static String expression(String c, boolean wrapKwargs) {
        StringBuilder out = new StringBuilder(c.length() + 16);
        Prev prev = Prev.OPERATOR;
        int i = 0;
        int n = c.length();
        while (i < n) {
            char ch = c.charAt(i);
            if (ch == '\'' || ch == '"') {
                // adjacent literals concatenate, as in Python: 'a' "b" == 'ab'
                StringBuilder value = new StringBuilder();
                int next = i;
                do {
                    char q = c.charAt(next);
                    int end = skipString(c, next);
                    if (end > n || c.charAt(end - 1) != q || end - next < 2) {
                        throw new IllegalArgumentException("unterminated string literal");
                    }
                    value.append(unescape(c.substring(next + 1, end - 1)));
                    i = end;
                    next = end;
                    while (next < n && Character.isWhitespace(c.charAt(next))) {
                        next++;
                    }
                } while (next < n && (c.charAt(next) == '\'' || c.charAt(next) == '"'));
                out.append(literal(value.toString()));
                prev = Prev.STRING;
            } else if (isIdentStart(ch)) {
                int end = i;
                while (end < n && isIdentPart(c.charAt(end))) {
                    end++;
                }
                String word = c.substring(i, end);
                out.append(word);
                prev = KEYWORDS.contains(word) ? Prev.OPERATOR : Prev.NAME;
                i = end;
            } else if (Character.isDigit(ch)) {
                int end = i;
                while (end < n && (Character.isLetterOrDigit(c.charAt(end)) || c.charAt(end) == '.' || c.charAt(end) == '_'
                        || ((c.charAt(end) == '+' || c.charAt(end) == '-') && (c.charAt(end - 1) == 'e' || c.charAt(end - 1) == 'E')))) {
                    end++;
                }
                out.append(c, i, end);
                prev = Prev.NUMBER;
                i = end;
            } else if (ch == '(' || ch == '[' || ch == '{') {
                int close = matching(c, i);
                String inner = c.substring(i + 1, close);
                char closeCh = c.charAt(close);
                if (ch == '[' && (prev == Prev.NAME || prev == Prev.CLOSE || prev == Prev.STRING)) {
                    List<String> parts = splitTopLevel(inner, ':');
                    if (parts.size() > 3) {
                        throw new IllegalArgumentException("invalid slice [" + inner + "]");
                    }
                    if (parts.size() > 1) {
                        out.append('[').append(TemplateFunctions.SLICE_FN).append('(');
                        for (int k = 0; k < 3; k++) {
                            String part = k < parts.size() ? parts.get(k) : "";
                            if (k > 0) {
                                out.append(", ");
                            }
                            out.append(part.isBlank() ? "none" : expression(part, wrapKwargs).strip());
                        }
                        out.append(")]");
                    } else {
                        out.append('[').append(expression(inner, wrapKwargs)).append(']');
                    }
                } else if (ch == '(' && wrapKwargs && (prev == Prev.NAME || prev == Prev.CLOSE)) {
                    List<String> args = splitTopLevel(inner, ',');
                    out.append('(');
                    for (int k = 0; k < args.size(); k++) {
                        if (k > 0) {
                            out.append(',');
                        }
                        Matcher m = KWARG.matcher(args.get(k));
                        if (m.matches() && !m.group(2).isBlank()) {
                            out.append(m.group(1)).append('(').append(expression(m.group(2), true)).append(')');
                        } else {
                            out.append(expression(args.get(k), true));
                        }
                    }
                    out.append(')');
                } else {
                    out.append(ch).append(expression(inner, wrapKwargs)).append(closeCh);
                }
                prev = Prev.CLOSE;
                i = close + 1;
            } else if (ch == ')' || ch == ']' || ch == '}') {
                throw new IllegalArgumentException("unexpected '" + ch + "'");
            } else {
                out.append(ch);
                if (!Character.isWhitespace(ch)) {
                    prev = Prev.OPERATOR;
                }
                i++;
            }
        }
        return out.toString();
    }

    /** Index of the bracket closing the one at {@code open}. */
    private static int matching(String c, int open) {
        int depth = 0;
        int i = open;
        while (i < c.length()) {
            char ch = c.charAt(i);
            if (ch == '\'' || ch == '"') {
                i = skipString(c, i);
                continue;
            }
            if (ch == '(' || ch == '[' || ch == '{') {
                depth++;
            } else if (ch == ')' || ch == ']' || ch == '}') {
                depth--;
                if (depth == 0) {
                    char want = switch (c.charAt(open)) {
                        case '(' -> ')';
                        case '[' -> ']';
                        default -> '}';
                    };
                    if (ch != want) {
                        throw new IllegalArgumentException("'" + c.charAt(open) + "' closed by '" + ch + "'");
                    }
                    return i;
                }
            }
            i++;
        }
        throw new IllegalArgumentException("unclosed '" + c.charAt(open) + "'");
    }

    /** Splits at {@code sep} where not nested in brackets or strings. */
    private static List<String> splitTopLevel(String c, char sep) {
        List<String> parts = new ArrayList<>();
        int depth = 0;
        int start = 0;
        int i = 0;
        while (i < c.length()) {
            char ch = c.charAt(i);
            if (ch == '\'' || ch == '"') {
                i = skipString(c, i);
                continue;
            }
            if (ch == '(' || ch == '[' || ch == '{') {
                depth++;
            } else if (ch == ')' || ch == ']' || ch == '}') {
                depth--;
            } else if (ch == sep && depth == 0) {
                parts.add(c.substring(start, i));
                start = i + 1;
            }
            i++;
        }
        parts.add(c.substring(start));
        return parts;
    }

    /** Index just past the string literal starting at {@code i} (its quote), honouring backslashes. */
    static int skipString(String c, int i) {
        char q = c.charAt(i);
        int j = i + 1;
        while (j < c.length()) {
            char ch = c.charAt(j);
            if (ch == '\\') {
                j += 2;
                continue;
            }
            if (ch == q) {
                return j + 1;
            }
            j++;
        }
        return c.length() + 1;
    }

    /** The value of a Python string literal body (Jinja2 unescapes like Python's literal_eval). */
    static String unescape(String body) {
        if (body.indexOf('\\') < 0) {
            return body;
        }
        StringBuilder sb = new StringBuilder(body.length());
        for (int i = 0; i < body.length(); i++) {
            char c = body.charAt(i);
            if (c != '\\' || i + 1 >= body.length()) {
                sb.append(c);
                continue;
            }
            char e = body.charAt(++i);
            switch (e) {
                case 'n' -> sb.append('\n');
                case 't' -> sb.append('\t');
                case 'r' -> sb.append('\r');
                case '0', '1', '2', '3', '4', '5', '6', '7' -> {
                    int end = i;
                    while (end < body.length() && end < i + 3 && body.charAt(end) >= '0' && body.charAt(end) <= '7') {
                        end++;
                    }
                    sb.append((char) Integer.parseInt(body.substring(i, end), 8));
                    i = end - 1;
                }
                case 'x' -> {
                    sb.appendCodePoint(hex(body, i + 1, 2));
                    i += 2;
                }
                case 'u' -> {
                    sb.appendCodePoint(hex(body, i + 1, 4));
                    i += 4;
                }
                case 'U' -> {
                    sb.appendCodePoint(hex(body, i + 1, 8));
                    i += 8;
                }
                case 'a' -> sb.append('\u0007');
                case 'b' -> sb.append('\b');
                case 'f' -> sb.append('\f');
                case 'v' -> sb.append('\u000B');
                case '\\', '\'', '"' -> sb.append(e);
                case '\n' -> { } // line continuation
                default -> sb.append('\\').append(e); // Python keeps unknown escapes
            }
        }
        return sb.toString();
    }

    private static int hex(String s, int from, int len) {
        if (from + len > s.length()) {
            throw new IllegalArgumentException("truncated \\x/\\u escape in string literal");
        }
        try {
            return Integer.parseInt(s.substring(from, from + len), 16);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("bad escape in string literal: " + s.substring(from - 2, from + len));
        }
    }

    /** A Jinjava string literal with the given value. */
    static String literal(String value) {
        StringBuilder sb = new StringBuilder(value.length() + 2).append('\'');
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            switch (c) {
                case '\\' -> sb.append("\\\\");
                case '\'' -> sb.append("\\'");
                default -> sb.append(c);
            }
        }
        return sb.append('\'').toString();
    }

    private static boolean isIdentStart(char c) {
        return Character.isLetter(c) || c == '_';
    }

    private static boolean isIdentPart(char c) {
        return Character.isLetterOrDigit(c) || c == '_';
    }
}
