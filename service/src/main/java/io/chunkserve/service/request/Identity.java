package io.chunkserve.service.request;

/** The rules for {@code model} and {@code user}, the same on every front end. */
public final class Identity {
    /** Longest {@code user} accepted (it names a tenant in logs and metrics). */
    public static final int MAX_USER_CHARS = 256;

    private Identity() { }

    /** Refuses a {@code model} other than the served one; null means "the served model". */
    public static void checkModel(String model, String served) {
        if (model != null && !model.equals(served)) {
            throw new InvalidParameter("The model `" + model + "` does not exist. This server serves `" + served + "`.", "model",
                    InvalidParameter.MODEL_NOT_FOUND);
        }
    }

    /** Refuses a {@code user} too long to name a tenant; returns it. */
    public static String checkUser(String user) {
        if (user != null && user.length() > MAX_USER_CHARS) {
            throw InvalidParameter.of("'user' must be at most " + MAX_USER_CHARS + " characters", "user");
        }
        return user;
    }
}
