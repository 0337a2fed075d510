// KV append: writes n new tokens' K and V into their (chunk, slot) of one layer's slabs, and a device-side
// random fill used by tests and benchmarks. Both move 16-bit elements and so serve fp16 and bf16 alike.
#pragma once

#include "common.cuh"

// kNew, vNew: (n, hkv, d) 16-bit elements; chunk[t], slot[t]: where token t goes. One thread per 16 bytes.
extern "C" __global__ void cs_kv_append16(uint16_t* kc, uint16_t* vc, const uint16_t* kNew, const uint16_t* vNew,
                                          const int* chunk, const int* slot, int n, int hkv, int logC, int d) {
    const int pieces = d / 8;
    long long total = (long long)n * hkv * pieces;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        int p = (int)(i % pieces);
        long long th = i / pieces;
        int h = (int)(th % hkv);
        int t = (int)(th / hkv);
        size_t src = ((size_t)t * hkv + h) * d + p * 8;
        size_t dst = ((((size_t)__ldg(chunk + t) * hkv + h) << logC) + __ldg(slot + t)) * d + p * 8;
        *reinterpret_cast<uint4*>(kc + dst) = __ldg(reinterpret_cast<const uint4*>(kNew + src));
        *reinterpret_cast<uint4*>(vc + dst) = __ldg(reinterpret_cast<const uint4*>(vNew + src));
    }
}

// Fills n 16-bit elements with uniform values in [-1, 1) (bf16 != 0: bfloat16, else float16) from a hash of
// (seed, index): fresh inputs without a host round trip.
extern "C" __global__ void cs_fill_random16(uint16_t* p, long long n, unsigned int seed, int bf16) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        float u = cs::hash_uniform(i, seed);
        p[i] = bf16 ? cs::Elem<__nv_bfloat16>::bits(u) : cs::Elem<__half>::bits(u);
    }
}

// Reads n16 16-byte words (benchmarks flush L2 with it: reads leave clean lines, so no write-back of a previous
// memset lands inside the timed region). Writes to sink only if the data hold an impossible pattern.
extern "C" __global__ void cs_read_all(const uint4* p, long long n16, unsigned int* sink) {
    unsigned int acc = 0;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n16; i += (long long)gridDim.x * blockDim.x) {
        uint4 v = __ldcg(p + i);
        acc ^= v.x ^ v.y ^ v.z ^ v.w;
    }
    if (acc == 0x9E3779B9u && n16 < 0) *sink = acc;
}
