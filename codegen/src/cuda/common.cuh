// Common device helpers: fp16/bf16 conversion, cp.async, packed-code reads, reductions.
// No toolkit header: libcuda and libnvrtc are the whole run-time need.

#define NEG_INF (__int_as_float(0xff800000))
#define QUIET_NAN (__int_as_float(0x7fc00000))

__device__ __forceinline__ float half_to_float(unsigned short h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}
__device__ __forceinline__ unsigned short float_to_half(float f) {
    unsigned short h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}
__device__ __forceinline__ unsigned short float_to_bf16(float f) {
    unsigned short h;
    asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}
__device__ __forceinline__ unsigned shared_address(const void* p) {
    unsigned a;
    asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(a) : "l"(p));
    return a;
}
// Copies 16 bytes global -> shared asynchronously; bytes past `valid` are zero-filled.
__device__ __forceinline__ void copy_async_16(void* dst, const void* src, int valid) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" :: "r"(shared_address(dst)), "l"(src), "r"(valid));
}
__device__ __forceinline__ void commit_async() { asm volatile("cp.async.commit_group;"); }
template <int N> __device__ __forceinline__ void wait_async() { asm volatile("cp.async.wait_group %0;" :: "n"(N)); }

// N consecutive fp16 values (N*2 bytes, aligned to min(N*2, 16)) as floats.
template <int N> __device__ __forceinline__ void load_halves(const unsigned short* src, float* out) {
    if (N == 2) {
        const unsigned w = *reinterpret_cast<const unsigned*>(src);
        out[0] = half_to_float(w & 0xffff);
        out[1] = half_to_float(w >> 16);
    } else if (N == 4) {
        const uint2 w = *reinterpret_cast<const uint2*>(src);
        out[0] = half_to_float(w.x & 0xffff); out[1] = half_to_float(w.x >> 16);
        out[2] = half_to_float(w.y & 0xffff); out[3] = half_to_float(w.y >> 16);
    } else {
        #pragma unroll
        for (int i = 0; i < N / 8; ++i) {
            const uint4 w = reinterpret_cast<const uint4*>(src)[i];
            out[8 * i + 0] = half_to_float(w.x & 0xffff); out[8 * i + 1] = half_to_float(w.x >> 16);
            out[8 * i + 2] = half_to_float(w.y & 0xffff); out[8 * i + 3] = half_to_float(w.y >> 16);
            out[8 * i + 4] = half_to_float(w.z & 0xffff); out[8 * i + 5] = half_to_float(w.z >> 16);
            out[8 * i + 6] = half_to_float(w.w & 0xffff); out[8 * i + 7] = half_to_float(w.w >> 16);
        }
    }
}

// Code m of a packed row: the little-endian bit range [m*BITS, (m+1)*BITS). Reads only the
// bytes the code spans (a third one only when it reaches it): a row's last code read three
// before, one past the row, and at a tile slot's last row that byte is the next slot's first,
// which cp.async may be filling (racecheck, bench/results/kernel-s38).
template <int BITS> __device__ __forceinline__ int read_code(const unsigned char* row, int m) {
    if (BITS == 8) return row[m];
    const int bit = m * BITS, shift = bit & 7;
    const unsigned char* p = row + (bit >> 3);
    unsigned window = p[0] | (p[1] << 8);
    if (shift + BITS > 16) window |= p[2] << 16;
    return (window >> shift) & ((1 << BITS) - 1);
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
