package io.chunkserve.service.openai;

import io.vertx.core.buffer.Buffer;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The precomputed text-delta event against the JSON objects it replaces: byte for byte the same. */
class DeltaEventEncodingTest {
    private static List<String> texts() {
        List<String> t = new ArrayList<>(List.of("", " lorem", "quote \" and \\ backslash", "tab\tnew\nline\r\b\f", "\u0000\u0001\u001f\u007f",
                "héllo wörld", "日本語", "emoji 😀", "</script>", "\u2028\u2029", "{\"json\": [1, 2]}"));
        Random r = new Random(42);
        for (int k = 0; k < 500; k++) {
            StringBuilder sb = new StringBuilder();
            int len = r.nextInt(12);
            for (int i = 0; i < len; i++) {
                switch (r.nextInt(4)) {
                    case 0 -> sb.append((char) r.nextInt(0x80));          // ASCII, control characters included
                    case 1 -> sb.append((char) (0x80 + r.nextInt(0x700))); // 2-byte UTF-8
                    case 2 -> sb.append((char) (0x3000 + r.nextInt(0x5000)));
                    default -> sb.appendCodePoint(0x1F300 + r.nextInt(0x300)); // surrogate pairs
                }
            }
            t.add(sb.toString());
        }
        return t;
    }

    @Test
    void fastDeltaEventEqualsTheEncodedChunk() {
        for (Endpoint e : Endpoint.values()) {
            for (boolean usageField : new boolean[]{false, true}) {
                ResponseJson json = new ResponseJson(e, e.idPrefix + "abc123", 1_700_000_000L, "some-model \"q\"", usageField);
                for (int index : new int[]{0, 2, 1}) {
                    for (String text : texts()) {
                        String expected = "data: " + json.chunk(json.deltaChoice(index, text, null)).encode() + "\n\n";
                        EventBytes b = new EventBytes(8); // small: growing is exercised too
                        json.appendDeltaEvent(b, index, new StringBuilder(text));
                        assertEquals(Buffer.buffer(expected), b.toBuffer(), () -> e + " index " + index + " text " + text.codePoints().boxed().toList());
                    }
                }
            }
        }
    }
}
