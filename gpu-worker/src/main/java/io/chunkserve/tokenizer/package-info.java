/**
 * Text in and out of a model, as Hugging Face does it.
 *
 * <ul>
 *   <li>{@link io.chunkserve.tokenizer.Tokenizer}: {@code tokenizer.json} run by the reference Rust
 *       implementation through DJL (offline, no truncation or padding, thread-safe,
 *       {@link java.lang.AutoCloseable});</li>
 *   <li>{@link io.chunkserve.tokenizer.IncrementalDetokenizer}: streaming text for one sequence,
 *       never a broken character, reassembling exactly to {@code decode(ids)};</li>
 *   <li>{@link io.chunkserve.tokenizer.ChatTemplate} and {@link io.chunkserve.tokenizer.ChatMessage}:
 *       {@code apply_chat_template} on Jinjava with a Jinja2/Python compatibility layer;
 *       failures are {@link io.chunkserve.tokenizer.ChatTemplateException}s.</li>
 * </ul>
 *
 * <p>Typical use: {@code prompt = template.render(messages, true, Map.of())},
 * {@code ids = tokenizer.encode(prompt, false)} (chat templates already contain the BOS token),
 * then one {@code IncrementalDetokenizer} per generated sequence, stopping at any of
 * {@code tokenizer.eosTokenIds()}.
 */
package io.chunkserve.tokenizer;
