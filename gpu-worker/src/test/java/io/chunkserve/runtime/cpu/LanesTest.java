package io.chunkserve.runtime.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;
import org.junit.jupiter.api.Test;

/**
 * The tier-independent lane sums and e^x: the written-out copies in the kernels against the references in
 * {@link Lanes}, bit for bit, and the references against the order they promise and against {@link Math#exp}.
 */
class LanesTest {
    static float[] randomFloats(SplittableRandom rnd, int n, double scale) {
        float[] a = new float[n];
        // magnitudes over ~10 binades so that the association order shows in the last bits
        for (int i = 0; i < n; i++) a[i] = (float) ((rnd.nextDouble() * 2 - 1) * scale * Math.pow(2, rnd.nextInt(10)));
        return a;
    }

    /** The kernels' written-out sum (Vec.SUM1..3), as each kernel has it. */
    static float kernelSum(FloatVector q) {
        q = q.add(q.rearrange(Vec.SUM1));
        if (Vec.L >= 8) q = q.add(q.rearrange(Vec.SUM2));
        if (Vec.L >= 16) q = q.add(q.rearrange(Vec.SUM3));
        return q.lane(0) + q.lane(1);
    }

    @Test
    void writtenOutSumsFollowTheReferenceTreeForEveryShape() {
        SplittableRandom rnd = new SplittableRandom(3);
        for (VectorSpecies<Float> s : java.util.List.of(FloatVector.SPECIES_128, FloatVector.SPECIES_256, FloatVector.SPECIES_512)) {
            int n = s.length();
            VectorShuffle<Float> s1 = Lanes.xorShuffleVec(s, n / 2), s2 = Lanes.xorShuffleVec(s, n / 4), s3 = Lanes.xorShuffleVec(s, n / 8);
            for (int rep = 0; rep < 2000; rep++) {
                float[] a = randomFloats(rnd, n, 1);
                FloatVector q = FloatVector.fromArray(s, a, 0);
                q = q.add(q.rearrange(s1));
                if (n >= 8) q = q.add(q.rearrange(s2));
                if (n >= 16) q = q.add(q.rearrange(s3));
                float got = q.lane(0) + q.lane(1);
                // the promised tree written with plain scalar adds: lane i + lane i + n/2, halving
                float[] t = a.clone();
                for (int w = n / 2; w >= 1; w /= 2) for (int i = 0; i < w; i++) t[i] = t[i] + t[i + w];
                assertEquals(Float.floatToRawIntBits(t[0]), Float.floatToRawIntBits(got), "species " + s + " rep " + rep);
                assertEquals(Float.floatToRawIntBits(t[0]), Float.floatToRawIntBits(Lanes.sumLanes(FloatVector.fromArray(s, a, 0))));
            }
        }
        // the kernels' and the preferred species' own shuffles give the same tree
        for (int rep = 0; rep < 2000; rep++) {
            float[] a = randomFloats(rnd, Math.max(Vec.L, Lanes.PL), 1);
            FloatVector k = FloatVector.fromArray(Vec.F, a, 0);
            assertEquals(Float.floatToRawIntBits(Lanes.sumLanes(k)), Float.floatToRawIntBits(kernelSum(k)));
            FloatVector p = FloatVector.fromArray(FloatVector.SPECIES_PREFERRED, a, 0);
            p = p.add(p.rearrange(Lanes.PSUM1));
            if (Lanes.PL >= 8) p = p.add(p.rearrange(Lanes.PSUM2));
            if (Lanes.PL >= 16) p = p.add(p.rearrange(Lanes.PSUM3));
            assertEquals(Float.floatToRawIntBits(Lanes.sumLanes(FloatVector.fromArray(FloatVector.SPECIES_PREFERRED, a, 0))),
                    Float.floatToRawIntBits(p.lane(0) + p.lane(1)));
        }
    }

    /** Files whose lane sums feed no model output: bandwidth and FMA meters, the read-only probe's sink. */
    static final java.util.Set<String> METERS = java.util.Set.of("MemoryBandwidth.java", "FmaPeak.java", "MatKernels.java");

    @Test
    void noKernelUsesTheTierDependentOperations() throws java.io.IOException {
        java.nio.file.Path root = java.nio.file.Path.of(System.getProperty("user.dir"), "src", "main", "java");
        java.util.regex.Pattern bad = java.util.regex.Pattern.compile("reduceLanes\\([^)]*\\bADD\\b|lanewise\\([^)]*\\bEXP\\b");
        java.util.List<String> found = new java.util.ArrayList<>();
        int files = 0;
        try (java.util.stream.Stream<java.nio.file.Path> all = java.nio.file.Files.walk(root)) {
            for (java.nio.file.Path f : (Iterable<java.nio.file.Path>) all.filter(x -> x.toString().endsWith(".java"))::iterator) {
                files++;
                if (METERS.contains(f.getFileName().toString())) continue;
                java.util.List<String> lines = java.nio.file.Files.readAllLines(f);
                for (int i = 0; i < lines.size(); i++) {
                    String l = lines.get(i).strip();
                    if (l.startsWith("*") || l.startsWith("//")) continue;
                    if (bad.matcher(l).find()) found.add(f.getFileName() + ":" + (i + 1) + ": " + l);
                }
            }
        }
        assertTrue(files > 50, "scanned " + root);
        assertEquals(java.util.List.of(), found, "reduceLanes(ADD) / lanewise(EXP) round differently per JIT tier: write the Lanes tree / exp out");
    }

