package io.chunkserve.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.interpret.InterpretException;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentLinkedQueue;

import jinjava.javax.el.CompositeELResolver;
import jinjava.javax.el.ELResolver;

import com.hubspot.jinjava.el.JinjavaInterpreterResolver;

/**
 * A model's chat template, rendered the way Hugging Face's {@code apply_chat_template(messages,
 * tokenize=False, add_generation_prompt=...)} renders it.
 *
 * <p>The template is Jinja2; it runs on Jinjava with a Python-compatibility layer:
 * <ul>
 *   <li>{@link JinjaSourceRewriter} applies Jinja2's lexer rules with HF's settings
 *       ({@code trim_blocks}, {@code lstrip_blocks}, one trailing newline dropped, {@code -}/{@code +}
 *       modifiers) so Jinjava does no whitespace handling of its own, and rewrites Python syntax
 *       Jinjava cannot parse: slices ({@code x[1:]}, {@code x[::-1]}), keyword arguments with
 *       operators ({@code namespace(n=xs|length - 1)}), Python string escapes, adjacent string
 *       literals;</li>
 *   <li>{@link PyCompatResolver}: Python {@code str} methods (strip/lstrip/rstrip with chars,
 *       split/rsplit, startswith/endswith, upper/lower/title, replace, find, format, join...),
 *       string indexing and slicing by code point;</li>
 *   <li>{@link PyForTag}: Jinja2 loops (fresh scope per iteration, {@code if} filters,
 *       {@code loop.previtem/nextitem}, {@code else}, dict keys, {@code break/continue});</li>
 *   <li>{@link PyExpressionStrategy}: values print as Python's {@code str()} (True/False,
 *       {@code ['a', 1]}, {@code 2.0}), and user content is never re-interpreted as template code;</li>
 *   <li>filters and tests: HF's {@code tojson} ({@code json.dumps} spacing, non-ASCII kept,
 *       {@code indent}), {@code string}, {@code length} (code points), {@code items},
 *       {@code is iterable / sequence} (true for strings), plus Jinjava's own ({@code trim},
 *       {@code selectattr}, {@code map}, {@code join}, {@code dictsort}, {@code is defined},
 *       {@code is none}, {@code is false}...);</li>
 *   <li>globals: {@code raise_exception(msg)} (a {@link ChatTemplateException} with exactly that
 *       message, {@link ChatTemplateException#raisedByTemplate()} true), {@code strftime_now(fmt)},
 *       {@code namespace(...)} with {@code {% set ns.x = ... %}}, {@code range}; the
 *       {@code {% generation %}} block.</li>
 * </ul>
 *
 * <p>Known differences from Jinja2 (none matter for the chat templates tested): {@code None}
 * prints as "" (Jinjava does not tell undefined from None; Jinja2 prints "None"); an attribute of
 * an undefined value is undefined rather than an error, and operations on None ({@code 'x' in
 * None}, {@code 'a' + None}) do not raise; {@code %} on negative numbers and
 * {@code **} with a negative exponent follow Java; {@code ~} prints booleans as true/false;
 * tuples print as lists; {@code sum}/{@code max} filters follow Jinjava; recursive loops are not
 * supported.
 *
 * <p>Variables: {@code messages} (list of dicts, see {@link ChatMessage#toTemplateMap()}),
 * {@code add_generation_prompt}, the special tokens of {@code tokenizer_config.json}
 * ({@code bos_token}, {@code eos_token}, {@code unk_token}, {@code pad_token}, when set) and any
 * extra variables ({@code tools}, {@code documents}, {@code enable_thinking}, ...).
 *
 * <p>Immutable and thread-safe: concurrent renders use separate Jinjava engines from a shared pool
 * (Jinjava's own render entry point resets shared state, so one engine is never used by two
 * threads at once).
 */
public final class ChatTemplate {

    private static final List<String> SPECIAL_TOKEN_KEYS = List.of("bos_token", "eos_token", "unk_token", "pad_token");

    private final String source;
    private final JinjaSourceRewriter.Result rewritten;
    private final Map<String, Object> specialTokens;
    /** Configured engines, shared by all templates (an engine holds no template state); one per concurrent render. */
    private static final ConcurrentLinkedQueue<Jinjava> ENGINES = new ConcurrentLinkedQueue<>();

