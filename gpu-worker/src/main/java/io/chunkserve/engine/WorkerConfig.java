package io.chunkserve.engine;

import io.chunkserve.engine.sched.SchedulerConfig;
import io.chunkserve.model.DType;

import java.nio.file.Path;

/**
 * How to start a {@link Worker}.
 *
 * @param modelDir   Hugging Face model directory
 * @param threads    CPU compute threads
 * @param chunkSize  KV chunk size in tokens (16, 32, 64, 128)
 * @param kvBytes    KV pool size in bytes
 * @param kvDtype    KV element type (f32, f16, bf16), or null for auto: {@link #autoKvDtype} of the checkpoint
 * @param engine     batching limits
 * @param scheduler  local scheduling policy name (dlpm, vtc, lpm, fcfs)
 * @param quantum    DLPM quantum Q_u (tokens of service)
 * @param device     where the model runs: "cpu", "cuda" (fails with one line when there is no usable GPU) or
 *                   "auto" (CUDA when a device and the kernels are there, else the CPU)
 */
public record WorkerConfig(Path modelDir, int threads, int chunkSize, long kvBytes, DType kvDtype, EngineConfig engine,
                           String scheduler, double quantum, String device) {

    public WorkerConfig {
        device = device == null ? "cpu" : device.trim().toLowerCase(java.util.Locale.ROOT);
        if (!device.equals("cpu") && !device.equals("cuda") && !device.equals("auto")) {
            throw new IllegalArgumentException("unknown device '" + device + "' (use cpu, cuda or auto)");
        }
    }

    /** On the CPU. */
    public WorkerConfig(Path modelDir, int threads, int chunkSize, long kvBytes, DType kvDtype, EngineConfig engine,
                        String scheduler, double quantum) {
        this(modelDir, threads, chunkSize, kvBytes, kvDtype, engine, scheduler, quantum, "cpu");
    }

    public static WorkerConfig defaults(Path modelDir) {
        return new WorkerConfig(modelDir, Runtime.getRuntime().availableProcessors(), 64, 256L << 20, null,
                EngineConfig.defaults(), "dlpm", SchedulerConfig.DEFAULT_QUANTUM);
    }

    public WorkerConfig withKvBytes(long bytes) {
        return new WorkerConfig(modelDir, threads, chunkSize, bytes, kvDtype, engine, scheduler, quantum, device);
    }

    public WorkerConfig withChunkSize(int c) {
        return new WorkerConfig(modelDir, threads, c, kvBytes, kvDtype, engine, scheduler, quantum, device);
    }

    public WorkerConfig withEngine(EngineConfig e) {
        return new WorkerConfig(modelDir, threads, chunkSize, kvBytes, kvDtype, e, scheduler, quantum, device);
    }

    public WorkerConfig withScheduler(String name, double q) {
        return new WorkerConfig(modelDir, threads, chunkSize, kvBytes, kvDtype, engine, name, q, device);
    }

    public WorkerConfig withDevice(String d) {
        return new WorkerConfig(modelDir, threads, chunkSize, kvBytes, kvDtype, engine, scheduler, quantum, d);
    }

    /**
     * The KV element type "auto" picks for a checkpoint stored in {@code weights}: f32 for an f32 checkpoint (the
     * reference arithmetic), else bf16 — the model's own precision, half the bytes of f32 (a KV pool of the same size
     * holds twice the tokens, and a decode step reads half the KV bytes), the type the CUDA backend keeps too. An f16
     * checkpoint also gets bf16: bf16 has f32's exponent range, and the CPU's one-token decode path reads it in
     * registers (f16 takes the general path).
     */
    public static DType autoKvDtype(DType weights) {
        return weights == DType.F32 ? DType.F32 : DType.BF16;
    }

    /** The KV element type for a checkpoint stored in {@code weights}: the configured one, or {@link #autoKvDtype}. */
    public DType kvDtypeFor(DType weights) {
        return kvDtype != null ? kvDtype : autoKvDtype(weights);
    }

    /** d null: auto. */
    public WorkerConfig withKvDtype(DType d) {
        return new WorkerConfig(modelDir, threads, chunkSize, kvBytes, d, engine, scheduler, quantum, device);
    }
}
