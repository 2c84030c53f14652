//! The tensor-core variant of the fused kernel (`KeyScoring::Mma`).
//!
//! Lanes decode centroids straight into `mma.m16n8k16` fragments, so nothing decoded goes
//! through shared memory:
//! - scores: `S[heads, tokens] = Q[heads, dims] · Kᵀ[dims, tokens]`, the query heads as the 16
//!   rows (padded with zeros), 8 tokens per n-tile. Lane `(g, q)` = `(lane / 4, lane % 4)`
//!   decodes token `g` of each n-tile, its quarter `q` of the head dims. Because a dot product
//!   does not care how dims are ordered, the k-slots `2q, 2q+1, 2q+8, 2q+9` of chunk `j` hold
//!   dims `q·D/4 + 4j .. + 4` of both operands: one 8-byte centroid read per chunk.
//! - values: `Oᵀ[dims, heads] += Vᵀ[dims, tokens] · Pᵀ[tokens, heads]`. Lane `(g, q)` decodes
//!   tokens `2q, 2q+1, 2q+8, 2q+9` of a 16-token slab, its eighth `g` of the dims; m-block `i`
//!   holds dims `g·D/8 + 2i` (row `g`) and `+1` (row `g+8`). The score fragments are already
//!   laid out as `Pᵀ`'s B fragment, so probabilities never leave registers.
//! - online softmax per warp (lane `(g, q)` owns query head `g`'s running max and sum); the
//!   warps' partial results are merged through shared memory at the end.

use crate::blocks::{async_tile_pipeline, kernel_signature, query_transform};
use crate::config::KernelConfig;

/// Constants of the mma layout, on top of [`crate::blocks::constants`].
pub fn constants(c: &KernelConfig) -> String {
    format!(
        r#"// mma layout: chunks of 16 dims, each warp's share of a tile in 16-token slabs.
static constexpr int CHUNKS = HEAD_DIM / 16;
static constexpr int WARP_TOKENS = TILE / WARPS;
static constexpr int SLABS = WARP_TOKENS / 16;
static constexpr int K_SPAN = HEAD_DIM / 4 / K_SUB;  // codes of a key one lane decodes
static constexpr int V_SPAN = HEAD_DIM / 8 / V_SUB;  // codes of a value one lane decodes
static constexpr int REPLICAS = {replicas};  // copies of each codebook in shared memory
static constexpr int QUERY_PARTS = {parts};  // fp16 parts of the query (hi, then lo)
"#,
        replicas = c.codebook_replicas,
        parts = if c.split_query { 2 } else { 1 },
    )
}

/// Fragment helpers: f16x2 packing, byte permutes, the mma itself, code spans and centroids.
pub fn fragment_helpers() -> &'static str {
    r#"#define FULL_MASK 0xffffffffu

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
template <int N> __device__ __forceinline__ CodeBytes<N> zero_code_bytes() {
    CodeBytes<N> out;
    #pragma unroll
    for (int i = 0; i < (N >= 4 ? N / 4 : 1); ++i) out.w[i] = 0u;
    return out;
}
// 8-bit codes from their bytes.
template <int N> __device__ __forceinline__ void unpack_codes(const CodeBytes<N>& b, int (&codes)[N]) {
    #pragma unroll
    for (int i = 0; i < N; ++i) codes[i] = (b.w[i / 4] >> (8 * (i % 4))) & 0xff;
}

