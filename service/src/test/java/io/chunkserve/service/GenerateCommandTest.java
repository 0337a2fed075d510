package io.chunkserve.service;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code chunkserve generate} as a script would use it. */
class GenerateCommandTest {
    static final ObjectMapper JSON = new ObjectMapper();

    record Run(int code, String out, String err) { }

    static Run cli(String... args) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            int code = Main.execute(args);
            return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    static Path fixture(String name) { return Path.of(System.getProperty("chunkserve.fixtures", "../fixtures")).resolve(name); }

    static JsonNode golden(String name) throws IOException { return JSON.readTree(fixture(name).resolve("golden.json").toFile()); }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-llama3", "tiny-qwen2", "tiny-llama2"})
    void jsonOutputIsTheReferenceGreedyContinuation(String model) throws IOException {
        JsonNode p = golden(model).get("prompts").get(1); // non-ASCII text
        Run r = cli("generate", "--model", fixture(model).toString(), "--prompt", p.get("text").asText(), "--temperature", "0",
                "--max-tokens", "24", "--ignore-eos", "--top-logprobs", "3", "--json");
        assertEquals(0, r.code(), r.err());
        String[] lines = r.out().strip().split("\n");
        assertEquals(1, lines.length, "exactly one JSON object: " + r.out());
        JsonNode j = JSON.readTree(lines[0]);
        assertEquals(p.get("ids"), j.get("prompt_ids"));
        assertEquals(p.get("greedy"), j.get("output_ids"));
        assertEquals(24, j.get("top_logprobs").size());
        JsonNode first = j.get("top_logprobs").get(0);
        assertEquals(3, first.size());
        assertEquals(p.get("greedy").get(0).asInt(), first.get(0).get("id").asInt(), "greedy token is the most likely");
        assertTrue(first.get(0).get("logprob").asDouble() >= first.get(1).get("logprob").asDouble());
        assertTrue(j.get("output_text").isTextual());
    }

    @Test
    void chatRendersTheModelsTemplate() throws IOException {
        Run r = cli("generate", "--model", fixture("tiny-llama3").toString(), "--prompt", "Hello", "--chat", "--max-tokens", "2", "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode j = JSON.readTree(r.out());
        // <|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n
        JsonNode ids = j.get("prompt_ids");
        JsonNode tok = JSON.readTree(fixture("tiny-llama3").resolve("tokenizer.json").toFile()).get("added_tokens");
        int bos = -1, header = -1, eot = -1;
        for (JsonNode t : tok) {
            switch (t.get("content").asText()) {
                case "<|begin_of_text|>" -> bos = t.get("id").asInt();
                case "<|start_header_id|>" -> header = t.get("id").asInt();
                case "<|eot_id|>" -> eot = t.get("id").asInt();
                default -> { }
            }
        }
        assertEquals(bos, ids.get(0).asInt());
        assertEquals(header, ids.get(1).asInt());
        int eots = 0;
        for (JsonNode id : ids) if (id.asInt() == eot) eots++;
        assertEquals(1, eots, "one finished turn");
        assertEquals(2, j.get("output_ids").size() <= 2 ? 2 : -1);
    }

    @Test
    void badInputIsOneLineAndNonZero() throws IOException {
        Run missing = cli("generate", "--model", "/no/such/dir", "--prompt", "x");
        assertEquals(1, missing.code());
        assertEquals("chunkserve: model directory /no/such/dir does not exist", missing.err().strip());

        String longPrompt = "word ".repeat(2000);
        Run tooLong = cli("generate", "--model", fixture("tiny-llama3").toString(), "--prompt", longPrompt);
        assertEquals(1, tooLong.code());
        assertTrue(tooLong.err().strip().matches("chunkserve: the prompt has \\d+ tokens; this model's context is 512 tokens.*"), tooLong.err());
        assertFalse(tooLong.err().strip().contains("\n"));

        Path dir = Files.createTempDirectory("cs");
        Files.writeString(dir.resolve("config.json"), "{\"model_type\": \"bert\", \"architectures\": [\"BertModel\"]}");
        Run arch = cli("generate", "--model", dir.toString(), "--prompt", "x");
        assertEquals(1, arch.code());
        assertTrue(arch.err().contains("unsupported architecture 'BertModel'"), arch.err());

        Run badTemp = cli("generate", "--model", fixture("tiny-llama3").toString(), "--prompt", "x", "--temperature", "9");
        assertEquals(1, badTemp.code());
        assertTrue(badTemp.err().contains("temperature must be in [0, 2]"), badTemp.err());

        Run badFlag = cli("generate", "--bogus");
        assertEquals(2, badFlag.code());
        assertEquals(1, badFlag.err().strip().split("\n").length, badFlag.err());
    }
}
