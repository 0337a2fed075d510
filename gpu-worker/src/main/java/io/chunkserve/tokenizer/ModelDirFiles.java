package io.chunkserve.tokenizer;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Reading the small JSON and text files of a Hugging Face model directory, with one-line errors. */
final class ModelDirFiles {

    static final ObjectMapper JSON = new ObjectMapper();

    private ModelDirFiles() {}

    /** Checks that {@code modelDir} is a directory; throws IllegalArgumentException otherwise. */
    static void requireDirectory(Path modelDir) {
        if (modelDir == null) {
            throw new IllegalArgumentException("model directory is null");
        }
        if (!Files.isDirectory(modelDir)) {
            throw new IllegalArgumentException("model directory " + modelDir + " does not exist or is not a directory");
        }
    }

    /** Reads a UTF-8 text file strictly (malformed UTF-8 is an error); throws IllegalArgumentException. */
    static String readText(Path file) {
        try {
            byte[] bytes = Files.readAllBytes(file);
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(java.nio.ByteBuffer.wrap(bytes))
                    .toString();
        } catch (CharacterCodingException e) {
            throw new IllegalArgumentException(file + " is not valid UTF-8");
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read " + file + ": " + oneLine(e));
        }
    }

    /** Parses a JSON file; null if it does not exist; IllegalArgumentException if unreadable or corrupt. */
    static JsonNode readJsonIfExists(Path file) {
        if (!Files.exists(file)) {
            return null;
        }
        return parseJson(file, readText(file));
    }

    /** Parses JSON text that came from {@code file}; IllegalArgumentException (one line) if corrupt. */
    static JsonNode parseJson(Path file, String text) {
        try {
            JsonNode node = JSON.readTree(text);
            if (node == null || node.isMissingNode()) {
                throw new IllegalArgumentException(file + " is empty");
            }
            return node;
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(file + " is not valid JSON: " + oneLine(e.getOriginalMessage()));
        }
    }

    /** A special-token entry of tokenizer_config.json: a string or an AddedToken object {"content": ...}; else null. */
    static String tokenText(JsonNode node) {
        if (node == null || node.isNull() || node.isMissingNode()) {
            return null;
        }
        if (node.isTextual()) {
            return node.asText();
        }
        if (node.isObject() && node.path("content").isTextual()) {
            return node.get("content").asText();
        }
        return null;
    }

    /** The first line of a throwable's message (or its class name), for one-line error messages. */
    static String oneLine(Throwable t) {
        String m = t.getMessage();
        return m == null || m.isBlank() ? t.getClass().getSimpleName() : oneLine(m);
    }

    /** The first line of a message, trimmed. */
    static String oneLine(String message) {
        if (message == null) {
            return "";
        }
        int nl = message.indexOf('\n');
        return (nl < 0 ? message : message.substring(0, nl)).strip();
    }
}
