package io.chunkserve.kv;

import io.chunkserve.model.DType;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Preallocated off-heap storage for KV chunks: one K and one V slab per layer, addressed by
 * chunk id (see {@link KvLayout}). Owned by the engine thread; not thread-safe.
 *
 * <p>Once a {@link PrefixCache} manages the pool, chunks are taken and given back through it
 * only; {@link #allocate()} and {@link #free(int)} are its allocator.
 */
public final class ChunkPool implements AutoCloseable {
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final KvLayout layout;
    private final int numChunks;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment[] keys;   // per layer: (numChunks, kvHeads, headDim, chunkSize): dim-major blocks, see KvLayout
    private final MemorySegment[] values; // per layer: (numChunks, kvHeads, chunkSize, headDim)
    private final int[] freeStack;        // free chunk ids; [0, freeTop) valid
    private final boolean[] free;         // (numChunks): whether a chunk is on freeStack, to catch double frees
    private int freeTop;
    private Mirror mirror;

    /**
     * Storage of the same chunk ids elsewhere (a GPU backend's device slabs): told of every {@link #copyChunk}
     * so that its copy follows the host pool's bookkeeping.
     */
    public interface Mirror {
        void copyChunk(int src, int dst);
    }

    /** Bytes each slab holds past its last chunk (zeros; one 512-bit vector of fp32). */
    public static final int SLAB_PAD = 64;

    public ChunkPool(KvLayout layout, int numChunks) { this(layout, numChunks, true); }

    private ChunkPool(KvLayout layout, int numChunks, boolean slabs) {
        if (numChunks < 1) throw new IllegalArgumentException("KV pool needs at least one chunk");
        this.layout = layout;
        this.numChunks = numChunks;
        // + SLAB_PAD: a kernel may load a whole vector of slots from any slot of a block (lanes past the
        // block's valid slots are ignored), which can run past the last block's end by less than a vector
        long slabBytes = layout.chunkElements() * numChunks * layout.dtype().bytes() + SLAB_PAD;
        keys = slabs ? new MemorySegment[layout.layers()] : null;
        values = slabs ? new MemorySegment[layout.layers()] : null;
        for (int l = 0; slabs && l < layout.layers(); l++) {
            keys[l] = HugePages.allocate(arena, slabBytes);
            values[l] = HugePages.allocate(arena, slabBytes);
        }
        freeStack = new int[numChunks];
        free = new boolean[numChunks];
        for (int i = 0; i < numChunks; i++) freeStack[i] = numChunks - 1 - i;
        java.util.Arrays.fill(free, true);
        freeTop = numChunks;
    }

    /** A pool that fits in {@code bytes}. */
    public static ChunkPool ofBytes(KvLayout layout, long bytes) {
        return new ChunkPool(layout, chunksIn(layout, bytes));
    }

    /**
     * Chunk ids and their bookkeeping only, no host slabs: for a backend that keeps the K/V elsewhere (the GPU)
     * and registers a {@link Mirror}. {@link #keys}, {@link #values}, {@link #write} and {@link #load} throw.
     */
    public static ChunkPool indexOnly(KvLayout layout, long bytes) {
        return new ChunkPool(layout, chunksIn(layout, bytes), false);
    }

    private static int chunksIn(KvLayout layout, long bytes) {
        long n = bytes / layout.bytesPerChunk();
        if (n < 1) {
            throw new IllegalArgumentException("KV pool of " + bytes + " bytes holds no chunk of " + layout.bytesPerChunk() + " bytes");
        }
        return (int) Math.min(n, Integer.MAX_VALUE - 8);
    }

    /** Whether the K/V live in this pool's host slabs (false for {@link #indexOnly} pools). */
    public boolean hasSlabs() { return keys != null; }

    /** Registers the storage that mirrors this pool's chunks (one at most). */
    public void setMirror(Mirror m) {
        if (mirror != null && m != null && mirror != m) throw new IllegalStateException("the pool already has a mirror");
        mirror = m;
    }

    public KvLayout layout() { return layout; }

    public int numChunks() { return numChunks; }

    public int freeChunks() { return freeTop; }

    /** Takes a free chunk id, or returns -1 when none is free. */
    public int allocate() {
        if (freeTop == 0) return -1;
        int c = freeStack[--freeTop];
        free[c] = false;
        return c;
    }

    /** Gives a chunk back; throws on an id out of range or a chunk that is already free. */
    public void free(int chunk) {
        if (chunk < 0 || chunk >= numChunks || free[chunk]) throw new IllegalStateException("bad free of chunk " + chunk);
        free[chunk] = true;
        freeStack[freeTop++] = chunk;
    }

    /** Whether {@code chunk} is free (not handed out). */
    public boolean isFree(int chunk) { return free[chunk]; }

    /** Copies chunk {@code src}'s K and V, every layer, into chunk {@code dst} (all slots). */
    public void copyChunk(int src, int dst) {
        if (mirror != null) mirror.copyChunk(src, dst);
        if (keys == null) return;
        long bytes = layout.chunkElements() * layout.dtype().bytes();
        for (int l = 0; l < layout.layers(); l++) {
            MemorySegment.copy(keys[l], src * bytes, keys[l], dst * bytes, bytes);
            MemorySegment.copy(values[l], src * bytes, values[l], dst * bytes, bytes);
        }
    }

    /**
     * Layer {@code l}'s K slab: (numChunks, kvHeads, headDim, chunkSize) in the pool dtype, i.e. each
     * (chunk, head) block dim-major ({@link KvLayout#keyIndex}), then {@link #SLAB_PAD} bytes.
     */
    public MemorySegment keys(int l) { return slabs()[l]; }

    private MemorySegment[] slabs() {
        if (keys == null) throw new IllegalStateException("this KV pool keeps no host slabs (the K/V live on the device)");
        return keys;
    }

    /** Layer {@code l}'s V slab: (numChunks, kvHeads, chunkSize, headDim) in the pool dtype, then {@link #SLAB_PAD} bytes. */
    public MemorySegment values(int l) { slabs(); return values[l]; }

    /** Stores one token's K and V (each (kvHeads, headDim) at k[kOff], v[vOff]) into (chunk, slot) of layer l. */
    public void write(int l, int chunk, int slot, float[] k, int kOff, float[] v, int vOff) {
        slabs();
        int hd = layout.headDim();
        for (int h = 0; h < layout.kvHeads(); h++) {
            long base = layout.index(chunk, h, slot), kb = layout.keyIndex(chunk, h, slot, 0);
            int c = layout.chunkSize();
            for (int d = 0; d < hd; d++) {
                store(keys[l], kb + (long) d * c, k[kOff + h * hd + d]);
                store(values[l], base + d, v[vOff + h * hd + d]);
            }
        }
    }

    /** K element (chunk, head, slot, dim) of layer l, widened to fp32. */
    public float key(int l, int chunk, int head, int slot, int dim) { return load(keys(l), layout.keyIndex(chunk, head, slot, dim)); }

    /** V element (chunk, head, slot, dim) of layer l, widened to fp32. */
    public float value(int l, int chunk, int head, int slot, int dim) { return load(values(l), layout.index(chunk, head, slot) + dim); }

    /** Element i of a slab, widened to fp32. */
    public float load(MemorySegment slab, long i) {
        return switch (layout.dtype()) {
            case F32 -> slab.get(F32, i * 4);
            case F16 -> Float.float16ToFloat(slab.get(I16, i * 2));
            case BF16 -> DType.bf16ToFloat(slab.get(I16, i * 2));
        };
    }

    private void store(MemorySegment slab, long i, float x) {
        switch (layout.dtype()) {
            case F32 -> slab.set(F32, i * 4, x);
            case F16 -> slab.set(I16, i * 2, Float.floatToFloat16(x));
            case BF16 -> slab.set(I16, i * 2, DType.floatToBf16(x));
        }
    }

    @Override
    public void close() { arena.close(); }
}
