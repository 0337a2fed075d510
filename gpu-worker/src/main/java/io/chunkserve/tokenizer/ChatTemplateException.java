package io.chunkserve.tokenizer;

/**
 * A chat template could not be loaded or rendered: a syntax error, an expression that failed, or
 * the template's own {@code raise_exception(message)} (then {@link #raisedByTemplate()} is true and
 * the message is exactly the template's, e.g. "Conversation roles must alternate
 * user/assistant/user/assistant/..."). Messages are one line.
 */
public class ChatTemplateException extends RuntimeException {

    private final boolean raisedByTemplate;

    /** An error in or while rendering the template. */
    public ChatTemplateException(String message) {
        this(message, false, null);
    }

    /** An error with its cause. */
    public ChatTemplateException(String message, Throwable cause) {
        this(message, false, cause);
    }

    ChatTemplateException(String message, boolean raisedByTemplate, Throwable cause) {
        super(message, cause);
        this.raisedByTemplate = raisedByTemplate;
    }

    /** Whether the template itself called {@code raise_exception}: the request, not the template, is wrong. */
    public boolean raisedByTemplate() {
        return raisedByTemplate;
    }
}
