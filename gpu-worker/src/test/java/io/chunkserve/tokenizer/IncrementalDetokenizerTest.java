package io.chunkserve.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

class IncrementalDetokenizerTest {

    /** Streams ids through a fresh detokenizer; returns the pieces, flush last. */
    static List<String> stream(Tokenizer tok, int[] ids, boolean skip) {
        IncrementalDetokenizer d = new IncrementalDetokenizer(tok, skip);
        List<String> pieces = new ArrayList<>();
        for (int id : ids) {
            pieces.add(d.push(id));
        }
        pieces.add(d.flush());
        assertEquals(String.join("", pieces), d.text());
        return pieces;
    }

    static void assertReassemblesDecode(Tokenizer tok, int[] ids, String label) {
        for (boolean skip : new boolean[] {false, true}) {
            List<String> pieces = stream(tok, ids, skip);
            String full = tok.decode(ids, skip);
            assertEquals(full, String.join("", pieces), label + " skip=" + skip);
            if (full.indexOf('\uFFFD') < 0) {
                for (String p : pieces) {
                    assertFalse(p.contains("\uFFFD"), label + " skip=" + skip + ": piece with U+FFFD " + pieces);
                }
            }
        }
    }

    @TestFactory
    Stream<DynamicTest> streamingGoldenGreedyIdsReassemblesDecodeExactly() {
        return Fixtures.MODELS.stream().flatMap(model -> Fixtures.list(Fixtures.golden(model).get("prompts")).stream()
                .map(p -> DynamicTest.dynamicTest(model + " " + p.get("name").asText(), () -> {
                    Tokenizer tok = Fixtures.tokenizer(model);
                    assertReassemblesDecode(tok, Fixtures.ints(p.get("greedy")), model + " greedy");
                    assertReassemblesDecode(tok, Fixtures.ints(p.get("ids")), model + " prompt ids");
                })));
    }

    @TestFactory
    Stream<DynamicTest> streamingGoldenTokenizerStringsReassemblesDecodeExactly() {
        return Fixtures.MODELS.stream().map(model -> DynamicTest.dynamicTest(model, () -> {
            Tokenizer tok = Fixtures.tokenizer(model);
            for (JsonNode s : Fixtures.golden(model).get("tokenizer_strings")) {
                assertReassemblesDecode(tok, Fixtures.ints(s.get("ids")), model + " " + s.get("text"));
                assertReassemblesDecode(tok, Fixtures.ints(s.get("ids_with_special")), model + " " + s.get("text"));
                assertEquals(s.get("decoded").asText(), String.join("", stream(tok, Fixtures.ints(s.get("ids")), false)));
            }
        }));
    }

    @TestFactory
    Stream<DynamicTest> streamingRandomTokenSequencesReassemblesDecodeExactly() {
        return Fixtures.MODELS.stream().map(model -> DynamicTest.dynamicTest(model, () -> {
            Tokenizer tok = Fixtures.tokenizer(model);
            Random rnd = new Random(model.hashCode());
            for (int seq = 0; seq < 60; seq++) {
                int[] ids = new int[1 + rnd.nextInt(40)];
                for (int i = 0; i < ids.length; i++) {
                    ids[i] = rnd.nextInt(tok.vocabSize());
                }
                assertReassemblesDecode(tok, ids, model + " random " + java.util.Arrays.toString(ids));
            }
        }));
    }

    @Test
    void byteLevelEmojiSplitAcrossTokensIsHeldBackUntilComplete() {
        Tokenizer tok = Fixtures.tokenizer("tiny-llama3");
        int[] ids = tok.encode("go 🚀!", false);
        List<String> pieces = stream(tok, ids, false);
        assertEquals("go 🚀!", String.join("", pieces));
        assertTrue(pieces.contains("🚀") || pieces.stream().anyMatch(p -> p.startsWith("🚀")), pieces.toString());
        int rocketTokens = tok.encode("🚀", false).length;
        assertTrue(rocketTokens >= 2, "fixture must split the emoji into byte tokens");
        assertTrue(pieces.stream().filter(String::isEmpty).count() >= rocketTokens, "bytes must be held back: " + pieces);
        pieces.forEach(p -> assertFalse(p.contains("\uFFFD"), pieces.toString()));
    }

