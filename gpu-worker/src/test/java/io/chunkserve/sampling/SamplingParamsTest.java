package io.chunkserve.sampling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class SamplingParamsTest {

    @Test
    void defaultsFollowOpenAi() {
        SamplingParams p = SamplingParams.builder().build();
        assertEquals(1.0, p.temperature());
        assertEquals(-1, p.topK());
        assertFalse(p.topKEnabled());
        assertEquals(1.0, p.topP());
        assertEquals(0.0, p.minP());
        assertNull(p.seed());
        assertEquals(1.0, p.repetitionPenalty());
        assertEquals(16, p.maxTokens());
        assertEquals(List.of(), p.stop());
        assertEquals(List.of(), p.stopTokenIds());
        assertEquals(1, p.n());
        assertFalse(p.isGreedy());
        assertFalse(p.hasPenalties());
    }

    @Test
    void greedyFactory() {
        SamplingParams p = SamplingParams.greedy(7);
        assertTrue(p.isGreedy());
        assertEquals(7, p.maxTokens());
        assertTrue(SamplingParams.builder().temperature(1e-6).build().isGreedy());
        assertFalse(SamplingParams.builder().temperature(1e-4).build().isGreedy());
    }

    @Test
    void boundaryValuesAreAccepted() {
        SamplingParams p = SamplingParams.builder().temperature(2).topP(1e-9).minP(1).topK(0)
                .presencePenalty(-2).frequencyPenalty(2).repetitionPenalty(1e-3).maxTokens(1)
                .stop("a", "b", "c", "d").stopTokenIds(List.of(0, 5)).logprobs(true)
                .topLogprobs(20).n(1).seed(-5L).build();
        assertEquals(List.of("a", "b", "c", "d"), p.stop());
        assertEquals(p, p.toBuilder().build());
        assertTrue(p.hasPenalties());
        assertFalse(SamplingParams.builder().topK(-1).build().topKEnabled());
        assertTrue(SamplingParams.builder().topK(3).build().topKEnabled());
    }

    @Test
    void listsAreDefensivelyCopiedAndImmutable() {
        List<String> stops = new ArrayList<>(List.of("x"));
        SamplingParams p = SamplingParams.builder().stop(stops).build();
        stops.add("y");
        assertEquals(List.of("x"), p.stop());
        assertThrows(UnsupportedOperationException.class, () -> p.stop().add("z"));
        assertEquals(List.of(), SamplingParams.builder().stop((List<String>) null).build().stop());
    }

    static Stream<Arguments> invalid() {
        return Stream.of(
                bad(b -> b.temperature(-0.1), "temperature must be in [0, 2], got -0.1"),
                bad(b -> b.temperature(2.01), "temperature must be in [0, 2], got 2.01"),
                bad(b -> b.temperature(Double.NaN), "temperature must be in [0, 2], got NaN"),
                bad(b -> b.topP(0), "top_p must be in (0, 1], got 0.0"),
                bad(b -> b.topP(1.5), "top_p must be in (0, 1], got 1.5"),
                bad(b -> b.minP(-0.01), "min_p must be in [0, 1], got -0.01"),
                bad(b -> b.minP(1.01), "min_p must be in [0, 1], got 1.01"),
                bad(b -> b.presencePenalty(2.5), "presence_penalty must be in [-2, 2], got 2.5"),
                bad(b -> b.frequencyPenalty(-3), "frequency_penalty must be in [-2, 2], got -3.0"),
                bad(b -> b.repetitionPenalty(0), "repetition_penalty must be a finite number > 0, got 0.0"),
                bad(b -> b.repetitionPenalty(Double.POSITIVE_INFINITY),
                        "repetition_penalty must be a finite number > 0, got Infinity"),
                bad(b -> b.maxTokens(0), "max_tokens must be at least 1, got 0"),
                bad(b -> b.stop("a", "b", "c", "d", "e"), "stop must contain at most 4 sequences, got 5"),
                bad(b -> b.stop("a", ""), "stop sequences must be non-empty strings"),
                bad(b -> b.stop(Arrays.asList("a", null)), "stop sequences must be non-empty strings"),
                bad(b -> b.stopTokenIds(List.of(3, -1)), "stop_token_ids must contain non-negative token ids, got -1"),
                bad(b -> b.logprobs(true).topLogprobs(21), "top_logprobs must be in [0, 20], got 21"),
                bad(b -> b.logprobs(true).topLogprobs(-1), "top_logprobs must be in [0, 20], got -1"),
                bad(b -> b.topLogprobs(3), "top_logprobs requires logprobs to be true"),
                bad(b -> b.n(0), "n must be at least 1, got 0"));
    }

    private static Arguments bad(UnaryOperator<SamplingParams.Builder> f, String message) {
        return Arguments.of(f, message);
    }

    @ParameterizedTest(name = "{1}")
    @MethodSource("invalid")
    void validationMessagesNameTheParameter(UnaryOperator<SamplingParams.Builder> f, String message) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> f.apply(SamplingParams.builder()).build());
        assertEquals(message, e.getMessage());
    }

    @Test
    void tokenLevelFinishReasons() {
        SamplingParams p = SamplingParams.builder().maxTokens(3).stopTokenIds(List.of(9)).build();
        assertNull(p.finishReasonAfter(5, 1, 2));
        assertEquals(FinishReason.STOP, p.finishReasonAfter(2, 1, 2));   // EOS
        assertEquals(FinishReason.STOP, p.finishReasonAfter(9, 1, 2));   // stop token id
        assertEquals(FinishReason.LENGTH, p.finishReasonAfter(5, 3, 2));
        assertEquals(FinishReason.STOP, p.finishReasonAfter(2, 3, 2));   // EOS wins over length
        SamplingParams ignore = p.toBuilder().ignoreEos(true).build();
        assertNull(ignore.finishReasonAfter(2, 1, 2));
        assertEquals(FinishReason.STOP, ignore.finishReasonAfter(9, 1, 2));
        assertNull(p.finishReasonAfter(0, 1, -1)); // no EOS id
    }

    @Test
    void finishReasonWireNames() throws Exception {
        assertEquals("\"stop\"", new ObjectMapper().writeValueAsString(FinishReason.STOP));
        assertEquals("length", FinishReason.LENGTH.openAiName());
        assertEquals("abort", FinishReason.ABORT.openAiName());
        assertEquals("error", FinishReason.ERROR.openAiName());
    }
}
