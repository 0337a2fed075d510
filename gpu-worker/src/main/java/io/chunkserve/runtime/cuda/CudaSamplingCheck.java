package io.chunkserve.runtime.cuda;

import io.chunkserve.runtime.ForwardBatch;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

import static io.chunkserve.runtime.cuda.CudaModelCheck.check;
import static io.chunkserve.runtime.cuda.CudaModelCheck.fail;

/**
 * Part 4 of {@link CudaModelCheck}: the device's per-row picks against the host's — draws ({@code cs_sample}) against
 * {@code SamplingReference}, penalties ({@code cs_penalize}) against {@code PenaltyList} bit for bit, log-probabilities
 * ({@code cs_logprobs}) against the host sampler's. Results go into CudaModelCheck's counters.
 */
final class CudaSamplingCheck {
    private CudaSamplingCheck() { }

    // ------------------------------------------------------------------ draws on the device (cs_sample) vs SamplingReference

    /**
     * cs_sample against {@link io.chunkserve.sampling.SamplingReference} (the host sampler's distribution): random
     * logit rows (vocab 300, 49,152 and 128,256; peaked and flat; tied values) × temperature / top_k / top_p / min_p
     * sets × 256 stratified draws, all in one launch. Every device token must be a kept token whose cumulative
     * interval (id order) holds u · mass up to rounding; tokens equal to the reference's in all but rounding cases.
     */
    static void sampling(CudaDevice dev) {
        jcuda.driver.CUmodule mod = dev.loadModule(io.chunkserve.kernels.KernelImages.model().orElseThrow());
        long f = Launcher.handle(CudaDevice.function(mod, "cs_sample"));
        java.util.Random rnd = new java.util.Random(17);
        int[] vocabs = {300, 49152, 128256};
        double[][] sets = {{1.0, 0, 1.0, 0}, {0.7, 0, 0.9, 0}, {1.0, 40, 1.0, 0}, {0.8, 50, 0.95, 0.02}, {1.3, 0, 0.5, 0.1}, {0.5, 1, 1.0, 0}};
        int draws = 256;
        for (int vocab : vocabs) {
            int rowsL = 3;
            float[] logits = new float[rowsL * vocab];
            for (int r = 0; r < rowsL; r++) {
                double sigma = r == 0 ? 1 : r == 1 ? 4 : 0.3;
                for (int i = 0; i < vocab; i++) logits[r * vocab + i] = (float) (rnd.nextGaussian() * sigma);
                for (int t = 0; t < vocab / 20; t++) logits[r * vocab + rnd.nextInt(vocab)] = logits[r * vocab + rnd.nextInt(vocab)];
            }
            int blocks = rowsL * sets.length * draws;
            int[] params = new int[8 * blocks];
            double[] us = new double[blocks];
            for (int r = 0, bi = 0; r < rowsL; r++) {
                for (double[] set : sets) {
                    for (int j = 0; j < draws; j++, bi++) {
                        double u = (j + rnd.nextDouble()) / draws;
                        us[bi] = u;
                        long ub = Double.doubleToRawLongBits(u);
                        int o = 8 * bi;
                        params[o] = Float.floatToRawIntBits((float) (1.0 / set[0]));
                        params[o + 1] = (int) set[1];
                        params[o + 2] = Float.floatToRawIntBits((float) set[2]);
                        params[o + 3] = Float.floatToRawIntBits((float) set[3]);
                        params[o + 4] = (int) ub;
                        params[o + 5] = (int) (ub >>> 32);
                        params[o + 6] = r;
                    }
                }
            }
            int[] got = new int[blocks];
            try (DeviceBuffer dl = DeviceBuffer.allocate(4L * logits.length); DeviceBuffer dp = DeviceBuffer.allocate(4L * params.length);
                 DeviceBuffer dout = DeviceBuffer.allocate(4L * blocks)) {
                dl.upload(logits);
                dp.upload(params);
                new Launcher().begin().ptr(dl).i32(vocab).ptr(dp).ptr(dout).launch(f, blocks, 1, 512, 0);
                dev.synchronize();
                dout.download(got);
            }
            int bad = 0, differ = 0;
            String firstBad = "";
            for (int r = 0, bi = 0; r < rowsL; r++) {
                for (double[] set : sets) {
                    double[] w = io.chunkserve.sampling.SamplingReference.keptWeights(logits, r * vocab, vocab, (float) (1.0 / set[0]), (int) set[1],
                            (float) set[2], (float) set[3]);
                    double total = 0;
                    for (double x : w) total += x;
                    double[] cumBefore = new double[vocab];
                    double acc = 0;
                    for (int i = 0; i < vocab; i++) {
                        cumBefore[i] = acc;
                        acc += w[i];
                    }
                    for (int j = 0; j < draws; j++, bi++) {
                        int t = got[bi];
                        int ref = io.chunkserve.sampling.SamplingReference.draw(w, us[bi]);
                        if (t != ref) differ++;
                        double x = us[bi] * total, tol = 1e-6 * total;
                        boolean ok = t >= 0 && t < vocab && w[t] > 0 && x >= cumBefore[t] - tol && x <= cumBefore[t] + w[t] + tol;
                        if (!ok) {
                            if (bad++ == 0) firstBad = "row " + r + " set " + Arrays.toString(set) + " u " + us[bi] + ": device " + t + ", reference " + ref;
                        }
                    }
                }
            }
            check(bad == 0, "sampling vocab " + vocab + ": " + blocks + " device draws inside their token's interval" + (bad == 0 ? "" : " (" + bad + " not; first: " + firstBad + ")"));
            check(differ <= blocks / 200, "sampling vocab " + vocab + ": device token = reference token in all but " + differ + " of " + blocks + " draws");
        }
        jcuda.driver.JCudaDriver.cuModuleUnload(mod);
    }

