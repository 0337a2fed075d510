package io.chunkserve.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.huggingface.tokenizers.jni.TokenizersLibrary;
import com.fasterxml.jackson.databind.JsonNode;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalInt;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A Hugging Face tokenizer loaded from a model directory's {@code tokenizer.json}, run by the
 * reference Rust implementation through DJL's binding ({@code ai.djl.huggingface:tokenizers},
 * Rust {@code tokenizers} 0.21). {@link #encode} returns exactly the ids of
 * {@code tokenizer(text, add_special_tokens=...)["input_ids"]}: DJL's default truncation to
 * {@code model_max_length} (512) and its padding are switched off. {@link #decode} matches
 * {@code tokenizer.decode(ids, skip_special_tokens=...)}, including
 * {@code clean_up_tokenization_spaces} when {@code tokenizer_config.json} asks for it.
 *
 * <p>Special tokens ({@code bos_token}, {@code eos_token}) come from {@code tokenizer_config.json};
 * {@link #eosTokenIds()} adds {@code generation_config.json}'s {@code eos_token_id} (or, without
 * that file, {@code config.json}'s).
 *
 * <p><b>Threads.</b> An instance is thread-safe: {@link #encode}, {@link #decode} and the lookups
 * may run concurrently from any number of threads (the Rust tokenizer is {@code Sync} and encoding
 * only reads it; its BPE cache is internally locked). {@link #close()} waits for calls in flight
 * and makes later calls throw {@link IllegalStateException} rather than touch freed native memory.
 *
 * <p><b>Offline.</b> Loading never touches the network: before DJL's first use this class sets
 * DJL's offline mode (see {@code DjlNative}); the native library then comes from inside the DJL
 * jar (its {@code cpu} build), extracted once into {@code $DJL_CACHE_DIR} or {@code ~/.djl.ai}
 * ({@code tokenizers/0.21.0-0.36.0-cpu-linux-x86_64/libtokenizers.so}).
 *
 * <p>Texts are Java strings; a lone UTF-16 surrogate (which Python could not even encode) is
 * tokenized as U+FFFD. Ids outside the vocabulary are skipped by {@link #decode}, as in HF.
 */
public final class Tokenizer implements AutoCloseable {

    static {
        DjlNative.ensureOffline();
    }

    private static final Map<String, String> DJL_OPTIONS = Map.of(
            "truncation", "false",
            "padding", "false",
            "addSpecialTokens", "true");

    private final Path modelDir;
    private final HuggingFaceTokenizer djl;
    private final long handle;
    private final Vocabulary vocab;
    private final String bosToken;
    private final String eosToken;
    private final int bosTokenId;
    private final int eosTokenId;
    private final int[] eosTokenIds;
    private final boolean cleanUpSpaces;
    private final AtomicReferenceArray<String> tokenStrings;
    private final AtomicReferenceArray<byte[]> tokenBytes;
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private boolean closed;

    private Tokenizer(Path modelDir, HuggingFaceTokenizer djl, Vocabulary vocab, JsonNode tokenizerConfig,
                      JsonNode generationConfig) {
        this.modelDir = modelDir;
        this.djl = djl;
        this.handle = djl.getHandle();
        this.vocab = vocab;
        JsonNode tc = tokenizerConfig == null ? ModelDirFiles.JSON.createObjectNode() : tokenizerConfig;
        this.bosToken = ModelDirFiles.tokenText(tc.get("bos_token"));
        this.eosToken = ModelDirFiles.tokenText(tc.get("eos_token"));
        this.bosTokenId = bosToken == null ? -1 : vocab.id(bosToken);
        this.eosTokenId = eosToken == null ? -1 : vocab.id(eosToken);
        this.cleanUpSpaces = tc.path("clean_up_tokenization_spaces").asBoolean(false);
        Set<Integer> eos = new LinkedHashSet<>();
        JsonNode gen = generationConfig == null ? null : generationConfig.get("eos_token_id");
        if (gen != null && gen.canConvertToInt()) {
            eos.add(gen.intValue());
        } else if (gen != null && gen.isArray()) {
            for (JsonNode e : gen) {
                if (e.canConvertToInt()) {
                    eos.add(e.intValue());
                }
            }
        }
        if (eosTokenId >= 0) {
            eos.add(eosTokenId);
        }
        this.eosTokenIds = eos.stream().mapToInt(Integer::intValue).toArray();
        this.tokenStrings = new AtomicReferenceArray<>(vocab.size());
        this.tokenBytes = new AtomicReferenceArray<>(vocab.size());
    }

    /**
     * Loads the tokenizer of a Hugging Face model directory ({@code tokenizer.json}, and when
     * present {@code tokenizer_config.json}, {@code generation_config.json}, {@code config.json}).
     *
     * @throws IllegalArgumentException (one-line message) if the directory or {@code tokenizer.json}
     *     is missing, or a file is unreadable or corrupt
     * @throws IllegalStateException if DJL's native library cannot be loaded
     */
    public static Tokenizer load(Path modelDir) {
        ModelDirFiles.requireDirectory(modelDir);
        Path file = modelDir.resolve("tokenizer.json");
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("no tokenizer.json in " + modelDir);
        }
        String json = ModelDirFiles.readText(file);
        Vocabulary vocab;
        try {
            vocab = Vocabulary.fromTokenizerJson(ModelDirFiles.parseJson(file, json));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + ModelDirFiles.oneLine(e), e);
        }
        JsonNode tokenizerConfig = ModelDirFiles.readJsonIfExists(modelDir.resolve("tokenizer_config.json"));
        JsonNode generationConfig = ModelDirFiles.readJsonIfExists(modelDir.resolve("generation_config.json"));
        if (generationConfig == null) {
            generationConfig = ModelDirFiles.readJsonIfExists(modelDir.resolve("config.json"));
        }
        HuggingFaceTokenizer djl = createNative(file, json);
        try {
            return new Tokenizer(modelDir, djl, vocab, tokenizerConfig, generationConfig);
        } catch (RuntimeException e) {
            djl.close();
            throw e;
        }
    }

    private static HuggingFaceTokenizer createNative(Path file, String json) {
        DjlNative.ensureOffline();
        try {
            return HuggingFaceTokenizer.newInstance(
                    new ByteArrayInputStream(json.getBytes(StandardCharsets.UTF_8)), DJL_OPTIONS);
        } catch (ai.djl.engine.EngineException e) {
            Throwable cause = e.getCause() == null ? e : e.getCause();
            throw new IllegalStateException("cannot load DJL's tokenizers native library: "
                    + ModelDirFiles.oneLine(cause), e);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read " + file + ": " + ModelDirFiles.oneLine(e), e);
        } catch (RuntimeException e) {
            if (e.getClass() == RuntimeException.class) {
                // the Rust side reports an unparsable tokenizer.json as a plain RuntimeException
                throw new IllegalArgumentException(file + " is not a valid Hugging Face tokenizer: "
                        + ModelDirFiles.oneLine(e), e);
            }
            throw new IllegalStateException("DJL could not create the tokenizer of " + file + ": "
                    + e.getClass().getSimpleName() + ": " + ModelDirFiles.oneLine(e), e);
        }
    }

    /** The model directory this tokenizer was loaded from. */
    public Path modelDir() {
        return modelDir;
    }

    /**
     * Token ids of {@code text}, as HF's {@code tokenizer(text, add_special_tokens=addSpecialTokens)}:
     * no truncation, no padding. Special-token strings inside the text (e.g. {@code "<|eot_id|>"})
     * are matched as special tokens, as HF does.
     */
    public int[] encode(String text, boolean addSpecialTokens) {
        Objects.requireNonNull(text, "text");
        String input = replaceLoneSurrogates(text);
        lock.readLock().lock();
        try {
            ensureOpen();
            long encoding = TokenizersLibrary.LIB.encode(handle, input, addSpecialTokens);
            try {
                long[] ids = TokenizersLibrary.LIB.getTokenIds(encoding);
                int[] out = new int[ids.length];
                for (int i = 0; i < ids.length; i++) {
                    out[i] = (int) ids[i];
                }
                return out;
            } finally {
                TokenizersLibrary.LIB.deleteEncoding(encoding);
            }
        } finally {
            lock.readLock().unlock();
        }
    }

    /**
     * Text of {@code ids}, as HF's {@code tokenizer.decode(ids, skip_special_tokens=skipSpecialTokens)}.
     * Incomplete UTF-8 byte sequences decode to U+FFFD; ids outside the vocabulary are skipped.
     */
    public String decode(int[] ids, boolean skipSpecialTokens) {
        String text = decodeRaw(ids, 0, ids.length, skipSpecialTokens);
        return cleanUpSpaces ? cleanUpTokenization(text) : text;
    }

    /**
     * Decoder output of {@code ids[from, to)} without {@code clean_up_tokenization_spaces}; what
     * incremental detokenization works on.
     */
    String decodeRaw(int[] ids, int from, int to, boolean skipSpecialTokens) {
        Objects.checkFromToIndex(from, to, ids.length);
        long[] longs = new long[to - from];
        for (int i = from; i < to; i++) {
            longs[i - from] = ids[i];
        }
        lock.readLock().lock();
        try {
            ensureOpen();
            return TokenizersLibrary.LIB.decode(handle, longs, skipSpecialTokens);
        } finally {
            lock.readLock().unlock();
        }
    }

    /** Whether {@link #decode} applies HF's {@code clean_up_tokenization_spaces} (from tokenizer_config.json). */
    public boolean cleansUpTokenizationSpaces() {
        return cleanUpSpaces;
    }

    /** Number of token ids, added tokens included (highest id + 1, HF's {@code len(tokenizer)}). */
    public int vocabSize() {
        return vocab.size();
    }

    /**
     * The decoded text of one token, as vLLM shows it in logprobs ({@code tokenizer.decode([id])}):
     * "Ġhello" gives " hello", a lone byte of a multi-byte character gives "\uFFFD", a special
     * token gives its text. SentencePiece decoders drop the leading space of the first token, so
     * "▁the" gives "the". Empty for an id outside the vocabulary. Cached per id.
     */
    public String tokenString(int id) {
        if (id < 0 || id >= vocab.size()) {
            return "";
        }
        String s = tokenStrings.get(id);
        if (s == null) {
            s = decodeRaw(new int[] {id}, 0, 1, false);
            tokenStrings.set(id, s);
        }
        return s;
    }

    /**
     * The bytes of one token as OpenAI's logprobs report them: what the token contributes to the UTF-8 text, so
     * that the bytes of consecutive tokens join into the text even where a character spans several tokens
     * ({@link #tokenString} gives "\uFFFD" for each part). "Ġhello" gives " hello", "<0xE4>" gives E4, "▁the"
     * gives " the", a special token its text. Empty outside the vocabulary. Cached per id; do not modify.
     */
    public byte[] tokenBytes(int id) {
        if (id < 0 || id >= vocab.size()) {
            return new byte[0];
        }
        byte[] b = tokenBytes.get(id);
        if (b == null) {
            b = vocab.bytes(id);
            tokenBytes.set(id, b);
        }
        return b;
    }

    /** The raw vocabulary piece of an id ("Ġhello", "▁the", "<0x0A>"), or null outside the vocabulary. */
    public String tokenPiece(int id) {
        return vocab.piece(id);
    }

    /** The id of a raw vocabulary piece or added token (e.g. {@code "<|eot_id|>"}), if there is one. */
    public OptionalInt tokenId(String token) {
        int id = vocab.id(token);
        return id < 0 ? OptionalInt.empty() : OptionalInt.of(id);
    }

    /** {@code bos_token} of tokenizer_config.json, or null if the model has none. */
    public String bosToken() {
        return bosToken;
    }

    /** Id of {@link #bosToken()}, or -1. */
    public int bosTokenId() {
        return bosTokenId;
    }

    /** {@code eos_token} of tokenizer_config.json, or null if the model has none. */
    public String eosToken() {
        return eosToken;
    }

    /** Id of {@link #eosToken()}, or -1. */
    public int eosTokenId() {
        return eosTokenId;
    }

    /**
     * Ids that end generation: generation_config.json's {@code eos_token_id} (an int or a list;
     * config.json's when there is no generation_config.json) followed by {@link #eosTokenId()},
     * without duplicates. A fresh copy.
     */
    public int[] eosTokenIds() {
        return eosTokenIds.clone();
    }

    /** Whether {@code id} is a {@code <0xHH>} byte piece that a ByteFallback decoder decodes run by run. */
    boolean isByteFallbackToken(int id) {
        return vocab.isByteFallback(id);
    }

    /** Whether {@code id} is an added token flagged special (what {@code skip_special_tokens} drops). */
    public boolean isSpecial(int id) {
        return vocab.isSpecial(id);
    }

    /** Frees the native tokenizer; waits for calls in flight. Idempotent. */
    @Override
    public void close() {
        lock.writeLock().lock();
        try {
            if (!closed) {
                closed = true;
                djl.close();
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    @Override
    public String toString() {
        return "Tokenizer[" + modelDir + ", vocab " + vocab.size() + ", eos " + Arrays.toString(eosTokenIds) + "]";
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("tokenizer of " + modelDir + " is closed");
        }
    }

    /** transformers' {@code clean_up_tokenization}. */
    static String cleanUpTokenization(String text) {
        return text.replace(" .", ".")
                .replace(" ?", "?")
                .replace(" !", "!")
                .replace(" ,", ",")
                .replace(" ' ", "'")
                .replace(" n't", "n't")
                .replace(" 'm", "'m")
                .replace(" 's", "'s")
                .replace(" 've", "'ve")
                .replace(" 're", "'re");
    }

    private static String replaceLoneSurrogates(String s) {
        StringBuilder sb = null;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            boolean lone;
            if (Character.isHighSurrogate(c)) {
                lone = i + 1 >= s.length() || !Character.isLowSurrogate(s.charAt(i + 1));
                if (!lone) {
                    if (sb != null) {
                        sb.append(c).append(s.charAt(i + 1));
                    }
                    i++;
                    continue;
                }
            } else {
                lone = Character.isLowSurrogate(c);
            }
            if (lone && sb == null) {
                sb = new StringBuilder(s.length()).append(s, 0, i);
            }
            if (sb != null) {
                sb.append(lone ? '\uFFFD' : c);
            }
        }
        return sb == null ? s : sb.toString();
    }
}
