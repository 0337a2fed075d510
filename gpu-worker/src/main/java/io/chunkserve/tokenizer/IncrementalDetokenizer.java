package io.chunkserve.tokenizer;

import java.util.Arrays;
import java.util.Objects;

/**
 * Turns one sequence's generated token ids into text as they arrive, for streaming.
 *
 * <p>Works like vLLM's and TGI's incremental detokenization: it keeps a <i>prefix offset</i> and a
 * <i>read offset</i> into the ids, decodes the window {@code ids[prefix:read]} (text already
 * emitted) and {@code ids[prefix:]} (that plus the new tokens), and emits the difference. Decoding
 * a window that starts a few tokens back, rather than the new token alone, keeps the text right
 * for decoders whose output for a token depends on its neighbours (SentencePiece's leading-space
 * {@code ▁} handling and its {@code Strip} of the first space, byte fallback, byte-level BPE's
 * multi-token characters). While the decoded window ends in U+FFFD (an incomplete UTF-8 sequence,
 * e.g. the first bytes of an emoji or of a CJK character split across tokens) nothing is emitted;
 * the bytes are held back until the character completes. With a byte-fallback tokenizer
 * (Llama 2, Mistral) a run of {@code <0xHH>} tokens is held back until the run ends (the next
 * non-byte token, or {@code flush}): HF's ByteFallback decoder decodes a run as a whole, and one
 * invalid byte anywhere in it turns all of the run's bytes, valid characters included, into U+FFFD,
 * so text emitted earlier could otherwise disagree with the final decode.
 *
 * <p>{@link #flush()} ends the sequence and returns what was held back, so that the concatenation
 * of all {@link #push} results and {@code flush()} equals {@code tokenizer.decode(allIds,
 * skipSpecialTokens)} (when the tokenizer does not {@linkplain Tokenizer#cleansUpTokenizationSpaces()
 * clean up tokenization spaces}, which only a whole-text decode can do). A U+FFFD is emitted only
 * where the whole decode has one too (bytes that never complete a character).
 *
 * <p>One instance per sequence; not thread-safe (a sequence's tokens arrive in order). Each push
 * costs one native decode of a short window.
 */
public final class IncrementalDetokenizer {

    private static final char REPLACEMENT = '\uFFFD';

    private final Tokenizer tokenizer;
    private final boolean skipSpecialTokens;
    private int[] ids = new int[64];
    private int count;
    private int prefixOffset;
    private int readOffset;
    private String prefixText = "";
    private boolean prefixTextValid = true;
    private final StringBuilder emitted = new StringBuilder();
    private boolean finished;

    /**
     * @param tokenizer the sequence's tokenizer
     * @param skipSpecialTokens drop special tokens from the text (HF's {@code skip_special_tokens})
     */
    public IncrementalDetokenizer(Tokenizer tokenizer, boolean skipSpecialTokens) {
        this.tokenizer = Objects.requireNonNull(tokenizer, "tokenizer");
        this.skipSpecialTokens = skipSpecialTokens;
    }

    /**
     * Adds the next generated token and returns the text it completes: possibly "" (a token held
     * back as part of an unfinished character, a skipped special token, a token that decodes to
     * nothing yet), possibly more than one token's worth (held-back bytes completing).
     *
     * @throws IllegalStateException after {@link #flush()}
     */
    public String push(int tokenId) {
        if (finished) {
            throw new IllegalStateException("push after flush");
        }
        if (skipSpecialTokens && tokenizer.isSpecial(tokenId)) {
            // decode(ids, skip=true) drops special ids before running the decoder, so leaving them
            // out here gives the same text and keeps the windows free of empty prefixes
            return "";
        }
        if (count == ids.length) {
            ids = Arrays.copyOf(ids, count * 2);
        }
        ids[count++] = tokenId;
        if (tokenizer.isByteFallbackToken(tokenId)) {
            return ""; // the byte run may still be invalidated; its text is final when it ends
        }
        if (!prefixTextValid) {
            prefixText = tokenizer.decodeRaw(ids, prefixOffset, readOffset, skipSpecialTokens);
            prefixTextValid = true;
        }
        String newText = tokenizer.decodeRaw(ids, prefixOffset, count, skipSpecialTokens);
        if (newText.length() > prefixText.length()
                && newText.charAt(newText.length() - 1) != REPLACEMENT
                && newText.startsWith(prefixText)) {
            String delta = newText.substring(prefixText.length());
            prefixOffset = readOffset;
            readOffset = count;
            prefixTextValid = false;
            emitted.append(delta);
            return delta;
        }
        return "";
    }

    /**
     * Ends the sequence: returns the text not yet emitted (held-back bytes, now decoded with U+FFFD
     * where they never completed a character). Later calls return "".
     */
    public String flush() {
        if (finished) {
            return "";
        }
        finished = true;
        String full = tokenizer.decodeRaw(ids, 0, count, skipSpecialTokens);
        String rest;
        if (full.startsWith(emitted.toString())) {
            rest = full.substring(emitted.length());
        } else {
            // cannot happen with prefix-stable decoders (all BPE / SentencePiece ones); fall back
            // to the window difference rather than repeat text
            String tail = tokenizer.decodeRaw(ids, prefixOffset, count, skipSpecialTokens);
            String prefix = prefixTextValid ? prefixText
                    : tokenizer.decodeRaw(ids, prefixOffset, readOffset, skipSpecialTokens);
            rest = tail.startsWith(prefix) ? tail.substring(prefix.length()) : "";
        }
        emitted.append(rest);
        return rest;
    }

    /** All text returned so far by {@link #push} and {@link #flush}. */
    public String text() {
        return emitted.toString();
    }

    /** Number of tokens pushed (skipped special tokens not counted when skipping). */
    public int tokenCount() {
        return count;
    }

    /** Whether {@link #flush()} was called. */
    public boolean isFinished() {
        return finished;
    }
}
