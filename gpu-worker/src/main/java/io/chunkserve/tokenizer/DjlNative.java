package io.chunkserve.tokenizer;

/**
 * Puts DJL's Hugging Face tokenizers binding into offline mode before its native library is
 * loaded.
 *
 * <p>What DJL 0.36 does when a tokenizer is first created ({@code ai.djl.huggingface.tokenizers.jni.LibUtils}):
 * it probes the platform (on a CUDA machine this loads {@code libcudart} through JNA and asks for
 * the device count and compute capability), then copies {@code native/lib/<os-arch>/<flavor>/libtokenizers.so}
 * out of the {@code tokenizers} jar into {@code $DJL_CACHE_DIR/tokenizers/<version>-<flavor>-<os-arch>/}
 * ({@code ENGINE_CACHE_DIR} or {@code ~/.djl.ai} by default; {@code java.io.tmpdir} when the home
 * directory is not writable) and loads it from there. The jar ships only the {@code cpu} flavor.
 * Without offline mode, on a machine with an sm_80/86/89/90 GPU (A100, H100...) DJL picks the
 * {@code cu122} flavor, finds no such library in the jar and tries to download it from
 * publish.djl.ai, which fails on an air-gapped GPU host. Every tokenizer creation also calls
 * {@code Ec2Utils.callHome}, which requests the EC2 instance metadata endpoint
 * ({@code http://169.254.169.254/latest/api/token}, {@code .../meta-data/instance-id},
 * {@code .../placement/region}: four HTTP requests, seen by {@code DjlOfflineTest}) and, on EC2,
 * sends telemetry.
 *
 * <p>Offline mode ({@code ai.djl.offline=true}) makes DJL pick the {@code cpu} flavor (the one in
 * the jar), refuses every download and skips the telemetry call; {@code OPT_OUT_TRACKING=true}
 * disables telemetry as well. Both are set here as system properties unless the user already set
 * them (as a system property or, for {@code DJL_OFFLINE} / {@code OPT_OUT_TRACKING}, as an
 * environment variable, which DJL reads first).
 */
final class DjlNative {

    private static volatile boolean done;

    private DjlNative() {}

    /** Sets DJL's offline and telemetry opt-out properties; idempotent, call before any DJL class loads. */
    static void ensureOffline() {
        if (done) {
            return;
        }
        synchronized (DjlNative.class) {
            if (done) {
                return;
            }
            if (System.getenv("DJL_OFFLINE") == null && System.getProperty("ai.djl.offline") == null) {
                System.setProperty("ai.djl.offline", "true");
            }
            if (System.getenv("OPT_OUT_TRACKING") == null && System.getProperty("OPT_OUT_TRACKING") == null) {
                System.setProperty("OPT_OUT_TRACKING", "true");
            }
            done = true;
        }
    }
}