    @Test
    void sentencePieceByteFallbackRunsAreHeldBackWholeAndLeadingSpacesSurvive() {
        Tokenizer tok = Fixtures.tokenizer("tiny-llama2");
        String text = "Hello 日本 world 🚀!";
        int[] ids = tok.encode(text, false);
        List<String> pieces = stream(tok, ids, false);
        assertEquals(text, String.join("", pieces));
        int byteTokens = 0;
        for (int i = 0; i < ids.length; i++) {
            if (tok.isByteFallbackToken(ids[i])) {
                byteTokens++;
                assertEquals("", pieces.get(i), "a byte token emits nothing while its run is open: " + pieces);
            }
        }
        assertEquals(6 + 4, byteTokens, "fixture encodes 日本 and 🚀 with <0xHH> byte fallback");
        assertTrue(pieces.contains("日本 "), "the run comes out whole with the token that ends it: " + pieces);
        assertTrue(pieces.contains("🚀!"), pieces.toString());
        assertTrue(pieces.contains("lo "), "SentencePiece '▁' spaces are kept: " + pieces);
        pieces.forEach(p -> assertFalse(p.contains("\uFFFD"), pieces.toString()));
    }

    @Test
    void byteFallbackRunWithAnInvalidByteMatchesDecodeWhichReplacesTheWholeRun() {
        Tokenizer tok = Fixtures.tokenizer("tiny-llama2");
        int[] ri = tok.encode("日", false);
        int stray = tok.tokenId("<0x80>").orElseThrow();
        int x = tok.encode("x", false)[0];
        int[] ids = java.util.stream.IntStream.concat(java.util.Arrays.stream(ri), java.util.stream.IntStream.of(stray, x)).toArray();
        String full = tok.decode(ids, false);
        assertFalse(full.contains("日"), "HF turns the whole invalid run into U+FFFD: " + full);
        assertEquals(full, String.join("", stream(tok, ids, false)));
    }

    @Test
    void unfinishedCharacterAtTheEndIsFlushedAsReplacementCharacterLikeDecode() {
        Tokenizer tok = Fixtures.tokenizer("tiny-mistral");
        int[] all = tok.encode("x 日", false);
        int[] cut = java.util.Arrays.copyOf(all, all.length - 1); // drop the last byte of 日
        IncrementalDetokenizer d = new IncrementalDetokenizer(tok, false);
        StringBuilder sb = new StringBuilder();
        for (int id : cut) {
            String piece = d.push(id);
            assertFalse(piece.contains("\uFFFD"), "nothing broken while streaming");
            sb.append(piece);
        }
        String rest = d.flush();
        assertTrue(rest.contains("\uFFFD"), rest);
        assertEquals(tok.decode(cut, false), sb + rest);
        assertEquals("", d.flush());
        assertThrows(IllegalStateException.class, () -> d.push(all[0]));
    }

    @Test
    void specialTokensAreKeptOrSkippedOnRequest() {
        Tokenizer tok = Fixtures.tokenizer("tiny-llama3");
        int[] ids = tok.encode("Hi there<|eot_id|> more", true);
        assertEquals("<|begin_of_text|>Hi there<|eot_id|> more", String.join("", stream(tok, ids, false)));
        assertEquals("Hi there more", String.join("", stream(tok, ids, true)));
        IncrementalDetokenizer d = new IncrementalDetokenizer(tok, true);
        assertEquals("", d.push(tok.eosTokenId()));
        assertEquals(0, d.tokenCount());
    }
}
