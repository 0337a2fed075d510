// kvstream: how fast can the two-phase partials' warp items read a shared-prefix batch's private K/V lists?
// A standalone probe of the memory side of issue 7's 1B attention (session 23's timeline: the private lists
// stream at ~3 TB/s through 16-byte cp.async in 16-token stages two ahead a warp). It reads exactly the bytes
// those items read — KvLayout's slabs, element (chunk c, kv head h, slot t, d) at ((c·Hkv + h)·C + t)·D + d,
// each sequence's private chunks after the shared ones — with several load schemes, and a flat read of as many
// contiguous bytes as the ceiling. Only the loads and a light consume (a checksum) run: no attention math.
//
// Build and run on the GPU machine (sm_90):  nvcc -O3 -arch=sm_90a -o kvstream tools/gpu/kvstream.cu && ./kvstream
// Options: --seqs 64 --private 288 --piece 192 --heads 8 --layers 16 --rounds 20 --pad 0 (shared-memory bytes added to
// each block: --pad 100000 leaves 2 blocks an SM, as the real partials launch runs)
// Prints a table (µs a launch: median over rounds × layers, each launch's K/V evicted from L2 by the 15 other
// layers' reads in between) and a last line RESULT {json}.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "../../kernels/src/main/cuda/common.cuh"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <string>
#include <vector>

#define CK(x) do { cudaError_t e = (x); if (e != cudaSuccess) { fprintf(stderr, "%s:%d %s\n", __FILE__, __LINE__, cudaGetErrorString(e)); exit(1); } } while (0)

constexpr int D = 64, C = 64, NTW = 16;           // head dim, chunk tokens, tokens a 16-token stage
constexpr int ROWB = D * 2;                       // bytes a token's K (or V) row of one head

struct Item { int seq, head, tok0, tok1; };        // a warp item: tokens [tok0, tok1) of one sequence's private list

// the kernels' own cp.async helpers (kernels/src/main/cuda/common.cuh)
using cs::smem_u32;
__device__ __forceinline__ void cp16(uint32_t dst, const void* src) { cs::cp_async16(dst, src, true); }
__device__ __forceinline__ void commit() { cs::cp_async_commit(); }
template <int N> __device__ __forceinline__ void waitg() { cs::cp_async_wait<N>(); }

#include "probe_bulk.cuh"

// the consume step: each lane folds its 16-byte pieces (the first n of a K run and of a V run) into a checksum
// (an integer sum: the same in any order, so every scheme must give every item the same value)
__device__ __forceinline__ unsigned fold(const uint4* k, const uint4* v, int n, int lane) {
    unsigned a = 0;
    for (int p = lane; p < n; p += 32) {
        uint4 x = k[p], y = v[p];
        a += x.x + x.y + x.z + x.w + 3u * (y.x + y.y + y.z + y.w);
    }
    return a;
}
__device__ __forceinline__ unsigned fold4(uint4 x) { return x.x + x.y + x.z + x.w; }

__global__ void k_fill(uint32_t* p, size_t n, uint32_t seed) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        p[i] = (uint32_t)(i * 2654435761u) ^ seed;
}

struct Args {
    const __nv_bfloat16* k; const __nv_bfloat16* v; const int* chunks; const Item* items; int nItems, hkv, maxChunks;
    unsigned* out;
};

__device__ __forceinline__ size_t row_off(const Args& A, const Item& it, int tok) {
    int chunk = __ldg(A.chunks + it.seq * A.maxChunks + (tok >> 6));
    return (((size_t)chunk * A.hkv + it.head) * C + (tok & (C - 1))) * D;
}

