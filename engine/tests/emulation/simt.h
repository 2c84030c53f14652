// A CPU emulation of the CUDA subset the forward kernels use, to run `forward.cuh` itself on
// the host: one std::thread per CUDA thread, blocks one after another (so `__shared__` is a
// function-local static), warp shuffles as exchanges between two warp barriers, fp16 through
// _Float16. Slow, exact in control flow and indexing; float arithmetic differs from the GPU's
// only by fast-math rounding.
#pragma once
#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#define VECINFER_HOST_EMULATION 1
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __restrict__

struct uint4 { unsigned x, y, z, w; };
inline uint4 make_uint4(unsigned a, unsigned b, unsigned c, unsigned d) { return {a, b, c, d}; }
struct alignas(16) float4 { float x, y, z, w; };
inline float4 make_float4(float a, float b, float c, float d) { return {a, b, c, d}; }
#define __align__(n) __attribute__((aligned(n)))
struct dim3 { unsigned x = 1, y = 1, z = 1; };

thread_local dim3 threadIdx, blockIdx;
dim3 blockDim, gridDim;

inline float __int_as_float(unsigned i) { float f; std::memcpy(&f, &i, 4); return f; }
inline float __expf(float x) { return std::exp(x); }
inline unsigned __float_as_uint(float f) { unsigned i; std::memcpy(&i, &f, 4); return i; }
inline float __uint_as_float(unsigned i) { float f; std::memcpy(&f, &i, 4); return f; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline unsigned atomicMax(unsigned* p, unsigned v) {
    std::atomic_ref<unsigned> a(*p);
    unsigned old = a.load();
    while (old < v && !a.compare_exchange_weak(old, v)) {}
    return old;
}
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }

inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }

inline float half_to_float(unsigned short h) { _Float16 f; std::memcpy(&f, &h, 2); return (float)f; }
inline unsigned short float_to_half(float x) { _Float16 f = (_Float16)x; unsigned short h; std::memcpy(&h, &f, 2); return h; }

struct Warp {
    std::barrier<> bar{32};
    float floats[32];
    int ints[32];
};
thread_local Warp* this_warp;
thread_local std::barrier<>* this_block;

inline float __shfl_xor_sync(unsigned, float v, int o) {
    const int lane = threadIdx.x & 31;
    this_warp->floats[lane] = v;
    this_warp->bar.arrive_and_wait();
    const float r = this_warp->floats[lane ^ o];
    this_warp->bar.arrive_and_wait();
    return r;
}
inline int __shfl_xor_sync(unsigned, int v, int o) {
    const int lane = threadIdx.x & 31;
    this_warp->ints[lane] = v;
    this_warp->bar.arrive_and_wait();
    const int r = this_warp->ints[lane ^ o];
    this_warp->bar.arrive_and_wait();
    return r;
}
inline float __shfl_sync(unsigned, float v, int source) {
    const int lane = threadIdx.x & 31;
    this_warp->floats[lane] = v;
    this_warp->bar.arrive_and_wait();
    const float r = this_warp->floats[source];
    this_warp->bar.arrive_and_wait();
    return r;
}
inline bool __all_sync(unsigned, bool v) {
    const int lane = threadIdx.x & 31;
    this_warp->ints[lane] = v;
    this_warp->bar.arrive_and_wait();
    bool all = true;
    for (int i = 0; i < 32; ++i) all = all && this_warp->ints[i] != 0;
    this_warp->bar.arrive_and_wait();
    return all;
}
inline void __syncwarp() { this_warp->bar.arrive_and_wait(); }
inline void __syncthreads() { this_block->arrive_and_wait(); }

// Runs kernel<<<grid, block>>>(args...): every block in turn, its threads concurrently.
// A warp's lanes must all take part in its shuffles (warp-uniform control flow), as on the GPU.
template <typename Kernel, typename... Args>
void launch(dim3 grid, dim3 block, Kernel kernel, Args... args) {
    gridDim = grid;
    blockDim = block;
    for (unsigned z = 0; z < grid.z; ++z)
        for (unsigned y = 0; y < grid.y; ++y)
            for (unsigned x = 0; x < grid.x; ++x) {
                std::barrier<> block_barrier(block.x);
                std::vector<std::unique_ptr<Warp>> warps;
                for (unsigned w = 0; w < (block.x + 31) / 32; ++w) warps.push_back(std::make_unique<Warp>());
                std::vector<std::thread> threads;
                for (unsigned t = 0; t < block.x; ++t) {
                    threads.emplace_back([&, t] {
                        threadIdx = dim3{t, 0, 0};
                        blockIdx = dim3{x, y, z};
                        this_warp = warps[t / 32].get();
                        this_block = &block_barrier;
                        kernel(args...);
                        // A thread that leaves stops counting at the block barrier (as on the GPU).
                    });
                }
                for (auto& th : threads) th.join();
            }
}
