// Two-phase partition decode attention over the chunked KV cache (ChunkAttention, with the gaps of the
// published kernel closed: maximal shared groups, a query tile of the group's rows, long groups split across
// blocks, fp32 partials, tensor cores, GQA, fp16 and bf16, head dims 64 and 128).
//
// KV layout per layer slab (K and V alike): element (chunk c, kv head h, slot t, dim d) at
// ((c·Hkv + h)·C + t)·D + d.
//
// One launch of cs_attn_partials_* runs every work item of a decode step, both kinds side by side:
//   chunk-first item  = (piece of a shared group, row tile): rows are (sequence, query head of the KV head) of
//                       the group's sequences, ≤ 64 per item; KV tiles of 64 tokens go through shared memory
//                       once and feed all rows through mma.sync;
//   sequence-first item = (piece of one sequence's private chunks): rows are the g query heads of the sequence;
//                       the last piece masks the tail chunk past the sequence's length (read from lens[]).
// Each (item, KV head) block ends with, per row, an unnormalised partial state (o[D], m, l) in fp32 (m in log2
// units). With direct = 1 (the default path) a row whose sequence is held by this item alone is normalised and
// written to out at once; every other row leaves its partial record, and cs_attn_merge_* (a second launch, only
// when some sequence needs it) merges, per (sequence, query head), the records of its group pieces and its
// private pieces with the log-sum-exp rule and writes out = O / L. With direct = 0 every row leaves a record
// (the earlier path).
//
// Warp items (attention_warp.cuh): items from warpStart on hold ≤ 16 rows each and run one a warp, 4 a block.
//
// Work item: 16 ints {chunkOff, fullTokens, seqOff, rowStart, rowCount, partBase, partStride, tailSeq,
//                     seqBase, chunk ids 0..6 of the item}
//   chunk ids chunkIds[chunkOff ..] cover the item's tokens, fullTokens = chunks × C; the first 7 are repeated
//   in the item, so the first tiles' loads wait for one dependent read only;
//   tailSeq ≥ 0: the last chunk is sequence tailSeq's last chunk and holds ((lens[tailSeq]−1) mod C)+1 tokens;
//   row r (0 ≤ r < rowCount) is global row rg = rowStart + r of the piece: sequence rowSeqs[seqOff + rg / g]
//   (= seqBase + rg / g when seqBase ≥ 0: the list's sequences are consecutive), query head h·g + rg mod g; its
//   partial record is partBase + h·partStride + r.
// Sequence info: seqInfo[4b .. 4b+3] = {e0, e1, items, 0}: sequence b's merge entries are e in e0 .. e1−1, and
//   `items` work items hold rows of b (1: written directly). Entry e: query head qh = kvh·g + j of b reads
//   record mergeEnt[2e] + kvh·mergeEnt[2e+1] + j.

#include "common.cuh"
#include "wgmma.cuh"

#include <type_traits>