// Codes [first, first + N) of a packed row. N is a power of two; with 8-bit codes the span is
// N-byte aligned, so it is one vector load.
template <int BITS, int N> __device__ __forceinline__ void read_codes(const unsigned char* row, int first, int (&codes)[N]) {
    if constexpr (BITS == 8) {
        unpack_codes<N>(load_code_bytes<N>(row + first), codes);
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

// This lane's copy of centroid 0 of a codebook laid out as [entries][REPLICAS][SUB] halves;
// centroid c's copy is c * REPLICAS * SUB halves further, so a centroid's address is one
// shift-add of its code.
template <int SUB> __device__ __forceinline__ const unsigned short* lane_codebook(const unsigned short* book) {
    return book + (threadIdx.x & (REPLICAS - 1)) * SUB;
}

// Dims [4j, 4j + 4) of a lane's span of a vector given the span's codes, as two f16 pairs, from
// the lane's copy of the codebook (`book`: see lane_codebook). The kernel's hottest path: with
// 2- and 4-dim centroids the reads go by 32-bit shared address (inline PTX), which saves the
// 64-bit address arithmetic per read (H100: 4-10% faster, bench/results/h100/lane-address);
// 8-dim centroids stay plain loads, which the compiler merges into one 16-byte read per code.
template <int SUB, int N> __device__ __forceinline__ uint2 span_dims4(const unsigned short* book, const int (&codes)[N], int j) {
    constexpr unsigned STRIDE = REPLICAS * SUB;
    uint2 r;
    if constexpr (SUB == 8) {
        r = *reinterpret_cast<const uint2*>(book + (unsigned)codes[j / 2] * STRIDE + (4 * j) % SUB);
    } else {
        unsigned base;
        asm("{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }" : "=r"(base) : "l"(book));
        if constexpr (SUB == 2) {
            r.x = shared_u32(base + (unsigned)codes[2 * j] * STRIDE * 2);
            r.y = shared_u32(base + (unsigned)codes[2 * j + 1] * STRIDE * 2);
        } else {
            r = shared_u32x2(base + (unsigned)codes[j] * STRIDE * 2);
        }
    }
    return r;
}

// Copies a codebook of `entries` centroids into shared memory, each REPLICAS times.
template <int SUB> __device__ __forceinline__ void copy_replicated(unsigned short* dst, const unsigned short* src, int entries) {
    for (int i = threadIdx.x; i < entries * REPLICAS; i += THREADS) {
        const int code = i / REPLICAS;
        if constexpr (SUB == 2) {
            reinterpret_cast<unsigned*>(dst)[i] = reinterpret_cast<const unsigned*>(src)[code];
        } else if constexpr (SUB == 4) {
            reinterpret_cast<uint2*>(dst)[i] = reinterpret_cast<const uint2*>(src)[code];
        } else {
            reinterpret_cast<uint4*>(dst)[i] = reinterpret_cast<const uint4*>(src)[code];
        }
    }
}

__device__ __forceinline__ float half_low(unsigned h2) { return half_to_float(h2 & 0xffff); }
__device__ __forceinline__ float half_high(unsigned h2) { return half_to_float(h2 >> 16); }

// The query's A fragments: lane (g, q) holds head g (rows 8-15 are padding, zero), dims
// q*HEAD_DIM/4 + 4j .. + 4 of chunk j, as f16; part 1 (if any) is what part 0 rounded off.
__device__ __forceinline__ void query_fragments(const float* queries, unsigned (&frag)[QUERY_PARTS][CHUNKS][2]) {
    const int lane = threadIdx.x & 31, g = lane >> 2, quarter = lane & 3;
    #pragma unroll
    for (int j = 0; j < CHUNKS; ++j) {
        #pragma unroll
        for (int h = 0; h < 2; ++h) {
            float x0 = 0.f, x1 = 0.f;
            if (g < GROUP) {
                x0 = queries[g * HEAD_DIM + quarter * (HEAD_DIM / 4) + 4 * j + 2 * h];
                x1 = queries[g * HEAD_DIM + quarter * (HEAD_DIM / 4) + 4 * j + 2 * h + 1];
            }
            frag[0][j][h] = pack_half2(x0, x1);
            if constexpr (QUERY_PARTS == 2) frag[1][j][h] = pack_half2(x0 - half_low(frag[0][j][h]), x1 - half_high(frag[0][j][h]));
        }
    }
}
"#
}

/// Stages "scores", "online softmax" and "value accumulation" for one 16-token slab.
pub fn slab_functions() -> &'static str {
    r#"// Stage: scores of a slab of coded keys. codes[n]: this lane's quarter of token 8n + g.
// s[n][0..1]: query head g against tokens 8n + 2q and 8n + 2q + 1 of the slab (s[n][2..3] are
// the padding rows).
__device__ __forceinline__ void score_coded_slab(const int (&codes)[2][K_SPAN], const unsigned (&query)[QUERY_PARTS][CHUNKS][2],
                                                 const unsigned short* key_book, float (&s)[2][4]) {
    const unsigned short* book = lane_codebook<K_SUB>(key_book);
    #pragma unroll
    for (int n = 0; n < 2; ++n) {
        #pragma unroll
        for (int e = 0; e < 4; ++e) s[n][e] = 0.f;
        #pragma unroll
        for (int j = 0; j < CHUNKS; ++j) {
            const uint2 k = span_dims4<K_SUB, K_SPAN>(book, codes[n], j);
            #pragma unroll
            for (int part = 0; part < QUERY_PARTS; ++part) mma_16x8x16(s[n], query[part][j][0], 0u, query[part][j][1], 0u, k.x, k.y);
        }
    }
}

// The key codes score_coded_slab takes, from a shared-memory tile.
__device__ __forceinline__ void key_codes_of_tile(const unsigned char* tile, int slab, int (&codes)[2][K_SPAN]) {
    const int lane = threadIdx.x & 31, g = lane >> 2, quarter = lane & 3;
    #pragma unroll
    for (int n = 0; n < 2; ++n) read_codes<K_BITS, K_SPAN>(tile + (slab + 8 * n + g) * K_ROW, quarter * K_SPAN, codes[n]);
}

// Stage: scores of a slab of fp16 keys (sinks and the residual window), read from global memory.
__device__ __forceinline__ void score_fp16_slab(const unsigned short* keys, int count, int slab,
                                                const unsigned (&query)[QUERY_PARTS][CHUNKS][2], float (&s)[2][4]) {
    const int lane = threadIdx.x & 31, g = lane >> 2, quarter = lane & 3;
    #pragma unroll
    for (int n = 0; n < 2; ++n) {
        const int token = slab + 8 * n + g;
        const unsigned short* row = keys + (size_t)token * HEAD_DIM + quarter * (HEAD_DIM / 4);
        #pragma unroll
        for (int e = 0; e < 4; ++e) s[n][e] = 0.f;
        #pragma unroll
        for (int j = 0; j < CHUNKS; ++j) {
            uint2 k;
            k.x = k.y = 0u;
            if (token < count) k = *reinterpret_cast<const uint2*>(row + 4 * j);
            #pragma unroll
            for (int part = 0; part < QUERY_PARTS; ++part) mma_16x8x16(s[n], query[part][j][0], 0u, query[part][j][1], 0u, k.x, k.y);
        }
    }
}

// Stage: online softmax over NS slabs starting at token `first`, per warp. Tokens at or past
// `valid` are masked. Leaves the probabilities as Pᵀ's B fragments, rescales the running sum
// (this lane's share) and the output fragments (which hold heads 2q and 2q+1).
template <int NS> __device__ __forceinline__ void online_softmax(float (&s)[NS][2][4], int first, int valid, float& run_max,
                                                                 float& run_sum, float (&acc)[CHUNKS][4], unsigned (&p)[NS][2]) {
    const int quarter = threadIdx.x & 3;
    float tile_max = NEG_INF;
    #pragma unroll
    for (int sl = 0; sl < NS; ++sl) {
        #pragma unroll
        for (int n = 0; n < 2; ++n) {
            #pragma unroll
            for (int e = 0; e < 2; ++e) {
                if (first + 16 * sl + 8 * n + 2 * quarter + e >= valid) s[sl][n][e] = NEG_INF;
                tile_max = fmaxf(tile_max, s[sl][n][e]);
            }
        }
    }
    tile_max = fmaxf(tile_max, __shfl_xor_sync(FULL_MASK, tile_max, 1));
    tile_max = fmaxf(tile_max, __shfl_xor_sync(FULL_MASK, tile_max, 2));
    const float new_max = fmaxf(run_max, tile_max);
    const float base = new_max == NEG_INF ? 0.f : new_max;  // nothing seen yet: keep exp finite
    const float correction = __expf(run_max - base);
    run_max = new_max;
    float sum = 0.f;
    #pragma unroll
    for (int sl = 0; sl < NS; ++sl) {
        #pragma unroll
        for (int n = 0; n < 2; ++n) {
            const float p0 = __expf(s[sl][n][0] - base), p1 = __expf(s[sl][n][1] - base);
            sum += p0 + p1;
            p[sl][n] = pack_half2(p0, p1);
        }
    }
    run_sum = run_sum * correction + sum;
    const float c0 = __shfl_sync(FULL_MASK, correction, 8 * quarter);
    const float c1 = __shfl_sync(FULL_MASK, correction, 8 * quarter + 4);
    #pragma unroll
    for (int i = 0; i < CHUNKS; ++i) {
        acc[i][0] *= c0; acc[i][1] *= c1; acc[i][2] *= c0; acc[i][3] *= c1;
    }
}

// Vᵀ's A fragments for m-blocks 2j and 2j+1 from the dims [4j, 4j + 4) of tokens 2q, 2q+1, 2q+8,
// 2q+9 (w[0..3]), then the two mma with Pᵀ.
__device__ __forceinline__ void value_mma(const uint2 (&w)[4], const unsigned (&p)[2], float (&lo)[4], float (&hi)[4]) {
    mma_16x8x16(lo, permute_bytes(w[0].x, w[1].x, 0x5410), permute_bytes(w[0].x, w[1].x, 0x7632),
                permute_bytes(w[2].x, w[3].x, 0x5410), permute_bytes(w[2].x, w[3].x, 0x7632), p[0], p[1]);
    mma_16x8x16(hi, permute_bytes(w[0].y, w[1].y, 0x5410), permute_bytes(w[0].y, w[1].y, 0x7632),
                permute_bytes(w[2].y, w[3].y, 0x5410), permute_bytes(w[2].y, w[3].y, 0x7632), p[0], p[1]);
}

// The slab token of a value fragment's t-th token (t = 0..3: 2q, 2q+1, 2q+8, 2q+9).
__device__ __forceinline__ int value_token(int t) { return 2 * (threadIdx.x & 3) + (t & 1) + 8 * (t >> 1); }

// Stage: value accumulation from a slab of coded values. codes[t]: this lane's eighth of
// slab token value_token(t).
__device__ __forceinline__ void accumulate_coded_slab(const int (&codes)[4][V_SPAN], const unsigned (&p)[2],
                                                      const unsigned short* value_book, float (&acc)[CHUNKS][4]) {
    const unsigned short* book = lane_codebook<V_SUB>(value_book);
    #pragma unroll
    for (int j = 0; j < HEAD_DIM / 32; ++j) {
        uint2 w[4];
        #pragma unroll
        for (int t = 0; t < 4; ++t) w[t] = span_dims4<V_SUB, V_SPAN>(book, codes[t], j);
        value_mma(w, p, acc[2 * j], acc[2 * j + 1]);
    }
}

// The value codes accumulate_coded_slab takes, from a shared-memory tile.
__device__ __forceinline__ void value_codes_of_tile(const unsigned char* tile, int slab, int (&codes)[4][V_SPAN]) {
    const int g = (threadIdx.x & 31) >> 2;
    #pragma unroll
    for (int t = 0; t < 4; ++t) read_codes<V_BITS, V_SPAN>(tile + (slab + value_token(t)) * V_ROW, g * V_SPAN, codes[t]);
}

// Direct code loads (8-bit codes): a warp's share of one tile, straight from global memory into
// registers, zero past the split's last token.
struct WarpCodes {
    CodeBytes<K_SPAN> key[SLABS][2];
    CodeBytes<V_SPAN> value[SLABS][4];
};
__device__ __forceinline__ void load_warp_codes(const unsigned char* key_src, const unsigned char* value_src, int first, int tokens,
                                                WarpCodes& c) {
    const int lane = threadIdx.x & 31, g = lane >> 2, quarter = lane & 3;
    #pragma unroll
    for (int sl = 0; sl < SLABS; ++sl) {
        #pragma unroll
        for (int n = 0; n < 2; ++n) {
            const int token = first + 16 * sl + 8 * n + g;
            c.key[sl][n] = token < tokens ? load_code_bytes<K_SPAN>(key_src + (size_t)token * K_ROW + quarter * K_SPAN) : zero_code_bytes<K_SPAN>();
        }
        #pragma unroll
        for (int t = 0; t < 4; ++t) {
            const int token = first + 16 * sl + value_token(t);
            c.value[sl][t] = token < tokens ? load_code_bytes<V_SPAN>(value_src + (size_t)token * V_ROW + g * V_SPAN) : zero_code_bytes<V_SPAN>();
        }
    }
}

// Stage: value accumulation from a slab of fp16 values, read from global memory.
__device__ __forceinline__ void accumulate_fp16_slab(const unsigned short* values, int count, int slab,
                                                     const unsigned (&p)[2], float (&acc)[CHUNKS][4]) {
    const int g = (threadIdx.x & 31) >> 2;
    #pragma unroll
    for (int j = 0; j < HEAD_DIM / 32; ++j) {
        uint2 w[4];
        #pragma unroll
        for (int t = 0; t < 4; ++t) {
            const int token = slab + value_token(t);
            w[t].x = w[t].y = 0u;
            if (token < count) w[t] = *reinterpret_cast<const uint2*>(values + (size_t)token * HEAD_DIM + g * (HEAD_DIM / 8) + 4 * j);
        }
        value_mma(w, p, acc[2 * j], acc[2 * j + 1]);
    }
}
"#
}

