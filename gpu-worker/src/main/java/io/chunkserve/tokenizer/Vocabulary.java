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

    private Vocabulary(String[] pieces, boolean[] special, Map<String, Integer> ids, boolean usesByteFallback) {
        this.pieces = pieces;
        this.special = special;
        this.ids = ids;
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
        boolean[] special = new boolean[max + 1];
        specialIds.forEach((id, sp) -> special[id] = sp);
        return new Vocabulary(pieces, special, Map.copyOf(ids), usesByteFallback(root));
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
