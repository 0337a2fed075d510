package io.chunkserve.kv;

import io.chunkserve.model.DType;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A stand-in for the model forward: the K/V it writes at position p are a function of the whole
 * prefix tokens[0..p] and the salt (as real KV is), so reading a sequence's KV back through its
 * chunk table proves that sharing, dedup, fork and eviction never hand a sequence wrong KV.
 * Layout: 2 layers, 1 KV head, head dim 2, fp32; K = (prefix fingerprint, position),
 * V = (token, layer).
 */
final class FakeForward {
    static final int LAYERS = 2;

    private FakeForward() { }

    static ChunkPool pool(int chunkSize, int chunks) {
        return new ChunkPool(new KvLayout(LAYERS, 1, 2, chunkSize, DType.F32), chunks);
    }

    /** Fingerprint of tokens[0..p] under salt, for every p; 20 bits so it is exact in a float. */
    static int[] fingerprints(int[] tokens, int n, long salt) {
        int[] fp = new int[n];
        long h = salt * 0x9E3779B97F4A7C15L + 1;
        for (int p = 0; p < n; p++) {
            h = (h ^ tokens[p]) * 0xBF58476D1CE4E5B9L;
            h ^= h >>> 31;
            fp[p] = (int) (h >>> 44);
        }
        return fp;
    }

    /** Writes the K/V of positions s.length() .. s.length()+n−1, whose tokens are all[s.length() ..]. */
    static void write(ChunkPool pool, KvSequence s, int[] all, int n) {
        int[] fp = fingerprints(all, s.length() + n, s.salt());
        float[] k = new float[2], v = new float[2];
        for (int p = s.length(); p < s.length() + n; p++) {
            for (int l = 0; l < LAYERS; l++) {
                k[0] = fp[p];
                k[1] = p;
                v[0] = all[p];
                v[1] = l;
                pool.write(l, s.chunkOf(p), s.slotOf(p), k, 0, v, 0);
            }
        }
    }

    /** Reserves, writes and commits all[s.length() .. s.length()+n); asserts the reservation succeeds. */
    static void step(PrefixCache pc, KvSequence s, int[] all, int n) {
        if (!pc.reserve(s, n)) throw new AssertionError("reserve of " + n + " failed for " + s + " with " + pc.stats());
        write(pc.pool(), s, all, n);
        pc.commit(s, all, s.length(), n);
    }

    /** Asserts positions 0 .. s.length()−1 read back as the KV of tokens all[0 .. length). */
    static void verify(ChunkPool pool, KvSequence s, int[] all) {
        int[] fp = fingerprints(all, s.length(), s.salt());
        KvLayout lay = pool.layout();
        for (int p = 0; p < s.length(); p++) {
            for (int l = 0; l < LAYERS; l++) {
                int ch = s.chunkOf(p), slot = s.slotOf(p);
                float k0 = pool.key(l, ch, 0, slot, 0), k1 = pool.key(l, ch, 0, slot, 1);
                float v0 = pool.value(l, ch, 0, slot, 0), v1 = pool.value(l, ch, 0, slot, 1);
                if (k0 != fp[p] || k1 != p || v0 != all[p] || v1 != l) {
                    throw new AssertionError("wrong KV at position " + p + " layer " + l + " of " + s
                            + ": K=(" + k0 + "," + k1 + ") V=(" + v0 + "," + v1 + "), expected K=(" + fp[p] + "," + p
                            + ") V=(" + all[p] + "," + l + ")");
                }
            }
        }
    }

    static int[] range(int from, int n) {
        int[] a = new int[n];
        for (int i = 0; i < n; i++) a[i] = from + i;
        return a;
    }

    static int[] concat(int[] a, int[] b) {
        int[] r = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    static int[] table(KvSequence s) { return Arrays.copyOf(s.chunkTable(), s.chunkCount()); }

    static void assertStats(PrefixCache pc, int free, int cached, int referenced) {
        KvStats st = pc.stats();
        assertEquals(free, st.freeChunks(), "free chunks in " + st);
        assertEquals(cached, st.cachedChunks(), "cached chunks in " + st);
        assertEquals(referenced, st.referencedChunks(), "referenced chunks in " + st);
    }
}