/// The kernel body: replicated codebooks, query transform, fp16 tokens (split 0), the coded
/// tokens of this split through the pipeline, then the warps' merge into the split's result.
pub fn attention_kernel(c: &KernelConfig, entry: &str) -> String {
    format!(
        r#"{signature} {{
    extern __shared__ __align__(16) unsigned char smem[];
    unsigned short* key_book = reinterpret_cast<unsigned short*>(smem + OFF_KEY_BOOK);
    unsigned short* value_book = reinterpret_cast<unsigned short*>(smem + OFF_VALUE_BOOK);
    float* query_t = reinterpret_cast<float*>(smem + OFF_QUERY_T);
    float* query_plain = reinterpret_cast<float*>(smem + OFF_QUERY);
    unsigned char* key_tiles = smem + OFF_KEY_TILES;
    unsigned char* value_tiles = smem + OFF_VALUE_TILES;
    float* warp_state = reinterpret_cast<float*>(smem + OFF_REDUCTION);  // [WARPS][2][GROUP]: max, sum
    float* warp_out = reinterpret_cast<float*>(smem + OFF_OUTPUT);       // [WARPS][GROUP][HEAD_DIM]
    const int split = blockIdx.x, kv_head = blockIdx.y, seq = blockIdx.z;
    const int splits = gridDim.x, kv_heads = gridDim.y, tid = threadIdx.x;
    const int warp = tid >> 5, lane = tid & 31, g = lane >> 2, quarter = lane & 3;

    // Stage: codebook load, REPLICAS copies (lane l reads copy l % REPLICAS: a warp's random
    // centroid reads then spread over more banks).
    {{
        const int book = PER_HEAD_CODEBOOKS ? kv_head : 0;
        copy_replicated<K_SUB>(key_book, key_codebooks + (size_t)book * K_BOOK * K_SUB, K_BOOK);
        copy_replicated<V_SUB>(value_book, value_codebooks + (size_t)book * V_BOOK * V_SUB, V_BOOK);
    }}
{query_transform}
    float acc[CHUNKS][4], run_max = NEG_INF, run_sum = 0.f;
    #pragma unroll
    for (int i = 0; i < CHUNKS; ++i) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.f;

    // fp16 tokens: the first split takes them all (at most sinks + residual), a slab per warp.
    if (split == 0) {{
        unsigned plain_fragments[QUERY_PARTS][CHUNKS][2];
        query_fragments(query_plain, plain_fragments);
        const size_t head_base = (size_t)(seq * kv_heads + kv_head) * fp16_capacity * HEAD_DIM;
        const int count = fp16_len[seq];
        for (int slab = warp * 16; slab < count; slab += WARPS * 16) {{
            float s[1][2][4];
            unsigned p[1][2];
            score_fp16_slab(fp16_keys + head_base, count, slab, plain_fragments, s[0]);
            online_softmax<1>(s, slab, count, run_max, run_sum, acc, p);
            accumulate_fp16_slab(fp16_values + head_base, count, slab, p[0], acc);
        }}
    }}

    // Coded tokens [begin, end) of this split, STAGES tiles in flight; each warp takes
    // WARP_TOKENS of a tile.
    unsigned fragments[QUERY_PARTS][CHUNKS][2];
    query_fragments(query_t, fragments);
    const int begin = split * tokens_per_split;
    const int end = min(coded_len[seq], begin + tokens_per_split);
    const int tiles = begin < end ? (end - begin + TILE - 1) / TILE : 0;
    const size_t code_base = (size_t)(seq * kv_heads + kv_head) * code_capacity + begin;
    const unsigned char* key_src = key_codes + code_base * K_ROW;
    const unsigned char* value_src = value_codes + code_base * V_ROW;
{coded_loop}
    // Stage: split merge, first across the block's warps: each warp's max, sum and output
    // fragments into shared memory, then the split's partial result (unnormalised).
    run_sum += __shfl_xor_sync(FULL_MASK, run_sum, 1);
    run_sum += __shfl_xor_sync(FULL_MASK, run_sum, 2);
    if (quarter == 0 && g < GROUP) {{
        warp_state[(warp * 2) * GROUP + g] = run_max;
        warp_state[(warp * 2 + 1) * GROUP + g] = run_sum;
    }}
    #pragma unroll
    for (int i = 0; i < CHUNKS; ++i) {{
        #pragma unroll
        for (int e = 0; e < 4; ++e) {{
            const int head = 2 * quarter + (e & 1), dim = g * (HEAD_DIM / 8) + 2 * i + (e >> 1);
            if (head < GROUP) warp_out[(warp * GROUP + head) * HEAD_DIM + dim] = acc[i][e];
        }}
    }}
    __syncthreads();
    const size_t row0 = (size_t)(seq * kv_heads + kv_head) * GROUP;
    for (int e = tid; e < GROUP * HEAD_DIM; e += THREADS) {{
        const int head = e / HEAD_DIM, dim = e % HEAD_DIM;
        float m = NEG_INF;
        for (int w = 0; w < WARPS; ++w) m = fmaxf(m, warp_state[(w * 2) * GROUP + head]);
        const float base = m == NEG_INF ? 0.f : m;
        float value = 0.f, total = 0.f;
        for (int w = 0; w < WARPS; ++w) {{
            const float f = __expf(warp_state[(w * 2) * GROUP + head] - base);
            value += f * warp_out[(w * GROUP + head) * HEAD_DIM + dim];
            total += f * warp_state[(w * 2 + 1) * GROUP + head];
        }}
        partial_out[((row0 + head) * splits + split) * HEAD_DIM + dim] = value;
        if (dim == 0) {{
            partial_max[(row0 + head) * splits + split] = m;
            partial_sum[(row0 + head) * splits + split] = total;
        }}
    }}
}}
"#,
        signature = kernel_signature(entry),
        query_transform = query_transform(),
        coded_loop = if c.direct_codes {
            DIRECT_LOOP
        } else {
            STAGED_LOOP
        },
    )
}