// (a) the shipped scheme: 16-token stages (2 KiB K + 2 KiB V), ST stages, ST - 1 ahead, 16-byte cp.async a lane
template <int ST, int WARPS>
__global__ void __launch_bounds__(WARPS * 32) k_cpasync(Args A) {
    extern __shared__ __align__(128) unsigned char sm[];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, ii = blockIdx.x * WARPS + warp;
    if (ii >= A.nItems) return;
    const Item it = A.items[ii];
    uint4* st = reinterpret_cast<uint4*>(sm) + warp * ST * (2 * NTW * ROWB / 16);
    const int nT = (it.tok1 - it.tok0 + NTW - 1) / NTW;
    auto load = [&](int j, int s) {
        int tok = it.tok0 + j * NTW;
        const uint4* kb = reinterpret_cast<const uint4*>(A.k + row_off(A, it, tok));
        const uint4* vb = reinterpret_cast<const uint4*>(A.v + row_off(A, it, tok));
        uint4* ks = st + s * (2 * NTW * ROWB / 16);
        uint4* vs = ks + NTW * ROWB / 16;
        int n = min(NTW, it.tok1 - tok) * ROWB / 16;
        #pragma unroll
        for (int q = 0; q < NTW * ROWB / 16 / 32; ++q) {
            int p = lane + 32 * q;
            if (p < n) { cp16(smem_u32(ks + p), kb + p); cp16(smem_u32(vs + p), vb + p); }
        }
    };
    for (int s = 0; s < ST - 1; ++s) { if (s < nT) load(s, s); commit(); }
    unsigned acc = 0;
    for (int j = 0; j < nT; ++j) {
        waitg<ST - 2>();
        __syncwarp();
        const uint4* ks = st + (j % ST) * (2 * NTW * ROWB / 16);
        acc += fold(ks, ks + NTW * ROWB / 16, min(NTW, it.tok1 - it.tok0 - j * NTW) * ROWB / 16, lane);
        __syncwarp();
        if (j + ST - 1 < nT) load(j + ST - 1, (j + ST - 1) % ST);
        commit();
    }
    if (lane == 0) A.out[ii] = acc;
}

// (b) bulk copies: lane 0 requests each stage's K and V runs (TOK tokens, contiguous within a chunk) with
// cp.async.bulk completing on the stage's mbarrier; ST stages, ST - 1 ahead
template <int ST, int TOK, int WARPS>
__global__ void __launch_bounds__(WARPS * 32) k_bulk(Args A) {
    extern __shared__ __align__(128) unsigned char sm[];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, ii = blockIdx.x * WARPS + warp;
    constexpr int SB = 2 * TOK * ROWB;   // bytes a stage
    uint64_t* bars = reinterpret_cast<uint64_t*>(sm) + warp * ST;
    unsigned char* st = sm + WARPS * ST * 8 + 128 - (WARPS * ST * 8) % 128 + warp * ST * SB;
    if (ii >= A.nItems) return;
    const Item it = A.items[ii];
    if (lane == 0) {
        for (int s = 0; s < ST; ++s) mbar_init(smem_u32(bars + s), 1);
        asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
    }
    __syncwarp();
    const int nT = (it.tok1 - it.tok0 + TOK - 1) / TOK;
    auto load = [&](int j, int s) {
        int tok = it.tok0 + j * TOK;
        int n = min(TOK, it.tok1 - tok) * ROWB;
        uint32_t bar = smem_u32(bars + s), dst = smem_u32(st + s * SB);
        mbar_expect(bar, 2 * n);
        bulk(dst, A.k + row_off(A, it, tok), n, bar);
        bulk(dst + TOK * ROWB, A.v + row_off(A, it, tok), n, bar);
    };
    if (lane == 0) for (int s = 0; s < ST - 1 && s < nT; ++s) load(s, s);
    unsigned acc = 0;
    for (int j = 0; j < nT; ++j) {
        const int s = j % ST;
        mbar_wait(smem_u32(bars + s), (j / ST) & 1);
        const uint4* kst = reinterpret_cast<const uint4*>(st + s * SB);
        acc += fold(kst, kst + TOK * ROWB / 16, min(TOK, it.tok1 - it.tok0 - j * TOK) * ROWB / 16, lane);
        __syncwarp();
        if (lane == 0 && j + ST - 1 < nT) {
            asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
            load(j + ST - 1, (j + ST - 1) % ST);
        }
    }
    if (lane == 0) A.out[ii] = acc;
}

