package io.chunkserve.service.loadgen;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HttpResponseParserTest {
    private final List<String> seen = new ArrayList<>();
    private final StringBuilder body = new StringBuilder();
    private final HttpResponseParser parser = new HttpResponseParser(new HttpResponseParser.Listener() {
        @Override
        public void onHead(int status) { seen.add("head " + status); }

        @Override
        public void onBody(byte[] b, int off, int len) { body.append(new String(b, off, len, StandardCharsets.ISO_8859_1)); }

        @Override
        public void onEnd(boolean keepAlive) {
            seen.add("end " + keepAlive + " " + body);
            body.setLength(0);
        }
    });

    private static final String CHUNKED = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "f\r\ndata: {\"a\":1}\n\n\r\n" + "10;ext=1\r\ndata: [DONE]\n\n\r\n\r\n" + "0\r\nx-trailer: y\r\n\r\n";
    private static final String LENGTH = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\ncontent-length: 11\r\n\r\n{\"error\":1}";

    private void feed(String s) {
        byte[] b = s.getBytes(StandardCharsets.ISO_8859_1);
        parser.feed(b, 0, b.length);
    }

    @Test
    void keepAliveResponsesSplitAnywhere() {
        String both = CHUNKED + LENGTH;
        List<String> expected = List.of("head 200", "end true data: {\"a\":1}\n\ndata: [DONE]\n\n\r\n", "head 429", "end true {\"error\":1}");
        for (int cut = 0; cut <= both.length(); cut++) {
            seen.clear();
            parser.expectResponse();
            String a = both.substring(0, Math.min(cut, CHUNKED.length()));
            feed(a);
            if (cut >= CHUNKED.length()) {
                parser.expectResponse();
                feed(both.substring(CHUNKED.length(), cut));
                feed(both.substring(cut));
            } else {
                feed(CHUNKED.substring(cut));
                parser.expectResponse();
                feed(LENGTH);
            }
            assertEquals(expected, seen, "cut at " + cut);
            assertFalse(parser.busy());
        }
    }

    @Test
    void connectionCloseAndBodiesUntilClose() {
        parser.expectResponse();
        feed("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 2\r\n\r\nno");
        assertEquals(List.of("head 503", "end false no"), seen);
        seen.clear();
        parser.expectResponse();
        feed("HTTP/1.0 200 OK\r\n\r\nstreamed");
        assertTrue(parser.busy());
        assertTrue(parser.closed());
        assertEquals(List.of("head 200", "end false streamed"), seen);
    }

    @Test
    void malformedResponsesThrow() {
        parser.expectResponse();
        assertThrows(IllegalStateException.class, () -> feed("SPDY/3 200\r\n"));
        parser.expectResponse();
        assertThrows(IllegalStateException.class, () -> feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"));
        HttpResponseParser idle = new HttpResponseParser(parser == null ? null : new HttpResponseParser.Listener() {
            public void onHead(int s) { }
            public void onBody(byte[] b, int o, int l) { }
            public void onEnd(boolean k) { }
        });
        assertThrows(IllegalStateException.class, () -> idle.feed(new byte[]{'H'}, 0, 1));
        parser.expectResponse();
        feed("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab");
        assertFalse(parser.closed()); // cut short
    }
}
