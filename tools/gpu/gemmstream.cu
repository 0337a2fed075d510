// gemmstream: does re-reading the activations from L2 slow a decode GEMM's weight stream? A standalone probe of the
// skinny GEMMs' memory side at T = 64 (issue 7): the weights W (n × k bf16, from DRAM) stream through 64-wide k
// tiles in shared-memory stages as model.cu's gemm_skinny streams them, and with each weight tile the block also
// copies the matching x tile (64 tokens × 64 columns, 8 KiB, from an L2-resident x) — or does not, or copies it once
// for a cluster of blocks (distributed shared memory: one block of each pair/quad loads it, the others read it
// remotely) — with a checksum as the only work. No tensor-core math: the question is the traffic alone.
//
// Build and run on the GPU machine:  nvcc -O3 -std=c++17 -arch=sm_90a -o gemmstream tools/gpu/gemmstream.cu && ./gemmstream
// Last line RESULT {json}.
#include <cuda_runtime.h>

#include "../../kernels/src/main/cuda/common.cuh"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <algorithm>
#include <string>
#include <vector>

#define CK(x) do { cudaError_t e = (x); if (e != cudaSuccess) { fprintf(stderr, "%s:%d %s\n", __FILE__, __LINE__, cudaGetErrorString(e)); exit(1); } } while (0)

constexpr int GK = 64, NT = 64;   // k-tile width, tokens

// A block: BR weight rows × all of k, STAGES stages of (BR × 64 weights + 64 × 64 x) bf16, STAGES - 1 ahead.
// XMODE 0: no x tiles; 1: every block copies its x tiles.
template <int BR, int STAGES, int XMODE>
__global__ void __launch_bounds__(256) k_gemm(const uint4* __restrict__ w, const uint4* __restrict__ x, int n, int k, unsigned* out) {
    extern __shared__ __align__(128) unsigned char sm[];
    constexpr int WT = BR * GK * 2 / 16, XT = NT * GK * 2 / 16, ST = WT + XT;   // 16-byte words
    uint4* st = reinterpret_cast<uint4*>(sm);
    const int tid = threadIdx.x, r0 = blockIdx.x * BR, nk = k / GK;
    const size_t rowW = (size_t)k * 2 / 16;   // words a weight row
    auto load = [&](int kt, int s) {
        uint4* d = st + s * ST;
        for (int p = tid; p < WT; p += 256) {
            int r = p >> 3, c = p & 7;
            cs::cp_async16(cs::smem_u32(d + p), w + (size_t)(r0 + r) * rowW + kt * 8 + c, true);
        }
        if (XMODE == 1)
            for (int p = tid; p < XT; p += 256) {
                int r = p >> 3, c = p & 7;
                cs::cp_async16(cs::smem_u32(d + WT + p), x + (size_t)r * rowW + kt * 8 + c, true);
            }
    };
    for (int s = 0; s < STAGES - 1; ++s) { if (s < nk) load(s, s); cs::cp_async_commit(); }
    unsigned acc = 0;
    for (int i = 0; i < nk; ++i) {
        cs::cp_async_wait<STAGES - 2>();
        __syncthreads();
        if (i + STAGES - 1 < nk) load(i + STAGES - 1, (i + STAGES - 1) % STAGES);
        cs::cp_async_commit();
        const uint4* d = st + (i % STAGES) * ST;
        for (int p = tid; p < WT; p += 256) { uint4 v = d[p]; acc += v.x ^ v.w; }
        if (XMODE == 1) for (int p = tid; p < XT; p += 256) { uint4 v = d[WT + p]; acc += v.y; }
        __syncthreads();
    }
    if (acc == 0x12345u) out[0] = acc;
}

__global__ void k_fill(uint32_t* p, size_t n, uint32_t seed) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        p[i] = (uint32_t)(i * 2654435761u) ^ seed;
}

int main() {
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    // the 1B gate|up (16384 × 2048), down (2048 × 8192, as one k-slice a block here: 16 blocks of 128 rows would be
    // too few, so only gate|up-like shapes), and the 8B gate|up (28672 × 4096)
    struct Shape { const char* name; int n, k; };
    std::vector<Shape> shapes = {{"1B gate|up 16384x2048", 16384, 2048}, {"8B gate|up 28672x4096", 28672, 4096}};
    const int copies = 8;   // weight copies rotated: each launch's W out of L2
    unsigned* out;
    CK(cudaMalloc(&out, 4));
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0)); CK(cudaEventCreate(&e1));
    std::string json = std::string("{\"device\":\"") + prop.name + "\",\"cases\":{";
    bool first = true;
    printf("device: %s, %d SMs\n%-24s %-28s %8s %10s %10s\n", prop.name, prop.multiProcessorCount, "shape", "scheme", "blocks", "median_us", "W TB/s");
    for (auto& sh : shapes) {
        size_t wb = (size_t)sh.n * sh.k * 2, xb = (size_t)NT * sh.k * 2;
        std::vector<uint4*> ws(copies);
        for (auto& p : ws) { CK(cudaMalloc(&p, wb)); k_fill<<<1024, 256>>>((uint32_t*)p, wb / 4, 1u); }
        uint4* x;
        CK(cudaMalloc(&x, xb));
        k_fill<<<64, 256>>>((uint32_t*)x, xb / 4, 2u);
        CK(cudaDeviceSynchronize());
        struct V { const char* name; int br; void (*launch)(const uint4*, const uint4*, int, int, unsigned*, cudaStream_t); int smem; };
#define VV(NAME, BR, S, XM) V{NAME, BR, [](const uint4* w, const uint4* x, int n, int k, unsigned* o, cudaStream_t s) { \
            int sm = S * (BR * GK * 2 + NT * GK * 2); \
            cudaFuncSetAttribute(k_gemm<BR, S, XM>, cudaFuncAttributeMaxDynamicSharedMemorySize, sm); \
            k_gemm<BR, S, XM><<<n / BR, 256, sm, s>>>(w, x, n, k, o); }, S * (BR * GK * 2 + NT * GK * 2)}
        std::vector<V> vs = {VV("64 rows, 6 st, x tiles", 64, 6, 1), VV("64 rows, 6 st, no x", 64, 6, 0),
                             VV("128 rows, 4 st, x tiles", 128, 4, 1), VV("128 rows, 4 st, no x", 128, 4, 0),
                             VV("128 rows, 6 st, x tiles", 128, 6, 1), VV("256 rows, 3 st, x tiles", 256, 3, 1),
                             VV("256 rows, 3 st, no x", 256, 3, 0)};
        for (auto& v : vs) {
            std::vector<float> t;
            for (int r = 0; r < 12; ++r) {
                CK(cudaEventRecord(e0));
                for (int c = 0; c < copies; ++c) v.launch(ws[c], x, sh.n, sh.k, out, 0);
                CK(cudaEventRecord(e1));
                CK(cudaEventSynchronize(e1));
                float ms; CK(cudaEventElapsedTime(&ms, e0, e1));
                if (r >= 2) t.push_back(ms * 1000.f / copies);
            }
            CK(cudaGetLastError());
            std::sort(t.begin(), t.end());
            float med = t[t.size() / 2];
            printf("%-24s %-28s %8d %10.2f %10.2f\n", sh.name, v.name, sh.n / v.br, med, wb / med / 1e6);
            json += std::string(first ? "" : ",") + "\"" + sh.name + " / " + v.name + "\":{\"median_us\":" + std::to_string(med) + "}";
            first = false;
        }
        for (auto& p : ws) CK(cudaFree(p));
        CK(cudaFree(x));
    }
    printf("RESULT %s}}\n", json.c_str());
    return 0;
}