    // ------------------------------------------------------------------ penalties on the device (cs_penalize) vs PenaltyList

    /**
     * cs_penalize against {@link io.chunkserve.sampling.PenaltyList} (the host sampler's penalties, bit for bit):
     * rows of vocab 300 and 128,256 (zeros, ±FLT_MAX, NaN and ±inf among the logits), lists of up to 3,000 entries
     * with counts 0-5 and ids outside the vocabulary, an extra token listed, not listed or none, repetition above
     * and below 1, negative presence / frequency; most rows also with a logit_bias first (cs_bias: up to 1,024 entries
     * in [-100, 100], ids shared with the penalty list and the extra token, ids outside the vocabulary), as the host
     * sampler ({@link io.chunkserve.sampling.LogitBias#applyTo}, then PenaltyList); then the saved (id, raw) pairs —
     * cs_penalize's, then cs_bias's — restore the raw rows exactly, and cs_argmax on the penalized rows gives the
     * reference's argmax (or -1 where a logit is not finite).
     */
    static void penalties(CudaDevice dev) {
        jcuda.driver.CUmodule mod = dev.loadModule(io.chunkserve.kernels.KernelImages.model().orElseThrow());
        long fPen = Launcher.handle(CudaDevice.function(mod, "cs_penalize"));
        long fBias = Launcher.handle(CudaDevice.function(mod, "cs_bias"));
        long fArg = Launcher.handle(CudaDevice.function(mod, "cs_argmax"));
        java.util.Random rnd = new java.util.Random(23);
        float[][] sets = {{1.3f, 0, 0}, {1, 0.7f, 0.25f}, {1.15f, 0.4f, 0.3f}, {0.8f, -0.5f, 0.5f}, {1, 0, -0.2f}, {0.5f, 1.5f, 0}};
        for (int vocab : new int[] {300, 128256}) {
            int rows = 24;
            float[] raw = new float[rows * vocab];
            for (int i = 0; i < raw.length; i++) {
                raw[i] = (float) (rnd.nextGaussian() * 3);
                int q = rnd.nextInt(400);
                if (q == 0) raw[i] = 0f;
                if (q == 1) raw[i] = Float.MAX_VALUE;
                if (q == 2) raw[i] = -Float.MAX_VALUE;
            }
            raw[5 * vocab + 7] = Float.NaN;                       // rows 5 and 6: a non-finite logit
            raw[6 * vocab + 3] = Float.NEGATIVE_INFINITY;
            int[] hdr = new int[8 * rows];
            java.util.List<int[]> lists = new java.util.ArrayList<>();
            int[] extras = new int[rows], prev = new int[rows];
            int ent = 0;
            for (int r = 0; r < rows; r++) {
                int n = r % 4 == 3 ? 0 : 1 + rnd.nextInt(r % 2 == 0 ? 40 : Math.min(3000, vocab));
                java.util.LinkedHashSet<Integer> idset = new java.util.LinkedHashSet<>();
                while (idset.size() < n) idset.add(rnd.nextInt(vocab + (r == 8 ? 50 : 0)));
                int[] list = new int[2 * n];
                int j = 0;
                for (int id : idset) {
                    list[2 * j] = id;
                    list[2 * j + 1] = rnd.nextInt(6);
                    j++;
                }
                lists.add(list);
                int kind = r % 3;   // 0: none, 1: a listed token, 2: another token
                extras[r] = kind == 0 || (kind == 1 && n == 0) ? -1 : kind == 1 ? list[2 * rnd.nextInt(n)] : rnd.nextInt(vocab);
                if (extras[r] >= vocab) extras[r] = -1;
                prev[r] = extras[r] >= 0 ? extras[r] : 0;
                float[] set = sets[r % sets.length];
                int o = 8 * r;
                hdr[o] = ent;
                hdr[o + 1] = n;
                hdr[o + 2] = extras[r] >= 0 ? r : -1;
                hdr[o + 3] = Float.floatToRawIntBits(set[0]);
                hdr[o + 4] = Float.floatToRawIntBits(set[1]);
                hdr[o + 5] = Float.floatToRawIntBits(set[2]);
                hdr[o + 6] = r;
                hdr[o + 7] = ent + r;
                ent += n;
            }
            // logit_biases: rows r % 5 != 4, ids from the row's list, its extra token and anywhere (row 8: past the vocabulary too)
            io.chunkserve.sampling.LogitBias[] biases = new io.chunkserve.sampling.LogitBias[rows];
            int[] bhdr = new int[4 * rows];
            List<Integer> bent = new ArrayList<>();
            int nb = 0;
            for (int r = 0; r < rows; r++) {
                if (r % 5 == 4) continue;
                java.util.Map<Integer, Double> m = new java.util.HashMap<>();
                int want = r == 10 ? Math.min(io.chunkserve.sampling.LogitBias.MAX_ENTRIES, vocab) : 1 + rnd.nextInt(Math.min(60, vocab / 3));
                int[] list = lists.get(r);
                for (int t = 0; t < want && m.size() < want; t++) {
                    int q = rnd.nextInt(4);
                    int id = q == 0 && list.length > 0 ? list[2 * rnd.nextInt(list.length / 2)] : q == 1 && extras[r] >= 0 ? extras[r]
                            : rnd.nextInt(vocab + (r == 8 ? 50 : 0));
                    double v = rnd.nextInt(8) == 0 ? (rnd.nextBoolean() ? 100.0 : -100.0) : (rnd.nextDouble() * 2 - 1) * 100;
                    m.put(id, v);
                }
                while (m.size() < want) m.put(rnd.nextInt(vocab), (rnd.nextDouble() * 2 - 1) * 10);
                biases[r] = io.chunkserve.sampling.LogitBias.of(m);
                int o = 4 * nb++;
                bhdr[o] = bent.size() / 2;
                bhdr[o + 1] = biases[r].size();
                bhdr[o + 2] = r;
                bhdr[o + 3] = bent.size() / 2;
                for (int j = 0; j < biases[r].size(); j++) {
                    bent.add(biases[r].id(j));
                    bent.add(Float.floatToRawIntBits(biases[r].value(j)));
                }
            }
            int[] bentA = new int[Math.max(2, bent.size())];
            for (int i = 0; i < bent.size(); i++) bentA[i] = bent.get(i);
            int[] bsaved = new int[bentA.length];
            int[] entries = new int[2 * Math.max(1, ent)];
            for (int r = 0, q = 0; r < rows; r++) {
                System.arraycopy(lists.get(r), 0, entries, q, lists.get(r).length);
                q += lists.get(r).length;
            }
            float[] got = new float[raw.length];
            int[] saved = new int[2 * (ent + rows)];
            int[] am = new int[rows];
            try (DeviceBuffer dl = DeviceBuffer.allocate(4L * raw.length); DeviceBuffer dh = DeviceBuffer.allocate(4L * hdr.length);
                 DeviceBuffer de = DeviceBuffer.allocate(4L * entries.length); DeviceBuffer dp = DeviceBuffer.allocate(4L * rows);
                 DeviceBuffer ds = DeviceBuffer.allocate(4L * saved.length); DeviceBuffer da = DeviceBuffer.allocate(4L * rows);
                 DeviceBuffer dbh = DeviceBuffer.allocate(4L * bhdr.length); DeviceBuffer dbe = DeviceBuffer.allocate(4L * bentA.length);
                 DeviceBuffer dbs = DeviceBuffer.allocate(4L * bsaved.length)) {
                dl.upload(raw);
                dh.upload(hdr);
                de.upload(entries);
                dp.upload(prev);
                dbh.upload(bhdr);
                dbe.upload(bentA);
                new Launcher().begin().ptr(dl).i32(vocab).ptr(dbh).ptr(dbe).ptr(dbs).launch(fBias, nb, 1, 256, 0);
                new Launcher().begin().ptr(dl).i32(vocab).ptr(dh).ptr(de).ptr(dp).ptr(ds).launch(fPen, rows, 1, 256, 0);
                new Launcher().begin().ptr(dl).i32(vocab).ptr(da).launch(fArg, rows, 1, 1024, 0);
                dev.synchronize();
                dl.download(got);
                ds.download(saved);
                da.download(am);
                dbs.download(bsaved);
            }
            int badRows = 0, badArg = 0;
            String first = "";
            float[] restored = got.clone();
            for (int r = 0; r < rows; r++) {
                float[] set = sets[r % sets.length];
                int[] list = lists.get(r);
                int n = list.length / 2;
                int[] lid = new int[n], lc = new int[n];
                for (int j = 0; j < n; j++) {
                    lid[j] = list[2 * j];
                    lc[j] = list[2 * j + 1];
                }
                float[] ref = Arrays.copyOfRange(raw, r * vocab, (r + 1) * vocab);
                if (biases[r] != null) biases[r].applyTo(ref, 0, vocab);
                io.chunkserve.sampling.PenaltyList.apply(ref, 0, vocab, set[0], set[1], set[2], lid, lc, n, extras[r]);
                for (int i = 0; i < vocab; i++) {
                    if (Float.floatToIntBits(ref[i]) != Float.floatToIntBits(got[r * vocab + i])) {   // (bits; any NaN one value)
                        if (badRows++ == 0) first = "row " + r + " id " + i + ": device " + got[r * vocab + i] + ", reference " + ref[i];
                        break;
                    }
                }
                int s0 = hdr[8 * r + 7];
                for (int j = 0; j <= n; j++) {
                    int id = saved[2 * (s0 + j)];
                    if (id >= 0 && id < vocab) restored[r * vocab + id] = Float.intBitsToFloat(saved[2 * (s0 + j) + 1]);
                }
                for (int q = 0; q < nb; q++) {   // then cs_bias's pairs (the raw values under the penalties' biased ones)
                    if (bhdr[4 * q + 2] != r) continue;
                    for (int j = 0, b0 = bhdr[4 * q + 3]; j < bhdr[4 * q + 1]; j++) {
                        int id = bsaved[2 * (b0 + j)];
                        if (id >= 0 && id < vocab) restored[r * vocab + id] = Float.intBitsToFloat(bsaved[2 * (b0 + j) + 1]);
                    }
                }
                boolean finite = true;
                int best = 0;
                for (int i = 0; i < vocab; i++) {
                    finite &= Float.isFinite(ref[i]);
                    if (ref[i] > ref[best]) best = i;
                }
                if (am[r] != (finite ? best : -1)) badArg++;
            }
            boolean restoredOk = true;
            for (int i = 0; i < raw.length; i++) restoredOk &= Float.floatToIntBits(raw[i]) == Float.floatToIntBits(restored[i]);
            check(badRows == 0, "penalties vocab " + vocab + ": " + rows + " rows (" + ent + " entries; " + nb + " with a logit_bias, " + bent.size() / 2
                    + " entries) biased and penalized on the device = LogitBias + PenaltyList bit for bit"
                    + (badRows == 0 ? "" : " (" + badRows + " rows differ; first: " + first + ")"));
            check(restoredOk, "penalties vocab " + vocab + ": the saved (id, raw) pairs (cs_penalize's, then cs_bias's) restore every raw row exactly");
            check(badArg == 0, "penalties vocab " + vocab + ": cs_argmax of the penalized rows = the reference's (" + badArg + " differ)");
        }
        jcuda.driver.JCudaDriver.cuModuleUnload(mod);
    }

