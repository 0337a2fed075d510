package io.chunkserve.service.loadgen;

import io.vertx.core.buffer.Buffer;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

class SseScannerTest {
    private final List<String> seen = new ArrayList<>();
    private final SseScanner scanner = new SseScanner(new SseScanner.Listener() {
        @Override
        public void onData(boolean error, long stamp, long late, long queued, int stamps) {
            seen.add(error ? "error" : stamp >= 0 ? "data@" + stamp + (late >= 0 ? "~" + late : "") + (queued >= 0 ? "^" + queued : "") + "x" + stamps : "data");
        }

        @Override
        public void onDone() { seen.add("done"); }
    });

    @Test
    void eventsSplitAnywhereAcrossReads() {
        String stream = "data: {\"id\":1}\n\n: comment\n\ndata:{\"id\":2}\r\n\r\nevent: x\ndata: {\"error\":{\"message\":\"m\"}}\n\ndata: [DONE]\n\n";
        for (int cut = 0; cut <= stream.length(); cut++) {
            seen.clear();
            scanner.feed(Buffer.buffer(stream.substring(0, cut)));
            scanner.feed(Buffer.buffer(stream.substring(cut)));
            assertEquals(List.of("data", "data", "error", "done"), seen, "cut at " + cut);
        }
    }

    @Test
    void byteByByte() {
        String stream = "data: {\"choices\":[{\"text\":\" dolor\"}]}\n\ndata: [DONE]\n\n";
        for (char c : stream.toCharArray()) scanner.feed(Buffer.buffer(String.valueOf(c)));
        assertEquals(List.of("data", "done"), seen);
    }

    @Test
    void stampsAreTheFirstAtNumberOfTheLine() {
        String stream = "data: {\"id\":\"x\",\"choices\":[{\"text\":\" @123456789~17 @5\"}]}\n\ndata: {\"text\":\"@\"}\n\ndata: {\"text\":\" @42\"}\n\n"
                + "data: {\"text\":\" @77~3^1250 @77~3^1250\"}\n\ndata: {\"text\":\" @8^9\"}\n\ndata: [DONE]\n\n";
        for (int cut = 0; cut <= stream.length(); cut++) {
            seen.clear();
            scanner.feed(Buffer.buffer(stream.substring(0, cut)));
            scanner.feed(Buffer.buffer(stream.substring(cut)));
            assertEquals(List.of("data@123456789~17x2", "data", "data@42x1", "data@77~3^1250x2", "data@8x1", "done"), seen, "cut at " + cut);
        }
    }
}