// (c) registers: each lane loads its pieces of DEPTH 16-token stages ahead with ld.global.nc.v4
template <int DEPTH, int WARPS>
__global__ void __launch_bounds__(WARPS * 32) k_ldg(Args A) {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, ii = blockIdx.x * WARPS + warp;
    if (ii >= A.nItems) return;
    const Item it = A.items[ii];
    constexpr int PL = NTW * ROWB / 16 / 32;   // pieces a lane a stage (K; as many V)
    const int nT = (it.tok1 - it.tok0 + NTW - 1) / NTW;
    unsigned acc = 0;
    for (int j0 = 0; j0 < nT; j0 += DEPTH) {
        uint4 r[DEPTH][2 * PL];
        #pragma unroll
        for (int d = 0; d < DEPTH; ++d) {
            int tok = it.tok0 + (j0 + d) * NTW;
            bool ok = j0 + d < nT;
            const uint4* kb = reinterpret_cast<const uint4*>(A.k + (ok ? row_off(A, it, tok) : 0));
            const uint4* vb = reinterpret_cast<const uint4*>(A.v + (ok ? row_off(A, it, tok) : 0));
            int n = ok ? min(NTW, it.tok1 - tok) * ROWB / 16 : 0;
            #pragma unroll
            for (int q = 0; q < PL; ++q) {
                int p = lane + 32 * q;
                r[d][q] = p < n ? __ldg(kb + p) : make_uint4(0, 0, 0, 0);
                r[d][PL + q] = p < n ? __ldg(vb + p) : make_uint4(0, 0, 0, 0);
            }
        }
        #pragma unroll
        for (int d = 0; d < DEPTH; ++d)
            #pragma unroll
            for (int q = 0; q < PL; ++q) acc += fold4(r[d][q]) + 3u * fold4(r[d][PL + q]);
    }
    if (lane == 0) A.out[ii] = acc;
}

// (d) the ceiling: the same number of bytes read as one contiguous run per warp item (same kernel as (a))
__global__ void k_flat(const uint4* __restrict__ src, size_t n16, unsigned* out) {
    unsigned acc = 0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n16; i += (size_t)gridDim.x * blockDim.x) acc += fold4(__ldg(src + i));
    if (acc == 12345u) out[0] = acc;
}

static int g_pad = 0;   // bytes of dynamic shared memory added to every block (--pad: fewer blocks an SM, as in the real launch)

static int argi(int argc, char** argv, const char* name, int def) {
    for (int i = 1; i + 1 < argc; ++i) if (!strcmp(argv[i], name)) return atoi(argv[i + 1]);
    return def;
}

