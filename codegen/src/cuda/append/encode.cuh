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

// A warp-wide minimum of an unsigned integer, in every lane: one instruction (sm_80 and later).
__device__ __forceinline__ unsigned warp_min_u32(unsigned v) {
    unsigned r;
    asm volatile("redux.sync.min.u32 %0, %1, 0xffffffff;" : "=r"(r) : "r"(v));
    return r;
}
// A float's bits as an unsigned integer of the same order, −0 as +0 (they tie under `<`); and
// back. NaN never reaches it: a lane's best starts at +inf and takes only distances below it.
__device__ __forceinline__ unsigned ordered_key(float f) {
    const unsigned b = __float_as_uint(f) == 0x80000000u ? 0u : __float_as_uint(f);
    return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}
__device__ __forceinline__ float ordered_value(unsigned key) {
    return __uint_as_float((key & 0x80000000u) ? (key & 0x7fffffffu) : ~key);
}

// The warp's nearest centroid, in every lane: the smallest distance and, among equal ones, the
// lowest index (the CPU search's tie rule). Two warp minima: of the distances' keys, then of
// the indices of the lanes that hold the smallest (a shuffle tree took 5 rounds of 2 shuffles).
__device__ __forceinline__ void warp_nearest(float& best, int& index) {
    const unsigned key = ordered_key(best), lowest = warp_min_u32(key);
    index = (int)warp_min_u32(key == lowest ? (unsigned)index : 0xffffffffu);
    best = ordered_value(lowest);
}

// Larger books (over 256 entries, read from L2 as the search goes): a warp scores every
// centroid it loads against up to 16 sub-vectors, whose 2·x it reads from shared memory (the
// same address for every lane: a broadcast). With up to 16 sub-vectors (8-dim books, and 4-dim
// ones at head dim 64) each warp streams its own eighth of the book and the block reads the book
// once; with more, CODES / 16 groups of warps each stream the whole book. The search before gave
// a warp 4 sub-vectors, so a block read the book CODES / 4 times (at most 8).
template <int SUB, int BOOK, int CODES> struct StreamShape {
    static constexpr int PER_WARP = CODES < 16 ? CODES : 16;
    static constexpr int CODE_GROUPS = CODES / PER_WARP;
    static constexpr int BOOK_PARTS = WARPS / CODE_GROUPS;
    static constexpr int PART = BOOK / BOOK_PARTS;
    // Centroids a lane holds at once; the next ones load while these are scored.
    static constexpr int BATCH = 2;
    // Every sub-vector in exactly one group, every warp in a part: CODES and WARPS are powers of
    // two (head dims 64 to 256, sub-vectors of 2 to 8) and CODES is at most 16 · WARPS.
    static_assert(CODES % PER_WARP == 0 && CODE_GROUPS <= WARPS && WARPS % CODE_GROUPS == 0, "sub-vectors must split evenly over the warps");
    static_assert(BOOK % BOOK_PARTS == 0 && PART % (32 * BATCH) == 0, "a streamed search needs a book of at least 512 entries");
};

// A lane's `BATCH` centroids i, i + 32, ... of the part it searches, with their norms.
template <int SUB, int BATCH> struct CentroidBatch {
    float c[BATCH][SUB];
    float norm[BATCH];
};
template <int SUB, int BATCH> __device__ __forceinline__ void load_centroids(const float* centroids, const float* norms, int first,
                                                                            CentroidBatch<SUB, BATCH>& batch) {
    #pragma unroll
    for (int b = 0; b < BATCH; ++b) {
        #pragma unroll
        for (int j = 0; j < SUB; ++j) batch.c[b][j] = __ldg(centroids + (first + 32 * b) * SUB + j);
        batch.norm[b] = __ldg(norms + first + 32 * b);
    }
}

