// How an int8 slot row is made, for the kernels that write one: the append and the window
// flush (`append/encode.cuh`), and the QKV projections that write a step's new K and V into
// the cache (`qkv_slots.cuh`, `skinny.cuh`). vecinfer_quant::window's rule, bit for bit; readers
// need `int8_half` (cache_view.cuh) alone. Needs half_to_float, float_to_half and warp_max.

__device__ __forceinline__ bool int8_finite(float x) { return (__float_as_uint(x) & 0x7f800000u) != 0x7f800000u; }

// A row's scale as f16 bits from the absolute maximum of its elements: the smallest f16 at or
// above absmax / 127; a NaN where the row holds a NaN or an infinity (`finite` false).
__device__ __forceinline__ unsigned short int8_scale_of(float absmax, bool finite) {
    if (!finite) return 0x7e00;
    const float wanted = __fdiv_rn(absmax, 127.f);
    const unsigned short bits = float_to_half(wanted);
    return half_to_float(bits) < wanted ? bits + 1 : bits;
}

// The int8 scale of a row, as f16 bits, from this lane's N elements of it (a warp-wide call;
// needs warp_max).
template <int N> __device__ __forceinline__ unsigned short int8_scale_bits(const float (&x)[N]) {
    float absmax = 0.f;
    bool finite = true;
    #pragma unroll
    for (int k = 0; k < N; ++k) {
        finite = finite && int8_finite(x[k]);
        absmax = fmaxf(absmax, fabsf(x[k]));
    }
    return int8_scale_of(warp_max(absmax), __all_sync(0xffffffffu, finite));
}

// An element's int8 code under the scale: round(x / scale), half away from zero; 0 under a
// zero or NaN scale.
__device__ __forceinline__ int int8_code(float x, float scale) { return scale > 0.f ? (int)roundf(__fdiv_rn(x, scale)) : 0; }

// Elements 2i and 2i + 1 as the slot row's word i holds them (little-endian bytes).
__device__ __forceinline__ unsigned short int8_pair_word(float a, float b, float scale) {
    return (unsigned short)((int8_code(a, scale) & 0xff) | ((int8_code(b, scale) & 0xff) << 8));
}
