package io.chunkserve.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * Differential test against real Jinja2: {@code tokenizer/jinja_compat_cases.json} holds small
 * templates with the output (or error) of Jinja2 3.1.6 configured as Hugging Face configures it
 * (see {@code make_jinja_compat_cases.py} beside it). ChatTemplate must produce the same text,
 * and fail where Jinja2 fails (with the template's exact message for {@code raise_exception}).
 */
class ChatTemplateJinjaCorpusTest {

    @TestFactory
    Stream<DynamicTest> rendersLikeJinja2WithHuggingFaceSettings() throws IOException {
        JsonNode root;
        try (InputStream in = getClass().getResourceAsStream("/tokenizer/jinja_compat_cases.json")) {
            assertTrue(in != null, "missing test resource tokenizer/jinja_compat_cases.json");
            root = Fixtures.JSON.readTree(in);
        }
        List<DynamicTest> tests = new ArrayList<>();
        int i = 0;
        for (JsonNode c : root.get("cases")) {
            String template = c.get("t").asText();
            @SuppressWarnings("unchecked")
            Map<String, Object> vars = Fixtures.JSON.convertValue(c.get("v"), Map.class);
            String name = String.format("%03d %s", i++, template.replace("\n", "\\n"));
            tests.add(DynamicTest.dynamicTest(name.length() > 120 ? name.substring(0, 120) + "…" : name, () -> {
                if (c.has("want")) {
                    assertEquals(c.get("want").asText(), ChatTemplate.of(template).render(List.of(), false, vars));
                } else {
                    String error = c.get("error").asText();
                    ChatTemplateException e = assertThrows(ChatTemplateException.class,
                            () -> ChatTemplate.of(template).render(List.of(), false, vars), "Jinja2 raised " + error);
                    if (error.startsWith("TemplateError: ")) {
                        assertTrue(e.raisedByTemplate(), e.getMessage());
                        assertEquals(error.substring("TemplateError: ".length()), e.getMessage());
                    } else {
                        assertFalse(e.raisedByTemplate(), e.getMessage());
                    }
                }
            }));
        }
        assertTrue(tests.size() >= 100, "corpus too small: " + tests.size());
        return tests.stream();
    }
}