// Stage: nearest centroid in a streamed book, for sub-vectors [0, CODES) of x. Warp w searches
// sub-vectors [g·PER_WARP, (g + 1)·PER_WARP) (g = w % CODE_GROUPS) over part w / CODE_GROUPS of
// the book. The same arithmetic and tie rule as nearest_codes_held: a lane visits its centroids in
// increasing index and keeps the first strict minimum; the warp, then the parts in book order
// keep the lowest index among equal distances.
template <int SUB, int BOOK, int CODES> __device__ __forceinline__ void nearest_codes_streamed(const float* x, const float* centroids,
                                                                                             const float* norms, int* codes) {
    using Shape = StreamShape<SUB, BOOK, CODES>;
    constexpr int GROUPS = Shape::CODE_GROUPS, PARTS = Shape::BOOK_PARTS, PER_WARP = Shape::PER_WARP, BATCH = Shape::BATCH;
    __shared__ __align__(16) float twice[CODES * SUB];  // 2·x, exact in f32
    __shared__ float part_best[PARTS][CODES];
    __shared__ int part_index[PARTS][CODES];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int group = warp % GROUPS, part = warp / GROUPS;
    for (int e = threadIdx.x; e < CODES * SUB; e += THREADS) twice[e] = 2.0f * x[e];
    __syncthreads();
    const float* mine = twice + group * PER_WARP * SUB;
    float best[PER_WARP];
    int best_index[PER_WARP];
    #pragma unroll
    for (int r = 0; r < PER_WARP; ++r) { best[r] = __int_as_float(0x7f800000); best_index[r] = 0; }
    constexpr int STEPS = Shape::PART / (32 * BATCH);
    const int base = part * Shape::PART + lane;
    CentroidBatch<SUB, BATCH> now, next;
    load_centroids<SUB, BATCH>(centroids, norms, base, now);
    for (int i = 0; i < STEPS; ++i) {
        if (i + 1 < STEPS) load_centroids<SUB, BATCH>(centroids, norms, base + 32 * BATCH * (i + 1), next);
        #pragma unroll
        for (int r = 0; r < PER_WARP; ++r) {
            float t[SUB];
            #pragma unroll
            for (int j = 0; j < SUB; ++j) t[j] = mine[r * SUB + j];
            #pragma unroll
            for (int b = 0; b < BATCH; ++b) {
                float dist = now.norm[b];
                #pragma unroll
                for (int j = 0; j < SUB; ++j) dist = __fsub_rn(dist, __fmul_rn(t[j], now.c[b][j]));
                if (dist < best[r]) { best[r] = dist; best_index[r] = base + 32 * (BATCH * i + b); }
            }
        }
        if (i + 1 < STEPS) now = next;
    }
    #pragma unroll
    for (int r = 0; r < PER_WARP; ++r) {
        float b = best[r];
        int bi = best_index[r];
        warp_nearest(b, bi);
        if (lane == 0) { part_best[part][group * PER_WARP + r] = b; part_index[part][group * PER_WARP + r] = bi; }
    }
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

// Stage: nearest centroid in a book held in registers, for sub-vectors [0, CODES) of x, by a
// team of TEAM warps (team_warp: this warp's place in it). Warp w searches sub-vectors w,
// w + TEAM, ..., GROUP at a time (their distance chains interleave and their warp reductions
// overlap); lane l tries centroids l, l + 32, ... and keeps the first strict minimum per
// sub-vector; the warp keeps the lowest index among equal distances, as the CPU search does.
template <int SUB, int BOOK, int CODES, int TEAM>
__device__ __forceinline__ void nearest_codes_held(const float* x, const LaneBook<SUB, BOOK>& held, int* codes, int team_warp) {
    static_assert(CODES % TEAM == 0, "sub-vectors must split evenly over the team's warps");
    constexpr int PER_WARP = CODES / TEAM;
    constexpr int GROUP = PER_WARP < 4 ? PER_WARP : 4;
    const int lane = threadIdx.x & 31;
    #pragma unroll 1
    for (int first = 0; first < PER_WARP; first += GROUP) {
        float twice[GROUP][SUB];  // 2·x, exact in f32
        float best[GROUP];
        int best_index[GROUP];
        #pragma unroll
        for (int r = 0; r < GROUP; ++r) {
            const int m = team_warp + (first + r) * TEAM;
            #pragma unroll
            for (int j = 0; j < SUB; ++j) twice[r][j] = 2.0f * x[m * SUB + j];
            best[r] = __int_as_float(0x7f800000);
            best_index[r] = 0;
        }
        #pragma unroll
        for (int i = 0; i < BOOK / 32; ++i) {
            #pragma unroll
            for (int r = 0; r < GROUP; ++r) {
                float dist = held.norm[i];
                #pragma unroll
                for (int j = 0; j < SUB; ++j) dist = __fsub_rn(dist, __fmul_rn(twice[r][j], held.c[i][j]));
                if (dist < best[r]) { best[r] = dist; best_index[r] = lane + 32 * i; }
            }
        }
        #pragma unroll
        for (int r = 0; r < GROUP; ++r) {
            warp_nearest(best[r], best_index[r]);
            if (lane == 0) codes[team_warp + (first + r) * TEAM] = best_index[r];
        }
    }
}

// Stage: nearest centroid, for sub-vectors [0, CODES) of x, with the CPU search's arithmetic and
// tie rule: the distance is ‖c‖² − Σ_j (2·x_j)·c_j, each product and difference rounded on its
// own (no FMA), in the CPU's order, and among equal distances the lowest index wins. A team of
// TEAM warps searches; a streamed book takes the whole block (TEAM = WARPS).
template <int SUB, int BOOK, int CODES, int TEAM>
__device__ __forceinline__ void nearest_codes(const float* x, const float* centroids, const float* norms, const LaneBook<SUB, BOOK>& held,
                                              int* codes, int team_warp) {
    if constexpr (LaneBook<SUB, BOOK>::HELD) {
        nearest_codes_held<SUB, BOOK, CODES, TEAM>(x, held, codes, team_warp);
    } else {
        static_assert(TEAM == WARPS, "a streamed book is searched by the whole block");
        nearest_codes_streamed<SUB, BOOK, CODES>(x, centroids, norms, codes);
    }
}

// Stage: pack codes. Byte b of the row gathers the bits [8b, 8b + 8) of the little-endian code
// stream, one thread of the `threads` (from `thread`) per byte.
template <int BITS, int ROW>
__device__ __forceinline__ void pack_codes(const int* codes, int count, unsigned char* row, int thread, int threads) {
    for (int b = thread; b < ROW; b += threads) {
        unsigned byte = 0;
        for (int m = (8 * b) / BITS; m <= (8 * b + 7) / BITS && m < count; ++m) {
            const int shift = m * BITS - 8 * b;
            byte |= shift >= 0 ? ((unsigned)codes[m] << shift) : ((unsigned)codes[m] >> -shift);
        }
        row[b] = (unsigned char)(byte & 0xff);
    }
}

// λ of a lane's dims l, l + 32, ... of one KV head (constant: read before the kernel's wait);
// only keys are smoothed.
template <int PER_LANE> struct LaneSmooth {
    float s[PER_LANE];
};
template <int PER_LANE, bool KEYS> __device__ __forceinline__ LaneSmooth<PER_LANE> load_lane_smooth(const float* smooth_row) {
    LaneSmooth<PER_LANE> out;
    #pragma unroll
    for (int k = 0; k < PER_LANE; ++k) out.s[k] = SMOOTH && KEYS ? __ldg(smooth_row + (threadIdx.x & 31) + 32 * k) : 1.0f;
    return out;
}

// Stage: key transform of one row held by a warp, lane l holding dims l, l + 32, ... (the CPU's
// order: k / λ, the Hadamard butterflies, the 1/sqrt(D) scale). Each butterfly stage pairs
// (a, a + h) with a's bit h clear: x[a] = x[a] + x[a + h], x[a + h] = x[a] - x[a + h]; pairs
// closer than 32 dims meet by shuffle, farther ones within a lane. No barrier.
template <int PER_LANE> __device__ __forceinline__ void transform_key_lanes(float (&v)[PER_LANE], const LaneSmooth<PER_LANE>& smooth) {
    const int lane = threadIdx.x & 31;
    if (SMOOTH) {
        #pragma unroll
        for (int k = 0; k < PER_LANE; ++k) v[k] = __fdiv_rn(v[k], smooth.s[k]);
    }
    if (HADAMARD) {
        #pragma unroll
        for (int h = 1; h < HEAD_DIM; h <<= 1) {
            float next[PER_LANE];
            #pragma unroll
            for (int k = 0; k < PER_LANE; ++k) {
                const int i = lane + 32 * k;
                const float partner = h < 32 ? __shfl_xor_sync(0xffffffffu, v[k], h) : v[k ^ (h >> 5)];
                next[k] = (i & h) ? __fsub_rn(partner, v[k]) : __fadd_rn(v[k], partner);
            }
            #pragma unroll
            for (int k = 0; k < PER_LANE; ++k) v[k] = next[k];
        }
        #pragma unroll
        for (int k = 0; k < PER_LANE; ++k) v[k] = __fmul_rn(v[k], HADAMARD_SCALE);
    }
}

// Stage: one fp16 row into shared memory as f32, keys transformed; a warp-wide call, lane l
// taking dims l, l + 32, ... .
template <bool KEYS> __device__ __forceinline__ void stage_row(const unsigned short* from, const LaneSmooth<HEAD_DIM / 32>& lambda,
                                                              float* dst) {
    constexpr int PER_LANE = HEAD_DIM / 32;
    const int lane = threadIdx.x & 31;
    float v[PER_LANE];
    #pragma unroll
    for (int k = 0; k < PER_LANE; ++k) v[k] = half_to_float(from[lane + 32 * k]);
    if constexpr (SLOT_INT8) {
        // Every coded token passes the int8 window first (the CPU reference appends one at a
        // time): a token coded as it arrives is coded from its int8 row too.
        const float scale = half_to_float(int8_scale_bits(v));
        #pragma unroll
        for (int k = 0; k < PER_LANE; ++k) v[k] = half_to_float(int8_value_half(int8_code(v[k], scale), scale));
    }
    if (KEYS) transform_key_lanes<PER_LANE>(v, lambda);
    #pragma unroll
    for (int k = 0; k < PER_LANE; ++k) dst[lane + 32 * k] = v[k];
}

// Stage: the same from a slot row (a window token that leaves for the codes), as the
// attention kernels read it.
template <bool KEYS> __device__ __forceinline__ void stage_slot_row(const SlotRow& from, const LaneSmooth<HEAD_DIM / 32>& lambda,
                                                                   float* dst) {
    constexpr int PER_LANE = HEAD_DIM / 32;
    const int lane = threadIdx.x & 31;
    float v[PER_LANE];
    #pragma unroll
    for (int k = 0; k < PER_LANE; ++k) v[k] = slot_element(from, lane + 32 * k);
    if (KEYS) transform_key_lanes<PER_LANE>(v, lambda);
    #pragma unroll
    for (int k = 0; k < PER_LANE; ++k) dst[lane + 32 * k] = v[k];
}

// One new f16 row as an int8 slot row holds it: this lane's codes (dims [l·PER_LANE,
// (l + 1)·PER_LANE)) and the row's scale bits (int8_scale_bits, int8_code: vecinfer_quant::window's
// rule, bit for bit). A warp-wide call.
struct Int8SlotRow {
    unsigned char codes[HEAD_DIM / 32];
    unsigned short scale;
};
__device__ __forceinline__ Int8SlotRow int8_slot_row(const unsigned short* src) {
    constexpr int PER_LANE = HEAD_DIM / 32;
    const int lane = threadIdx.x & 31;
    float x[PER_LANE];
    #pragma unroll
    for (int k = 0; k < PER_LANE; ++k) x[k] = half_to_float(src[lane * PER_LANE + k]);
    Int8SlotRow row;
    row.scale = int8_scale_bits(x);
    const float scale = half_to_float(row.scale);
    #pragma unroll
    for (int k = 0; k < PER_LANE; ++k) row.codes[k] = (unsigned char)(signed char)int8_code(x[k], scale);
    return row;
}

// Writes it into slot row `index` of a buffer of `rows` slot rows (the same warp).
__device__ __forceinline__ void store_int8_slot_row(const Int8SlotRow& row, unsigned short* buffer, size_t rows, size_t index) {
    constexpr int PER_LANE = HEAD_DIM / 32;
    const int lane = threadIdx.x & 31;
    unsigned char* codes = reinterpret_cast<unsigned char*>(buffer + index * SLOT_WORDS) + lane * PER_LANE;
    #pragma unroll
    for (int k = 0; k < PER_LANE; ++k) codes[k] = row.codes[k];
    if (lane == 0) buffer[rows * SLOT_WORDS + index] = row.scale;
}
