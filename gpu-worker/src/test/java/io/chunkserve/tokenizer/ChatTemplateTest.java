package io.chunkserve.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

class ChatTemplateTest {

    static List<String> models() {
        return Fixtures.MODELS;
    }

    static List<ChatMessage> messages(JsonNode golden) {
        List<ChatMessage> out = new ArrayList<>();
        for (JsonNode m : golden.get("messages")) {
            out.add(new ChatMessage(m.get("role").asText(), m.get("content").asText()));
        }
        return out;
    }

    @ParameterizedTest
    @MethodSource("models")
    void rendersTheGoldenConversationExactlyLikeHuggingFaceWithGenerationPrompt(String model) {
        JsonNode chat = Fixtures.chatPrompt(model);
        ChatTemplate template = ChatTemplate.load(Fixtures.dir(model));
        assertEquals(chat.get("rendered").asText(), template.render(messages(chat), true, Map.of()));
    }

    @ParameterizedTest
    @MethodSource("models")
    void rendersTheGoldenConversationExactlyLikeHuggingFaceWithoutGenerationPrompt(String model) {
        JsonNode chat = Fixtures.chatPrompt(model);
        ChatTemplate template = ChatTemplate.load(Fixtures.dir(model));
        assertEquals(chat.get("rendered_no_generation_prompt").asText(), template.render(messages(chat), false));
    }

