// The quantize-and-append kernel's encoder: nearest centroids with the CPU search's arithmetic
// and tie rule, and code packing.

// A lane's share of a codebook: centroids lane, lane + 32, ... . Books of up to 256 entries of
// up to 8 dims are held in registers, loaded when the block starts, before anything that waits
// on the sequence's length (their latency then hides behind those loads); larger books are read
// as the search goes.
template <int SUB, int BOOK> struct LaneBook {
    static constexpr bool HELD = BOOK <= 256;
    static constexpr int COUNT = HELD ? BOOK / 32 : 1;
    float c[COUNT][SUB];
    float norm[COUNT];
};
template <int SUB, int BOOK> __device__ __forceinline__ void load_lane_book(const float* centroids, const float* norms,
                                                                           LaneBook<SUB, BOOK>& book) {
    if constexpr (LaneBook<SUB, BOOK>::HELD) {
        const int lane = threadIdx.x & 31;
        #pragma unroll
        for (int i = 0; i < BOOK / 32; ++i) {
            #pragma unroll
            for (int j = 0; j < SUB; ++j) book.c[i][j] = __ldg(centroids + (lane + 32 * i) * SUB + j);
            book.norm[i] = __ldg(norms + lane + 32 * i);
        }
    }
}

// How a block's warps share the search: CODE_GROUPS groups of sub-vectors × BOOK_PARTS
// ranges of the codebook. Books held in registers: every warp searches the whole book for its
// own sub-vectors. Larger books (4096 entries): at least 4 sub-vectors per warp, so that each
// centroid read from memory serves 4 distances, and the warps left over split the book
// (a warp per sub-vector over the whole book made the append 2x slower at large batch).
// CODES (head dim / sub dim) and WARPS are powers of two, so BOOK_PARTS divides the warps and
// each part is a multiple of 32 centroids (books that are not held have at least 512).
template <int SUB, int BOOK, int CODES> struct SearchShape {
    static constexpr int CODE_GROUPS = LaneBook<SUB, BOOK>::HELD ? WARPS : (CODES / 4 >= WARPS ? WARPS : (CODES / 4 >= 1 ? CODES / 4 : 1));
    static constexpr int BOOK_PARTS = WARPS / CODE_GROUPS;
    static constexpr int PER_WARP = (CODES + CODE_GROUPS - 1) / CODE_GROUPS;
    static constexpr int PART = BOOK / BOOK_PARTS;  // centroids per part, a multiple of 32
};

// Stage: nearest centroid, for sub-vectors [0, CODES) of x. Warp w searches sub-vectors g,
// g + CODE_GROUPS, ... (g = w % CODE_GROUPS) over part w / CODE_GROUPS of the book; lane l tries
// the part's centroids l, l + 32, ... and keeps the first strict minimum per sub-vector; the
// warp, then the parts in book order keep the lowest index among equal distances, as the CPU
// search does. The distance is ‖c‖² − Σ_j (2·x_j)·c_j, each product and difference rounded on
// its own (no FMA), in the CPU's order.
template <int SUB, int BOOK, int CODES> __device__ __forceinline__ void nearest_codes(const float* x, const float* centroids,
                                                                                    const float* norms,
                                                                                    const LaneBook<SUB, BOOK>& held, int* codes) {
    using Shape = SearchShape<SUB, BOOK, CODES>;
    constexpr int GROUPS = Shape::CODE_GROUPS, PARTS = Shape::BOOK_PARTS, PER_WARP = Shape::PER_WARP;
    constexpr bool EVEN = CODES % GROUPS == 0;
    __shared__ float part_best[PARTS > 1 ? PARTS : 1][PARTS > 1 ? CODES : 1];
    __shared__ int part_index[PARTS > 1 ? PARTS : 1][PARTS > 1 ? CODES : 1];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int group = warp % GROUPS, part = warp / GROUPS;
    float twice[PER_WARP][SUB];  // 2·x, exact in f32
    #pragma unroll
    for (int r = 0; r < PER_WARP; ++r) {
        const int m = EVEN ? group + r * GROUPS : min(group + r * GROUPS, CODES - 1);
        #pragma unroll
        for (int j = 0; j < SUB; ++j) twice[r][j] = 2.0f * x[m * SUB + j];
    }
    float best[PER_WARP];
    int best_index[PER_WARP];
    #pragma unroll
    for (int r = 0; r < PER_WARP; ++r) { best[r] = __int_as_float(0x7f800000); best_index[r] = 0; }
    constexpr int STEPS = Shape::PART / 32;
    #pragma unroll (LaneBook<SUB, BOOK>::HELD ? STEPS : 4)
    for (int i = 0; i < STEPS; ++i) {
        const int c = part * Shape::PART + lane + 32 * i;
        float centroid[SUB], norm;
        if constexpr (LaneBook<SUB, BOOK>::HELD) {
            #pragma unroll
            for (int j = 0; j < SUB; ++j) centroid[j] = held.c[i][j];
            norm = held.norm[i];
        } else {
            #pragma unroll
            for (int j = 0; j < SUB; ++j) centroid[j] = __ldg(centroids + c * SUB + j);
            norm = __ldg(norms + c);
        }
        #pragma unroll
        for (int r = 0; r < PER_WARP; ++r) {
            float dist = norm;
            #pragma unroll
            for (int j = 0; j < SUB; ++j) dist = __fsub_rn(dist, __fmul_rn(twice[r][j], centroid[j]));
            if (dist < best[r]) { best[r] = dist; best_index[r] = c; }
        }
    }
    #pragma unroll
    for (int r = 0; r < PER_WARP; ++r) {
        float b = best[r];
        int bi = best_index[r];
        #pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            const float other = __shfl_xor_sync(0xffffffffu, b, o);
            const int other_index = __shfl_xor_sync(0xffffffffu, bi, o);
            if (other < b || (other == b && other_index < bi)) { b = other; bi = other_index; }
        }
        const int m = group + r * GROUPS;
        if (lane == 0 && (EVEN || m < CODES)) {
            if constexpr (PARTS > 1) { part_best[part][m] = b; part_index[part][m] = bi; }
            else codes[m] = bi;
        }
    }
    if constexpr (PARTS > 1) {
        __syncthreads();
        for (int m = threadIdx.x; m < CODES; m += THREADS) {
            float b = part_best[0][m];
            int bi = part_index[0][m];
            #pragma unroll
            for (int p = 1; p < PARTS; ++p) {
                if (part_best[p][m] < b) { b = part_best[p][m]; bi = part_index[p][m]; }  // later parts: higher indices
            }
            codes[m] = bi;
        }
    }
}

// Stage: pack codes. Byte b of the row gathers the bits [8b, 8b + 8) of the little-endian code
// stream, one thread per byte.
template <int BITS, int ROW> __device__ __forceinline__ void pack_codes(const int* codes, int count, unsigned char* row) {
    for (int b = threadIdx.x; b < ROW; b += THREADS) {
        unsigned byte = 0;
        for (int m = (8 * b) / BITS; m <= (8 * b + 7) / BITS && m < count; ++m) {
            const int shift = m * BITS - 8 * b;
            byte |= shift >= 0 ? ((unsigned)codes[m] << shift) : ((unsigned)codes[m] >> -shift);
        }
        row[b] = (unsigned char)(byte & 0xff);
    }
}
