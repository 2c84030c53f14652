// The quantize-and-append kernel's encoder: nearest centroids with the CPU search's arithmetic
// and tie rule, and code packing.

// Stage: nearest centroid, for sub-vectors [0, CODES) of x. The block's warps [first_warp,
// first_warp + ENCODE_WARPS) share the work: warp w takes sub-vectors w, w + ENCODE_WARPS, ...;
// lane l reads centroids l, l + 32, ... once each (all loads in flight together) and keeps the
// first strict minimum per sub-vector; then the warp keeps the lowest index among equal
// distances, as the CPU search does.
template <int SUB, int BOOK, int CODES> __device__ __forceinline__ void nearest_codes(const float* x, const float* centroids,
                                                                                    const float* norms, int* codes, int first_warp) {
    constexpr int PER_WARP = (CODES + ENCODE_WARPS - 1) / ENCODE_WARPS;
    const int warp = (threadIdx.x >> 5) - first_warp, lane = threadIdx.x & 31;
    float best[PER_WARP];
    int best_index[PER_WARP];
    #pragma unroll
    for (int r = 0; r < PER_WARP; ++r) { best[r] = __int_as_float(0x7f800000); best_index[r] = 0; }
    #pragma unroll 4
    for (int c = lane; c < BOOK; c += 32) {
        float centroid[SUB];
        #pragma unroll
        for (int j = 0; j < SUB; ++j) centroid[j] = centroids[c * SUB + j];
        const float norm = norms[c];
        #pragma unroll
        for (int r = 0; r < PER_WARP; ++r) {
            const int m = warp + r * ENCODE_WARPS;
            if (m < CODES) {
                float dist = norm;
                #pragma unroll
                for (int j = 0; j < SUB; ++j) dist = __fsub_rn(dist, __fmul_rn(2.0f * x[m * SUB + j], centroid[j]));
                if (dist < best[r]) { best[r] = dist; best_index[r] = c; }
            }
        }
    }
    #pragma unroll
    for (int r = 0; r < PER_WARP; ++r) {
        const int m = warp + r * ENCODE_WARPS;
        float b = best[r];
        int bi = best_index[r];
        for (int o = 16; o > 0; o >>= 1) {
            const float other = __shfl_xor_sync(0xffffffffu, b, o);
            const int other_index = __shfl_xor_sync(0xffffffffu, bi, o);
            if (other < b || (other == b && other_index < bi)) { b = other; bi = other_index; }
        }
        if (lane == 0 && m < CODES) codes[m] = bi;
    }
}

// Stage: pack codes. Byte b of the row gathers the bits [8b, 8b + 8) of the little-endian code
// stream, one thread per byte.
template <int BITS, int ROW> __device__ __forceinline__ void pack_codes(const int* codes, int count, unsigned char* row, int first_thread) {
    for (int b = threadIdx.x - first_thread; b < ROW; b += THREADS / 2) {
        unsigned byte = 0;
        for (int m = (8 * b) / BITS; m <= (8 * b + 7) / BITS && m < count; ++m) {
            const int shift = m * BITS - 8 * b;
            byte |= shift >= 0 ? ((unsigned)codes[m] << shift) : ((unsigned)codes[m] >> -shift);
        }
        row[b] = (unsigned char)(byte & 0xff);
    }
}
