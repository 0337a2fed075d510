package io.chunkserve.model;

/**
 * Rotary position embedding parameters, read from either the older {@code rope_theta} /
 * {@code rope_scaling} keys or the newer {@code rope_parameters} object of config.json.
 *
 * @param type     "default", "linear" or "llama3"
 * @param theta    the base
 * @param factor   scaling factor (linear, llama3)
 * @param lowFreqFactor  llama3
 * @param highFreqFactor llama3
 * @param originalMaxPositions llama3: the pre-training context length
 */
public record RopeScaling(String type, double theta, double factor, double lowFreqFactor, double highFreqFactor,
                          int originalMaxPositions) {

    /**
     * Inverse frequencies for a rotary dimension of {@code dim} (pairs i and i + dim/2, the
     * Hugging Face "rotate half" layout), after scaling. Computed as Hugging Face does, in fp32.
     */
    public float[] inverseFrequencies(int dim) {
        int half = dim / 2;
        float[] inv = new float[half];
        for (int i = 0; i < half; i++) {
            float exponent = (float) (2 * i) / (float) dim;
            inv[i] = (float) (1.0 / Math.pow(theta, exponent));
        }
        switch (type) {
            case "default" -> { }
            case "linear" -> {
                for (int i = 0; i < half; i++) inv[i] = (float) (inv[i] / factor);
            }
            case "llama3" -> {
                double lowWavelen = originalMaxPositions / lowFreqFactor;
                double highWavelen = originalMaxPositions / highFreqFactor;
                for (int i = 0; i < half; i++) {
                    double f = inv[i];
                    double wavelen = 2 * Math.PI / f;
                    double scaled = wavelen > lowWavelen ? f / factor : f;
                    if (!(wavelen < highWavelen) && !(wavelen > lowWavelen)) {
                        double smooth = (originalMaxPositions / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
                        scaled = (1 - smooth) * scaled / factor + smooth * scaled;
                    }
                    inv[i] = (float) scaled;
                }
            }
            default -> throw new ModelLoadException("unsupported rope scaling type '" + type + "' (supported: default, linear, llama3)");
        }
        return inv;
    }
}
