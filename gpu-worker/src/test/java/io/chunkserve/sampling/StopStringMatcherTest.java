package io.chunkserve.sampling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class StopStringMatcherTest {

    /** What the concatenated stream output must be: the text cut before the earliest stop. */
    static String reference(String text, List<String> stops) {
        int cut = text.length();
        for (String s : stops) {
            int at = text.indexOf(s);
            if (at >= 0) cut = Math.min(cut, at);
        }
        return text.substring(0, cut);
    }

    static boolean hasStop(String text, List<String> stops) {
        return stops.stream().anyMatch(text::contains);
    }

    /** Streams {@code deltas}; asserts per-step invariants; returns the concatenated output. */
    static String stream(List<String> stops, List<String> deltas) {
        StopStringMatcher m = new StopStringMatcher(stops);
        StringBuilder out = new StringBuilder();
        StringBuilder in = new StringBuilder();
        boolean stopped = false;
        for (String d : deltas) {
            in.append(d);
            StopStringMatcher.Result r = m.push(d);
            if (stopped) {
                assertEquals("", r.text(), "nothing may be emitted after a stop");
                assertTrue(r.stopped());
            }
            out.append(r.text());
            // emitted text is always final: it is a prefix of the final answer for *any* future
            String sofar = out.toString();
            for (String s : stops) assertFalse(sofar.contains(s), "stop string leaked: " + sofar);
            assertTrue(in.toString().startsWith(sofar));
            if (r.stopped()) {
                assertTrue(stops.contains(r.stopString()));
                stopped = true;
            }
        }
        out.append(m.flush());
        assertEquals("", m.flush(), "flush is idempotent");
        return out.toString();
    }

    static List<String> randomSplit(String text, SplittableRandom rnd) {
        List<String> parts = new ArrayList<>();
        int i = 0;
        while (i < text.length()) {
            int len = rnd.nextInt(4) == 0 ? 0 : 1 + rnd.nextInt(rnd.nextBoolean() ? 3 : 8);
            int end = Math.min(text.length(), i + len);
            parts.add(text.substring(i, end));
            i = end;
        }
        return parts;
    }

    @Test
    void propertyAnySplitGivesTextCutBeforeEarliestStop() {
        List<List<String>> stopSets = List.of(
                List.of("ab", "abc", "bca", "cab"),      // shared prefixes and overlaps
                List.of("aab", "ab"),                    // one stop ends inside another
                List.of("xabc", "ab"),                   // shorter stop nested later in a longer one
                List.of("aaaa"),                         // self-overlapping
                List.of("abcabd", "bcab", "c"),
                List.of("<|end|>", "<|"),
                List.of());
        SplittableRandom rnd = new SplittableRandom(7);
        int withStop = 0, without = 0;
        for (List<String> stops : stopSets) {
            String alphabet = stops.contains("<|end|>") ? "<|end>x" : "abcdx";
            for (int trial = 0; trial < 1500; trial++) {
                int len = rnd.nextInt(30);
                StringBuilder sb = new StringBuilder();
                for (int i = 0; i < len; i++) sb.append(alphabet.charAt(rnd.nextInt(alphabet.length())));
                String text = sb.toString();
                String expected = reference(text, stops);
                if (hasStop(text, stops)) withStop++; else without++;
                for (int split = 0; split < 4; split++) {
                    assertEquals(expected, stream(stops, randomSplit(text, rnd)),
                            () -> "text=" + text + " stops=" + stops);
                }
                // the extreme splits: one char per delta, and the whole text at once
                List<String> chars = new ArrayList<>();
                for (char c : text.toCharArray()) chars.add(String.valueOf(c));
                assertEquals(expected, stream(stops, chars));
                assertEquals(expected, stream(stops, List.of(text)));
            }
        }
        assertTrue(withStop > 1000 && without > 1000, withStop + " / " + without);
    }

    @Test
    void stopAtStart() {
        StopStringMatcher m = new StopStringMatcher(List.of("STOP"));
        StopStringMatcher.Result r = m.push("STOP and more");
        assertEquals("", r.text());
        assertTrue(r.stopped());
        assertEquals("STOP", r.stopString());
        assertEquals("", m.push("later").text());
        assertEquals("", m.flush());
    }

    @Test
    void stopSpanningManyDeltasIsHeldBackThenCut() {
        StopStringMatcher m = new StopStringMatcher(List.of("</answer>"));
        assertEquals("42 ", m.push("42 <").text());
        assertEquals("", m.push("/an").text());
        assertEquals("", m.push("sw").text());
        StopStringMatcher.Result r = m.push("er> trailing");
        assertEquals("", r.text());
        assertTrue(r.stopped());
        assertTrue(m.isStopped());
        assertEquals("</answer>", m.stopString());
    }

    @Test
    void heldBackPrefixIsReleasedWhenItStopsMatching() {
        StopStringMatcher m = new StopStringMatcher(List.of("</answer>"));
        assertEquals("x ", m.push("x </an").text());
        StopStringMatcher.Result r = m.push("d more");
        assertEquals("</and more", r.text());
        assertFalse(r.stopped());
        assertNull(r.stopString());
    }

    @Test
    void flushReleasesPartialMatchAtEnd() {
        StopStringMatcher m = new StopStringMatcher(List.of("###"));
        assertEquals("done", m.push("done##").text());
        assertEquals("##", m.flush());
        assertFalse(m.isStopped());
    }

    @Test
    void noStopStringsIsPassThrough() {
        StopStringMatcher m = new StopStringMatcher(List.of());
        assertEquals("hello", m.push("hello").text());
        assertEquals(" world", m.push(" world").text());
        assertEquals("", m.flush());
    }

    @Test
    void earlierLongerStopWinsOverLaterShorterOne() {
        // "xabc" starts before "ab": after "xab" no decision is possible yet
        StopStringMatcher m = new StopStringMatcher(List.of("xabc", "ab"));
        StopStringMatcher.Result r = m.push("1xab");
        assertEquals("1", r.text());
        assertFalse(r.stopped());
        r = m.push("c");
        assertTrue(r.stopped());
        assertEquals("xabc", r.stopString());
        assertEquals("", r.text());

        StopStringMatcher m2 = new StopStringMatcher(List.of("xabc", "ab"));
        assertEquals("1", m2.push("1xab").text());
        r = m2.push("d");
        assertTrue(r.stopped());
        assertEquals("ab", r.stopString());
        assertEquals("x", r.text());

        StopStringMatcher m3 = new StopStringMatcher(List.of("xabc", "ab"));
        assertEquals("1", m3.push("1xab").text());
        assertEquals("x", m3.flush()); // generation ended: "ab" was a complete stop
        assertTrue(m3.isStopped());
        assertEquals("ab", m3.stopString());
    }

    @Test
    void surrogatePairSplitAcrossDeltasIsNotBroken() {
        String emoji = "\uD83D\uDE00";
        StopStringMatcher m = new StopStringMatcher(List.of());
        assertEquals("a", m.push("a" + emoji.charAt(0)).text());
        assertEquals(emoji + "b", m.push(emoji.charAt(1) + "b").text());
        StopStringMatcher m2 = new StopStringMatcher(List.of("zz"));
        assertEquals("a", m2.push("a" + emoji.charAt(0)).text());
        assertEquals(emoji, m2.push(String.valueOf(emoji.charAt(1))).text());
    }

    @Test
    void rejectsEmptyStopString() {
        assertThrows(IllegalArgumentException.class, () -> new StopStringMatcher(List.of("")));
    }
}