/// Stage "async tile pipeline" as the mma kernel runs it: tiles of codes staged in shared
/// memory by `cp.async`, STAGES tiles in flight, each warp computing its share.
const STAGED_LOOP: &str = r#"    #pragma unroll
    for (int s = 0; s < STAGES - 1; ++s) issue_tile(key_tiles, value_tiles, key_src, value_src, s, tiles, end - begin);
    for (int t = 0; t < tiles; ++t) {
        issue_tile(key_tiles, value_tiles, key_src, value_src, t + STAGES - 1, tiles, end - begin);
        wait_async<STAGES - 1>();
        __syncthreads();
        const int slot = t % STAGES;
        const int valid = min(TILE, end - begin - t * TILE);
        const int first = warp * WARP_TOKENS;
        if (first < valid) {
            const unsigned char* key_tile = key_tiles + slot * TILE * K_ROW;
            const unsigned char* value_tile = value_tiles + slot * TILE * V_ROW;
            float s[SLABS][2][4];
            unsigned p[SLABS][2];
            #pragma unroll
            for (int sl = 0; sl < SLABS; ++sl) {
                int codes[2][K_SPAN];
                key_codes_of_tile(key_tile, first + 16 * sl, codes);
                score_coded_slab(codes, fragments, key_book, s[sl]);
            }
            online_softmax<SLABS>(s, first, valid, run_max, run_sum, acc, p);
            #pragma unroll
            for (int sl = 0; sl < SLABS; ++sl) {
                int codes[4][V_SPAN];
                value_codes_of_tile(value_tile, first + 16 * sl, codes);
                accumulate_coded_slab(codes, p[sl], value_book, acc);
            }
        }
        __syncthreads();
    }