    @Test
    void theOrderMatters() {
        // a case where the sequential order (the interpreter's reduceLanes) and the tree disagree: the test above
        // would not see a tree that silently fell back to a sequential sum
        float[] a = new float[Vec.L];
        a[0] = 1e8f; a[Vec.L / 2] = -1e8f; a[1] = 3f; a[Vec.L - 1] = 0.5f;
        for (int i = 2; i < Vec.L - 1; i++) if (i != Vec.L / 2) a[i] = 1e-8f;
        float seq = 0;
        for (float x : a) seq += x;
        float tree = kernelSum(FloatVector.fromArray(Vec.F, a, 0));
        float ref = Lanes.sumLanes(FloatVector.fromArray(Vec.F, a, 0));
        assertEquals(ref, tree);
        assertTrue(Float.floatToRawIntBits(seq) != Float.floatToRawIntBits(tree) || Vec.L < 4, seq + " vs " + tree);
    }

    @Test
    void expIsWithinTwoUlpOfMathExpAndClampsAtTheEnds() {
        SplittableRandom rnd = new SplittableRandom(5);
        VectorSpecies<Float> s = FloatVector.SPECIES_PREFERRED;
        float[] x = new float[s.length()], e = new float[s.length()];
        int worst = 0;
        for (int rep = 0; rep < 20000; rep++) {
            for (int i = 0; i < x.length; i++) x[i] = (float) (Lanes.EXP_MIN + rnd.nextDouble() * (Lanes.EXP_MAX - Lanes.EXP_MIN));
            if (rep % 4 == 0) for (int i = 0; i < x.length; i++) x[i] = (float) (rnd.nextDouble() * 2 - 1); // near 0 too
            Lanes.expVec(FloatVector.fromArray(s, x, 0)).intoArray(e, 0);
            for (int i = 0; i < x.length; i++) {
                float want = (float) Math.exp(x[i]);
                int ulps = Math.abs(Float.floatToRawIntBits(e[i]) - Float.floatToRawIntBits(want));
                worst = Math.max(worst, ulps);
                assertTrue(ulps <= 2, "exp(" + x[i] + ") = " + e[i] + ", Math.exp " + want);
            }
        }
        float[] edge = new float[s.length()];
        float[] in = {Float.NEGATIVE_INFINITY, -1000f, -87.31f, Float.NaN, 0f, 88.71f, 1000f, Float.POSITIVE_INFINITY};
        float[] want = {0f, 0f, 0f, Float.NaN, 1f, Float.POSITIVE_INFINITY, Float.POSITIVE_INFINITY, Float.POSITIVE_INFINITY};
        for (int start = 0; start < in.length; start += edge.length) {
            int n = Math.min(edge.length, in.length - start);
            System.arraycopy(in, start, edge, 0, n);
            float[] out = Lanes.expVec(FloatVector.fromArray(s, edge, 0)).toArray();
            for (int i = 0; i < n; i++) assertEquals(want[start + i], out[i], "exp(" + in[start + i] + ")");
        }
        // EXP_MAX itself stays finite, EXP_MIN itself normal
        assertTrue(Float.isFinite(Lanes.expVec(FloatVector.broadcast(s, Lanes.EXP_MAX)).lane(0)));
        assertTrue(Lanes.expVec(FloatVector.broadcast(s, Lanes.EXP_MIN)).lane(0) >= Float.MIN_NORMAL);
        assertTrue(worst <= 2);
    }

    @Test
    void siluMulIsTheReferenceExpBitForBit() {
        SplittableRandom rnd = new SplittableRandom(9);
        int n = 5 * Vec.L + 3;   // a masked tail too
        float[] g = randomFloats(rnd, n, 8), u = randomFloats(rnd, n, 1), dst = new float[n];
        g[0] = -200f; g[1] = 200f; g[2] = 0f;
        Vec.siluMulTo(dst, g, u, 0, n);
        float[] gp = new float[n + Vec.L], up = new float[n + Vec.L];
        System.arraycopy(g, 0, gp, 0, n);
        System.arraycopy(u, 0, up, 0, n);
        for (int i = 0; i < n; i += Vec.L) {
            FloatVector gv = FloatVector.fromArray(Vec.F, gp, i);
            float[] want = gv.div(Lanes.expVec(gv.neg()).add(1f)).mul(FloatVector.fromArray(Vec.F, up, i)).toArray();
            for (int j = 0; j < Vec.L && i + j < n; j++) {
                assertEquals(Float.floatToRawIntBits(want[j]), Float.floatToRawIntBits(dst[i + j]), "element " + (i + j));
            }
        }
        assertEquals(0f, dst[0], 0f);   // silu(−200) = −200 / (1 + e^200 = +∞): −0
        assertEquals(200f * u[1], dst[1], 1e-4f * Math.abs(200f * u[1]));
    }
}
