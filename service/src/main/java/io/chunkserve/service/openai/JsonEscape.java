package io.chunkserve.service.openai;

/**
 * JSON string literals written as Vert.x's encoder (Jackson) writes them: {@code "} and {@code \}
 * escaped, the control characters as {@code \b \t \n \f \r} or a six-character escape, everything else
 * as is (UTF-8). For the streamed text deltas, so that only the text is encoded per event.
 */
final class JsonEscape {
    private static final char[] HEX = "0123456789ABCDEF".toCharArray();

    private JsonEscape() { }

    /** The quoted literal. */
    static String quote(CharSequence s) {
        StringBuilder sb = new StringBuilder(s.length() + 2).append('"');
        escape(sb, s);
        return sb.append('"').toString();
    }

    /** Appends the quoted literal, UTF-8. */
    static void appendQuoted(EventBytes b, CharSequence s) {
        int n = s.length();
        boolean plain = true;
        for (int i = 0; i < n && plain; i++) {
            char c = s.charAt(i);
            plain = c >= 0x20 && c != '"' && c != '\\';
        }
        if (plain) {
            // UTF-8 (a lone surrogate becomes '?', as it does when the encoded chunk is appended).
            b.appendByte('"').appendUtf8(s).appendByte('"');
        } else {
            b.appendUtf8(quote(s));
        }
    }

    private static void escape(StringBuilder sb, CharSequence s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\b' -> sb.append("\\b");
                case '\t' -> sb.append("\\t");
                case '\n' -> sb.append("\\n");
                case '\f' -> sb.append("\\f");
                case '\r' -> sb.append("\\r");
                default -> {
                    if (c < 0x20) sb.append("\\u00").append(HEX[c >> 4]).append(HEX[c & 0xF]);
                    else sb.append(c);
                }
            }
        }
    }
}
