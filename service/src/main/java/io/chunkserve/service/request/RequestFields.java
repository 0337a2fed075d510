package io.chunkserve.service.request;

import java.util.List;
import java.util.Map;

/**
 * Typed reads of a request's fields by their OpenAI wire name, whatever carried them (a JSON body
 * or message, a protobuf message). A field that is absent, JSON {@code null} or an unset protobuf
 * field reads as Java null; a value of the wrong type throws {@link InvalidParameter} naming it.
 * Range checks belong to the caller. A source without some field reads it as absent.
 */
public interface RequestFields {
    /** Whether the field is present with a value other than null. */
    boolean has(String name);

    /** A number (integral or not) as a double. */
    Double number(String name);

    /** An integral number; one beyond 64 bits throws {@link InvalidParameter#outOfRange}. */
    Long integer(String name);

    Boolean bool(String name);

    /** A string or a list of strings, as a list ({@code stop}). */
    List<String> strings(String name);

    /** A list of integral numbers ({@code stop_token_ids}). */
    List<Long> integers(String name);

    /** An object's entries ({@code logit_bias}). */
    Map<String, Object> map(String name);
}
