package io.chunkserve.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;

import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class TokenizerTest {

    static Stream<String> models() {
        return Fixtures.MODELS.stream();
    }

    @TestFactory
    Stream<DynamicTest> encodesAndDecodesEveryGoldenStringExactlyLikeHuggingFace() {
        return models().flatMap(model -> Fixtures.list(Fixtures.golden(model).get("tokenizer_strings")).stream()
                .map(s -> DynamicTest.dynamicTest(model + " " + quote(s.get("text").asText()), () -> {
                    Tokenizer tok = Fixtures.tokenizer(model);
                    String text = s.get("text").asText();
                    int[] ids = Fixtures.ints(s.get("ids"));
                    assertArrayEquals(ids, tok.encode(text, false), "encode(text, false)");
                    assertArrayEquals(Fixtures.ints(s.get("ids_with_special")), tok.encode(text, true), "encode(text, true)");
                    assertEquals(s.get("decoded").asText(), tok.decode(ids, false), "decode(ids, false)");
                })));
    }

    @TestFactory
    Stream<DynamicTest> encodesEveryGoldenPromptToHuggingFaceIds() {
        return models().flatMap(model -> Fixtures.list(Fixtures.golden(model).get("prompts")).stream()
                .map(p -> DynamicTest.dynamicTest(model + " " + p.get("name").asText(), () -> {
                    Tokenizer tok = Fixtures.tokenizer(model);
                    assertArrayEquals(Fixtures.ints(p.get("ids")),
                            tok.encode(p.get("text").asText(), p.get("add_special_tokens").asBoolean()));
                })));
    }

    @TestFactory
    Stream<DynamicTest> decodesGoldenGreedyContinuationsToHuggingFaceText() {
        return models().flatMap(model -> Fixtures.list(Fixtures.golden(model).get("prompts")).stream()
                .map(p -> DynamicTest.dynamicTest(model + " " + p.get("name").asText(), () -> {
                    Tokenizer tok = Fixtures.tokenizer(model);
                    assertEquals(p.get("greedy_text").asText(), tok.decode(Fixtures.ints(p.get("greedy")), false));
                })));
    }

    /**
     * tokenBytes of a golden string's ids join into the text Hugging Face decodes them to (SentencePiece models: with
     * the leading space their decoder strips), including characters split over several tokens, whose single-token
     * text is U+FFFD; and such split characters occur in the golden strings.
     */
    @TestFactory
    Stream<DynamicTest> tokenBytesJoinIntoTheDecodedText() {
        int[] splitTokens = {0};
        Stream<DynamicTest> each = models().flatMap(model -> Fixtures.list(Fixtures.golden(model).get("tokenizer_strings")).stream()
                .map(s -> DynamicTest.dynamicTest(model + " " + quote(s.get("text").asText()), () -> {
                    Tokenizer tok = Fixtures.tokenizer(model);
                    int[] ids = Fixtures.ints(s.get("ids"));
                    java.io.ByteArrayOutputStream joined = new java.io.ByteArrayOutputStream();
                    for (int id : ids) {
                        byte[] b = tok.tokenBytes(id);
                        joined.writeBytes(b);
                        if (tok.tokenString(id).contains("\uFFFD")) {
                            splitTokens[0]++;
                            assertFalse(java.util.Arrays.equals(b, tok.tokenString(id).getBytes(java.nio.charset.StandardCharsets.UTF_8)),
                                    "a part of a character: its own bytes, not U+FFFD's (id " + id + ")");
                        }
                    }
                    String text = joined.toString(java.nio.charset.StandardCharsets.UTF_8);
                    String decoded = tok.decodeRaw(ids, 0, ids.length, false);
                    assertTrue(text.equals(decoded) || text.equals(" " + decoded), "joined " + quote(text) + ", decoded " + quote(decoded));
                })));
        return Stream.concat(each, Stream.of(DynamicTest.dynamicTest("some golden strings split a character over tokens",
                () -> assertTrue(splitTokens[0] > 0, "tokens holding part of a character: " + splitTokens[0]))));
    }

    @ParameterizedTest
    @MethodSource("models")
    void vocabSizeCountsAddedTokensAndMatchesTheModelConfig(String model) throws IOException {
        JsonNode config = Fixtures.JSON.readTree(Fixtures.dir(model).resolve("config.json").toFile());
        assertEquals(config.get("vocab_size").intValue(), Fixtures.tokenizer(model).vocabSize());
    }

    @Test
    void longTextsAreNeitherTruncatedNorPadded() {
        Tokenizer tok = Fixtures.tokenizer("tiny-llama3");
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 2000; i++) {
            sb.append("The quick brown fox ").append(i).append(". ");
        }
        String text = sb.toString();
        int[] ids = tok.encode(text, true);
        assertTrue(ids.length > 10_000, "got only " + ids.length + " ids: truncated?");
        assertEquals(text, tok.decode(ids, true));
        int[] one = tok.encode("Hello", false);
        int[] two = tok.encode("Hello, world!", false);
        assertTrue(one.length < two.length, "short texts must not be padded to a common length");
    }

    @Test
    void specialTokensComeFromTokenizerConfig() {
        Tokenizer l3 = Fixtures.tokenizer("tiny-llama3");
        assertEquals("<|begin_of_text|>", l3.bosToken());
        assertEquals(480, l3.bosTokenId());
        assertEquals("<|eot_id|>", l3.eosToken());
        assertEquals(484, l3.eosTokenId());
        Tokenizer qwen = Fixtures.tokenizer("tiny-qwen2");
        assertNull(qwen.bosToken());
        assertEquals(-1, qwen.bosTokenId());
        assertEquals("<|im_end|>", qwen.eosToken());
        assertEquals(482, qwen.eosTokenId());
        Tokenizer l2 = Fixtures.tokenizer("tiny-llama2");
        assertEquals("<s>", l2.bosToken());
        assertEquals(1, l2.bosTokenId());
        assertEquals(2, l2.eosTokenId());
    }

    @Test
    void eosTokenIdsUniteGenerationConfigAndTokenizerEos(@TempDir Path dir) throws IOException {
        assertArrayEquals(new int[] {484}, Fixtures.tokenizer("tiny-llama3").eosTokenIds());
        assertArrayEquals(new int[] {482}, Fixtures.tokenizer("tiny-qwen3").eosTokenIds());
        Path src = Fixtures.dir("tiny-llama3");
        Files.copy(src.resolve("tokenizer.json"), dir.resolve("tokenizer.json"));
        Files.copy(src.resolve("tokenizer_config.json"), dir.resolve("tokenizer_config.json"));
        Files.writeString(dir.resolve("generation_config.json"), "{\"eos_token_id\": [481, 484, 482]}");
        try (Tokenizer tok = Tokenizer.load(dir)) {
            assertArrayEquals(new int[] {481, 484, 482}, tok.eosTokenIds());
        }
        Files.writeString(dir.resolve("generation_config.json"), "{\"eos_token_id\": 481}");
        try (Tokenizer tok = Tokenizer.load(dir)) {
            assertArrayEquals(new int[] {481, 484}, tok.eosTokenIds());
        }
    }

    @Test
    void tokenIdAndTokenStringAndIsSpecialDescribeSingleTokens() {
        Tokenizer l3 = Fixtures.tokenizer("tiny-llama3");
        assertEquals(OptionalInt.of(484), l3.tokenId("<|eot_id|>"));
        assertEquals(OptionalInt.empty(), l3.tokenId("<|no such token|>"));
        assertTrue(l3.isSpecial(484));
        assertFalse(l3.isSpecial(100));
        assertFalse(l3.isSpecial(-1));
        assertEquals("<|eot_id|>", l3.tokenString(484));
        int[] fox = l3.encode(" fox", false);
        assertEquals(" fox", java.util.Arrays.stream(fox).mapToObj(l3::tokenString).collect(java.util.stream.Collectors.joining()));
        assertEquals("", l3.tokenString(l3.vocabSize()));
        assertEquals("", l3.tokenString(-5));
        // one byte of a 4-byte emoji is not text on its own
        int[] rocket = l3.encode("🚀", false);
        assertTrue(rocket.length > 1);
        assertEquals("\uFFFD", l3.tokenString(rocket[0]));

        Tokenizer qwen = Fixtures.tokenizer("tiny-qwen2");
        int think = qwen.tokenId("<think>").orElseThrow();
        assertFalse(qwen.isSpecial(think), "<think> is an added but not special token");
        assertTrue(qwen.isSpecial(qwen.tokenId("<|im_end|>").orElseThrow()));

        Tokenizer l2 = Fixtures.tokenizer("tiny-llama2");
        assertEquals(OptionalInt.of(3 + 0x0A), l2.tokenId("<0x0A>"));
        assertEquals("\n", l2.tokenString(3 + 0x0A));
        assertEquals("<0x0A>", l2.tokenPiece(3 + 0x0A));
    }

    @Test
    void decodeSkipsSpecialTokensOnRequestAndIgnoresIdsOutsideTheVocabulary() {
        Tokenizer l3 = Fixtures.tokenizer("tiny-llama3");
        int[] ids = l3.encode("Hi<|eot_id|>", true);
        assertEquals("<|begin_of_text|>Hi<|eot_id|>", l3.decode(ids, false));
        assertEquals("Hi", l3.decode(ids, true));
        int[] hi = l3.encode("Hi", false);
        int[] withJunk = java.util.stream.IntStream.concat(java.util.stream.IntStream.concat(
                java.util.Arrays.stream(hi), java.util.stream.IntStream.of(99_999, -3)), java.util.Arrays.stream(hi)).toArray();
        assertEquals("HiHi", l3.decode(withJunk, false));
        assertEquals("", l3.decode(new int[0], false));
    }

    @Test
    void loneSurrogatesAreTokenizedAsReplacementCharacter() {
        Tokenizer l3 = Fixtures.tokenizer("tiny-llama3");
        assertArrayEquals(l3.encode("a\uFFFDb", false), l3.encode("a\uD800b", false));
        assertArrayEquals(l3.encode("a\uFFFD", false), l3.encode("a\uDC00", false));
    }

    @Test
    void missingOrCorruptModelFilesGiveOneLineIllegalArgumentErrors(@TempDir Path dir) throws IOException {
        IllegalArgumentException noDir = assertThrows(IllegalArgumentException.class,
                () -> Tokenizer.load(dir.resolve("nope")));
        assertTrue(noDir.getMessage().contains("does not exist"), noDir.getMessage());

        IllegalArgumentException noFile = assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(dir));
        assertTrue(noFile.getMessage().contains("no tokenizer.json"), noFile.getMessage());

        Files.writeString(dir.resolve("tokenizer.json"), "{\"model\": {\"vocab\": ");
        assertOneLine(assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(dir)), "not valid JSON");

        Files.writeString(dir.resolve("tokenizer.json"), "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": 7}}");
        assertOneLine(assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(dir)), "not a valid Hugging Face tokenizer");

        Files.write(dir.resolve("tokenizer.json"), new byte[] {'{', (byte) 0xC3, '}'});
        assertOneLine(assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(dir)), "UTF-8");

        Files.copy(Fixtures.dir("tiny-llama3").resolve("tokenizer.json"), dir.resolve("tokenizer.json"),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Files.writeString(dir.resolve("tokenizer_config.json"), "{ bos_token: }");
        assertOneLine(assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(dir)), "tokenizer_config.json");
    }

    @Test
    void closedTokenizerRefusesWorkInsteadOfTouchingFreedMemory() {
        Tokenizer tok = Tokenizer.load(Fixtures.dir("tiny-qwen2"));
        int[] ids = tok.encode("hello", false);
        tok.close();
        tok.close();
        assertThrows(IllegalStateException.class, () -> tok.encode("hello", false));
        assertThrows(IllegalStateException.class, () -> tok.decode(ids, false));
        assertEquals(tok.vocabSize(), 485, "pure-Java lookups keep working");
    }

    @Test
    void concurrentEncodeAndDecodeFromManyThreadsGiveTheSingleThreadedResults() throws Exception {
        Tokenizer tok = Fixtures.tokenizer("tiny-llama2");
        List<JsonNode> strings = Fixtures.list(Fixtures.golden("tiny-llama2").get("tokenizer_strings"));
        try (ExecutorService pool = Executors.newFixedThreadPool(8)) {
            List<Future<?>> futures = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                futures.add(pool.submit(() -> {
                    for (int rep = 0; rep < 50; rep++) {
                        for (JsonNode s : strings) {
                            int[] ids = Fixtures.ints(s.get("ids"));
                            assertArrayEquals(ids, tok.encode(s.get("text").asText(), false));
                            assertEquals(s.get("decoded").asText(), tok.decode(ids, false));
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : futures) {
                f.get();
            }
        }
    }

    @Test
    void cleanUpTokenizationSpacesFromTokenizerConfigIsAppliedByDecode(@TempDir Path dir) throws IOException {
        Path src = Fixtures.dir("tiny-llama3");
        Files.copy(src.resolve("tokenizer.json"), dir.resolve("tokenizer.json"));
        Files.writeString(dir.resolve("tokenizer_config.json"),
                "{\"eos_token\": {\"content\": \"<|eot_id|>\", \"special\": true}, \"clean_up_tokenization_spaces\": true}");
        try (Tokenizer tok = Tokenizer.load(dir)) {
            assertTrue(tok.cleansUpTokenizationSpaces());
            assertEquals("<|eot_id|>", tok.eosToken(), "AddedToken-object form of a special token");
            assertEquals("Hello. Isn't it?", tok.decode(tok.encode("Hello . Is n't it ?", false), false));
        }
    }

    private static void assertOneLine(IllegalArgumentException e, String expected) {
        assertTrue(e.getMessage().contains(expected), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), "message must be one line: " + e.getMessage());
    }

    private static String quote(String s) {
        return '"' + s.replace("\n", "\\n").replace("\t", "\\t") + '"';
    }
}
