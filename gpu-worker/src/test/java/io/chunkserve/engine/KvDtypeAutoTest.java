package io.chunkserve.engine;

import io.chunkserve.Fixtures;
import io.chunkserve.model.DType;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/** kv_dtype auto (the default): the KV cache takes the checkpoint's precision — f32 for f32, bf16 for bf16 and f16. */
class KvDtypeAutoTest {
    @Test
    void autoFollowsTheCheckpoint() {
        assertEquals(DType.F32, WorkerConfig.autoKvDtype(DType.F32));
        assertEquals(DType.BF16, WorkerConfig.autoKvDtype(DType.BF16));
        assertEquals(DType.BF16, WorkerConfig.autoKvDtype(DType.F16));
        WorkerConfig d = WorkerConfig.defaults(Fixtures.model("tiny-llama3"));
        assertNull(d.kvDtype(), "the default is auto");
        assertEquals(DType.BF16, d.kvDtypeFor(DType.BF16));
        assertEquals(DType.F16, d.withKvDtype(DType.F16).kvDtypeFor(DType.BF16), "a configured type wins");
        assertEquals(DType.F32, d.withKvDtype(DType.F32).kvDtypeFor(DType.BF16));
    }

    @Test
    void workersPickTheirPoolTypeFromTheCheckpoint() {
        String[] models = {"tiny-llama3", "tiny-llama3-bf16", "tiny-llama3-f16"};
        DType[] want = {DType.F32, DType.BF16, DType.BF16};
        int[] chunks = new int[models.length];
        for (int i = 0; i < models.length; i++) {
            try (Worker w = Worker.start(WorkerConfig.defaults(Fixtures.model(models[i])).withKvBytes(4L << 20).withChunkSize(16))) {
                assertEquals(want[i], w.kvLayout().dtype(), models[i]);
                chunks[i] = w.kvChunks();
            }
        }
        // the pool is sized in bytes: a bf16 pool holds twice the chunks of an f32 one (same model shape)
        assertEquals(2 * chunks[0], chunks[1]);
        assertEquals(chunks[1], chunks[2]);
        try (Worker w = Worker.start(WorkerConfig.defaults(Fixtures.model("tiny-llama3-bf16")).withKvBytes(4L << 20).withChunkSize(16)
                .withKvDtype(DType.F32))) {
            assertEquals(DType.F32, w.kvLayout().dtype());
        }
    }
}
