package io.chunkserve.kv;

/**
 * The 64-bit key of a full KV chunk: {@code of(parentKey, tokens, salt)}, chained from
 * {@link #ROOT} along a sequence, so a key names a whole prefix (every earlier token, the salt)
 * and not just one chunk's tokens. The same function feeds the cluster prefix index, so a router
 * can compute the keys of an incoming prompt without asking any worker.
 *
 * <p>An xxHash64-style mix: each 64-bit lane (parent key, salt, then token ids two at a time) goes
 * through a multiply-rotate-multiply round, and the result through a final avalanche. Keys are
 * only hints: {@link PrefixCache} compares the token ids (and parent, salt) before reusing a
 * chunk, so a collision costs a cache miss, never wrong KV.
 */
public final class ChunkHash {
    /** Parent key of a sequence's first chunk. */
    public static final long ROOT = 0L;

    private static final long P1 = 0x9E3779B185EBCA87L;
    private static final long P2 = 0xC2B2AE3D27D4EB4FL;
    private static final long P3 = 0x165667B19E3779F9L;
    private static final long P4 = 0x85EBCA77C2B2AE63L;
    private static final long P5 = 0x27D4EB2F165667C5L;

    private ChunkHash() { }

    /** Key of the chunk holding {@code tokens[off .. off+n)} after the prefix keyed {@code parentKey}. */
    public static long of(long parentKey, int[] tokens, int off, int n, long salt) {
        long h = P5 + 4L * n;
        h = round(h, parentKey);
        h = round(h, salt);
        int i = off, end = off + n;
        for (; i + 1 < end; i += 2) h = round(h, (tokens[i] & 0xFFFFFFFFL) | ((long) tokens[i + 1] << 32));
        if (i < end) {
            h ^= (tokens[i] & 0xFFFFFFFFL) * P1;
            h = Long.rotateLeft(h, 23) * P2 + P3;
        }
        // avalanche
        h ^= h >>> 33;
        h *= P2;
        h ^= h >>> 29;
        h *= P3;
        h ^= h >>> 32;
        return h;
    }

    private static long round(long acc, long lane) {
        long k = Long.rotateLeft(lane * P2, 31) * P1;
        acc ^= k;
        return Long.rotateLeft(acc, 27) * P1 + P4;
    }
}