int main(int argc, char** argv) {
    const int seqs = argi(argc, argv, "--seqs", 64), priv = argi(argc, argv, "--private", 288);
    const int piece = argi(argc, argv, "--piece", 192), hkv = argi(argc, argv, "--heads", 8);
    const int layers = argi(argc, argv, "--layers", 16), rounds = argi(argc, argv, "--rounds", 20);
    g_pad = argi(argc, argv, "--pad", 0);
    const int shared = 2048 / C, perSeq = (priv + C - 1) / C;
    const int nChunks = shared + seqs * perSeq + 64;
    const size_t slabElems = (size_t)nChunks * hkv * C * D;
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    // chunk ids: the shared prefix first, then each sequence's private chunks in allocation order (as a pool
    // filled by one prefill after another hands them out)
    std::vector<int> chunks(seqs * perSeq);
    for (int s = 0; s < seqs; ++s) for (int c = 0; c < perSeq; ++c) chunks[s * perSeq + c] = shared + s * perSeq + c;
    std::vector<Item> items;
    for (int s = 0; s < seqs; ++s)
        for (int h = 0; h < hkv; ++h)
            for (int t = 0; t < priv; t += piece) items.push_back({s, h, t, std::min(priv, t + piece)});
    // the plan orders items by sequence and head; keep that order (consecutive warps: neighbouring heads)
    size_t bytes = 0;
    for (auto& it : items) bytes += (size_t)(it.tok1 - it.tok0) * ROWB * 2;
    std::vector<__nv_bfloat16*> ks(layers), vs(layers);
    for (int l = 0; l < layers; ++l) {
        CK(cudaMalloc(&ks[l], slabElems * 2));
        CK(cudaMalloc(&vs[l], slabElems * 2));
        k_fill<<<1024, 256>>>(reinterpret_cast<uint32_t*>(ks[l]), slabElems / 2, 17u * l + 1u);
        k_fill<<<1024, 256>>>(reinterpret_cast<uint32_t*>(vs[l]), slabElems / 2, 17u * l + 2u);
    }
    int* dChunks; Item* dItems; unsigned* dOut;
    CK(cudaMalloc(&dChunks, chunks.size() * 4));
    CK(cudaMemcpy(dChunks, chunks.data(), chunks.size() * 4, cudaMemcpyHostToDevice));
    CK(cudaMalloc(&dItems, items.size() * sizeof(Item)));
    CK(cudaMemcpy(dItems, items.data(), items.size() * sizeof(Item), cudaMemcpyHostToDevice));
    CK(cudaMalloc(&dOut, items.size() * 4));
    std::vector<uint4*> flat(layers);
    for (int l = 0; l < layers; ++l) { CK(cudaMalloc(&flat[l], bytes)); CK(cudaMemset(flat[l], 0x3c, bytes)); }

    struct Variant { std::string name; void (*launch)(const Args&, int, cudaStream_t); };
#define VA(ST, W) Variant{"cp.async16 st" #ST " w" #W, [](const Args& a, int n, cudaStream_t s) { \
        int sm = ST * 2 * NTW * ROWB * W + g_pad; cudaFuncSetAttribute(k_cpasync<ST, W>, cudaFuncAttributeMaxDynamicSharedMemorySize, sm); \
        k_cpasync<ST, W><<<(n + W - 1) / W, W * 32, sm, s>>>(a); }}
#define VB(ST, TOK, W) Variant{"bulk st" #ST " tok" #TOK " w" #W, [](const Args& a, int n, cudaStream_t s) { \
        int sm = W * ST * 8 + 128 + W * ST * 2 * TOK * ROWB + g_pad; cudaFuncSetAttribute(k_bulk<ST, TOK, W>, cudaFuncAttributeMaxDynamicSharedMemorySize, sm); \
        k_bulk<ST, TOK, W><<<(n + W - 1) / W, W * 32, sm, s>>>(a); }}
