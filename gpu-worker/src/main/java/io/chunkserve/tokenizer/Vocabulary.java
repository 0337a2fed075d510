package io.chunkserve.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;

/**
 * The id ↔ token-piece table of a Hugging Face {@code tokenizer.json}: the model's vocabulary
 * (BPE, WordPiece and WordLevel keep a {@code {piece: id}} object, Unigram a list of
 * {@code [piece, score]} pairs whose index is the id) plus the {@code added_tokens}, with their
 * {@code special} flag. DJL's binding exposes none of this, so it is read from the JSON.
 * Immutable once built.
 */
final class Vocabulary {

    private final String[] pieces;
    private final boolean[] special;
    private final Map<String, Integer> ids;
    private final boolean[] byteFallback;
    private final boolean[] added;
    /** Whether the decoder is byte-level (GPT-2 style: each piece char stands for one byte). */
    private final boolean byteLevel;

    /** GPT-2's bytes_to_unicode, inverted: the byte a byte-level piece char stands for, or -1. */
    private static final int[] BYTE_OF_CHAR = new int[324];

    static {
        java.util.Arrays.fill(BYTE_OF_CHAR, -1);
        int n = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            BYTE_OF_CHAR[printable ? b : 256 + n++] = b;
        }
    }

    private Vocabulary(String[] pieces, boolean[] special, boolean[] added, Map<String, Integer> ids, boolean usesByteFallback,
                       boolean byteLevel) {
        this.pieces = pieces;
        this.special = special;
        this.added = added;
        this.ids = ids;
        this.byteLevel = byteLevel;
        this.byteFallback = new boolean[pieces.length];
        if (usesByteFallback) {
            for (int i = 0; i < pieces.length; i++) {
                byteFallback[i] = !special[i] && isBytePiece(pieces[i]);
            }
        }
    }

    /** Rust's ByteFallback test: exactly six chars "<0xHH>" with a hex byte. */
    private static boolean isBytePiece(String piece) {
        return piece != null && piece.length() == 6 && piece.startsWith("<0x") && piece.endsWith(">")
                && Character.digit(piece.charAt(3), 16) >= 0 && Character.digit(piece.charAt(4), 16) >= 0;
    }

    /** Whether the tokenizer's decoder (or its model) uses byte fallback ({@code <0xHH>} pieces). */
    private static boolean usesByteFallback(JsonNode root) {
        if (root.path("model").path("byte_fallback").asBoolean(false)) {
            return true;
        }
        return containsDecoder(root.path("decoder"), "ByteFallback");
    }

    private static boolean containsDecoder(JsonNode decoder, String type) {
        if (decoder.isObject()) {
            if (type.equals(decoder.path("type").asText())) {
                return true;
            }
            for (JsonNode child : decoder.path("decoders")) {
                if (containsDecoder(child, type)) {
                    return true;
                }
            }
        }
        return false;
    }

    /** Builds the table from a parsed {@code tokenizer.json}; throws IllegalArgumentException on an unknown layout. */
    static Vocabulary fromTokenizerJson(JsonNode root) {
        Map<String, Integer> ids = new HashMap<>();
        Map<Integer, Boolean> specialIds = new HashMap<>();
        JsonNode vocab = root.path("model").path("vocab");
        if (vocab.isObject()) {
            for (Iterator<Map.Entry<String, JsonNode>> it = vocab.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                if (!e.getValue().canConvertToInt()) {
                    throw new IllegalArgumentException("model.vocab entry '" + e.getKey() + "' has no integer id");
                }
                ids.put(e.getKey(), e.getValue().intValue());
            }
        } else if (vocab.isArray()) {
            int i = 0;
            for (JsonNode pair : vocab) {
                JsonNode piece = pair.isArray() ? pair.path(0) : pair;
                if (!piece.isTextual()) {
                    throw new IllegalArgumentException("model.vocab entry " + i + " is not [piece, score]");
                }
                ids.putIfAbsent(piece.asText(), i);
                i++;
            }
        } else {
            throw new IllegalArgumentException("tokenizer.json has no model.vocab");
        }
        for (JsonNode added : root.path("added_tokens")) {
            if (!added.path("content").isTextual() || !added.path("id").canConvertToInt()) {
                throw new IllegalArgumentException("added_tokens entry without content/id: " + added);
            }
            int id = added.get("id").intValue();
            ids.put(added.get("content").asText(), id);
            specialIds.put(id, added.path("special").asBoolean(false));
        }
        int max = -1;
        for (int id : ids.values()) {
            if (id < 0) {
                throw new IllegalArgumentException("negative token id " + id + " in tokenizer.json");
            }
            max = Math.max(max, id);
        }
        String[] pieces = new String[max + 1];
        for (Map.Entry<String, Integer> e : ids.entrySet()) {
            pieces[e.getValue()] = e.getKey();
        }
        for (JsonNode added : root.path("added_tokens")) {
            // an added token that re-uses a model id wins, as in the Rust tokenizer
            pieces[added.get("id").intValue()] = added.get("content").asText();
        }
        boolean[] special = new boolean[max + 1], added = new boolean[max + 1];
        specialIds.forEach((id, sp) -> {
            special[id] = sp;
            added[id] = true;
        });
        return new Vocabulary(pieces, special, added, Map.copyOf(ids), usesByteFallback(root),
                containsDecoder(root.path("decoder"), "ByteLevel"));
    }

    /**
     * The bytes a token stands for, before any decoding into text: an added token's UTF-8 content, a
     * {@code <0xHH>} byte piece's byte, a byte-level piece's bytes (each char one byte), else the piece's UTF-8
     * with SentencePiece's "▁" as a space. A token holding part of a multi-byte character gives just those bytes
     * (its decoded text is U+FFFD). Empty for an unused id.
     */
    byte[] bytes(int id) {
        String p = piece(id);
        if (p == null) {
            return new byte[0];
        }
        if (added[id]) {
            return p.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        }
        if (byteFallback[id]) {
            return new byte[] {(byte) Integer.parseInt(p.substring(3, 5), 16)};
        }
        if (byteLevel) {
            byte[] out = new byte[p.length()];
            boolean mapped = true;
            for (int i = 0; i < p.length() && mapped; i++) {
                char c = p.charAt(i);
                int b = c < BYTE_OF_CHAR.length ? BYTE_OF_CHAR[c] : -1;
                mapped = b >= 0;
                out[i] = (byte) b;
            }
            if (mapped) {
                return out;
            }
        }
        return p.replace('\u2581', ' ').getBytes(java.nio.charset.StandardCharsets.UTF_8);
    }

    /** Highest id + 1: the size of an id-indexed table (HF's {@code len(tokenizer)} for contiguous ids). */
    int size() {
        return pieces.length;
    }

    /** The raw piece of an id ("Ġhello", "▁the", "<0x0A>", "<|eot_id|>"), or null if the id is unused. */
    String piece(int id) {
        return id >= 0 && id < pieces.length ? pieces[id] : null;
    }

    /** The id of a raw piece, or -1. */
    int id(String piece) {
        Integer id = ids.get(piece);
        return id == null ? -1 : id;
    }

    /**
     * Whether the id is a byte-fallback piece ({@code <0xHH>}) of a tokenizer that decodes with
     * ByteFallback: such a decoder turns a run of byte pieces into text as a whole.
     */
    boolean isByteFallback(int id) {
        return id >= 0 && id < byteFallback.length && byteFallback[id];
    }

    /** Whether the id is an added token flagged {@code special}. */
    boolean isSpecial(int id) {
        return id >= 0 && id < special.length && special[id];
    }
}
