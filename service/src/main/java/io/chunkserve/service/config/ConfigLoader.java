package io.chunkserve.service.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.chunkserve.engine.EngineConfig;
import io.chunkserve.service.ServiceConfig;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Resolves {@code serve}'s settings from, lowest to highest precedence: built-in defaults, one
 * config file (YAML or JSON, flat {@code key: value} with the {@link Setting} keys), environment
 * variables {@code CHUNKSERVE_*} and command-line flags. The file comes from {@code --config} or
 * {@code CHUNKSERVE_CONFIG}.
 *
 * <p>Every value is checked here, so a bad one fails before anything starts, with a
 * {@link ConfigException} naming the setting and its source.
 */
public final class ConfigLoader {
    /** Environment variable naming the config file. */
    public static final String CONFIG_ENV = "CHUNKSERVE_CONFIG";
    /** CHUNKSERVE_* variables that are not settings (the launcher's), so no "unknown variable" warning. */
    private static final Set<String> OTHER_ENV = Set.of(CONFIG_ENV, "CHUNKSERVE_HOME", "CHUNKSERVE_JAVA_OPTS");

    private ConfigLoader() { }

    /** Where a value came from. */
    public enum Source {
        DEFAULT("default"), FILE("file"), ENV("env"), FLAG("flag");

        private final String label;

        Source(String label) { this.label = label; }

        @Override
        public String toString() { return label; }
    }

    /**
     * The outcome.
     *
     * @param config   the service configuration
     * @param sources  where each setting's value came from
     * @param file     the config file read, or null
     * @param warnings lines worth printing (unknown CHUNKSERVE_* variables)
     */
    public record Resolved(ServiceConfig config, Map<Setting, Source> sources, Path file, List<String> warnings) {
        /**
         * The start-up block: one line per setting with its value and source. Holds no secret:
         * the keys file's path is printed, never its contents.
         */
        public String describe() {
            StringBuilder sb = new StringBuilder("chunkserve: configuration (flags > env CHUNKSERVE_* > ")
                    .append(file == null ? "no config file" : "file " + file).append(" > defaults)");
            for (Setting s : Setting.values()) {
                String v = s.show(config);
                if (s == Setting.MODEL && config.synthetic() > 0) v += " (unused: synthetic mode)";
                sb.append(String.format("%n  %-32s %-40s (%s)", s.key(), v, sources.get(s)));
            }
            return sb.toString();
        }
    }

    /**
     * @param defaults   the built-in defaults (model directory included)
     * @param env        the environment ({@code System.getenv()})
     * @param flags      values given on the command line
     * @param configFlag {@code --config} value, or null
     */
    public static Resolved load(ServiceConfig defaults, Map<String, String> env, Map<Setting, String> flags, Path configFlag) {
        Map<Setting, String> raw = new EnumMap<>(Setting.class);
        Map<Setting, Source> sources = new EnumMap<>(Setting.class);
        for (Setting s : Setting.values()) sources.put(s, Source.DEFAULT);
        Path file = configFlag;
        if (file == null && env.get(CONFIG_ENV) != null && !env.get(CONFIG_ENV).isBlank()) file = Path.of(env.get(CONFIG_ENV).trim());
        if (file != null) {
            readFile(file).forEach((s, v) -> {
                raw.put(s, v);
                sources.put(s, Source.FILE);
            });
        }
        List<String> warnings = new ArrayList<>();
        for (var e : env.entrySet()) {
            if (!e.getKey().startsWith("CHUNKSERVE_") || OTHER_ENV.contains(e.getKey())) continue;
            Setting s = byEnv(e.getKey());
            if (s == null) {
                warnings.add("chunkserve: ignoring unknown environment variable " + e.getKey());
            } else {
                raw.put(s, e.getValue());
                sources.put(s, Source.ENV);
            }
        }
        flags.forEach((s, v) -> {
            if (v == null) return;
            raw.put(s, v);
            sources.put(s, Source.FLAG);
        });

        ServiceConfig cfg = defaults;
        for (var e : raw.entrySet()) {
            Setting s = e.getKey();
            if (s == Setting.MAX_RUNNING_SEQS || s == Setting.MAX_BATCH_TOKENS) continue; // together, below
            try {
                cfg = s.apply(cfg, e.getValue());
            } catch (RuntimeException ex) {
                throw bad(s, sources.get(s), file, ex.getMessage());
            }
        }
        cfg = engineLimits(cfg, raw, sources, file);
        if (cfg.synthetic() == 0) {
            Path m = cfg.worker().modelDir();
            if (m == null || !Files.isDirectory(m)) {
                throw bad(Setting.MODEL, sources.get(Setting.MODEL), file, "no model directory at " + m
                        + " (pass --model DIR, or --synthetic RATE to run without a model)");
            }
        }
        if (cfg.keysFile() != null && !Files.isReadable(cfg.keysFile())) {
            throw bad(Setting.KEYS_FILE, sources.get(Setting.KEYS_FILE), file, "cannot read " + cfg.keysFile());
        }
        return new Resolved(cfg, sources, file, warnings);
    }