namespace cs {

constexpr int TILE = 64;      // KV tokens per pipeline stage
constexpr int ROWS = 64;      // query rows per block (4 warps × 16; the _f64w8 kernels: 8 warps, 2 a 16-row slice)
constexpr int ITEM_INTS = 16;
constexpr int PRE = 7;        // chunk ids repeated in the item record

template <typename T, int D, int STAGES, int TL = TILE>
struct PartialsSmem {
    static constexpr int Q = ROWS * D;              // elements of the query tile
    static constexpr int STAGE = 2 * TL * D;        // elements of one K + V stage
    static constexpr int SEQ_BYTES = 2 * ROWS * 4;  // after the stages: sequence ids [ROWS], items holding them [ROWS]
    static constexpr int BYTES = (Q + STAGES * STAGE) * 2 + SEQ_BYTES;
    static constexpr int RED_STRIDE = D + 4;        // fp32 row stride of the cross-warp reduction area
    // after the loop the stages hold: red [NW·16][RED_STRIDE], redM [NW·16], redL [NW·16] (NW = warps a block)
    template <int NW>
    static constexpr int FIN_BYTES = NW * 16 * RED_STRIDE * 4 + 2 * NW * 16 * 4;
    static_assert(FIN_BYTES<4> <= STAGES * STAGE * 2, "finish area must fit the stages");
};

struct Args {
    const int* items;
    const int* chunkIds;
    const int* rowSeqs;
    const int* lens;
    float* partO;
    float* partML;
    const int* seqInfo;
    void* out;
    int hkv, g, logC, direct;
    float scaleLog2;
    int warpStart, nItems;   // items ≥ warpStart: one a warp, 4 a block (WARP kernels only)
};

// A read-only 16-byte load the compiler may not merge with an earlier one: values needed only after the main
// loop are read again there instead of holding registers through it.
__device__ __forceinline__ int4 ldg_again(const int* p) {
    int4 v;
    asm volatile("ld.global.nc.v4.s32 {%0,%1,%2,%3}, [%4];\n" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
    return v;
}

__device__ __forceinline__ int pick_pre(int4 c, int4 d, int i) {
    // chunk id i (< PRE) of the item record without a run-time register index
    int v = c.y;
    v = i == 1 ? c.z : v;
    v = i == 2 ? c.w : v;
    v = i == 3 ? d.x : v;
    v = i == 4 ? d.y : v;
    v = i == 5 ? d.z : v;
    v = i == 6 ? d.w : v;
    return v;
}

// TL = KV tokens of a pipeline stage (64, or 32 where smaller stages let more blocks reside); NRS = row slices
// (warps along rows: 1 for rows ≤ 16, 2 for ≤ 32, 4); NT = tokens of a stage that one warp handles, TL·NRS/4 but
// at least 16 (the mma's k): with TL = 32 and one row slice, warps 2 and 3 only load (their o stays 0, m −inf).
// FAST: the tile loads take one chunk id per tile when a chunk holds whole stages (C ≥ TL; the address of each
// 16-byte piece is then the tile's base plus a per-thread constant), the next tile's chunk id is read before the
// stage wait, and the o rescale is skipped when no row maximum of the warp moved.
// 2^x for the online softmax: FTZ = ex2.approx.ftz (one MUFU op; results below 2^-126 flush to 0, which a
// probability rounded to 16 bits for the P·V mma loses anyway), else exp2f (ex2.approx with denormal handling).
template <bool FTZ>
__device__ __forceinline__ float ex2(float x) {
    if constexpr (FTZ) {
        float y;
        asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
        return y;
    } else {
        return exp2f(x);
    }
}

// DIAG (diagnostics only, session 9; separate _f64d1/_f64d2 instances, garbage outputs): DIAG & 3 = 1: the K/V loads, barriers
// and the finish without the tile math; 2 = the tile math on whatever shared memory holds, without the K/V loads.
// NW: warps a block (4, or 8 for the _f64w8 kernels, session 10): with 8 the NRS row slices of a 64-row item have
// 8 / NRS warps each, every one taking its share of each tile's tokens (NT = TL·NRS/NW), so a scheduler holds two
// warps of a 64-row group item and one hides the other's mma / softmax latency; their (m, l, o) states are combined
// in shared memory after the loop, as the token split of the ≤ 32-row items always was.
template <typename T, int D, int STAGES, int TL, int NRS, bool FAST, int DIAG = 0, bool FTZ = false, int NW = 4, bool WG = false>
__device__ __forceinline__ void partials_body(
        const T* __restrict__ kc, const T* __restrict__ vc, const T* __restrict__ q, const Args& A,
        int h, const int* itemRec, int4 ia, int4 ib, int4 ic, int4 id, unsigned char* smem) {
    using S = PartialsSmem<T, D, STAGES, TL>;
    constexpr int THREADS = NW * 32;
    constexpr int PR = D / 8;            // 16-byte pieces per row
    constexpr int NT = TL * NRS / NW < 16 ? 16 : TL * NRS / NW;
    constexpr int KS = TL / NT;          // token slices with work
    static_assert(NT % 16 == 0 && TL % NT == 0 && KS * NRS <= NW, "warp split");
    static_assert(S::template FIN_BYTES<NW> <= STAGES * S::STAGE * 2, "finish area must fit the stages");
    static_assert(TL * PR % THREADS == 0 && THREADS % PR == 0, "tile load split");
    const int chunkOff = ia.x, fullTok = ia.y, tailSeq = ib.w;
    const int hkv = A.hkv, g = A.g, logC = A.logC;
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int rs = warp % NRS, kp = warp / NRS;
    const bool active = kp < KS;
    const int C = 1 << logC, hq = hkv * g;
    // WG (the _f64w8h kernels, session 22): a 64-row item's tile math on Hopper's warpgroup MMAs. With 8 warps and 4 row
    // slices, warps 0-3 (warpgroup 0) hold rows 0-63 × the stage's tokens 0-31 and warps 4-7 rows 0-63 × tokens 32-63,
    // exactly an m64n32 accumulator each (warp w of a warpgroup: rows 16w + lane/4 (+8), columns 8j + 2(lane%4) + e,
    // the mma.sync layout of s below), and the query tile and the K / V stages already sit in the 128-byte swizzle of
    // wgmma operands (swz<64>, 128-byte rows, from a 1024-byte aligned base: partials() aligns it). S = Q·Kᵀ: four
    // wgmma.m64n32k16 a warpgroup straight from shared memory (Q and K K-major; no ldmatrix, no query fragments in
    // registers); O += P·V: two wgmma.m64n64k16 with P from registers (the packed probabilities are an m16n8k16 A
    // fragment already) and the V stage as an MN-major operand (token rows of 64 contiguous d, trans-b). The softmax
    // between them is unchanged. bf16 only; other targets compile the mma.sync path (CS_WGMMA 0).
#if CS_WGMMA
    constexpr bool WGQK = WG && NW == 8 && NRS == 4 && D == 64 && TL == 64 && std::is_same<T, __nv_bfloat16>::value;
    constexpr bool WGPV = WGQK;
#else
    constexpr bool WGQK = false;
#endif
    // the tail length arrives while the first tiles load; only masking and the loop bound need it
    const int tailLen = tailSeq >= 0 ? __ldg(A.lens + tailSeq) : 0;
    const int nTilesFull = (fullTok + TL - 1) / TL;
    T* qs = reinterpret_cast<T*>(smem);
    T* kvs = qs + S::Q;
    // fast loads: a chunk holds whole stages
    const bool wholeTiles = FAST && C >= TL;

    // query tile (rows past rowCount are zero)
    {
    const int seqOff = ia.z, rowStart = ia.w, rowCount = ib.x, seqBase = ic.x;
    for (int p = tid; p < ROWS * PR; p += THREADS) {
        int r = p / PR, c = p % PR;
        bool valid = r < rowCount;
        const T* src = q;
        if (valid) {
            int rg = rowStart + r, k = rg / g;
            int seq = seqBase >= 0 ? seqBase + k : __ldg(A.rowSeqs + seqOff + k);
            src = q + (size_t)(seq * hq + h * g + (rg - k * g)) * D + c * 8;
        }
        cp_async16(smem_u32(qs + swz<D>(r, c)), src, valid);
    }
    }
    // tokens < fullTok are copied (a tail chunk's slots past the length too: they lie inside the chunk and are
    // masked below, V rows zeroed); tokens ≥ fullTok are zero-filled
    // (the prologue takes the first chunk ids from the item record; later tiles read chunkIds, from L2)
    // (tiles of the main loop know the tail length by then: there, slots past it are zero-filled, not read)
    auto load_tile = [&](int tile, int stage, auto prologue, int bound) {
        if constexpr ((DIAG & 3) == 2) return;
        T* ks = kvs + stage * S::STAGE;
        T* vs = ks + TL * D;
        #pragma unroll
        for (int it = 0; it < TL * PR / THREADS; ++it) {
            int p = tid + it * THREADS;
            int r = p / PR, c = p % PR;
            int tok = tile * TL + r;
            bool valid = tok < bound;
            size_t off = 0;
            if (valid) {
                int ci = tok >> logC;
                int chunk;
                if constexpr (decltype(prologue)::value) {
                    chunk = ci < PRE ? pick_pre(ic, id, ci) : __ldg(A.chunkIds + chunkOff + ci);
                } else {
                    chunk = __ldg(A.chunkIds + chunkOff + ci);
                }
                off = (((size_t)chunk * hkv + h) * C + (tok & (C - 1))) * D + c * 8;
            }
            cp_async16(smem_u32(ks + swz<D>(r, c)), kc + off, valid);
            cp_async16(smem_u32(vs + swz<D>(r, c)), vc + off, valid);
        }
    };
    // whole-tile load (wholeTiles only): the tile lies in chunk `chunk`; piece p = tid + it·THREADS of the tile is
    // row p / PR, column p % PR, so its global offset is the tile's base + 8·p and its shared offset a per-thread
    // constant + it·THREADS·8 elements (the swizzle depends on row mod 8, which `it` does not change)
    const uint32_t sOffB = (uint32_t)swz<D>(tid / PR, tid % PR) * 2u;
    auto load_whole = [&](int tile, int stage, int chunk, int bound) {
        if constexpr ((DIAG & 3) == 2) return;
        const uint32_t ks = smem_u32(kvs + stage * S::STAGE) + sOffB, vs = ks + TL * D * 2;
        const size_t base = (((size_t)chunk * hkv + h) * C + ((tile * TL) & (C - 1))) * D + tid * 8;
        const T* kp0 = kc + base;
        const T* vp0 = vc + base;
        const int rLim = bound - tile * TL - tid / PR;   // piece rows below this are valid
        #pragma unroll
        for (int it = 0; it < TL * PR / THREADS; ++it) {
            bool valid = it * (THREADS / PR) < rLim;
            cp_async16(ks + it * THREADS * 16, valid ? kp0 + it * THREADS * 8 : kc, valid);
            cp_async16(vs + it * THREADS * 16, valid ? vp0 + it * THREADS * 8 : vc, valid);
        }
    };
    #pragma unroll
    for (int s = 0; s < STAGES - 1; ++s) {
        if (s < nTilesFull) {
            if (wholeTiles) {
                int ci = (s * TL) >> logC;
                load_whole(s, s, ci < PRE ? pick_pre(ic, id, ci) : __ldg(A.chunkIds + chunkOff + ci), fullTok);
            } else {
                load_tile(s, s, std::true_type{}, fullTok);
            }
        }
        cp_async_commit();
    }
    // the sequences of this block's rows and how many items hold each (1: rows written out directly), read
    // while the first tiles load
    int* sSeq = reinterpret_cast<int*>(kvs + STAGES * S::STAGE);   // [ROWS]
    int* sItems = sSeq + ROWS;                                     // [ROWS]
    {
        const int seqOff = ia.z, rowStart = ia.w, rowCount = ib.x, seqBase = ic.x;
        const int k0 = rowStart / g, nSeq = (rowStart + rowCount - 1) / g - k0 + 1;
        if (A.direct && tid < nSeq) {
            int seq = seqBase >= 0 ? seqBase + k0 + tid : __ldg(A.rowSeqs + seqOff + k0 + tid);
            sSeq[tid] = seq;
            sItems[tid] = __ldg(A.seqInfo + 4 * seq + 2);
        }
    }
    const int nTok = tailSeq >= 0 ? fullTok - C + ((tailLen - 1) & (C - 1)) + 1 : fullTok;
    const int nTiles = (nTok + TL - 1) / TL;
    if constexpr ((DIAG & 3) == 2) {   // the math alone runs on zeroed stages (stale shared memory may hold NaN patterns)
        for (int p = tid; p < STAGES * S::STAGE / 8; p += THREADS) reinterpret_cast<uint4*>(kvs)[p] = make_uint4(0u, 0u, 0u, 0u);
#if CS_WGMMA
        fence_proxy_async();
#endif
        __syncthreads();
    }

    float o[D / 8][4];
    #pragma unroll
    for (int i = 0; i < D / 8; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;
    // query fragments held in registers through the loop, or (d128 with 32-token stages, 3 blocks an SM: 168
    // registers) read again from shared memory for each tile
    constexpr bool QREG = !(D >= 128 && TL < 64) && !WGQK;
    uint32_t qf[QREG ? D / 16 : 1][4];

    for (int i = 0; i < nTiles; ++i) {
        const int nextTile = i + STAGES - 1;
        // the next tile's chunk id, requested before the stage wait (its latency hides behind it)
        int nextChunk = 0;
        if (wholeTiles && nextTile < nTiles) nextChunk = __ldg(A.chunkIds + chunkOff + ((nextTile * TL) >> logC));
        cp_async_wait<STAGES - 2>();
#if CS_WGMMA
        if constexpr (WGQK) fence_proxy_async();   // this thread's cp.async writes, before the async proxy reads them
#endif
        __syncthreads();
        if (nextTile < nTiles) {
            if (wholeTiles) load_whole(nextTile, nextTile % STAGES, nextChunk, nTok);
            else load_tile(nextTile, nextTile % STAGES, std::false_type{}, nTok);
        }
        cp_async_commit();
        const T* ks = kvs + (i % STAGES) * S::STAGE;
        T* vs = const_cast<T*>(ks) + TL * D;
        if (i == nTiles - 1 && i < STAGES - 1 && nTok < fullTok) {
            // tail slots past the length of a prologue tile: P is 0 there, but 0 · (whatever the slot holds)
            // must not be NaN (main-loop tiles zero-filled them)
            int r0 = nTok - i * TL;
            for (int p = tid; p < (TL - r0) * PR; p += THREADS) {
                int r = r0 + p / PR, c = p % PR;
                *reinterpret_cast<uint4*>(vs + swz<D>(r, c)) = make_uint4(0u, 0u, 0u, 0u);
            }
#if CS_WGMMA
            if constexpr (WGPV) fence_proxy_async();   // these generic stores, before the P·V wgmma reads V
#endif
            __syncthreads();
        }
        if (!active || (DIAG & 3) == 1) continue;   // warps without tokens: loads and barriers only
        auto load_q = [&](int kk, uint32_t (&f)[4]) {
            int mat = lane >> 3;
            int row = rs * 16 + (lane & 7) + ((mat & 1) << 3);
            ldsm_x4(f[0], f[1], f[2], f[3], smem_u32(qs + swz<D>(row, kk * 2 + (mat >> 1))));
        };
        if constexpr (QREG) {
            if (i == 0) {
                #pragma unroll
                for (int kk = 0; kk < D / 16; ++kk) load_q(kk, qf[kk]);
            }
        }
        const int t0 = kp * NT;   // this warp's first token within the tile

        // scores S = Q·Kᵀ for 16 rows × NT tokens
        float s[NT / 8][4];
        #pragma unroll
        for (int n = 0; n < NT / 8; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
#if CS_WGMMA
        if constexpr (WGQK) {
            // this warpgroup's 64 rows × its 32 tokens (rows t0.. of the K stage, 4 KiB in: whole swizzle atoms), four
            // k-steps of 16 (32 bytes into the swizzled rows); waited here, before this stage can be refilled
            const uint32_t qa = smem_u32(qs), ka = smem_u32(ks + t0 * D);
            wg_fence();
            #pragma unroll
            for (int kk = 0; kk < D / 16; ++kk) wgmma_64xn(s, wg_desc(qa + 32 * kk), wg_desc(ka + 32 * kk));
            wg_commit();
            wg_wait<0>();
            wg_fence_regs(s);
        } else
#endif
        #pragma unroll
        for (int kk = 0; kk < D / 16; ++kk) {
            uint32_t qt[4];
            const uint32_t* qa;
            if constexpr (QREG) {
                qa = qf[kk];
            } else {
                load_q(kk, qt);
                qa = qt;
            }
            #pragma unroll
            for (int nb = 0; nb < NT / 16; ++nb) {
                uint32_t b0, b1, b2, b3;
                int row = t0 + nb * 16 + (lane & 7) + ((lane >> 4) << 3);
                ldsm_x4(b0, b1, b2, b3, smem_u32(ks + swz<D>(row, kk * 2 + ((lane >> 3) & 1))));
                Elem<T>::mma(s[2 * nb], qa, b0, b1);
                Elem<T>::mma(s[2 * nb + 1], qa, b2, b3);
            }
        }
        // online softmax (log2 units); tokens past nTok are masked (a select: whatever K held there is dropped)
        float mx0 = -INFINITY, mx1 = -INFINITY;
        #pragma unroll
        for (int n = 0; n < NT / 8; ++n) {
            #pragma unroll
            for (int e = 0; e < 2; ++e) {
                int tg = i * TL + t0 + n * 8 + 2 * (lane & 3) + e;
                bool v = tg < nTok;
                s[n][e] = v ? s[n][e] * A.scaleLog2 : -INFINITY;
                s[n][2 + e] = v ? s[n][2 + e] * A.scaleLog2 : -INFINITY;
                mx0 = fmaxf(mx0, s[n][e]);
                mx1 = fmaxf(mx1, s[n][2 + e]);
            }
        }
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
        float mn0 = fmaxf(m0, mx0), mn1 = fmaxf(m1, mx1);
        float base0 = mn0 == -INFINITY ? 0.f : mn0, base1 = mn1 == -INFINITY ? 0.f : mn1;
        float c0 = ex2<FTZ>(m0 - base0), c1 = ex2<FTZ>(m1 - base1);
        // (FAST: when no row maximum of the warp moved, c0 = c1 = 1 (or o = l = 0 for rows with no token yet))
        if (!FAST || !__all_sync(0xffffffffu, mn0 == m0 && mn1 == m1)) {
            l0 *= c0;
            l1 *= c1;
            #pragma unroll
            for (int n = 0; n < D / 8; ++n) {
                o[n][0] *= c0; o[n][1] *= c0;
                o[n][2] *= c1; o[n][3] *= c1;
            }
        }
        m0 = mn0;
        m1 = mn1;
        uint32_t pf[NT / 16][4];
        #pragma unroll
        for (int n = 0; n < NT / 8; ++n) {
            float p0 = ex2<FTZ>(s[n][0] - base0), p1 = ex2<FTZ>(s[n][1] - base0);
            float p2 = ex2<FTZ>(s[n][2] - base1), p3 = ex2<FTZ>(s[n][3] - base1);
            l0 += p0 + p1;
            l1 += p2 + p3;
            pf[n >> 1][(n & 1) * 2 + 0] = Elem<T>::pack(p0, p1);
            pf[n >> 1][(n & 1) * 2 + 1] = Elem<T>::pack(p2, p3);
        }
        // O += P·V
#if CS_WGMMA
        if constexpr (WGPV) {
            // this warpgroup's 64 rows × D from its 32 tokens (V stage rows t0.., 4 KiB in), two k-steps of 16 tokens
            // (2 KiB apart: whole swizzle atoms); waited here (the next tile's rescale reads o)
            const uint32_t va = smem_u32(vs + t0 * D);
            wg_fence();
            #pragma unroll
            for (int kk = 0; kk < NT / 16; ++kk) wgmma_64x64_rt(o, pf[kk], wg_desc(va + kk * 16 * D * 2));
            wg_commit();
            wg_wait<0>();
            wg_fence_regs(o);
        } else
#endif
        #pragma unroll
        for (int kk = 0; kk < NT / 16; ++kk) {
            #pragma unroll
            for (int db = 0; db < D / 16; ++db) {
                uint32_t v0, v1, v2, v3;
                int row = t0 + kk * 16 + (lane & 7) + (((lane >> 3) & 1) << 3);
                ldsm_x4_t(v0, v1, v2, v3, smem_u32(vs + swz<D>(row, db * 2 + (lane >> 4))));
                Elem<T>::mma(o[2 * db], pf[kk], v0, v1);
                Elem<T>::mma(o[2 * db + 1], pf[kk], v2, v3);
            }
        }
    }

    // the item's fields needed from here on (an L1 hit: K/V bypass L1)
    const int4 ja = ldg_again(itemRec), jb = ldg_again(itemRec + 4);
    const int rowStart = ja.w, rowCount = jb.x, partBase = jb.y, partStride = jb.z;
    const int k0 = rowStart / g;

    if constexpr ((DIAG & 3) != 0) {   // diagnostics: finite records and outputs (their values are meaningless)
        m0 = m1 = 0.f;
        l0 = l1 = 1.f;
    }
    // each warp: row sums over its quad; then combine the warps that share a row slice
    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
    cp_async_wait<0>();
    __syncthreads();
    float* red = reinterpret_cast<float*>(kvs);          // [NW warps × 16 rows][RED_STRIDE]
    float* redM = red + NW * 16 * S::RED_STRIDE;          // [NW·16]
    float* redL = redM + NW * 16;                         // [NW·16]
    {
        int r0 = warp * 16 + (lane >> 2);
        #pragma unroll
        for (int n = 0; n < D / 8; ++n) {
            int col = n * 8 + 2 * (lane & 3);
            *reinterpret_cast<float2*>(red + r0 * S::RED_STRIDE + col) = make_float2(o[n][0], o[n][1]);
            *reinterpret_cast<float2*>(red + (r0 + 8) * S::RED_STRIDE + col) = make_float2(o[n][2], o[n][3]);
        }
        if ((lane & 3) == 0) {
            redM[r0] = m0; redM[r0 + 8] = m1;
            redL[r0] = l0; redL[r0 + 8] = l1;
        }
    }
    __syncthreads();
    constexpr int KSPLIT = NW / NRS;
    for (int e = tid; e < rowCount * (D / 4); e += THREADS) {
        int r = e / (D / 4), c4 = e % (D / 4);
        int slice = r >> 4, ri = r & 15;
        float M = -INFINITY;
        #pragma unroll
        for (int k = 0; k < KSPLIT; ++k) M = fmaxf(M, redM[(slice + k * NRS) * 16 + ri]);
        float base = M == -INFINITY ? 0.f : M;
        float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
        float L = 0.f;
        #pragma unroll
        for (int k = 0; k < KSPLIT; ++k) {
            int w = (slice + k * NRS) * 16 + ri;
            float f = exp2f(redM[w] - base);
            L += f * redL[w];
            float4 x = *reinterpret_cast<const float4*>(red + w * S::RED_STRIDE + c4 * 4);
            acc.x += f * x.x; acc.y += f * x.y; acc.z += f * x.z; acc.w += f * x.w;
        }
        int rg = rowStart + r, k = rg / g - k0;
        if (A.direct && sItems[k] == 1) {   // the only item of this sequence: normalise and write out
            float inv = 1.f / L;
            ushort4 v;
            v.x = Elem<T>::bits(acc.x * inv);
            v.y = Elem<T>::bits(acc.y * inv);
            v.z = Elem<T>::bits(acc.z * inv);
            v.w = Elem<T>::bits(acc.w * inv);
            int j = rg - (k + k0) * g;
            reinterpret_cast<ushort4*>(A.out)[((size_t)sSeq[k] * hq + h * g + j) * (D / 4) + c4] = v;
            continue;
        }
        size_t rec = (size_t)partBase + (size_t)h * partStride + r;
        reinterpret_cast<float4*>(A.partO)[rec * (D / 4) + c4] = acc;
        if (c4 == 0) *reinterpret_cast<float2*>(A.partML + 2 * rec) = make_float2(M, L);
    }
}

#include "attention_warp.cuh"

// DIAG & 4 (diagnostics only, session 23; the _tl / _tld instances): a timeline of the launch, per block b < TL_MAX six values
// in cs_attn_tl[6b ..]: globaltimer (ns) when the block began and after its dependency wait, the latest end of its
// warps (globaltimer, atomicMax), clock64 after the wait and at the latest end (one SM's clock: exact durations), and
// smid | warp block << 8 | rows << 16 | item tokens << 32. Read by CudaAttention.timeline().
constexpr int TL_MAX = 8192;
}  // namespace cs
__device__ unsigned long long cs_attn_tl[6 * cs::TL_MAX];   // global scope: found by name (cuModuleGetGlobal)
namespace cs {

// the calling warp's end in block b's record (lane 0 of each warp that ran an item)
__device__ __forceinline__ void tl_end() {
    if ((threadIdx.x & 31) == 0 && blockIdx.x < TL_MAX) {
        atomicMax(&cs_attn_tl[6 * blockIdx.x + 2], gtimer());
        atomicMax(&cs_attn_tl[6 * blockIdx.x + 4], (unsigned long long)clock64());
    }
}

template <typename T, int D, int STAGES, int TL, bool FAST, bool WARP, int DIAG = 0, bool FTZ = false, int NW = 4,
          bool WPAIR = false, bool WG = false, int WPB = 4>
__device__ __forceinline__ void partials(const T* __restrict__ kc, const T* __restrict__ vc, const T* __restrict__ q,
                                         const Args& A, const char* planBase, int planLines) {
    extern __shared__ __align__(128) unsigned char smemRaw[];
    const unsigned long long tlBegin = (DIAG & 4) ? gtimer() : 0ull;
    // WG: the wgmma descriptors' swizzle atoms need a 1024-byte aligned query tile and stages (CudaAttention asks for
    // 1 KiB more shared memory for these kernels)
    unsigned char* smem = WG ? smemRaw + ((1024u - (smem_u32(smemRaw) & 1023u)) & 1023u) : smemRaw;
    const int item = blockIdx.x / A.hkv, h = blockIdx.x - item * A.hkv;
    // items ≥ warpStart are warp items, WPB a block (4, or 8 on 8 warps: the _f64w8hw kernels)
    static_assert(WPB == 4 || (WPB == 8 && NW == 8 && !WPAIR), "warp items a block");
    const bool warpBlock = WARP && item >= A.warpStart;
    const int myItem = warpBlock ? A.warpStart + WPB * (item - A.warpStart) + ((threadIdx.x >> 5) & (WPB - 1)) : item;
    if (warpBlock && myItem >= A.nItems) return;   // a last block's missing items (the whole warp leaves)
    // NW = 8, WPB = 4: a warp block runs 4 warp items (warps 0..3, the shared memory of 4); warps 4..7 leave at once
    // (WPAIR: warps w and w + 4 run warp item w together, see partials_warp)
    if (NW > 4 && !WPAIR && WPB == 4 && warpBlock && (threadIdx.x >> 5) >= 4) return;
    const int* itemRec = A.items + (size_t)myItem * ITEM_INTS;
    const int4* rec = reinterpret_cast<const int4*>(itemRec);
    const int4 ia = __ldg(rec), ib = __ldg(rec + 1), ic = __ldg(rec + 2), id = __ldg(rec + 3);
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    // a merge launched as a programmatic dependent may start once every block has begun (its blocks then wait
    // for this grid's completion and memory flush in griddepcontrol.wait): its launch overlaps the last wave
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
    // the grid pulls the plan arrays into L2 (blocks of later waves and the merges then find them there)
    for (int l = blockIdx.x + threadIdx.x * gridDim.x; l < planLines; l += NW * 32 * gridDim.x) {
        asm volatile("prefetch.global.L2 [%0];" ::"l"(planBase + (size_t)l * 128));
    }
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    // launched as a programmatic dependent of the kernel that wrote the queries and the new K/V (the model
    // runner's q/k/v epilogue): wait for it before the first load of them; the plan and lengths (uploaded
    // before the step) were read above. A no-op on a plain launch.
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
    if constexpr ((DIAG & 4) != 0) {
        if (threadIdx.x == 0 && blockIdx.x < TL_MAX) {
            tl_start(cs_attn_tl + 6 * blockIdx.x, tlBegin,
                     smid() | (warpBlock ? 1u << 8 : 0u) | ((unsigned)min(ib.x, 255) << 16) | ((unsigned long long)(unsigned)ia.y << 32));
        }
        __syncwarp();
    }
    if constexpr (WARP) {
        if (warpBlock) {
            partials_warp<T, D, STAGES, FTZ, WPAIR, WPB == 8, DIAG & 3>(kc, vc, q, A, h, itemRec, ia, ib, ic, id, smem);
            if constexpr ((DIAG & 4) != 0) tl_end();
            return;
        }
    }
    const int rowCount = ib.x;
    if (rowCount <= 16) {
        partials_body<T, D, STAGES, TL, 1, FAST, DIAG, FTZ, NW>(kc, vc, q, A, h, itemRec, ia, ib, ic, id, smem);
    } else if (rowCount <= 32) {
        partials_body<T, D, STAGES, TL, 2, FAST, DIAG, FTZ, NW>(kc, vc, q, A, h, itemRec, ia, ib, ic, id, smem);
    } else {
        partials_body<T, D, STAGES, TL, 4, FAST, DIAG, FTZ, NW, WG>(kc, vc, q, A, h, itemRec, ia, ib, ic, id, smem);
    }
    if constexpr ((DIAG & 4) != 0) tl_end();
}

// Per (sequence, query head): log-sum-exp merge of its partial records, out = O / L; with direct = 1 the
// sequences that one item holds were written by the partials kernel and are skipped. Block: MT threads, D/4
// threads (float4 each) per (sequence, head). One pass with a running maximum (the records' loads do not wait
// for each other). Launched as a programmatic dependent of the partials (sm_90), it waits for them first.
// PRE: the first MPRE merge entries (plan data, not written by the partials) are read before that wait, so after
// it only the records' loads remain (session 9; without PRE the entries were read after the wait, in the loop).
constexpr int MPRE = 4;
// TL (diagnostics only, session 24; the _tl instances): block b's timeline in cs_merge_tl[6b ..] as cs_attn_tl's (begin,
// after the wait, end = the latest thread's, clock64 after the wait and at the latest end, smid | 1 << 9 (a merge block)).
}  // namespace cs
__device__ unsigned long long cs_merge_tl[6 * cs::TL_MAX];   // global scope: found by name (cuModuleGetGlobal)
namespace cs {
// PRE 2 (session 24): the first MPRE records' loads also issued together, before any of their arithmetic — with PRE 1
// each record's loads sat behind the branch on its entry, so a pair's records came from L2 one round trip after another
// (the timeline: ~3 µs after the wait for ~3 records); the arithmetic and its order are the same.
template <typename T, int D, int PRE, int MT, bool TL = false>
__device__ __forceinline__ void merge(const float* partO, const float* partML,
                                      const int* __restrict__ seqInfo, const int* __restrict__ mergeEnt,
                                      T* __restrict__ out, int batch, int hq, int g, int direct) {
    constexpr int TPP = D / 4;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    // the next kernel (the o projection, a programmatic dependent in the model runner) may be scheduled now: its
    // blocks load their first weight stages while this grid runs, and wait for it before reading the output
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
    const unsigned long long tlBegin = TL ? gtimer() : 0ull;
    int pair = blockIdx.x * (MT / TPP) + threadIdx.x / TPP, c4 = threadIdx.x % TPP;
    if (pair >= batch * hq) return;
    int bIdx = pair / hq, qh = pair - bIdx * hq, kvh = qh / g, j = qh - kvh * g;
    // the plan's arrays are not written by the partials: read them before waiting
    const int4 info = __ldg(reinterpret_cast<const int4*>(seqInfo) + bIdx);
    if (direct && info.z == 1) return;
    const int e0 = info.x, e1 = info.y;
    const int2* ent = reinterpret_cast<const int2*>(mergeEnt);
    int2 pre[PRE ? MPRE : 1];
    if constexpr (PRE) {
        #pragma unroll
        for (int i = 0; i < MPRE; ++i) pre[i] = e0 + i < e1 ? __ldg(ent + e0 + i) : make_int2(0, 0);
    }
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
    if constexpr (TL) {
        if (threadIdx.x == 0 && blockIdx.x < TL_MAX) tl_start(cs_merge_tl + 6 * blockIdx.x, tlBegin, smid() | (1u << 9));
        __syncthreads();   // (threads that left above do not count) the record's start before any end
    }
    float M = -INFINITY, L = 0.f;
    float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
    auto fold = [&](float2 ml, float4 x) {
        float Mn = fmaxf(M, ml.x);
        float base = Mn == -INFINITY ? 0.f : Mn;
        float c = exp2f(M - base), f = exp2f(ml.x - base);
        L = L * c + f * ml.y;
        acc.x = acc.x * c + f * x.x; acc.y = acc.y * c + f * x.y;
        acc.z = acc.z * c + f * x.z; acc.w = acc.w * c + f * x.w;
        M = Mn;
    };
    // partO / partML were written by the previous grid: plain loads, not the non-coherent path
    auto ml_of = [&](int2 me) { return reinterpret_cast<const float2*>(partML)[(size_t)me.x + (size_t)kvh * me.y + j]; };
    auto o_of = [&](int2 me) { return reinterpret_cast<const float4*>(partO)[((size_t)me.x + (size_t)kvh * me.y + j) * TPP + c4]; };
    auto add = [&](int2 me) { fold(ml_of(me), o_of(me)); };
    int e = e0;
    if constexpr (PRE == 2) {
        // every load first: an entry past e1 is (0, 0) — record j, inside the buffers, loaded and not folded
        float2 mlv[MPRE];
        float4 ov[MPRE];
        #pragma unroll
        for (int i = 0; i < MPRE; ++i) { mlv[i] = ml_of(pre[i]); ov[i] = o_of(pre[i]); }
        #pragma unroll
        for (int i = 0; i < MPRE; ++i) {
            if (e0 + i < e1) fold(mlv[i], ov[i]);
        }
        e = e0 + MPRE;
    } else if constexpr (PRE == 1) {
        #pragma unroll
        for (int i = 0; i < MPRE; ++i) {
            if (e0 + i < e1) add(pre[i]);
        }
        e = e0 + MPRE;
    }
    #pragma unroll 4
    for (; e < e1; ++e) add(__ldg(ent + e));
    float inv = 1.f / L;   // L > 0 whenever the sequence has a token; 0 → inf/NaN shows the bug
    ushort4 r;
    r.x = Elem<T>::bits(acc.x * inv);
    r.y = Elem<T>::bits(acc.y * inv);
    r.z = Elem<T>::bits(acc.z * inv);
    r.w = Elem<T>::bits(acc.w * inv);
    reinterpret_cast<ushort4*>(out)[(size_t)pair * TPP + c4] = r;
    if constexpr (TL) {
        if (c4 == 0 && blockIdx.x < TL_MAX) {
            atomicMax(&cs_merge_tl[6 * blockIdx.x + 2], gtimer());
            atomicMax(&cs_merge_tl[6 * blockIdx.x + 4], (unsigned long long)clock64());
        }
    }
}

}  // namespace cs

// plan: one int array, items at 0, the other sections at the given int offsets (16-byte aligned)
// MINB: resident blocks per SM the register budget must allow (d64: 3, which its shared memory allows on sm_90;
// at 2 the compiler took 201 registers and the SM ran 2 blocks, measured slower on sharing-on plans of short items)
// TL: KV tokens a stage; FAST: see partials_body. Shared memory: (64·D + STAGES·2·TL·D)·2 + 512 bytes
// (CudaAttention.smemBytes must agree). _f64z (_f64 with the softmax's 2^x as ex2.approx.ftz) is CudaAttention's default
// since session 9, _f64 before it; _f64w8 (session 10, d64 only): _f64z in blocks of 8 warps (256 threads, 2 blocks an
// SM), block items with two warps a 16-row slice, warp blocks still 4 warp items (warps 4..7 leave); _f64w8p (session 10,
// experiment): _f64w8 with each warp item on two warps (8·(16·64 + 3·2·16·64)·2 = 112 KiB of shared memory); _v0 (64-token stages without FAST: the
// session-3 kernel) and _t32 (32-token stages, 3 blocks an SM at d128: no faster than _f64) are kept for A/B.
// _f64w8h (session 22): _f64w8 with the 64-row items' Q·Kᵀ and P·V on warpgroup MMAs (partials_body's WG; bf16 on
// sm_90a, else the same code as _f64w8), 1 KiB more shared memory for the alignment. _f64w8hw (session 23): _f64w8h with
// 8 warp items a warp block (every warp its own; 8·(16·64 + 3·2·16·64)·2 + 1024 bytes of shared memory, still 2 an SM).
#define CS_PARTIALS(NAME, T, D, STAGES, TL, FAST, MINB) CS_PARTIALS_D(NAME, T, D, STAGES, TL, FAST, MINB, 0, false)
#define CS_PARTIALS_D(NAME, T, D, STAGES, TL, FAST, MINB, DIAG, FTZ) CS_PARTIALS_W(NAME, T, D, STAGES, TL, FAST, MINB, DIAG, FTZ, 4, false)
#define CS_PARTIALS_W(NAME, T, D, STAGES, TL, FAST, MINB, DIAG, FTZ, NW, WPAIR) CS_PARTIALS_G(NAME, T, D, STAGES, TL, FAST, MINB, DIAG, FTZ, NW, WPAIR, false)
#define CS_PARTIALS_G(NAME, T, D, STAGES, TL, FAST, MINB, DIAG, FTZ, NW, WPAIR, WG)                          \
    CS_PARTIALS_X(NAME, T, D, STAGES, TL, FAST, MINB, DIAG, FTZ, NW, WPAIR, WG, 4)
#define CS_PARTIALS_X(NAME, T, D, STAGES, TL, FAST, MINB, DIAG, FTZ, NW, WPAIR, WG, WPB)                     \
    extern "C" __global__ void __launch_bounds__(NW * 32, MINB)                                              \
    NAME(const T* kc, const T* vc, const T* q, const int* plan, int offChunkIds, int offRowSeqs,             \
         int offSeqInfo, int planLines, const int* lens, float* partO, float* partML, T* out, int hkv,       \
         int g, int logC, float scaleLog2, int direct, int warpStart, int nItems) {                          \
        const cs::Args a{plan, plan + offChunkIds, plan + offRowSeqs, lens, partO, partML,                   \
                         plan + offSeqInfo, out, hkv, g, logC, direct, scaleLog2, warpStart, nItems};        \
        cs::partials<T, D, STAGES, TL, FAST, FAST && TL == 64 && STAGES == 3, DIAG, FTZ, NW, WPAIR, WG, WPB>( \
            kc, vc, q, a, reinterpret_cast<const char*>(plan), planLines);                                   \
    }

#define CS_PARTIALS_ALL(T, NAME_T)                                                                           \
    CS_PARTIALS(cs_attn_partials_##NAME_T##_d128_v0, T, 128, 3, 64, false, 2)                                \
    CS_PARTIALS(cs_attn_partials_##NAME_T##_d128_f64, T, 128, 3, 64, true, 2)                                \
    CS_PARTIALS(cs_attn_partials_##NAME_T##_d128_t32, T, 128, 3, 32, true, 3)                                \
    CS_PARTIALS(cs_attn_partials_##NAME_T##_d64_v0, T, 64, 3, 64, false, 3)                                  \
    CS_PARTIALS(cs_attn_partials_##NAME_T##_d64_f64, T, 64, 3, 64, true, 3)                                  \
    CS_PARTIALS(cs_attn_partials_##NAME_T##_d64_t32, T, 64, 4, 32, true, 4)                                  \
    CS_PARTIALS_D(cs_attn_partials_##NAME_T##_d128_f64z, T, 128, 3, 64, true, 2, 0, true)                    \
    CS_PARTIALS_D(cs_attn_partials_##NAME_T##_d64_f64z, T, 64, 3, 64, true, 3, 0, true)                      \
    CS_PARTIALS_W(cs_attn_partials_##NAME_T##_d64_f64w8, T, 64, 3, 64, true, 2, 0, true, 8, false)           \
    CS_PARTIALS_W(cs_attn_partials_##NAME_T##_d64_f64w8p, T, 64, 3, 64, true, 2, 0, true, 8, true)         \
    CS_PARTIALS_G(cs_attn_partials_##NAME_T##_d64_f64w8h, T, 64, 3, 64, true, 2, 0, true, 8, false, true)    \
    CS_PARTIALS_X(cs_attn_partials_##NAME_T##_d64_f64w8hw, T, 64, 3, 64, true, 2, 0, true, 8, false, true, 8)

CS_PARTIALS_ALL(__half, f16)
CS_PARTIALS_ALL(__nv_bfloat16, bf16)
// diagnostics (CudaAttention.partialsDiag): the f64 block items' loads alone (d1) or math alone (d2); bf16 only
CS_PARTIALS_D(cs_attn_partials_bf16_d128_f64d1, __nv_bfloat16, 128, 3, 64, true, 2, 1, false)
CS_PARTIALS_D(cs_attn_partials_bf16_d128_f64d2, __nv_bfloat16, 128, 3, 64, true, 2, 2, false)
CS_PARTIALS_D(cs_attn_partials_bf16_d64_f64d1, __nv_bfloat16, 64, 3, 64, true, 3, 1, false)
CS_PARTIALS_D(cs_attn_partials_bf16_d64_f64d2, __nv_bfloat16, 64, 3, 64, true, 3, 2, false)
// diagnostics (CudaAttention.partialsDiag 6, 7): the default kernels with a timeline of each launch (DIAG 4, cs_attn_tl);
// 8, 9: f64w8h's timeline instances with the K/V loads alone (DIAG 5) / the tile math alone (DIAG 6; warp items too)
CS_PARTIALS_G(cs_attn_partials_bf16_d64_f64w8htl, __nv_bfloat16, 64, 3, 64, true, 2, 4, true, 8, false, true)
CS_PARTIALS_X(cs_attn_partials_bf16_d64_f64w8hwtl, __nv_bfloat16, 64, 3, 64, true, 2, 4, true, 8, false, true, 8)
CS_PARTIALS_D(cs_attn_partials_bf16_d64_f64ztl, __nv_bfloat16, 64, 3, 64, true, 3, 4, true)
CS_PARTIALS_D(cs_attn_partials_bf16_d128_f64ztl, __nv_bfloat16, 128, 3, 64, true, 2, 4, true)
CS_PARTIALS_G(cs_attn_partials_bf16_d64_f64w8htld1, __nv_bfloat16, 64, 3, 64, true, 2, 5, true, 8, false, true)
CS_PARTIALS_G(cs_attn_partials_bf16_d64_f64w8htld2, __nv_bfloat16, 64, 3, 64, true, 2, 6, true, 8, false, true)

// merge variants (CudaAttention.mergeVariant): "" = entries read after the wait (session 8); _pre = the first entries
// read before the wait (the default since session 9); _prel = _pre with the first records' loads issued together (session 24)
#define CS_MERGE(NAME, T, D, PRE, MT) CS_MERGE_T(NAME, T, D, PRE, MT, false)
#define CS_MERGE_T(NAME, T, D, PRE, MT, TL)                                                                  \
    extern "C" __global__ void __launch_bounds__(MT)                                                         \
    NAME(const float* partO, const float* partML, const int* plan, int offSeqInfo, int offMergeEnt, T* out,   \
         int batch, int hq, int g, int direct) {                                                             \
        cs::merge<T, D, PRE, MT, TL>(partO, partML, plan + offSeqInfo, plan + offMergeEnt, out, batch, hq, g, direct); \
    }
#define CS_MERGE_ALL(T, NAME_T, D)                                                                           \
    CS_MERGE(cs_attn_merge_##NAME_T##_d##D, T, D, 0, 128)                                                    \
    CS_MERGE(cs_attn_merge_##NAME_T##_d##D##_pre, T, D, 1, 128)                                              \
    CS_MERGE(cs_attn_merge_##NAME_T##_d##D##_prel, T, D, 2, 128)

CS_MERGE_ALL(__half, f16, 128)
CS_MERGE_ALL(__nv_bfloat16, bf16, 128)
CS_MERGE_ALL(__half, f16, 64)
CS_MERGE_ALL(__nv_bfloat16, bf16, 64)
// diagnostics (session 24): the default merge with a timeline (TL, cs_merge_tl), launched after a timeline partials launch
CS_MERGE_T(cs_attn_merge_bf16_d64_pre_tl, __nv_bfloat16, 64, 1, 128, true)
CS_MERGE_T(cs_attn_merge_bf16_d128_pre_tl, __nv_bfloat16, 128, 1, 128, true)
CS_MERGE_T(cs_attn_merge_bf16_d64_prel_tl, __nv_bfloat16, 64, 2, 128, true)
CS_MERGE_T(cs_attn_merge_bf16_d128_prel_tl, __nv_bfloat16, 128, 2, 128, true)

#include "kv_append.cuh"