    private ChatTemplate(String source, Map<String, Object> specialTokens) {
        this.source = Objects.requireNonNull(source, "source");
        this.rewritten = JinjaSourceRewriter.rewrite(source);
        this.specialTokens = Map.copyOf(specialTokens);
        // parse once up front so that a broken template fails at load time, not at the first request
        Jinjava engine = borrow();
        try {
            JinjavaInterpreter interpreter = engine.newInterpreter();
            interpreter.parse(rewritten.template());
            for (TemplateError e : interpreter.getErrors()) {
                if (e.getSeverity() == TemplateError.ErrorType.FATAL) {
                    throw error(e);
                }
            }
        } catch (InterpretException e) {
            throw new ChatTemplateException("chat template error (line " + rewritten.sourceLine(e.getLineNumber()) + "): "
                    + ModelDirFiles.oneLine(e), e);
        } finally {
            ENGINES.offer(engine);
        }
    }

    /**
     * The chat template of a Hugging Face model directory: {@code chat_template.jinja}, else
     * {@code chat_template.json}'s {@code chat_template}, else {@code tokenizer_config.json}'s
     * {@code chat_template} (a string, or a list of {@code {name, template}} of which "default" is
     * taken). Special tokens come from {@code tokenizer_config.json}.
     *
     * @throws IllegalArgumentException if the directory is missing, a file is corrupt, or the model
     *     has no chat template (use {@link #find} to tell that case apart)
     * @throws ChatTemplateException if the template has a syntax error
     */
    public static ChatTemplate load(Path modelDir) {
        return find(modelDir).orElseThrow(() -> new IllegalArgumentException(
                "model " + modelDir + " has no chat template (no chat_template.jinja, chat_template.json "
                        + "or tokenizer_config.json chat_template)"));
    }

    /** Like {@link #load}, but empty when the model has no chat template. */
    public static Optional<ChatTemplate> find(Path modelDir) {
        ModelDirFiles.requireDirectory(modelDir);
        JsonNode tokenizerConfig = ModelDirFiles.readJsonIfExists(modelDir.resolve("tokenizer_config.json"));
        Map<String, Object> specials = new HashMap<>();
        if (tokenizerConfig != null) {
            for (String key : SPECIAL_TOKEN_KEYS) {
                String token = ModelDirFiles.tokenText(tokenizerConfig.get(key));
                if (token != null) {
                    specials.put(key, token);
                }
            }
        }
        String template = null;
        Path jinja = modelDir.resolve("chat_template.jinja");
        if (Files.isRegularFile(jinja)) {
            template = ModelDirFiles.readText(jinja);
        }
        if (template == null) {
            JsonNode json = ModelDirFiles.readJsonIfExists(modelDir.resolve("chat_template.json"));
            template = json == null ? null : templateOf(json.get("chat_template"), modelDir.resolve("chat_template.json"));
        }
        if (template == null && tokenizerConfig != null) {
            template = templateOf(tokenizerConfig.get("chat_template"), modelDir.resolve("tokenizer_config.json"));
        }
        return template == null ? Optional.empty() : Optional.of(new ChatTemplate(template, specials));
    }

    private static String templateOf(JsonNode node, Path file) {
        if (node == null || node.isNull()) {
            return null;
        }
        if (node.isTextual()) {
            return node.asText();
        }
        if (node.isArray()) {
            for (JsonNode named : node) {
                if ("default".equals(named.path("name").asText()) && named.path("template").isTextual()) {
                    return named.get("template").asText();
                }
            }
            throw new IllegalArgumentException(file + ": chat_template list has no template named \"default\"");
        }
        throw new IllegalArgumentException(file + ": chat_template is neither a string nor a list of {name, template}");
    }

    /** A template from its Jinja2 source, with no special tokens. */
    public static ChatTemplate of(String source) {
        return new ChatTemplate(source, Map.of());
    }

    /** A template from its Jinja2 source with {@code bos_token} and {@code eos_token} (each may be null). */
    public static ChatTemplate of(String source, String bosToken, String eosToken) {
        Map<String, Object> specials = new HashMap<>();
        if (bosToken != null) {
            specials.put("bos_token", bosToken);
        }
        if (eosToken != null) {
            specials.put("eos_token", eosToken);
        }
        return new ChatTemplate(source, specials);
    }

    /** The Jinja2 source as the model ships it. */
    public String source() {
        return source;
    }

    /** {@code bos_token} the template sees, or null. */
    public String bosToken() {
        return (String) specialTokens.get("bos_token");
    }

    /** {@code eos_token} the template sees, or null. */
    public String eosToken() {
        return (String) specialTokens.get("eos_token");
    }