    // ------------------------------------------------------------------ log-probabilities on the device (cs_logprobs)

    /**
     * cs_logprobs against the host sampler's log-probabilities ({@link io.chunkserve.sampling.SamplingReference#logprobs}):
     * rows of vocab 300 and 128,256 with tied values, K = 0, 1, 5 and 20, the picked token anywhere, some rows
     * "penalized" (values changed, their raw values in saved pairs: the kernel must restore them first), some "biased"
     * (raw values in cs_bias's pairs), some both on shared ids (the penalties' pairs then hold the biased values, which
     * the bias's pairs must overwrite), one row with no pick (-1): the same top ids in the same order, every
     * log-probability within 1e-4.
     */
    static void logprobs(CudaDevice dev) {
        jcuda.driver.CUmodule mod = dev.loadModule(io.chunkserve.kernels.KernelImages.model().orElseThrow());
        long f = Launcher.handle(CudaDevice.function(mod, "cs_logprobs"));
        java.util.Random rnd = new java.util.Random(29);
        int stride = 2 + 2 * ForwardBatch.MAX_TOP_LOGPROBS;
        int[] ks = {0, 1, 5, 20};
        for (int vocab : new int[] {300, 128256}) {
            int rows = 16;
            float[] raw = new float[rows * vocab];
            for (int r = 0; r < rows; r++) {
                double sigma = r % 3 == 0 ? 0.5 : r % 3 == 1 ? 3 : 8;
                for (int i = 0; i < vocab; i++) raw[r * vocab + i] = (float) (rnd.nextGaussian() * sigma);
                for (int t = 0; t < vocab / 10; t++) raw[r * vocab + rnd.nextInt(vocab)] = raw[r * vocab + rnd.nextInt(vocab)];   // ties
                int best = 0;
                for (int i = 0; i < vocab; i++) if (raw[r * vocab + i] > raw[r * vocab + best]) best = i;
                for (int t = 0; t < 3; t++) raw[r * vocab + rnd.nextInt(vocab)] = raw[r * vocab + best];   // ties at the top
            }
            float[] dev0 = raw.clone();
            int[] hdr = new int[8 * rows], picks = new int[rows];
            List<Integer> savedL = new ArrayList<>(), bsavedL = new ArrayList<>();
            for (int r = 0; r < rows; r++) {
                picks[r] = r == 7 ? -1 : rnd.nextInt(vocab);
                int o = 8 * r;
                hdr[o] = r;
                hdr[o + 1] = r;
                hdr[o + 4] = ks[r % ks.length];
                boolean biased = r % 4 == 1 || r % 4 == 2;   // (1: penalized too)
                java.util.Set<Integer> used = new java.util.HashSet<>();
                if (r % 2 == 1) {   // penalized: some values changed on the device copy, their (biased) raw values saved
                    int n = 1 + rnd.nextInt(Math.min(500, vocab / 2));
                    hdr[o + 2] = savedL.size() / 2;
                    hdr[o + 3] = n + 1;
                    for (int j = 0; j < n; j++) {
                        int id = rnd.nextInt(vocab);
                        if (!used.add(id)) id = -1;
                        float before = id >= 0 && biased ? raw[r * vocab + id] + 0.5f : id >= 0 ? raw[r * vocab + id] : 0;
                        savedL.add(id);
                        savedL.add(Float.floatToRawIntBits(before));
                        if (id >= 0) dev0[r * vocab + id] = before * 1.7f - 2f;
                    }
                    savedL.add(-1);
                    savedL.add(0);
                } else {
                    hdr[o + 2] = -1;
                }
                hdr[o + 5] = -1;
                if (biased) {   // biased: cs_bias's pairs hold the raw values (of the penalized ids too: their 0.5 above)
                    hdr[o + 5] = bsavedL.size() / 2;
                    int nb = 0;
                    for (int id : used) {
                        bsavedL.add(id);
                        bsavedL.add(Float.floatToRawIntBits(raw[r * vocab + id]));
                        nb++;
                    }
                    for (int j = 0; j < 1 + rnd.nextInt(40); j++) {
                        int id = rnd.nextInt(vocab);
                        if (!used.add(id)) continue;
                        bsavedL.add(id);
                        bsavedL.add(Float.floatToRawIntBits(raw[r * vocab + id]));
                        dev0[r * vocab + id] = raw[r * vocab + id] + 3f;
                        nb++;
                    }
                    hdr[o + 6] = nb;
                }
            }
            int[] saved = new int[Math.max(2, savedL.size())], bsaved = new int[Math.max(2, bsavedL.size())];
            for (int i = 0; i < savedL.size(); i++) saved[i] = savedL.get(i);
            for (int i = 0; i < bsavedL.size(); i++) bsaved[i] = bsavedL.get(i);
            int[] out = new int[stride * rows];
            try (DeviceBuffer dl = DeviceBuffer.allocate(4L * raw.length); DeviceBuffer dh = DeviceBuffer.allocate(4L * hdr.length);
                 DeviceBuffer dp = DeviceBuffer.allocate(4L * rows); DeviceBuffer ds = DeviceBuffer.allocate(4L * saved.length);
                 DeviceBuffer dout = DeviceBuffer.allocate(4L * out.length); DeviceBuffer dbs = DeviceBuffer.allocate(4L * bsaved.length)) {
                dl.upload(dev0);
                dh.upload(hdr);
                dp.upload(picks);
                ds.upload(saved);
                dbs.upload(bsaved);
                new Launcher().begin().ptr(dl).i32(vocab).ptr(dh).ptr(dp).ptr(ds).ptr(dbs).ptr(dout).launch(f, rows, 1, 512, 0);
                dev.synchronize();
                dout.download(out);
            }
            int bad = 0;
            double worst = 0;
            String first = "";
            for (int r = 0; r < rows; r++) {
                int o = stride * r;
                if (picks[r] < 0) {
                    if (out[o] != -1) bad++;
                    continue;
                }
                io.chunkserve.sampling.SampledToken ref = io.chunkserve.sampling.SamplingReference.logprobs(raw, r * vocab, vocab, picks[r], ks[r % ks.length]);
                boolean ok = out[o + 1] == ref.topTokenIds().length;
                double d = Math.abs(Float.intBitsToFloat(out[o]) - ref.logprob());
                for (int j = 0; ok && j < out[o + 1]; j++) {
                    ok = out[o + 2 + 2 * j] == ref.topTokenIds()[j];
                    d = Math.max(d, Math.abs(Float.intBitsToFloat(out[o + 3 + 2 * j]) - ref.topLogprobs()[j]));
                }
                worst = Math.max(worst, d);
                if (!ok || !(d <= 1e-4)) {
                    if (bad++ == 0) first = "row " + r + " K " + ks[r % ks.length] + ": device k " + out[o + 1] + " logprob " + Float.intBitsToFloat(out[o])
                            + ", reference " + ref;
                }
            }
            check(bad == 0, String.format(Locale.ROOT, "logprobs vocab %d: %d rows (K 0-20, ties, restored penalized / biased / both rows, a row without pick): same top ids, "
                    + "log-probabilities within 1e-4 of the host's (worst %.1e)%s", vocab, rows, worst, bad == 0 ? "" : " (" + bad + " rows not; first: " + first + ")"));
        }
        jcuda.driver.JCudaDriver.cuModuleUnload(mod);
    }
}