#define VL(DP, W) Variant{"ldg depth" #DP " w" #W, [](const Args& a, int n, cudaStream_t s) { \
        cudaFuncSetAttribute(k_ldg<DP, W>, cudaFuncAttributeMaxDynamicSharedMemorySize, g_pad); \
        k_ldg<DP, W><<<(n + W - 1) / W, W * 32, g_pad, s>>>(a); }}
    std::vector<Variant> vars = {VA(3, 4), VA(3, 8), VA(6, 4), VA(8, 4), VB(3, 16, 4), VB(6, 16, 4), VB(3, 32, 4),
                                 VB(4, 32, 4), VB(3, 64, 4), VB(3, 32, 8), VL(2, 4), VL(4, 4)};
    cudaStream_t st;
    CK(cudaStreamCreate(&st));
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0)); CK(cudaEventCreate(&e1));
    // reference checksums: every variant reads the same bytes
    std::vector<unsigned> ref;
    printf("device: %s, %d SMs, L2 %d MB; %d seqs x %d private tokens x %d kv heads, pieces of %d tokens: %zu warp items, "
           "%.1f MB a layer, %d layers rotated, %d rounds, %d pad bytes a block\n", prop.name, prop.multiProcessorCount, prop.l2CacheSize >> 20,
           seqs, priv, hkv, piece, items.size(), bytes / 1e6, layers, rounds, g_pad);
    printf("%-26s %10s %10s %10s %8s\n", "scheme", "median_us", "best_us", "TB/s(med)", "check");
    std::string json = "{\"device\":\"" + std::string(prop.name) + "\",\"bytes_per_layer\":" + std::to_string(bytes) + ",\"schemes\":{";
    // a round: the layers' launches back to back between two events (µs a launch = the round / layers: the
    // launch latency hidden as in a CUDA graph's chain, the gaps between kernels counted); median and best round
    auto timeIt = [&](auto&& fn) {
        std::vector<float> t;
        for (int r = 0; r < rounds + 1; ++r) {
            CK(cudaEventRecord(e0, st));
            for (int l = 0; l < layers; ++l) fn(l);
            CK(cudaEventRecord(e1, st));
            CK(cudaEventSynchronize(e1));
            float ms; CK(cudaEventElapsedTime(&ms, e0, e1));
            if (r > 0) t.push_back(ms * 1000.f / layers);
        }
        std::sort(t.begin(), t.end());
        return std::make_pair(t[t.size() / 2], t[0]);
    };
    bool first = true;
    for (auto& v : vars) {
        auto res = timeIt([&](int l) {
            Args a{ks[l], vs[l], dChunks, dItems, (int)items.size(), hkv, perSeq, dOut};
            v.launch(a, (int)items.size(), st);
        });
        CK(cudaGetLastError());
        CK(cudaStreamSynchronize(st));
        CK(cudaMemset(dOut, 0, items.size() * 4));
        { Args a{ks[0], vs[0], dChunks, dItems, (int)items.size(), hkv, perSeq, dOut}; v.launch(a, (int)items.size(), st); }
        CK(cudaStreamSynchronize(st));
        std::vector<unsigned> out(items.size());
        CK(cudaMemcpy(out.data(), dOut, out.size() * 4, cudaMemcpyDeviceToHost));
        const char* check = "ref";
        if (ref.empty()) ref = out;
        else {
            check = "ok";
            for (size_t i = 0; i < out.size(); ++i) if (out[i] != ref[i]) { check = "DIFF"; break; }
        }
        printf("%-26s %10.2f %10.2f %10.2f %8s\n", v.name.c_str(), res.first, res.second, bytes / res.first / 1e6, check);
        json += std::string(first ? "" : ",") + "\"" + v.name + "\":{\"median_us\":" + std::to_string(res.first) + ",\"tb_s\":" +
                std::to_string(bytes / res.first / 1e6) + ",\"check\":\"" + check + "\"}";
        first = false;
    }
    auto res = timeIt([&](int l) { k_flat<<<prop.multiProcessorCount * 8, 256, 0, st>>>(flat[l], bytes / 16, dOut); });
    printf("%-26s %10.2f %10.2f %10.2f %8s\n", "flat contiguous read", res.first, res.second, bytes / res.first / 1e6, "-");
    auto e = timeIt([&](int l) { k_flat<<<1, 32, 0, st>>>(flat[l], 0, dOut); });
    printf("%-26s %10.2f %10.2f %10s %8s\n", "empty launch", e.first, e.second, "-", "-");
    json += ",\"empty_launch_us\":" + std::to_string(e.first);
    json += ",\"flat\":{\"median_us\":" + std::to_string(res.first) + ",\"tb_s\":" + std::to_string(bytes / res.first / 1e6) + "}}}";
    printf("RESULT %s\n", json.c_str());
    return 0;
}