    @ParameterizedTest
    @MethodSource("models")
    void renderedChatPromptTokenizesToTheGoldenIds(String model) {
        JsonNode chat = Fixtures.chatPrompt(model);
        String prompt = ChatTemplate.load(Fixtures.dir(model)).render(messages(chat), true);
        assertArrayEquals(Fixtures.ints(chat.get("ids")), Fixtures.tokenizer(model).encode(prompt, false));
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-llama2", "tiny-mistral"})
    void nonAlternatingRolesRaiseTheTemplatesOwnException(String model) {
        ChatTemplate template = ChatTemplate.load(Fixtures.dir(model));
        List<ChatMessage> twoUsers = List.of(ChatMessage.user("hi"), ChatMessage.user("again"));
        ChatTemplateException e = assertThrows(ChatTemplateException.class, () -> template.render(twoUsers, true));
        assertTrue(e.raisedByTemplate());
        assertEquals("Conversation roles must alternate user/assistant/user/assistant/...", e.getMessage());
        List<ChatMessage> assistantFirst = List.of(ChatMessage.assistant("hello"), ChatMessage.user("hi"));
        assertThrows(ChatTemplateException.class, () -> template.render(assistantFirst, true));
    }

    @Test
    void mistralRejectsOtherRolesWithItsOwnMessages() {
        ChatTemplate template = ChatTemplate.load(Fixtures.dir("tiny-mistral"));
        ChatTemplateException e = assertThrows(ChatTemplateException.class,
                () -> template.render(List.of(ChatMessage.user("a"), new ChatMessage("tool", "b")), false));
        assertEquals("Only user and assistant roles are supported!", e.getMessage());
        // the first raise_exception wins, as in Jinja2 (rendering does not go on to the second)
        ChatTemplateException sys = assertThrows(ChatTemplateException.class, () -> template.render(
                List.of(ChatMessage.user("a"), ChatMessage.assistant("b"), ChatMessage.system("c")), false));
        assertEquals("Conversation roles must alternate user/assistant/user/assistant/...", sys.getMessage());
    }

    @Test
    void qwen3UsesReasoningContentFieldAndThinkingSwitch() {
        ChatTemplate template = ChatTemplate.load(Fixtures.dir("tiny-qwen3"));
        List<ChatMessage> conv = List.of(
                ChatMessage.user("Q1"),
                new ChatMessage("assistant", "A1", Map.of("reasoning_content", "\nthought\n")),
                ChatMessage.user("Q2"));
        // reasoning_content is only shown for assistant turns after the last user query: none here
        assertEquals("<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\nA1<|im_end|>\n"
                + "<|im_start|>user\nQ2<|im_end|>\n<|im_start|>assistant\n", template.render(conv, true));
        List<ChatMessage> last = List.of(ChatMessage.user("Q1"),
                new ChatMessage("assistant", "\nA1", Map.of("reasoning_content", "\nthought\n")));
        assertEquals("<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\n<think>\nthought\n</think>\n\nA1<|im_end|>\n",
                template.render(last, false));
        assertEquals("<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n",
                template.render(List.of(ChatMessage.user("Q1")), true, Map.of("enable_thinking", false)));
        assertEquals("<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\n",
                template.render(List.of(ChatMessage.user("Q1")), true, Map.of("enable_thinking", true)));
    }

    @Test
    void userContentIsNeverInterpretedAsTemplateCode() {
        ChatTemplate template = ChatTemplate.load(Fixtures.dir("tiny-qwen2"));
        String evil = "{{ 7*7 }} {% raise_exception('x') %} {# c #}";
        String out = template.render(List.of(ChatMessage.user(evil)), false);
        assertTrue(out.contains("<|im_start|>user\n" + evil + "<|im_end|>"), out);
    }

    @Test
    void specialTokensComeFromTokenizerConfigAndExtraVarsMayOverrideThem() {
        ChatTemplate l3 = ChatTemplate.load(Fixtures.dir("tiny-llama3"));
        assertEquals("<|begin_of_text|>", l3.bosToken());
        assertEquals("<|eot_id|>", l3.eosToken());
        ChatTemplate t = ChatTemplate.of("{{ bos_token }}|{{ eos_token }}|{{ messages|length }}|{{ add_generation_prompt }}",
                "<s>", "</s>");
        assertEquals("<s>|</s>|1|True", t.render(List.of(ChatMessage.user("x")), true));
        assertEquals("B|</s>|0|False", t.render(List.of(), false,
                Map.of("bos_token", "B", "messages", List.of(1, 2, 3), "add_generation_prompt", true)));
    }

    @Test
    void extraVariablesMayBeJacksonTreesOrPlainJava() throws IOException {
        ChatTemplate t = ChatTemplate.of("{% for tool in tools %}{{ tool | tojson }}\n{% endfor %}{{ n + 1 }}");
        JsonNode tools = Fixtures.JSON.readTree("[{\"name\": \"f\", \"parameters\": {\"x\": [1, 2.5, true, null]}}]");
        assertEquals("{\"name\": \"f\", \"parameters\": {\"x\": [1, 2.5, true, null]}}\n3",
                t.render(List.of(), false, Map.of("tools", tools, "n", 2)));
    }

    @Test
    void loadPrefersChatTemplateJinjaThenTokenizerConfigStringThenNamedDefault(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("tokenizer_config.json"),
                "{\"bos_token\": \"<s>\", \"chat_template\": \"cfg {{ bos_token }}\"}");
        assertEquals("cfg <s>", ChatTemplate.load(dir).render(List.of(), false));
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"eos_token\": {\"content\": \"</s>\"}, \"chat_template\": "
                + "[{\"name\": \"tool_use\", \"template\": \"tools\"}, {\"name\": \"default\", \"template\": \"default {{ eos_token }}\"}]}");
        assertEquals("default </s>", ChatTemplate.load(dir).render(List.of(), false));
        Files.writeString(dir.resolve("chat_template.jinja"), "jinja file\n");
        assertEquals("jinja file", ChatTemplate.load(dir).render(List.of(), false), "one trailing newline is dropped");
    }

    @Test
    void modelsWithoutAChatTemplateAreReportedClearly(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"bos_token\": \"<s>\"}");
        assertTrue(ChatTemplate.find(dir).isEmpty());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ChatTemplate.load(dir));
        assertTrue(e.getMessage().contains("no chat template"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ChatTemplate.load(dir.resolve("missing")));
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"chat_template\": [{\"name\": \"rag\", \"template\": \"x\"}]}");
        assertThrows(IllegalArgumentException.class, () -> ChatTemplate.load(dir));
    }

    @Test
    void templateSyntaxErrorsFailAtLoadWithOneLineMessages() {
        for (String bad : List.of("{% if x %}never closed", "{{ x[1:2:3:4] }}", "{{ 'unterminated }}", "{% for %}{% endfor %}",
                "{{ (1 + }}")) {
            ChatTemplateException e = assertThrows(ChatTemplateException.class, () -> {
                ChatTemplate t = ChatTemplate.of(bad);
                t.render(List.of(ChatMessage.user("u")), true, Map.of("x", List.of(1)));
            }, bad);
            assertFalse(e.getMessage().contains("\n"), e.getMessage());
            assertTrue(e.getMessage().startsWith("chat template error") || e.getMessage().startsWith("template syntax error"),
                    e.getMessage());
        }
    }

    @Test
    void errorsInExpressionsAndUnknownFunctionsBecomeChatTemplateExceptions() {
        ChatTemplate t = ChatTemplate.of("line one\n{{ no_such_function(1) }}");
        ChatTemplateException e = assertThrows(ChatTemplateException.class, () -> t.render(List.of(), false));
        assertFalse(e.raisedByTemplate());
        assertTrue(e.getMessage().contains("line 2"), e.getMessage());
        ChatTemplate slice = ChatTemplate.of("{{ x[::0] }}");
        assertThrows(ChatTemplateException.class, () -> slice.render(List.of(), false, Map.of("x", List.of(1))));
    }

    @Test
    void rendersConcurrentlyFromManyThreads() throws Exception {
        JsonNode chat = Fixtures.chatPrompt("tiny-qwen3");
        ChatTemplate template = ChatTemplate.load(Fixtures.dir("tiny-qwen3"));
        List<ChatMessage> conv = messages(chat);
        try (ExecutorService pool = Executors.newFixedThreadPool(6)) {
            List<Future<?>> futures = new ArrayList<>();
            for (int t = 0; t < 6; t++) {
                futures.add(pool.submit(() -> {
                    for (int i = 0; i < 40; i++) {
                        assertEquals(chat.get("rendered").asText(), template.render(conv, true));
                    }
                    return null;
                }));
            }
            for (Future<?> f : futures) {
                f.get();
            }
        }
    }
}
