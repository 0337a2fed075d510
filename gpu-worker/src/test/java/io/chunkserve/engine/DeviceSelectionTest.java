package io.chunkserve.engine;

import io.chunkserve.Fixtures;
import io.chunkserve.runtime.cpu.CpuModelRunner;
import io.chunkserve.runtime.cuda.CudaDevice;
import io.chunkserve.runtime.cuda.CudaModelRunner;
import io.chunkserve.runtime.cuda.CudaUnavailableException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/** --device: cuda without a GPU fails with one line; auto falls back to the CPU; bad names are refused. */
class DeviceSelectionTest {
    static boolean cuda() {
        CudaDevice.Probe p = CudaDevice.tryOpen();
        if (p.available()) p.device().close();
        return p.available();
    }

    WorkerConfig cfg(String device) {
        return WorkerConfig.defaults(Fixtures.model("tiny-llama3")).withKvBytes(4L << 20).withChunkSize(16).withDevice(device);
    }

    @Test
    void cudaWithoutAGpuFailsWithOneLine() {
        assumeFalse(cuda(), "a GPU is present");
        CudaUnavailableException e = assertThrows(CudaUnavailableException.class, () -> Worker.start(cfg("cuda")).close());
        assertTrue(e.getMessage().startsWith("CUDA unavailable: "), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
    }

    @Test
    void autoUsesTheGpuWhenThereIsOneElseTheCpu() {
        try (Worker w = Worker.start(cfg("auto"))) {
            if (cuda() && io.chunkserve.kernels.KernelImages.model().isPresent()) assertInstanceOf(CudaModelRunner.class, w.runner());
            else assertInstanceOf(CpuModelRunner.class, w.runner());
        }
    }

    @Test
    void unknownDeviceIsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> cfg("tpu"));
        assertTrue(e.getMessage().contains("cpu, cuda or auto"), e.getMessage());
    }
}
