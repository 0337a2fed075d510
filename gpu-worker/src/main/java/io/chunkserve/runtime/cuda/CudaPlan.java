package io.chunkserve.runtime.cuda;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Host side of a decode step's two-phase attention on the GPU: the "kernel context" in the int arrays the
 * kernels read ({@code kernels/src/main/cuda/attention.cu} documents them), rebuilt only when the batch's
 * structure changes ({@link #sameStructure}); decode steps inside tail chunks only move the lengths, which the
 * kernels read from a separate array.
 *
 * <p>Semantics as in the CPU two-phase plan: a <em>shared group</em> is a maximal run of consecutive chunks (by
 * table index) that are full and held by exactly the same set of ≥ 2 sequences; every other chunk is private to
 * its sequence, and only a sequence's last chunk can be partly filled. With sharing off every chunk is private
 * (the prefix-unaware baseline).
 *
 * <p>Work: each shared group and each sequence's private chunk list is cut into pieces of about
 * {@link #tilesPerPiece()} 64-token tiles, and a group's rows (its sequences × the g query heads of a KV head)
 * into row tiles of ≤ 64; one item per (piece, row tile), one block per (item, KV head). The piece size comes
 * from a small cost model ({@code choosePieceTiles}): the makespan of the items on the GPU's multiprocessors
 * (longest items first) plus the fp32 partial traffic each extra piece costs.
 *
 * <p>Warp items ({@link Shape#warpItems()}): items of ≤ 16 rows (a sequence's private list at g ≤ 16) go last
 * ({@link #warpStart()}) and run one a warp, 4 a block, per KV head; where such a plan fits one wave of blocks
 * the piece size balances the longest group piece against the longest warp item ({@code warpPieceTiles}).
 * With {@link Shape#privateSplit()} the private lists may also be cut into several warp items each (A/B; off by
 * default: no faster through the engine).
 */
public final class CudaPlan {
    static final int TILE = 64;        // KV tokens per tile (kernel constant)
    static final int ROWS = 64;        // query rows per block (kernel constant)
    static final int ITEM_INTS = 16;
    static final int ITEM_PREFIX = 7;  // chunk ids repeated in the item record (kernel constant PRE)
    /** Per-block start cost in tiles (prologue, pipeline fill, partial write), for the cost model. */
    private static final double ITEM_OVERHEAD_TILES = 0.5;
    /**
     * The merge launch in tiles of one multiprocessor's time (~1 µs each on an H200): a launch (3.4 µs measured
     * for a tiny kernel after an L2 flush) plus its dependent reads; paid only when some sequence is split.
     */
    private static final double MERGE_LAUNCH_TILES = 5;
    private static final int[] PIECE_CANDIDATES = {1, 2, 4, 8, 16, 32, 64, 128, 256, 1 << 20};

    /**
     * What the work split depends on besides the batch.
     *
     * @param kvHeads         KV heads
     * @param groupSize       query heads per KV head (g)
     * @param headDim         head dim
     * @param chunkSize       tokens per chunk (a power of two)
     * @param multiprocessors the GPU's multiprocessors
     * @param blocksPerSm     partials blocks resident per multiprocessor
     * @param forcedTilesPerPiece 0 for the cost model, else this piece size (experiments)
     * @param warpItems       {@link #WARP_OFF}, {@link #WARP_AUTO} or {@link #WARP_ALWAYS}: whether items of ≤ 16 rows
     *                        run one a warp, 4 a block (attention.cu partials_warp; needs chunk size ≥ 16)
     * @param privateSplit    {@link #SPLIT_OFF}: a sequence's private chunk list is cut only by the piece size (as
     *                        the groups); {@link #SPLIT_AUTO}: with warp items, the one-wave rule
     *                        ({@code warpPieceTiles}) may also cut every private list into 2..4 pieces (shorter warp
     *                        items beside shorter group pieces); n ≥ 2: every private list into min(n, chunks) pieces
     *                        at least (checks)
     * @param warpsPerBlock   warp items a warp block: 4, or 8 (the f64w8hw kernels: every warp of 8 its own item)
     */
    public record Shape(int kvHeads, int groupSize, int headDim, int chunkSize, int multiprocessors, int blocksPerSm,
                        int forcedTilesPerPiece, int warpItems, int privateSplit, int warpsPerBlock) {
        public Shape {
            if (warpsPerBlock != 4 && warpsPerBlock != 8) throw new IllegalArgumentException("warp items a block " + warpsPerBlock);
            if (Integer.bitCount(chunkSize) != 1) throw new IllegalArgumentException("chunk size " + chunkSize + " is not a power of two");
            if (kvHeads < 1 || groupSize < 1 || multiprocessors < 1 || blocksPerSm < 1) throw new IllegalArgumentException("bad shape " + this);
            if (warpItems < WARP_OFF || warpItems > WARP_ALWAYS) throw new IllegalArgumentException("bad warp item mode " + warpItems);
            if (privateSplit < SPLIT_AUTO) throw new IllegalArgumentException("bad private split " + privateSplit);
        }

        /** 4 warp items a warp block. */
        public Shape(int kvHeads, int groupSize, int headDim, int chunkSize, int multiprocessors, int blocksPerSm,
                     int forcedTilesPerPiece, int warpItems, int privateSplit) {
            this(kvHeads, groupSize, headDim, chunkSize, multiprocessors, blocksPerSm, forcedTilesPerPiece, warpItems, privateSplit, 4);
        }

        /** Private lists cut only by the piece size ({@link #SPLIT_OFF}). */
        public Shape(int kvHeads, int groupSize, int headDim, int chunkSize, int multiprocessors, int blocksPerSm,
                     int forcedTilesPerPiece, int warpItems) {
            this(kvHeads, groupSize, headDim, chunkSize, multiprocessors, blocksPerSm, forcedTilesPerPiece, warpItems, SPLIT_OFF);
        }

        /** Without warp items. */
        public Shape(int kvHeads, int groupSize, int headDim, int chunkSize, int multiprocessors, int blocksPerSm, int forcedTilesPerPiece) {
            this(kvHeads, groupSize, headDim, chunkSize, multiprocessors, blocksPerSm, forcedTilesPerPiece, WARP_OFF);
        }
    }

    /** Warp items: never. */
    public static final int WARP_OFF = 0;
    /**
     * Warp items when the plan then still has at least one block per multiprocessor (a block of 4 warp items
     * runs each item on one warp, so it lasts about 4× a block item of the same piece: on a plan too small to
     * fill the GPU, block items finish sooner).
     */
    public static final int WARP_AUTO = 1;
    /** Warp items whenever some item has ≤ 16 rows (checks). */
    public static final int WARP_ALWAYS = 2;
    /** Private lists: the one-wave rule with warp items may cut each into 2..{@link #MAX_AUTO_SPLIT} pieces. */
    public static final int SPLIT_AUTO = 0;
    /** Private lists: cut only by the piece size (sessions 4-6). */
    public static final int SPLIT_OFF = 1;
    /** The most pieces {@link #SPLIT_AUTO} cuts a private list into. */
    static final int MAX_AUTO_SPLIT = 4;
    /** Rows a warp item holds at most (one mma row tile). */
    static final int WARP_ROWS = 16;
    /**
     * A warp item's 64-token tile in units of a block item's (64 rows, 4 warps): measured on an H200 through the
     * engine at B = 64 with a 2048-token shared prefix (BENCHMARKS.md, issue 7, session 5), GPU ms a step with the
     * group cut into pieces of 8 / 11 / 16 tiles beside 5-tile private lists: 8B 6.10 / 5.96 / 6.26, 1B 1.68 /
     * 1.66 / —; the balance lies near 11 block tiles for 5 warp tiles.
     */
    static final double WARP_TILE_COST = 2.4;

    private final Shape shape;
    private final boolean sharing;
    private final int[][] tables;     // per sequence: the chunk ids it uses (copy)
    private final int[] lengths;      // (B) tokens per sequence, the new token included
    final int[] items;                // (items, 16) see attention.cu
    final int[] chunkIds;             // chunk lists of all pieces, concatenated
    final int[] rowSeqs;              // group sequence lists, then 0 .. B-1
    final int[] seqInfo;              // (B, 4) first merge entry, end, work items holding the sequence's rows, 0
    final int[] mergeEnt;             // (entries, 2) record base, record stride per KV head
    final int records;                // partial records (rows × KV heads over all pieces)
    final int warpStart;              // items ≥ warpStart are warp items (≤ 16 rows), 4 a block; = item count: none
    private final int tilesPerPiece, privatePieces, groups, sharedChunks, privateChunks;

    private CudaPlan(Shape shape, boolean sharing, int[][] tables, int[] lengths, Work w) {
        this.shape = shape;
        this.sharing = sharing;
        this.tables = tables;
        this.lengths = lengths;
        items = w.items;
        chunkIds = w.chunkIds;
        rowSeqs = w.rowSeqs;
        seqInfo = w.seqInfo;
        mergeEnt = w.mergeEnt;
        records = w.records;
        warpStart = w.warpStart;
        tilesPerPiece = w.tilesPerPiece;
        privatePieces = w.privatePieces;
        groups = w.groups;
        sharedChunks = w.sharedChunks;
        privateChunks = w.privateChunks;
    }

    /**
     * @param tables  per sequence its chunk table (at least ⌈lengths[b] / C⌉ entries; extra entries are ignored)
     * @param lengths per sequence its tokens including the new one (≥ 1)
     * @param sharing false treats every chunk as private (the prefix-unaware baseline)
     */
    public static CudaPlan build(int[][] tables, int[] lengths, boolean sharing, Shape shape) {
        int batch = tables.length, c = shape.chunkSize();
        if (lengths.length != batch) throw new IllegalArgumentException(batch + " tables but " + lengths.length + " lengths");
        int[][] used = new int[batch][];
        for (int b = 0; b < batch; b++) {
            if (lengths[b] < 1) throw new IllegalArgumentException("sequence " + b + " has length " + lengths[b]);
            int n = (lengths[b] + c - 1) / c;
            if (tables[b].length < n) throw new IllegalArgumentException("sequence " + b + ": " + lengths[b] + " tokens need " + n + " chunks, table has " + tables[b].length);
            used[b] = Arrays.copyOf(tables[b], n);
        }
        return new CudaPlan(shape, sharing, used, lengths.clone(), new Work(used, lengths, sharing, shape));
    }

    /** True when this plan holds for the batch: same sequences, chunk ids and last-chunk fullness. O(N). */
    public boolean sameStructure(int[][] tables, int[] lengths) {
        if (tables.length != this.tables.length || lengths.length != this.lengths.length) return false;
        int c = shape.chunkSize();
        for (int b = 0; b < tables.length; b++) {
            int[] mine = this.tables[b];
            if (lengths[b] < 1 || (lengths[b] + c - 1) / c != mine.length || tables[b].length < mine.length) return false;
            if ((lengths[b] % c == 0) != (this.lengths[b] % c == 0)) return false;
            if (!Arrays.equals(mine, 0, mine.length, tables[b], 0, mine.length)) return false;
        }
        return true;
    }

    /** Adopts lengths that keep the structure ({@link #sameStructure} must hold). */
    public void updateLengths(int[] lengths) {
        if (lengths.length != this.lengths.length) throw new IllegalArgumentException("batch size changed");
        System.arraycopy(lengths, 0, this.lengths, 0, lengths.length);
    }

    public Shape shape() { return shape; }

    public boolean sharing() { return sharing; }

    public int batchSize() { return lengths.length; }

    /** Current lengths (the array the kernels read; do not modify). */
    int[] lengths() { return lengths; }

    public int itemCount() { return items.length / ITEM_INTS; }

    public int blockCount() { return (warpStart + warpBlocks(itemCount() - warpStart, shape)) * shape.kvHeads(); }

    /** Blocks of n warp items. */
    static int warpBlocks(int n, Shape shape) { return (n + shape.warpsPerBlock() - 1) / shape.warpsPerBlock(); }

    /** Index of the first warp item (items from here on run one a warp, {@code warpsPerBlock} a block); the item count when none. */
    public int warpStart() { return warpStart; }

    /** Items that run one a warp. */
    public int warpItemCount() { return itemCount() - warpStart; }

    public int records() { return records; }

    /** True when some sequence is held by one work item alone (its rows can be written out by that item). */
    public boolean hasDirectRows() {
        for (int b = 0; b < lengths.length; b++) if (seqInfo[4 * b + 2] == 1) return true;
        return false;
    }

    /** True when some sequence is split over several work items (the merge launch is then needed). */
    public boolean needsMerge() {
        for (int b = 0; b < lengths.length; b++) if (seqInfo[4 * b + 2] > 1) return true;
        return false;
    }

    public int tilesPerPiece() { return tilesPerPiece; }

    /** The least pieces each private list of ≥ that many chunks was cut into (1: cut by the piece size only). */
    public int privatePieces() { return privatePieces; }

    public int groupCount() { return groups; }

    /** Distinct chunks the chunk-first items read. */
    public int sharedChunkCount() { return sharedChunks; }

    /** Chunk reads of the sequence-first items (Σ over sequences). */
    public int privateChunkCount() { return privateChunks; }

    @Override
    public String toString() {
        return "CudaPlan[B=" + lengths.length + ", groups=" + groups + ", shared chunks=" + sharedChunks + ", private chunks="
                + privateChunks + ", items=" + itemCount() + (warpItemCount() > 0 ? " (" + warpItemCount() + " a warp)" : "")
                + ", blocks=" + blockCount() + ", tiles/piece=" + tilesPerPiece
                + (privatePieces > 1 ? ", private lists in " + privatePieces + " pieces" : "")
                + (sharing ? "" : ", sharing off") + "]";
    }

    /** One chunk list to cut into pieces: a shared group or a sequence's private chunks. */
    private record WorkList(int[] chunks, int rows, int seqOff, int tailSeq, int[] members, boolean priv) {
        /** The first member when the members are consecutive sequence ids (the kernel then skips rowSeqs), else −1. */
        int seqBase() {
            for (int i = 1; i < members.length; i++) if (members[i] != members[0] + i) return -1;
            return members[0];
        }
    }

    /** The construction: groups, lists, piece size, items, merge entries. */
    private static final class Work {
        int[] items, chunkIds, rowSeqs, seqInfo, mergeEnt;
        int records, tilesPerPiece, privatePieces = 1, groups, sharedChunks, privateChunks, warpStart;

        Work(int[][] tables, int[] lengths, boolean sharing, Shape shape) {
            int batch = tables.length, c = shape.chunkSize(), g = shape.groupSize();
            // 1. keys (table index, chunk id) → holders, and whether any holder has the chunk partly filled
            int entries = 0;
            for (int[] t : tables) entries += t.length;
            KeyTable keyIds = new KeyTable(entries);
            List<IntList> holders = new ArrayList<>();
            IntList partial = new IntList();
            int[][] entryKey = new int[batch][];
            for (int b = 0; b < batch; b++) {
                entryKey[b] = new int[tables[b].length];
                for (int i = 0; i < tables[b].length; i++) {
                    int k = keyIds.idOf(((long) i << 32) | (tables[b][i] & 0xffffffffL));
                    if (k == holders.size()) {
                        holders.add(new IntList());
                        partial.add(0);
                    }
                    holders.get(k).add(b);
                    if ((long) (i + 1) * c > lengths[b]) partial.set(k, 1);
                    entryKey[b][i] = k;
                }
            }
            boolean[] shared = new boolean[holders.size()];
            for (int k = 0; k < shared.length; k++) shared[k] = sharing && holders.get(k).size() >= 2 && partial.get(k) == 0;
            // 2. groups: opened by their first (lowest) holder, extended along its table while the holder set stays
            List<WorkList> lists = new ArrayList<>();
            IntList rowSeqList = new IntList();
            for (int b = 0; b < batch; b++) {
                IntList open = null;
                int openKey = -1, seqOff = 0;
                int[] members = null;
                for (int i = 0; i <= tables[b].length; i++) {
                    int k = i < tables[b].length ? entryKey[b][i] : -1;
                    boolean opener = k >= 0 && shared[k] && holders.get(k).get(0) == b;
                    boolean extend = opener && open != null && holders.get(k).sameAs(holders.get(openKey));
                    if (open != null && !extend) {   // close the open group
                        lists.add(new WorkList(open.toArray(), members.length * g, seqOff, -1, members, false));
                        open = null;
                    }
                    if (!opener) continue;
                    if (open == null) {
                        open = new IntList();
                        members = holders.get(k).toArray();
                        seqOff = rowSeqList.size();
                        for (int s : members) rowSeqList.add(s);
                    }
                    open.add(tables[b][i]);
                    openKey = k;
                }
            }
            groups = lists.size();
            for (WorkList l : lists) sharedChunks += l.chunks.length;
            // 3. private lists; the sequence's last chunk is last in its list and masked by its length
            int idOff = rowSeqList.size();
            for (int b = 0; b < batch; b++) rowSeqList.add(b);
            for (int b = 0; b < batch; b++) {
                IntList priv = new IntList();
                boolean tail = false;
                for (int i = 0; i < tables[b].length; i++) {
                    if (!shared[entryKey[b][i]]) {
                        priv.add(tables[b][i]);
                        tail = i == tables[b].length - 1;
                    }
                }
                if (priv.size() > 0) lists.add(new WorkList(priv.toArray(), g, idOff + b, tail ? b : -1, new int[] {b}, true));
                privateChunks += priv.size();
            }
            rowSeqs = rowSeqList.toArray();
            int[] listsPerSeq = new int[batch];
            for (WorkList l : lists) for (int m : l.members) listsPerSeq[m]++;
            // 4. piece size
            tilesPerPiece = shape.forcedTilesPerPiece() > 0 ? shape.forcedTilesPerPiece() : choosePieceTiles(lists, listsPerSeq, shape);
            if (shape.privateSplit() >= 2) privatePieces = shape.privateSplit();
            if (shape.forcedTilesPerPiece() == 0 && shape.warpItems() != WARP_OFF && c >= 16) {
                int[] tw = warpPieceTiles(lists, shape);
                if (tw[0] > 0) {
                    tilesPerPiece = tw[0];
                    privatePieces = tw[1];
                }
            }
            // 5. items, records, merge entries
            IntList chunkList = new IntList(), itemList = new IntList();
            IntList[] ent = new IntList[batch];
            int[] itemsPerSeq = new int[batch];
            for (int b = 0; b < batch; b++) ent[b] = new IntList();
            int pc = pieceChunks(tilesPerPiece, c);
            for (WorkList l : lists) {
                int n = l.chunks.length, pieces = listPieces(l, pc, privatePieces), base = n / pieces, extra = n % pieces;
                int rowTiles = (l.rows + ROWS - 1) / ROWS;
                for (int p = 0, start = 0; p < pieces; p++) {
                    int len = base + (p < extra ? 1 : 0);
                    int chunkOff = chunkList.size();
                    for (int j = 0; j < len; j++) chunkList.add(l.chunks[start + j]);
                    start += len;
                    int pieceBase = records;
                    records = Math.addExact(records, Math.multiplyExact(shape.kvHeads(), l.rows));
                    int tailSeq = p == pieces - 1 ? l.tailSeq : -1, seqBase = l.seqBase();
                    for (int rt = 0; rt < rowTiles; rt++) {
                        int rowStart = rt * ROWS, rowCount = Math.min(ROWS, l.rows - rowStart);
                        itemList.add(chunkOff);
                        itemList.add(len * c);
                        itemList.add(l.seqOff);
                        itemList.add(rowStart);
                        itemList.add(rowCount);
                        itemList.add(pieceBase + rowStart);
                        itemList.add(l.rows);
                        itemList.add(tailSeq);
                        itemList.add(seqBase);
                        for (int j = 0; j < ITEM_PREFIX; j++) itemList.add(j < len ? chunkList.get(chunkOff + j) : 0);
                        for (int k = rowStart / g; k <= (rowStart + rowCount - 1) / g; k++) itemsPerSeq[l.members[k]]++;
                    }
                    for (int pos = 0; pos < l.members.length; pos++) {
                        ent[l.members[pos]].add(pieceBase + pos * g);
                        ent[l.members[pos]].add(l.rows);
                    }
                }
            }
            chunkIds = chunkList.toArray();
            items = longestFirst(itemList.toArray());
            warpStart = items.length / ITEM_INTS;
            if (shape.warpItems() != WARP_OFF && c >= 16) warpItemsLast(shape);
            seqInfo = new int[4 * batch];
            IntList all = new IntList();
            for (int b = 0; b < batch; b++) {
                seqInfo[4 * b] = all.size() / 2;
                for (int j = 0; j < ent[b].size(); j++) all.add(ent[b].get(j));
                seqInfo[4 * b + 1] = all.size() / 2;
                seqInfo[4 * b + 2] = itemsPerSeq[b];
            }
            mergeEnt = all.toArray();
        }

        /**
         * Moves the items of ≤ {@link #WARP_ROWS} rows behind the others (both parts keep the longest-first order)
         * and sets {@link #warpStart}, unless the mode is auto and the plan would then have fewer blocks than the
         * GPU has multiprocessors.
         */
        void warpItemsLast(Shape shape) {
            int n = items.length / ITEM_INTS, small = 0;
            for (int i = 0; i < n; i++) if (items[i * ITEM_INTS + 4] <= WARP_ROWS) small++;
            if (small == 0) return;
            long blocks = (long) (n - small + warpBlocks(small, shape)) * shape.kvHeads();
            if (shape.warpItems() == WARP_AUTO && blocks < shape.multiprocessors()) return;
            int[] out = new int[items.length];
            int big = 0, w = n - small;
            for (int i = 0; i < n; i++) {
                int to = items[i * ITEM_INTS + 4] <= WARP_ROWS ? w++ : big++;
                System.arraycopy(items, i * ITEM_INTS, out, to * ITEM_INTS, ITEM_INTS);
            }
            items = out;
            warpStart = n - small;
        }

        /**
         * With warp items: among the piece sizes (2 .. 64 tiles) whose plan runs in one wave of blocks (at most
         * multiprocessors × blocksPerSm; with auto also at least one block a multiprocessor, else the plan keeps
         * block items), the one whose longest item is shortest, a warp item's tile counted as
         * {@link #WARP_TILE_COST} block tiles (ties: the larger size, fewer partial records). In one wave every item
         * runs at once, so the longest item is the makespan. With {@link #SPLIT_AUTO} the private lists may also be
         * cut into k = 2 .. {@link #MAX_AUTO_SPLIT} pieces (warp items k times shorter, k times as many of them); a
         * k > 1 is taken only when its longest item is strictly shorter (ties: fewer pieces, fewer records); with a
         * forced split (≥ 2) only that k. Returns {tiles, k}; tiles 0 when no one-wave plan exists (the cost
         * model's size then stands, and the private lists are cut into a forced split's pieces, else none).
         */
        static int[] warpPieceTiles(List<WorkList> lists, Shape shape) {
            int kLo = 1, kHi = 1;
            if (shape.privateSplit() >= 2) kLo = kHi = shape.privateSplit();
            else if (shape.privateSplit() == SPLIT_AUTO) kHi = MAX_AUTO_SPLIT;
            int best = 0, bestK = kLo;
            double bestCost = Double.MAX_VALUE;
            for (int k = kLo; k <= kHi; k++) {
                int kBest = 0;
                double kCost = Double.MAX_VALUE;
                for (int tp = 2; tp <= 64; tp++) {
                    double longest = warpPlanLongest(lists, shape, tp, k);
                    if (longest < 0) continue;
                    if (longest <= kCost * (1 + 1e-9)) {
                        kCost = Math.min(kCost, longest);
                        kBest = tp;
                    }
                }
                if (kBest > 0 && kCost < bestCost * (1 - 1e-9)) {
                    bestCost = kCost;
                    best = kBest;
                    bestK = k;
                }
            }
            return new int[] {best, best > 0 ? bestK : Math.max(1, shape.privateSplit())};
        }

        /**
         * The longest item (block tiles) of the plan with piece size tp and private lists in k pieces when it runs
         * in one wave (see {@link #warpPieceTiles}); −1 when it does not or has no warp items.
         */
        static double warpPlanLongest(List<WorkList> lists, Shape shape, int tp, int k) {
            int c = shape.chunkSize(), pc = pieceChunks(tp, c);
            long slots = (long) shape.multiprocessors() * shape.blocksPerSm();
            long blockItems = 0, warpItems = 0;
            double longest = 0;
            for (WorkList l : lists) {
                int pieces = listPieces(l, pc, k);
                double tiles = Math.ceil((double) ((l.chunks.length + pieces - 1) / pieces) * c / TILE);
                for (int rs = 0; rs < l.rows; rs += ROWS) {
                    boolean warp = Math.min(ROWS, l.rows - rs) <= WARP_ROWS;
                    if (warp) warpItems += pieces;
                    else blockItems += pieces;
                    longest = Math.max(longest, warp ? WARP_TILE_COST * tiles : tiles);
                }
            }
            if (warpItems == 0) return -1;
            long blocks = (blockItems + (warpItems + shape.warpsPerBlock() - 1) / shape.warpsPerBlock()) * shape.kvHeads();
            if (blocks > slots || (shape.warpItems() == WARP_AUTO && blocks < shape.multiprocessors())) return -1;
            return longest;
        }

        /** Pieces of a list: by the piece size, and a private list into at least min(k, chunks). */
        static int listPieces(WorkList l, int pc, int k) {
            int n = l.chunks.length, pieces = (n + pc - 1) / pc;
            return l.priv ? Math.max(pieces, Math.min(k, n)) : pieces;
        }

        /** Chunks per piece for a piece of {@code tiles} 64-token tiles (at least one chunk). */
        static int pieceChunks(int tiles, int chunkSize) {
            return (int) Math.max(1, Math.min(Integer.MAX_VALUE, (long) tiles * TILE / chunkSize));
        }

        /**
         * The piece size (in tiles) of least estimated time. Measured on an H200 (BENCHMARKS.md, CUDA section): a
         * multiprocessor streams about the same bytes per second with one resident block as with two, so the
         * model spreads tiles over multiprocessors, not block slots: time ≈ max(longest item, slowed down by the
         * blocks that share its multiprocessor; Σ tiles / SMs plus a tail) plus the fp32 partials each piece
         * writes and the merge reads back, plus the merge launch itself when any row needs it (none when every
         * list is one piece whose sequences are in no other list: the kernel then writes all rows directly). The
         * tail: half the smallest item (longest-first order), which matched the measured piece sweeps of split
         * plans; for a plan with no merge and equal blocks, the unfilled part of the last wave, (⌈blocks / SMs⌉ −
         * blocks / SMs) blocks, which matched the sweeps over per-sequence copies (0.5 there cost up to 25%).
         */
        static int choosePieceTiles(List<WorkList> lists, int[] listsPerSeq, Shape shape) {
            int c = shape.chunkSize(), sms = shape.multiprocessors(), hkv = shape.kvHeads();
            double tileBytes = 2.0 * TILE * shape.headDim() * 2, recordBytes = shape.headDim() * 4.0 + 8;
            boolean[] alone = new boolean[lists.size()];
            for (int i = 0; i < alone.length; i++) {
                alone[i] = true;
                for (int m : lists.get(i).members) alone[i] &= listsPerSeq[m] == 1;
            }
            int best = PIECE_CANDIDATES[PIECE_CANDIDATES.length - 1];
            double bestCost = Double.MAX_VALUE;
            for (int tp : PIECE_CANDIDATES) {
                int pc = pieceChunks(tp, c);
                double work = 0, maxItem = 0, minItem = Double.MAX_VALUE, records = 0;
                long blocks = 0;
                boolean equal = true;   // every block streams the same number of tiles
                for (int li = 0; li < lists.size(); li++) {
                    WorkList l = lists.get(li);
                    int n = l.chunks.length, pieces = (n + pc - 1) / pc;
                    int rowTiles = (l.rows + ROWS - 1) / ROWS;
                    double tiles = (double) n * c / TILE;
                    double maxTiles = Math.ceil((double) ((n + pieces - 1) / pieces) * c / TILE);
                    double minTiles = Math.max(1, Math.ceil((double) (n / pieces) * c / TILE));
                    long b = (long) pieces * rowTiles * hkv;
                    blocks += b;
                    work += tiles * rowTiles * hkv + b * ITEM_OVERHEAD_TILES;
                    maxItem = Math.max(maxItem, maxTiles + ITEM_OVERHEAD_TILES);
                    minItem = Math.min(minItem, minTiles + ITEM_OVERHEAD_TILES);
                    if (pieces > 1 || rowTiles > 1 || !alone[li]) records += (double) pieces * hkv * l.rows;
                    equal &= maxTiles == minTiles;
                }
                equal &= maxItem == minItem;
                double sharing = blocks <= sms ? 1 : Math.min(shape.blocksPerSm(), (double) blocks / sms);
                double waves = (double) blocks / sms;
                double tail = equal && records == 0 ? Math.ceil(waves - 1e-9) - waves : 0.5;
                double makespan = Math.max(maxItem * sharing, blocks <= sms ? 0 : work / sms + tail * minItem);
                double cost = makespan + 2 * records * recordBytes / (tileBytes * sms) + (records > 0 ? MERGE_LAUNCH_TILES : 0);
                if (cost <= bestCost * (1 + 1e-9)) {   // ties go to larger pieces (fewer partials)
                    bestCost = Math.min(cost, bestCost);
                    best = tp;
                }
            }
            return best;
        }

        /** Items reordered by tiles, longest first (stable, so row tiles of one piece stay adjacent). */
        static int[] longestFirst(int[] items) {
            int n = items.length / ITEM_INTS;
            long[] keys = new long[n];
            for (int i = 0; i < n; i++) keys[i] = ((long) (Integer.MAX_VALUE - items[i * ITEM_INTS + 1]) << 32) | i;
            Arrays.sort(keys);
            int[] out = new int[items.length];
            for (int i = 0; i < n; i++) System.arraycopy(items, (int) keys[i] * ITEM_INTS, out, i * ITEM_INTS, ITEM_INTS);
            return out;
        }
    }

    /** Open-addressing map from (table index, chunk id) keys to dense ids 0, 1, 2, ... in order of first sight. */
    private static final class KeyTable {
        private final long[] keys;
        private final int[] ids;
        private final int mask;
        private int size;

        KeyTable(int entries) {
            int cap = Integer.highestOneBit(Math.max(4, 2 * entries) - 1) << 1;
            keys = new long[cap];
            ids = new int[cap];
            Arrays.fill(ids, -1);
            mask = cap - 1;
        }

        int idOf(long key) {
            int s = (int) ((key * 0x9E3779B97F4A7C15L) >>> 32) & mask;
            while (ids[s] >= 0 && keys[s] != key) s = (s + 1) & mask;
            if (ids[s] < 0) {
                keys[s] = key;
                ids[s] = size++;
            }
            return ids[s];
        }
    }

    /** A growable int array. */
    static final class IntList {
        private int[] a = new int[8];
        private int size;

        void add(int x) {
            if (size == a.length) a = Arrays.copyOf(a, 2 * size);
            a[size++] = x;
        }

        int get(int i) { return a[i]; }

        void set(int i, int x) { a[i] = x; }

        int size() { return size; }

        boolean sameAs(IntList o) { return Arrays.equals(a, 0, size, o.a, 0, o.size); }

        int[] toArray() { return Arrays.copyOf(a, size); }
    }
}