    /** max_running_seqs and max_batch_tokens constrain each other, so they are applied as one. */
    private static ServiceConfig engineLimits(ServiceConfig cfg, Map<Setting, String> raw, Map<Setting, Source> sources, Path file) {
        EngineConfig e = cfg.worker().engine();
        int running = e.maxRunningSequences(), batch = e.maxBatchTokens();
        try {
            if (raw.containsKey(Setting.MAX_RUNNING_SEQS)) running = Setting.intIn(raw.get(Setting.MAX_RUNNING_SEQS), 1, 1 << 20);
        } catch (RuntimeException ex) {
            throw bad(Setting.MAX_RUNNING_SEQS, sources.get(Setting.MAX_RUNNING_SEQS), file, ex.getMessage());
        }
        try {
            if (raw.containsKey(Setting.MAX_BATCH_TOKENS)) batch = Setting.intIn(raw.get(Setting.MAX_BATCH_TOKENS), 1, 1 << 24);
        } catch (RuntimeException ex) {
            throw bad(Setting.MAX_BATCH_TOKENS, sources.get(Setting.MAX_BATCH_TOKENS), file, ex.getMessage());
        }
        if (batch < running) {
            Setting blame = raw.containsKey(Setting.MAX_BATCH_TOKENS) ? Setting.MAX_BATCH_TOKENS : Setting.MAX_RUNNING_SEQS;
            throw bad(blame, sources.get(blame), file, "max_batch_tokens (" + batch + ") must be >= max_running_seqs (" + running + ")");
        }
        return cfg.withWorker(cfg.worker().withEngine(new EngineConfig(running, batch)));
    }

    /** The settings in a YAML/JSON file: a flat map of known keys to scalars (null values are skipped). */
    static Map<Setting, String> readFile(Path file) {
        String text;
        try {
            text = Files.readString(file);
        } catch (IOException e) {
            String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage().split("\n", 2)[0];
            throw new ConfigException("config file " + file + ": " + (e instanceof java.nio.file.NoSuchFileException ? "not found" : m));
        }
        return parse(text, "config file " + file);
    }

    /**
     * Config-file text (YAML or JSON) to settings, values unparsed: a flat map of known keys to
     * scalars; null values are skipped. Throws {@link ConfigException} (prefixed with {@code origin})
     * for malformed text, unknown keys and non-scalar values. The Kubernetes manifests' tests use it.
     */
    public static Map<Setting, String> parse(String text, String origin) {
        JsonNode root;
        try {
            root = new YAMLMapper().readTree(text);
        } catch (IOException e) {
            String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage().split("\n", 2)[0];
            throw new ConfigException(origin + ": " + m);
        }
        Map<Setting, String> out = new LinkedHashMap<>();
        if (root == null || root.isMissingNode() || root.isNull()) return out; // an empty file
        if (!root.isObject()) throw new ConfigException(origin + ": expected a map of settings (key: value)");
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            var f = it.next();
            Setting s = Setting.byKey(f.getKey());
            if (s == null) {
                throw new ConfigException(origin + ": unknown key '" + f.getKey() + "' (known: " + String.join(", ", Setting.keys()) + ")");
            }
            JsonNode v = f.getValue();
            if (v.isNull()) continue;
            if (!v.isValueNode()) throw new ConfigException(origin + ": " + s.key() + " must be a single value");
            out.put(s, v.asText());
        }
        return out;
    }

    private static Setting byEnv(String name) {
        for (Setting s : Setting.values()) if (s.env().equals(name)) return s;
        return null;
    }

    private static ConfigException bad(Setting s, Source src, Path file, String why) {
        String where = switch (src) {
            case FLAG -> "flag " + s.flag();
            case ENV -> "env " + s.env();
            case FILE -> "config file " + file;
            case DEFAULT -> "default";
        };
        return new ConfigException(s.key() + " (" + where + "): " + why);
    }
}
