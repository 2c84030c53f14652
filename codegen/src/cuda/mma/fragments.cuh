// The tensor-core kernel (KeyScoring::Mma): fragment helpers (f16x2 packing, byte permutes, the
// mma itself, code spans and centroids). See codegen/src/mma.rs for the fragment layouts.

#define FULL_MASK 0xffffffffu

__device__ __forceinline__ unsigned pack_half2(float lo, float hi) {
    unsigned r;
    asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}
__device__ __forceinline__ unsigned permute_bytes(unsigned a, unsigned b, unsigned selector) {
    unsigned r;
    asm("prmt.b32 %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(b), "r"(selector));
    return r;
}
// d += a·b on tensor cores: a 16x16 f16 (row), b 16x8 f16 (col), d 16x8 f32.
__device__ __forceinline__ void mma_16x8x16(float (&d)[4], unsigned a0, unsigned a1, unsigned a2, unsigned a3,
                                            unsigned b0, unsigned b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// N bytes (a power of two, N-aligned) as little-endian words; bytes past N are zero.
template <int N> struct CodeBytes { unsigned w[N >= 4 ? N / 4 : 1]; };
template <int N> __device__ __forceinline__ CodeBytes<N> load_code_bytes(const unsigned char* src) {
    CodeBytes<N> out;
    if constexpr (N >= 16) {
        #pragma unroll
        for (int i = 0; i < N / 16; ++i) {
            const uint4 v = reinterpret_cast<const uint4*>(src)[i];
            out.w[4 * i] = v.x; out.w[4 * i + 1] = v.y; out.w[4 * i + 2] = v.z; out.w[4 * i + 3] = v.w;
        }
    } else if constexpr (N == 8) {
        const uint2 v = *reinterpret_cast<const uint2*>(src);
        out.w[0] = v.x; out.w[1] = v.y;
    } else if constexpr (N == 4) {
        out.w[0] = *reinterpret_cast<const unsigned*>(src);
    } else if constexpr (N == 2) {
        out.w[0] = *reinterpret_cast<const unsigned short*>(src);
    } else {
        out.w[0] = *src;
    }
    return out;
}
// N code bytes (as load_code_bytes) from global memory, read once: not kept in L1
// (L1::no_allocate), so the stream of codes does not evict what L1 holds for reuse, such as
// spilled registers and the page table (H100, Llama shape: 2-4% faster at 1 × 32k, 1 × 128k
// and 8 × 32k, even at 64 × 8192 and 128 × 4096; bench/results/kernel-s20).
// The asm is not volatile, so it only stays after the kernel's wait_for_predecessor because
// its address depends on loads made after the wait (the sequence's length, slot or pages):
// keep it that way.
template <int N> __device__ __forceinline__ CodeBytes<N> stream_code_bytes(const unsigned char* src) {
    if constexpr (N < 4) {
        // 1- and 2-byte spans (head dim 64, or 8-dim value centroids at head dim 128, as in
        // SmolLM2's default values): the sub-word load zero-extends into the word. H200, SmolLM2's
        // shape, .u16: 3.5-7% faster at 1-64 sequences, unchanged at 256 x 2048 (3 rounds,
        // bench/results/kernel-s21); .u8 verified, not timed.
        CodeBytes<N> out;
        if constexpr (N == 2)
            asm("ld.global.nc.L1::no_allocate.u16 %0, [%1];" : "=r"(out.w[0]) : "l"(src));
        else
            asm("ld.global.nc.L1::no_allocate.u8 %0, [%1];" : "=r"(out.w[0]) : "l"(src));
        return out;
    } else {
        CodeBytes<N> out;
        if constexpr (N >= 16) {
            #pragma unroll
            for (int i = 0; i < N / 16; ++i)
                asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
                    : "=r"(out.w[4 * i]), "=r"(out.w[4 * i + 1]), "=r"(out.w[4 * i + 2]), "=r"(out.w[4 * i + 3]) : "l"(src + 16 * i));
        } else if constexpr (N == 8) {
            asm("ld.global.nc.L1::no_allocate.v2.u32 {%0, %1}, [%2];" : "=r"(out.w[0]), "=r"(out.w[1]) : "l"(src));
        } else {
            asm("ld.global.nc.L1::no_allocate.u32 %0, [%1];" : "=r"(out.w[0]) : "l"(src));
        }
        return out;
    }
}
template <int N> __device__ __forceinline__ CodeBytes<N> zero_code_bytes() {
    CodeBytes<N> out;
    #pragma unroll
    for (int i = 0; i < (N >= 4 ? N / 4 : 1); ++i) out.w[i] = 0u;
    return out;
}
// The byte offset of this lane's copy within a table entry (OFFSET_CODES): 16 copies of 8 bytes.
__device__ __forceinline__ unsigned lane_copy_offset() { return (threadIdx.x & (K_COPIES - 1)) * 8u; }

// 8-bit codes from their bytes. One byte permute per code (inline PTX, so that the compiler
// cannot merge the extraction with the centroid address into shift, mask and add): the address
// is then one shift-add (LEA), two instructions per code instead of three. With OFFSET_CODES
// the permute makes the offset of this lane's copy within the table: the code as byte 1 (the
// table's 256-byte entries), the copy's offset as byte 0; span_dims4 adds the table's base (on
// sm_90 a register: ptxas did not fold it into the load, bench/results/kernel-s35).
template <int N> __device__ __forceinline__ void unpack_codes(const CodeBytes<N>& b, int (&codes)[N]) {
    #pragma unroll
    for (int i = 0; i < N; ++i) {
        if constexpr (OFFSET_CODES)
            codes[i] = (int)permute_bytes(b.w[i / 4], lane_copy_offset(), 0x7604u | ((i % 4) << 4));
        else
            codes[i] = (int)permute_bytes(b.w[i / 4], 0u, 0x4440u | (i % 4));
    }
}

// Bits [shift, shift + 32) of the 64-bit value hi:lo (shift < 32).
__device__ __forceinline__ unsigned funnel_right(unsigned lo, unsigned hi, unsigned shift) {
    unsigned r;
    asm("shf.r.wrap.b32 %0, %1, %2, %3;" : "=r"(r) : "r"(lo), "r"(hi), "r"(shift));
    return r;
}

// Codes [first, first + N) of a packed row, `first` a multiple of N (a lane's span). N is a
// power of two; with 8-bit codes the span is N-byte aligned, so it is one vector load. Spans of
// other widths that are whole 16-bit halves (12-bit codes 4 or more a span, 10-bit 8 or more, 9-
// and 11-bit 16 or more) are half-aligned, since rows are whole spans and tiles 16-byte aligned,
// and word-aligned when whole words: they are read as words (or halves), and each code is cut
// out at a constant bit position, where read_code takes three byte loads per code.
template <int BITS, int N> __device__ __forceinline__ void read_codes(const unsigned char* row, int first, int (&codes)[N]) {
    if constexpr (BITS == 8) {
        unpack_codes<N>(load_code_bytes<N>(row + first), codes);
    } else if constexpr (N * BITS % 16 == 0) {
        constexpr int HALVES = N * BITS / 16, WORDS = (HALVES + 1) / 2;
        const unsigned char* span = row + first * BITS / 8;
        unsigned w[WORDS + 1];
        #pragma unroll
        for (int i = 0; i < WORDS; ++i) {
            if constexpr (HALVES % 2 == 0) {
                w[i] = reinterpret_cast<const unsigned*>(span)[i];
            } else {
                const unsigned short* h = reinterpret_cast<const unsigned short*>(span);
                w[i] = 2 * i + 1 < HALVES ? h[2 * i] | (unsigned)h[2 * i + 1] << 16 : h[2 * i];
            }
        }
        w[WORDS] = 0u;
        #pragma unroll
        for (int i = 0; i < N; ++i) {
            const int bit = i * BITS;
            codes[i] = (int)(funnel_right(w[bit / 32], w[bit / 32 + 1], bit % 32) & ((1u << BITS) - 1));
        }
    } else {
        #pragma unroll
        for (int i = 0; i < N; ++i) codes[i] = read_code<BITS>(row, first + i);
    }
}

// Shared-memory loads by 32-bit address (see span_dims4).
__device__ __forceinline__ unsigned shared_u32(unsigned address) {
    unsigned r;
    asm volatile("ld.shared.u32 %0, [%1];" : "=r"(r) : "r"(address));
    return r;
}
__device__ __forceinline__ uint2 shared_u32x2(unsigned address) {
    uint2 r;
    asm volatile("ld.shared.v2.u32 {%0, %1}, [%2];" : "=r"(r.x), "=r"(r.y) : "r"(address));
    return r;
}

// Halves from one codebook entry to the next: [entries][COPIES][SUB], or with OFFSET_CODES
// one table of 256-byte entries, the key copies then the value copies (the value book starts
// 128 bytes in).
template <int SUB, int COPIES> __host__ __device__ constexpr unsigned entry_halves() { return OFFSET_CODES ? 128u : COPIES * SUB; }

// This lane's copy of centroid 0 of a codebook of COPIES copies; centroid c's copy is c entries
// further, so a centroid's address is one shift-add of its code (with OFFSET_CODES the code is
// the offset of the lane's copy already).
template <int SUB, int COPIES> __device__ __forceinline__ const unsigned short* lane_codebook(const unsigned short* book) {
    return OFFSET_CODES ? book : book + (threadIdx.x & (COPIES - 1)) * SUB;
}

// Dims [4j, 4j + 4) of a lane's span of a vector given the span's codes, as two f16 pairs, from
// the lane's copy of the codebook (`book`: see lane_codebook). The kernel's hottest path: with
// 2- and 4-dim centroids the reads go by 32-bit shared address (inline PTX), which saves the
// 64-bit address arithmetic per read (H100: 4-10% faster, bench/results/h100/lane-address);
// 8-dim centroids stay plain loads, which the compiler merges into one 16-byte read per code.
template <int SUB, int COPIES, int N>
__device__ __forceinline__ uint2 span_dims4(const unsigned short* book, const int (&codes)[N], int j) {
    constexpr unsigned STRIDE = entry_halves<SUB, COPIES>();
    uint2 r;
    if constexpr (SUB == 8) {
        r = *reinterpret_cast<const uint2*>(book + (unsigned)codes[j / 2] * STRIDE + (4 * j) % SUB);
    } else {
        unsigned base;
        asm("{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }" : "=r"(base) : "l"(book));
        if constexpr (SUB == 2) {
            r.x = shared_u32(base + (unsigned)codes[2 * j] * STRIDE * 2);
            r.y = shared_u32(base + (unsigned)codes[2 * j + 1] * STRIDE * 2);
        } else if constexpr (OFFSET_CODES) {
            r = shared_u32x2(base + (unsigned)codes[j]);
        } else {
            r = shared_u32x2(base + (unsigned)codes[j] * STRIDE * 2);
        }
    }
    return r;
}

// Dims [4j, 4j + 4) of a key span (span_dims4's, for the key book). An e4m3 book (E4M3_KEYS:
// 8 bytes a centroid, one copy) takes one 32-bit read and two conversions where the f16 book
// reads 8 bytes: half the shared-memory bytes, and a 32 KB d8b12 book where it took 64 KB.
template <int N> __device__ __forceinline__ uint2 key_dims4(const unsigned short* book, const int (&codes)[N], int j) {
    if constexpr (E4M3_KEYS) {
        const unsigned w = reinterpret_cast<const unsigned*>(book)[(unsigned)codes[j / 2] * 2 + (j % 2)];
        uint2 r;
        asm("{ .reg .b16 lo, hi; mov.b32 {lo, hi}, %2; cvt.rn.f16x2.e4m3x2 %0, lo; cvt.rn.f16x2.e4m3x2 %1, hi; }"
            : "=r"(r.x), "=r"(r.y) : "r"(w));
        return r;
    } else {
        return span_dims4<K_SUB, K_COPIES, N>(book, codes, j);
    }
}

// One centroid as a single load: SUB halves.
template <int SUB> struct Centroid;
template <> struct Centroid<2> { using T = unsigned; };
template <> struct Centroid<4> { using T = uint2; };
template <> struct Centroid<8> { using T = uint4; };
__device__ __forceinline__ unsigned shuffle_from(unsigned v, int lane) { return __shfl_sync(FULL_MASK, v, lane); }
__device__ __forceinline__ uint2 shuffle_from(uint2 v, int lane) {
    return make_uint2(shuffle_from(v.x, lane), shuffle_from(v.y, lane));
}
__device__ __forceinline__ uint4 shuffle_from(uint4 v, int lane) {
    return make_uint4(shuffle_from(v.x, lane), shuffle_from(v.y, lane), shuffle_from(v.z, lane), shuffle_from(v.w, lane));
}

// A warp's share of one codebook copy round: up to BATCH chunks of 32 centroids (chunk
// `warp + (round * BATCH + b) * WARPS`), lane l holding centroid l of each, for a book of
// COPIES copies. Books are 2^8 to 2^12 entries, so chunks are whole. E4M3: stored as e4m3 (8-dim
// centroids, one copy; the runtime only pairs it with books of e4m3 values, so the conversion
// is exact).
template <int SUB, int ENTRIES, int BATCH, int COPIES, bool E4M3 = false> struct BookRound {
    using T = typename Centroid<SUB>::T;
    static constexpr int CHUNKS = ENTRIES / 32;
    static_assert(ENTRIES % 32 == 0, "codebooks are whole chunks of 32 centroids");
    T v[BATCH];
    __device__ __forceinline__ static int chunk(int round, int b) { return (threadIdx.x >> 5) + (round * BATCH + b) * WARPS; }
    __device__ __forceinline__ void load(const unsigned short* src, int round) {
        #pragma unroll
        for (int b = 0; b < BATCH; ++b) {
            const int c = chunk(round, b);
            if (c < CHUNKS) v[b] = reinterpret_cast<const T*>(src)[c * 32 + (threadIdx.x & 31)];
        }
    }
    // Chunk c's COPIES * 32 slots (slot s: centroid s / COPIES, copy s % COPIES) are
    // contiguous, or with OFFSET_CODES each centroid's copies are; lane l writes slot 32k + l
    // of step k, so every store is a conflict-free warp access (contiguous, or two 128-byte
    // runs), and the centroid comes from its lane by a shuffle.
    __device__ __forceinline__ void store(unsigned short* dst, int round) const {
        constexpr int ENTRY = entry_halves<SUB, COPIES>() / SUB;  // in centroids
        const int lane = threadIdx.x & 31;
        #pragma unroll
        for (int b = 0; b < BATCH; ++b) {
            const int c = chunk(round, b);
            if (c >= CHUNKS) continue;  // warp-uniform: the shuffles see every lane
            if constexpr (E4M3) {
                static_assert(SUB == 8 && COPIES == 1, "e4m3 books: 8-dim centroids, one copy");
                const uint4 h = v[b];
                unsigned lo, hi;
                asm("{ .reg .b16 a, b, c, d;\n\t"
                    "cvt.rn.satfinite.e4m3x2.f16x2 a, %2; cvt.rn.satfinite.e4m3x2.f16x2 b, %3;\n\t"
                    "cvt.rn.satfinite.e4m3x2.f16x2 c, %4; cvt.rn.satfinite.e4m3x2.f16x2 d, %5;\n\t"
                    "mov.b32 %0, {a, b}; mov.b32 %1, {c, d}; }"
                    : "=r"(lo), "=r"(hi) : "r"(h.x), "r"(h.y), "r"(h.z), "r"(h.w));
                reinterpret_cast<uint2*>(dst)[c * 32 + lane] = make_uint2(lo, hi);  // a warp's 256 contiguous bytes
                continue;
            }
            T* out = reinterpret_cast<T*>(dst) + c * 32 * ENTRY;
            #pragma unroll 8  // all 16 or 32 at once raised the 4-warp kernels' spills
            for (int k = 0; k < COPIES; ++k) {
                const int slot = 32 * k + lane, at = slot / COPIES * ENTRY + slot % COPIES;
                if constexpr (COPIES == 1) {
                    out[at] = v[b];
                } else {
                    out[at] = shuffle_from(v[b], slot / COPIES);
                }
            }
        }
    }
};

// Chunks a warp copies per round: 16 registers' worth (SUB / 2 a centroid), or all it has.
__host__ __device__ constexpr int round_batch(int sub, int entries) {
    return 32 / sub < (entries / 32 + WARPS - 1) / WARPS ? 32 / sub : (entries / 32 + WARPS - 1) / WARPS;
}

// Copies both codebooks into shared memory, K_COPIES and V_COPIES times (lane l reads copy
// l % copies). Every centroid is loaded from global memory once, and a round's loads of
// both books are all in flight before its first store: one L2 round trip per round (one
// round for 256-entry books, but for 8-dim centroids in a one-warp block), where a load per
// copy made a round trip per unrolled group of copies. Up to 16 registers a book a round.
template <int K_ENTRIES, int V_ENTRIES>
__device__ __forceinline__ void copy_books_replicated(unsigned short* key_dst, const unsigned short* key_src,
                                                      unsigned short* value_dst, const unsigned short* value_src) {
    constexpr int K_BATCH = round_batch(K_SUB, K_ENTRIES), V_BATCH = round_batch(V_SUB, V_ENTRIES);
    constexpr int K_ROUNDS = (K_ENTRIES / 32 + WARPS * K_BATCH - 1) / (WARPS * K_BATCH);
    constexpr int V_ROUNDS = (V_ENTRIES / 32 + WARPS * V_BATCH - 1) / (WARPS * V_BATCH);
    constexpr int ROUNDS = K_ROUNDS > V_ROUNDS ? K_ROUNDS : V_ROUNDS;
    for (int round = 0; round < ROUNDS; ++round) {
        BookRound<K_SUB, K_ENTRIES, K_BATCH, K_COPIES, E4M3_KEYS> keys;
        BookRound<V_SUB, V_ENTRIES, V_BATCH, V_COPIES> values;
        keys.load(key_src, round);
        values.load(value_src, round);
        keys.store(key_dst, round);
        values.store(value_dst, round);
    }
}

__device__ __forceinline__ float half_low(unsigned h2) { return half_to_float(h2 & 0xffff); }
__device__ __forceinline__ float half_high(unsigned h2) { return half_to_float(h2 >> 16); }

// The query head of the key mma's row (heads form) or column (tokens form) n: n itself, but
// with paired values the padding past head 3 repeats heads 0-3, so that the lanes the paired
// value mma's columns 4-7 take their probabilities from hold a head's (slabs.cuh).
__device__ __forceinline__ int query_head(int n) { return PAIRED_VALUES ? n & 3 : n; }

// The query's fragments, one quad per chunk j of 16 dims: lane (g, q) holds head
// query_head(g) (zero from GROUP on), dims q*HEAD_DIM/4 + 4j .. + 4 as f16 pairs in [j][0] and [j][2]; [j][1] and [j][3]
// hold what those rounded off when QUERY_PARTS is 2, else zero. With the heads as the key mma's
// rows the quad is its A fragment (rows 8-15: the low part); with the tokens as rows, [j][0] and
// [j][2] are the B fragment, and [j][1], [j][3] the low part's.
__device__ __forceinline__ void query_fragments(const float* queries, unsigned (&frag)[CHUNKS][4]) {
    const int lane = threadIdx.x & 31, head = query_head(lane >> 2), quarter = lane & 3;
    #pragma unroll
    for (int j = 0; j < CHUNKS; ++j) {
        #pragma unroll
        for (int h = 0; h < 2; ++h) {
            float x0 = 0.f, x1 = 0.f;
            if (head < GROUP) {
                x0 = queries[head * HEAD_DIM + quarter * (HEAD_DIM / 4) + 4 * j + 2 * h];
                x1 = queries[head * HEAD_DIM + quarter * (HEAD_DIM / 4) + 4 * j + 2 * h + 1];
            }
            const unsigned hi = pack_half2(x0, x1);
            frag[j][2 * h] = hi;
            frag[j][2 * h + 1] = QUERY_PARTS == 2 ? pack_half2(x0 - half_low(hi), x1 - half_high(hi)) : 0u;
        }
    }
}