"#;

/// Stage "async tile pipeline" with direct code loads: each warp streams its share of every
/// tile from global memory into registers one tile ahead of the tile it computes; no shared
/// memory, no block barrier.
const DIRECT_LOOP: &str = r#"    // Stage: async tile pipeline, in registers (direct code loads).
    const int tokens = end - begin;
    WarpCodes current, next;
    if (tiles > 0) load_warp_codes(key_src, value_src, warp * WARP_TOKENS, tokens, current);
    for (int t = 0; t < tiles; ++t) {
        const int first = t * TILE + warp * WARP_TOKENS;
        if (t + 1 < tiles) load_warp_codes(key_src, value_src, first + TILE, tokens, next);
        if (first < tokens) {
            float s[SLABS][2][4];
            unsigned p[SLABS][2];
            #pragma unroll
            for (int sl = 0; sl < SLABS; ++sl) {
                int codes[2][K_SPAN];
                unpack_codes<K_SPAN>(current.key[sl][0], codes[0]);
                unpack_codes<K_SPAN>(current.key[sl][1], codes[1]);
                score_coded_slab(codes, fragments, key_book, s[sl]);
            }
            online_softmax<SLABS>(s, first, tokens, run_max, run_sum, acc, p);
            #pragma unroll
            for (int sl = 0; sl < SLABS; ++sl) {
                int codes[4][V_SPAN];
                #pragma unroll
                for (int v = 0; v < 4; ++v) unpack_codes<V_SPAN>(current.value[sl][v], codes[v]);
                accumulate_coded_slab(codes, p[sl], value_book, acc);
            }
        }
        current = next;
    }
"#;

/// Everything between the shared constants/helpers and the merge kernel.
pub fn body(c: &KernelConfig, entry: &str) -> String {
    [
        constants(c),
        fragment_helpers().to_string(),
        slab_functions().to_string(),
        if c.direct_codes {
            String::new()
        } else {
            async_tile_pipeline().to_string()
        },
        attention_kernel(c, entry),
    ]
    .join("\n")
}
