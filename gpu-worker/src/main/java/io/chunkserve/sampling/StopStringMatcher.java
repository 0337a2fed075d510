package io.chunkserve.sampling;

import java.util.List;

/**
 * Streaming stop-string detection over detokenized text deltas, with OpenAI semantics: the
 * output ends right before the first stop string, which itself is never emitted, and nothing
 * after it is ever emitted.
 *
 * <h2>Guarantee</h2>
 * For any split of a text into deltas, the concatenation of everything returned by
 * {@link #push} and {@link #flush} is the same: the text cut before the <em>earliest</em>
 * occurrence (smallest start index) of any stop string, or the whole text if none occurs.
 *
 * <h2>How</h2>
 * Unemitted text is kept in a buffer. After each delta, let {@code c} be the earliest start of a
 * complete stop occurrence in the buffer and {@code q} the earliest position whose suffix is a
 * proper prefix of some stop string (a match that more text could still complete).
 * <ul>
 *   <li>If a complete occurrence exists and no partial match starts before it, no earlier stop
 *       is possible any more: emit the buffer up to {@code c}; the matcher is stopped.</li>
 *   <li>Otherwise emit the buffer up to {@code min(q, c)} and hold the rest. No position before
 *       {@code q} can start a stop string, whatever follows, so emitted text is final.</li>
 * </ul>
 * The hold-back is bounded by the longest stop string (plus the delta). A consequence of the
 * "earliest occurrence" guarantee: with stop strings {@code "ab"} and {@code "xabc"}, after
 * {@code "xab"} the matcher does not stop yet, because {@code "xabc"} starting earlier may still
 * complete; it decides at the next delta (or at {@link #flush}). Callers should therefore keep
 * generating until {@link Result#stopped()} — the decision may come one delta late only in such
 * nested configurations. A trailing unpaired high surrogate is also held back, so emitted text
 * never splits a surrogate pair that arrives across two deltas.
 *
 * <p>Cost per delta: O((held + delta) · Σ|stop|) with tiny constants; stop lists are at most 4
 * strings (OpenAI). Not thread-safe.
 */
public final class StopStringMatcher {

    /**
     * The outcome of one {@link #push}.
     *
     * @param text       text that is safe to emit now (possibly empty, never null)
     * @param stopped    whether a stop string has completed (now or earlier)
     * @param stopString the stop string that matched, or {@code null} (vLLM's {@code stop_reason})
     */
    public record Result(String text, boolean stopped, String stopString) {
        static final Result EMPTY = new Result("", false, null);
    }

    private final String[] stops;
    private final StringBuilder held = new StringBuilder();
    private String matched;
    private boolean stopped;

    /** @param stopStrings non-empty strings; an empty list makes the matcher a pass-through */
    public StopStringMatcher(List<String> stopStrings) {
        this.stops = stopStrings.toArray(new String[0]);
        for (String s : stops) {
            if (s == null || s.isEmpty()) {
                throw new IllegalArgumentException("stop sequences must be non-empty strings");
            }
        }
    }

    /** A matcher for {@link SamplingParams#stop()}. */
    public static StopStringMatcher of(SamplingParams params) {
        return new StopStringMatcher(params.stop());
    }

    /** Whether a stop string has been found. */
    public boolean isStopped() {
        return stopped;
    }

    /** The stop string that ended the output, or {@code null}. */
    public String stopString() {
        return matched;
    }

    /**
     * Adds a text delta and returns what can be emitted now. After a stop, every call returns
     * empty text with {@code stopped = true}.
     */
    public Result push(String delta) {
        if (stopped) return new Result("", true, matched);
        if (delta == null || delta.isEmpty()) return Result.EMPTY;
        if (stops.length == 0 && held.isEmpty()) return emitAllButSurrogate(delta);
        held.append(delta);
        return decide(false);
    }

    /**
     * End of generation: returns the rest of the held text (cut before a stop string if one
     * completed) and clears the buffer. Returns "" after a stop.
     */
    public String flush() {
        if (stopped) return "";
        return decide(true).text();
    }

    private Result decide(boolean atEnd) {
        int len = held.length();
        int complete = Integer.MAX_VALUE;
        String which = null;
        for (String s : stops) {
            int at = held.indexOf(s);
            if (at >= 0 && (at < complete || (at == complete && s.length() < which.length()))) {
                complete = at;
                which = s;
            }
        }
        int partial = atEnd ? len : earliestPartial(Math.min(complete, len));
        if (which != null && partial >= complete) {
            String out = held.substring(0, complete);
            held.setLength(0);
            stopped = true;
            matched = which;
            return new Result(out, true, which);
        }
        int emit = Math.min(partial, complete);
        if (!atEnd && emit > 0 && emit == len && Character.isHighSurrogate(held.charAt(emit - 1))) {
            emit--; // keep a possibly split surrogate pair together
        }
        if (emit == 0) return Result.EMPTY;
        String out = held.substring(0, emit);
        held.delete(0, emit);
        return new Result(out, false, null);
    }

    /**
     * The smallest p &lt; limit such that held[p ..] is a proper prefix of some stop string,
     * or {@code limit} if none. Only the last (max stop length − 1) positions can qualify.
     */
    private int earliestPartial(int limit) {
        int len = held.length();
        int best = limit;
        for (String s : stops) {
            int from = Math.max(0, len - s.length() + 1);
            for (int p = from; p < best; p++) {
                if (regionMatches(p, s, len - p)) {
                    best = p;
                    break;
                }
            }
        }
        return best;
    }

    private boolean regionMatches(int p, String s, int count) {
        for (int i = 0; i < count; i++) {
            if (held.charAt(p + i) != s.charAt(i)) return false;
        }
        return true;
    }

    private Result emitAllButSurrogate(String delta) {
        int n = delta.length();
        if (Character.isHighSurrogate(delta.charAt(n - 1))) {
            held.append(delta.charAt(n - 1));
            return n == 1 ? Result.EMPTY : new Result(delta.substring(0, n - 1), false, null);
        }
        return new Result(delta, false, null);
    }
}