    /** {@link #render(List, boolean, Map)} without extra variables. */
    public String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
        return render(messages, addGenerationPrompt, Map.of());
    }

    /**
     * Renders the conversation to the prompt text.
     *
     * @param messages the conversation
     * @param addGenerationPrompt append the assistant turn header (HF's {@code add_generation_prompt})
     * @param extraVars further template variables ({@code tools}, {@code enable_thinking},
     *     {@code date_string}...); plain Java values (String, Number, Boolean, List, Map) or Jackson
     *     {@link JsonNode}s; they may override the special tokens but not {@code messages} or
     *     {@code add_generation_prompt}
     * @throws ChatTemplateException (one-line message) if the template raises or fails
     */
    public String render(List<ChatMessage> messages, boolean addGenerationPrompt, Map<String, Object> extraVars) {
        Objects.requireNonNull(messages, "messages");
        Map<String, Object> bindings = new HashMap<>(specialTokens);
        if (extraVars != null) {
            extraVars.forEach((k, v) -> bindings.put(k, plain(v)));
        }
        List<Map<String, Object>> maps = new ArrayList<>(messages.size());
        for (ChatMessage m : messages) {
            Map<String, Object> map = m.toTemplateMap();
            map.replaceAll((k, v) -> plain(v));
            maps.add(map);
        }
        bindings.put("messages", maps);
        bindings.put("add_generation_prompt", addGenerationPrompt);
        Jinjava engine = borrow();
        RenderResult result;
        try {
            result = engine.renderForResult(rewritten.template(), bindings);
        } finally {
            ENGINES.offer(engine);
        }
        for (TemplateError e : result.getErrors()) {
            if (raised(e) != null) {
                throw new ChatTemplateException(ModelDirFiles.oneLine(raised(e).getMessage()), true, raised(e));
            }
        }
        for (TemplateError e : result.getErrors()) {
            if (e.getSeverity() == TemplateError.ErrorType.FATAL) {
                throw error(e);
            }
        }
        return result.getOutput();
    }

    private ChatTemplateException error(TemplateError e) {
        String msg = ModelDirFiles.oneLine(e.getMessage());
        int line = rewritten.sourceLine(e.getLineno());
        return new ChatTemplateException("chat template error (line " + line + "): " + msg, e.getException());
    }

    private static TemplateFunctions.RaisedByTemplate raised(TemplateError e) {
        for (Throwable t = e.getException(); t != null; t = t.getCause()) {
            if (t instanceof TemplateFunctions.RaisedByTemplate r) {
                return r;
            }
        }
        return null;
    }

    /** Jackson trees and Optionals become plain Java values the template can walk. */
    private static Object plain(Object v) {
        if (v instanceof JsonNode node) {
            return ModelDirFiles.JSON.convertValue(node, Object.class);
        }
        if (v instanceof Optional<?> o) {
            return plain(o.orElse(null));
        }
        return v;
    }

    private static Jinjava borrow() {
        Jinjava engine = ENGINES.poll();
        return engine != null ? engine : newEngine();
    }

    private static Jinjava newEngine() {
        ELResolver resolver = new CompositeELResolver() {
            {
                add(new PyCompatResolver());
                add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_ONLY);
            }
        };
        JinjavaConfig config = JinjavaConfig.newBuilder()
                .withTrimBlocks(false)
                .withLstripBlocks(false)
                .withNestedInterpretationEnabled(false)
                .withFailOnUnknownTokens(false)
                .withEnableRecursiveMacroCalls(true)
                .withMaxMacroRecursionDepth(64)
                .withRangeLimit(100_000) // Jinja2's sandbox MAX_RANGE; Jinjava's default 1000 truncates silently
                .withMaxOutputSize(256L << 20) // a runaway template fails instead of exhausting the heap
                .withElResolver(resolver)
                .withExecutionMode(new PyExecutionMode())
                .withLegacyOverrides(LegacyOverrides.newBuilder()
                        .withEvaluateMapKeys(true)
                        .withIterateOverMapKeys(true)
                        .withKeepNullableLoopValues(true)
                        .withParseWhitespaceControlStrictly(true)
                        .build())
                .build();
        Jinjava jinjava = new Jinjava(config);
        for (ELFunctionDefinition fn : TemplateFunctions.definitions()) {
            jinjava.getGlobalContext().registerFunction(fn);
        }
        jinjava.getGlobalContext().registerFilter(new PyToJsonFilter());
        jinjava.getGlobalContext().registerFilter(new PyLengthFilter("length"));
        jinjava.getGlobalContext().registerFilter(new PyLengthFilter("count"));
        jinjava.getGlobalContext().registerFilter(new PyItemsFilter());
        jinjava.getGlobalContext().registerFilter(new PyStringFilter());
        jinjava.getGlobalContext().registerExpTest(new PyCollectionTest("iterable"));
        jinjava.getGlobalContext().registerExpTest(new PyCollectionTest("sequence"));
        jinjava.getGlobalContext().registerTag(new GenerationTag());
        jinjava.getGlobalContext().registerTag(new PyForTag());
        return jinjava;
    }
}
