//! The named building blocks of the fused kernel. Each returns CUDA C text; `emit` stitches
//! them together. Constants (`HEAD_DIM`, `TILE`, ...) are defined by [`constants`].

use crate::config::{KernelConfig, KeyScoring, OutputDtype};
use crate::layout::SharedLayout;

/// Compile-time constants of one config.
pub fn constants(c: &KernelConfig, l: &SharedLayout) -> String {
    let kc = c.key_codec;
    let vc = c.value_codec;
    format!(
        r#"static constexpr int HEAD_DIM = {d};
static constexpr int GROUP = {g};
static constexpr int THREADS = {threads};
static constexpr int WARPS = {warps};
static constexpr int TILE = {tile};
static constexpr int STAGES = {stages};
static constexpr int K_SUB = {ks}, K_BITS = {kb}, K_ROW = {krow}, K_BOOK = {kbook};
static constexpr int K_CODES = {kcodes};  // codes per key (LUT rows per query head)
static constexpr int V_SUB = {vs}, V_BITS = {vb}, V_ROW = {vrow}, V_BOOK = {vbook};
static constexpr bool PER_HEAD_CODEBOOKS = {per_head};
static constexpr bool SMOOTH = {smooth};
static constexpr bool HADAMARD = {hadamard};
// A token is scored and accumulated by LANES_PER_TOKEN lanes, each owning DIMS_PER_LANE dims.
static constexpr int DIMS_PER_LANE = {dpl};
static constexpr int LANES_PER_TOKEN = HEAD_DIM / DIMS_PER_LANE;
static constexpr int TOKENS_PER_STEP = 32 / LANES_PER_TOKEN;  // per warp
static constexpr float SOFTMAX_SCALE = {scale:.9e}f;
// Shared-memory offsets (bytes).
static constexpr int OFF_KEY_BOOK = {o_kb}, OFF_VALUE_BOOK = {o_vb}, OFF_QUERY_T = {o_qt}, OFF_QUERY = {o_q};
static constexpr int OFF_SCORES = {o_s}, OFF_LUT = {o_lut}, OFF_KEY_TILES = {o_kt}, OFF_VALUE_TILES = {o_vt}, OFF_REDUCTION = {o_r};
static constexpr int OFF_OUTPUT = {o_out};
"#,
        d = c.head_dim,
        g = c.group,
        threads = c.threads(),
        warps = c.warps,
        tile = c.tile_tokens,
        stages = c.stages,
        ks = kc.sub_dim(),
        kb = kc.bits(),
        kcodes = c.head_dim / kc.sub_dim(),
        krow = c.key_row_bytes(),
        kbook = kc.codebook_size(),
        vs = vc.sub_dim(),
        vb = vc.bits(),
        vrow = c.value_row_bytes(),
        vbook = vc.codebook_size(),
        per_head = c.granularity == vecinfer_quant::Granularity::Head,
        smooth = c.transform.smooth,
        hadamard = c.transform.hadamard,
        scale = 1.0 / (c.head_dim as f64).sqrt(),
        o_kb = l.key_codebook,
        o_vb = l.value_codebook,
        o_qt = l.query_transformed,
        o_q = l.query_plain,
        o_s = l.scores,
        o_lut = l.lut,
        o_kt = l.key_tiles,
        o_vt = l.value_tiles,
        o_r = l.reduction,
        o_out = l.output,
        dpl = c.dims_per_lane,
    )
}

/// fp16/bf16 conversion, `cp.async`, code extraction and reductions, without toolkit headers.
pub fn device_helpers() -> &'static str {
    r#"#define NEG_INF (__int_as_float(0xff800000))

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

// Code m of a packed row: the little-endian bit range [m*BITS, (m+1)*BITS).
template <int BITS> __device__ __forceinline__ int read_code(const unsigned char* row, int m) {
    if (BITS == 8) return row[m];
    const int bit = m * BITS;
    const unsigned char* p = row + (bit >> 3);
    const unsigned window = p[0] | (p[1] << 8) | (p[2] << 16);
    return (window >> (bit & 7)) & ((1 << BITS) - 1);
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
// Reduces GROUP values across the block; every thread gets the results.
template <bool IS_MAX> __device__ __forceinline__ void block_reduce(float (&v)[GROUP], float* scratch) {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    #pragma unroll
    for (int g = 0; g < GROUP; ++g) v[g] = IS_MAX ? warp_max(v[g]) : warp_sum(v[g]);
    __syncthreads();
    if (lane == 0) {
        #pragma unroll
        for (int g = 0; g < GROUP; ++g) scratch[warp * GROUP + g] = v[g];
    }
    __syncthreads();
    #pragma unroll
    for (int g = 0; g < GROUP; ++g) {
        float r = scratch[g];
        for (int w = 1; w < WARPS; ++w) r = IS_MAX ? fmaxf(r, scratch[w * GROUP + g]) : r + scratch[w * GROUP + g];
        v[g] = r;
    }
}
"#
}

/// Stage "codebook load": the block's K and V codebooks into shared memory, 16 bytes a thread.
pub fn codebook_load() -> &'static str {
    r#"    // Stage: codebook load.
    {
        const int book = PER_HEAD_CODEBOOKS ? kv_head : 0;
        const uint4* key_src = reinterpret_cast<const uint4*>(key_codebooks + (size_t)book * K_BOOK * K_SUB);
        const uint4* value_src = reinterpret_cast<const uint4*>(value_codebooks + (size_t)book * V_BOOK * V_SUB);
        for (int i = tid; i < K_BOOK * K_SUB * 2 / 16; i += THREADS) reinterpret_cast<uint4*>(key_book)[i] = key_src[i];
        for (int i = tid; i < V_BOOK * V_SUB * 2 / 16; i += THREADS) reinterpret_cast<uint4*>(value_book)[i] = value_src[i];
    }
"#
}

/// Stage "query transform": `q' = (q ⊙ λ)·H / sqrt(D)` for coded keys, `q / sqrt(D)` for fp16
/// keys. The butterflies run in the CPU reference's order.
pub fn query_transform() -> &'static str {
    r#"    // Stage: query transform.
    for (int e = tid; e < GROUP * HEAD_DIM; e += THREADS) {
        const int g = e / HEAD_DIM, i = e % HEAD_DIM;
        const float x = half_to_float(query[((size_t)(seq * kv_heads + kv_head) * GROUP + g) * HEAD_DIM + i]);
        query_plain[e] = x * SOFTMAX_SCALE;
        query_t[e] = SMOOTH ? x * smooth[kv_head * HEAD_DIM + i] : x;
    }
    __syncthreads();
    if (HADAMARD) {
        for (int h = 1; h < HEAD_DIM; h <<= 1) {
            for (int idx = tid; idx < GROUP * HEAD_DIM / 2; idx += THREADS) {
                const int g = idx / (HEAD_DIM / 2), k = idx % (HEAD_DIM / 2);
                const int i = (k / h) * 2 * h + (k % h);
                float* row = query_t + g * HEAD_DIM;
                const float a = row[i], b = row[i + h];
                row[i] = a + b;
                row[i + h] = a - b;
            }
            __syncthreads();
        }
    }
    for (int e = tid; e < GROUP * HEAD_DIM; e += THREADS) {
        query_t[e] = HADAMARD ? (query_t[e] * SOFTMAX_SCALE) * SOFTMAX_SCALE : query_t[e] * SOFTMAX_SCALE;
    }
    __syncthreads();
"#
}

/// Stage "LUT build": `LUT[g][m][j] = q'_{g,m} · C_k[j]`.
pub fn lut_build(c: &KernelConfig) -> &'static str {
    match c.key_scoring {
        KeyScoring::Dequantize | KeyScoring::Mma => "",
        KeyScoring::Lut => {
            r#"    // Stage: LUT build.
    for (int idx = tid; idx < GROUP * K_CODES * K_BOOK; idx += THREADS) {
        const int j = idx % K_BOOK, m = (idx / K_BOOK) % K_CODES, g = idx / (K_BOOK * K_CODES);
        float s = 0.f;
        #pragma unroll
        for (int x = 0; x < K_SUB; ++x) s += query_t[g * HEAD_DIM + m * K_SUB + x] * half_to_float(key_book[j * K_SUB + x]);
        lut[idx] = s;
    }
    __syncthreads();
"#
        }
    }
}

/// Device functions for one tile: scores (coded or fp16), online softmax, value accumulation.
/// Each warp takes TOKENS_PER_STEP tokens at a time; the LANES_PER_TOKEN lanes of a token each
/// own DIMS_PER_LANE dims, with their slice of the transformed query and of the output
/// accumulator in registers.
pub fn tile_functions(c: &KernelConfig) -> String {
    let coded_score = match c.key_scoring {
        KeyScoring::Lut => {
            "                #pragma unroll\n                for (int g = 0; g < GROUP; ++g) s[g] += lut[(g * K_CODES + m) * K_BOOK + code];"
        }
        KeyScoring::Dequantize | KeyScoring::Mma => {
            "                float centroid[K_SUB];\n                load_halves<K_SUB>(key_book + code * K_SUB, centroid);\n                #pragma unroll\n                for (int g = 0; g < GROUP; ++g) {\n                    #pragma unroll\n                    for (int x = 0; x < K_SUB; ++x) s[g] += query[g][j * K_SUB + x] * centroid[x];\n                }"
        }
    };
    format!(
        r#"// The token of this lane in a warp step, and the first dim the lane owns.
__device__ __forceinline__ int lane_token() {{ return (threadIdx.x & 31) / LANES_PER_TOKEN; }}
__device__ __forceinline__ int lane_part() {{ return (threadIdx.x & 31) % LANES_PER_TOKEN; }}

// Sums each lane's partial scores over the lanes of its token; every lane gets the sums.
__device__ __forceinline__ void reduce_over_token_lanes(float (&s)[GROUP]) {{
    #pragma unroll
    for (int g = 0; g < GROUP; ++g) {{
        #pragma unroll
        for (int o = LANES_PER_TOKEN / 2; o > 0; o >>= 1) s[g] += __shfl_xor_sync(0xffffffffu, s[g], o);
    }}
}}

// Stage: scores of a tile of coded keys.
__device__ __forceinline__ void score_coded_tile(const unsigned char* tile, int valid, const float (&query)[GROUP][DIMS_PER_LANE],
                                                 const float* lut, const unsigned short* key_book, float* scores) {{
    const int warp = threadIdx.x >> 5, part = lane_part();
    for (int base = warp * TOKENS_PER_STEP; base < TILE; base += WARPS * TOKENS_PER_STEP) {{
        const int t = base + lane_token();
        float s[GROUP];
        #pragma unroll
        for (int g = 0; g < GROUP; ++g) s[g] = 0.f;
        if (t < valid) {{
            const unsigned char* row = tile + t * K_ROW;
            #pragma unroll
            for (int j = 0; j < DIMS_PER_LANE / K_SUB; ++j) {{
                const int m = part * (DIMS_PER_LANE / K_SUB) + j;
                const int code = read_code<K_BITS>(row, m);
{coded_score}
            }}
        }}
        reduce_over_token_lanes(s);
        if (part == 0) {{
            #pragma unroll
            for (int g = 0; g < GROUP; ++g) scores[g * TILE + t] = t < valid ? s[g] : NEG_INF;
        }}
    }}
    __syncthreads();
}}

// Stage: scores of a tile of fp16 keys (sinks and the residual window).
__device__ __forceinline__ void score_fp16_tile(const unsigned short* keys, int valid, const float* query_plain, float* scores) {{
    const int warp = threadIdx.x >> 5, part = lane_part();
    for (int base = warp * TOKENS_PER_STEP; base < TILE; base += WARPS * TOKENS_PER_STEP) {{
        const int t = base + lane_token();
        float s[GROUP];
        #pragma unroll
        for (int g = 0; g < GROUP; ++g) s[g] = 0.f;
        if (t < valid) {{
            float k[DIMS_PER_LANE];
            load_halves<DIMS_PER_LANE>(keys + (size_t)t * HEAD_DIM + part * DIMS_PER_LANE, k);
            #pragma unroll
            for (int g = 0; g < GROUP; ++g) {{
                #pragma unroll
                for (int x = 0; x < DIMS_PER_LANE; ++x) s[g] += query_plain[g * HEAD_DIM + part * DIMS_PER_LANE + x] * k[x];
            }}
        }}
        reduce_over_token_lanes(s);
        if (part == 0) {{
            #pragma unroll
            for (int g = 0; g < GROUP; ++g) scores[g * TILE + t] = t < valid ? s[g] : NEG_INF;
        }}
    }}
    __syncthreads();
}}

// Stage: online softmax. Turns the tile's scores into probabilities against the running max,
// rescales the running sum and the accumulators.
__device__ __forceinline__ void online_softmax(float* scores, float* scratch, float (&run_max)[GROUP],
                                               float (&run_sum)[GROUP], float (&acc)[GROUP][DIMS_PER_LANE]) {{
    float tile_max[GROUP];
    #pragma unroll
    for (int g = 0; g < GROUP; ++g) {{
        float m = NEG_INF;
        for (int i = threadIdx.x; i < TILE; i += THREADS) m = fmaxf(m, scores[g * TILE + i]);
        tile_max[g] = m;
    }}
    block_reduce<true>(tile_max, scratch);
    float correction[GROUP], tile_sum[GROUP];
    #pragma unroll
    for (int g = 0; g < GROUP; ++g) {{
        const float new_max = fmaxf(run_max[g], tile_max[g]);
        correction[g] = run_max[g] == NEG_INF ? 0.f : __expf(run_max[g] - new_max);
        run_max[g] = new_max;
        float s = 0.f;
        for (int i = threadIdx.x; i < TILE; i += THREADS) {{
            const float p = __expf(scores[g * TILE + i] - new_max);
            scores[g * TILE + i] = p;
            s += p;
        }}
        tile_sum[g] = s;
    }}
    block_reduce<false>(tile_sum, scratch);
    #pragma unroll
    for (int g = 0; g < GROUP; ++g) {{
        run_sum[g] = run_sum[g] * correction[g] + tile_sum[g];
        #pragma unroll
        for (int x = 0; x < DIMS_PER_LANE; ++x) acc[g][x] *= correction[g];
    }}
    __syncthreads();
}}

// Stage: value accumulation from a tile of coded values.
__device__ __forceinline__ void accumulate_coded_tile(const unsigned char* tile, int valid, const float* probs,
                                                      const unsigned short* value_book, float (&acc)[GROUP][DIMS_PER_LANE]) {{
    const int warp = threadIdx.x >> 5, part = lane_part();
    for (int base = warp * TOKENS_PER_STEP; base < valid; base += WARPS * TOKENS_PER_STEP) {{
        const int t = base + lane_token();
        if (t >= valid) continue;
        float p[GROUP];
        #pragma unroll
        for (int g = 0; g < GROUP; ++g) p[g] = probs[g * TILE + t];
        const unsigned char* row = tile + t * V_ROW;
        #pragma unroll
        for (int j = 0; j < DIMS_PER_LANE / V_SUB; ++j) {{
            const int code = read_code<V_BITS>(row, part * (DIMS_PER_LANE / V_SUB) + j);
            float centroid[V_SUB];
            load_halves<V_SUB>(value_book + code * V_SUB, centroid);
            #pragma unroll
            for (int g = 0; g < GROUP; ++g) {{
                #pragma unroll
                for (int x = 0; x < V_SUB; ++x) acc[g][j * V_SUB + x] += p[g] * centroid[x];
            }}
        }}
    }}
}}

// Stage: value accumulation from a tile of fp16 values.
__device__ __forceinline__ void accumulate_fp16_tile(const unsigned short* values, int valid, const float* probs,
                                                     float (&acc)[GROUP][DIMS_PER_LANE]) {{
    const int warp = threadIdx.x >> 5, part = lane_part();
    for (int base = warp * TOKENS_PER_STEP; base < valid; base += WARPS * TOKENS_PER_STEP) {{
        const int t = base + lane_token();
        if (t >= valid) continue;
        float v[DIMS_PER_LANE];
        load_halves<DIMS_PER_LANE>(values + (size_t)t * HEAD_DIM + part * DIMS_PER_LANE, v);
        #pragma unroll
        for (int g = 0; g < GROUP; ++g) {{
            const float p = probs[g * TILE + t];
            #pragma unroll
            for (int x = 0; x < DIMS_PER_LANE; ++x) acc[g][x] += p * v[x];
        }}
    }}
}}

"#
    )
}

/// Stage "async tile pipeline": one tile of K and V codes into a shared-memory slot with
/// `cp.async`, zero-filled past the sequence's end.
pub fn async_tile_pipeline() -> &'static str {
    r#"// Stage: async tile pipeline. Issues the copy of one tile of K and V codes into a slot.
__device__ __forceinline__ void load_code_tile(unsigned char* key_slot, unsigned char* value_slot,
                                               const unsigned char* key_src, const unsigned char* value_src, int tokens) {
    for (int c = threadIdx.x; c < TILE * K_ROW / 16; c += THREADS) {
        const int left = tokens * K_ROW - c * 16;
        copy_async_16(key_slot + c * 16, left > 0 ? key_src + c * 16 : key_src, left >= 16 ? 16 : (left > 0 ? left : 0));
    }
    for (int c = threadIdx.x; c < TILE * V_ROW / 16; c += THREADS) {
        const int left = tokens * V_ROW - c * 16;
        copy_async_16(value_slot + c * 16, left > 0 ? value_src + c * 16 : value_src, left >= 16 ? 16 : (left > 0 ? left : 0));
    }
}

// Issues tile t of the split's `tokens` coded tokens into slot t % STAGES and commits the
// group; past the last tile the group is empty, which keeps the wait counts uniform.
__device__ __forceinline__ void issue_tile(unsigned char* key_tiles, unsigned char* value_tiles, const unsigned char* key_src,
                                           const unsigned char* value_src, int t, int tiles, int tokens) {
    if (t < tiles) {
        const int slot = t % STAGES;
        load_code_tile(key_tiles + slot * TILE * K_ROW, value_tiles + slot * TILE * V_ROW, key_src + (size_t)t * TILE * K_ROW,
                       value_src + (size_t)t * TILE * V_ROW, min(TILE, tokens - t * TILE));
    }
    commit_async();
}
"#
}

/// The fused kernel's signature, shared by every variant (the runtime launches them alike).
pub fn kernel_signature(entry: &str) -> String {
    format!(
        r#"extern "C" __global__ void __launch_bounds__(THREADS) {entry}(
    const unsigned short* __restrict__ query,            // [batch, kv_heads * GROUP, HEAD_DIM] f16
    const unsigned char* __restrict__ key_codes,         // [batch, kv_heads, code_capacity, K_ROW]
    const unsigned char* __restrict__ value_codes,       // [batch, kv_heads, code_capacity, V_ROW]
    const unsigned short* __restrict__ key_codebooks,    // [1 or kv_heads, K_BOOK, K_SUB] f16
    const unsigned short* __restrict__ value_codebooks,  // [1 or kv_heads, V_BOOK, V_SUB] f16
    const float* __restrict__ smooth,                    // [kv_heads, HEAD_DIM]
    const unsigned short* __restrict__ fp16_keys,        // [batch, kv_heads, fp16_capacity, HEAD_DIM] f16
    const unsigned short* __restrict__ fp16_values,      // same
    const int* __restrict__ coded_len,                   // [batch]
    const int* __restrict__ fp16_len,                    // [batch]
    float* __restrict__ partial_out,                     // [batch, kv_heads * GROUP, splits, HEAD_DIM]
    float* __restrict__ partial_max,                     // [batch, kv_heads * GROUP, splits]
    float* __restrict__ partial_sum,                     // same
    int code_capacity, int fp16_capacity, int tokens_per_split)"#
    )
}

/// The kernel body: fp16 tokens (split 0), then the coded tokens of this split through the
/// pipeline, then the partial result for the split merge.
pub fn attention_kernel(c: &KernelConfig, entry: &str) -> String {
    format!(
        r#"{signature} {{
    extern __shared__ __align__(16) unsigned char smem[];
    unsigned short* key_book = reinterpret_cast<unsigned short*>(smem + OFF_KEY_BOOK);
    unsigned short* value_book = reinterpret_cast<unsigned short*>(smem + OFF_VALUE_BOOK);
    float* query_t = reinterpret_cast<float*>(smem + OFF_QUERY_T);
    float* query_plain = reinterpret_cast<float*>(smem + OFF_QUERY);
    float* scores = reinterpret_cast<float*>(smem + OFF_SCORES);
    float* lut = reinterpret_cast<float*>(smem + OFF_LUT);
    unsigned char* key_tiles = smem + OFF_KEY_TILES;
    unsigned char* value_tiles = smem + OFF_VALUE_TILES;
    float* scratch = reinterpret_cast<float*>(smem + OFF_REDUCTION);
    float* split_out = reinterpret_cast<float*>(smem + OFF_OUTPUT);
    for (int e = threadIdx.x; e < GROUP * HEAD_DIM; e += THREADS) split_out[e] = 0.f;
    const int split = blockIdx.x, kv_head = blockIdx.y, seq = blockIdx.z;
    const int splits = gridDim.x, kv_heads = gridDim.y, tid = threadIdx.x;

{codebook_load}{query_transform}{lut_build}
    // This lane's slice of the transformed queries, and of the output accumulator.
    float query_lane[GROUP][DIMS_PER_LANE], acc[GROUP][DIMS_PER_LANE], run_max[GROUP], run_sum[GROUP];
    #pragma unroll
    for (int g = 0; g < GROUP; ++g) {{
        run_max[g] = NEG_INF;
        run_sum[g] = 0.f;
        #pragma unroll
        for (int x = 0; x < DIMS_PER_LANE; ++x) {{
            query_lane[g][x] = query_t[g * HEAD_DIM + lane_part() * DIMS_PER_LANE + x];
            acc[g][x] = 0.f;
        }}
    }}

    // fp16 tokens: the first split takes them all (at most sinks + residual).
    if (split == 0) {{
        const size_t head_base = (size_t)(seq * kv_heads + kv_head) * fp16_capacity * HEAD_DIM;
        const int count = fp16_len[seq];
        for (int base = 0; base < count; base += TILE) {{
            const int valid = min(TILE, count - base);
            score_fp16_tile(fp16_keys + head_base + (size_t)base * HEAD_DIM, valid, query_plain, scores);
            online_softmax(scores, scratch, run_max, run_sum, acc);
            accumulate_fp16_tile(fp16_values + head_base + (size_t)base * HEAD_DIM, valid, scores, acc);
            __syncthreads();
        }}
    }}

    // Coded tokens [begin, end) of this split, STAGES tiles in flight.
    const int begin = split * tokens_per_split;
    const int end = min(coded_len[seq], begin + tokens_per_split);
    const int tiles = begin < end ? (end - begin + TILE - 1) / TILE : 0;
    const size_t code_base = (size_t)(seq * kv_heads + kv_head) * code_capacity + begin;
    const unsigned char* key_src = key_codes + code_base * K_ROW;
    const unsigned char* value_src = value_codes + code_base * V_ROW;
    #pragma unroll
    for (int s = 0; s < STAGES - 1; ++s) issue_tile(key_tiles, value_tiles, key_src, value_src, s, tiles, end - begin);
    for (int t = 0; t < tiles; ++t) {{
        issue_tile(key_tiles, value_tiles, key_src, value_src, t + STAGES - 1, tiles, end - begin);
        wait_async<STAGES - 1>();
        __syncthreads();
        const int slot = t % STAGES;
        const int valid = min(TILE, end - begin - t * TILE);
        score_coded_tile(key_tiles + slot * TILE * K_ROW, valid, query_lane, lut, key_book, scores);
        online_softmax(scores, scratch, run_max, run_sum, acc);
        accumulate_coded_tile(value_tiles + slot * TILE * V_ROW, valid, scores, value_book, acc);
        __syncthreads();
    }}

    // Partial result of this split (unnormalised): the token groups' accumulators summed,
    // then merged across splits by the split-merge kernel.
    #pragma unroll
    for (int g = 0; g < GROUP; ++g) {{
        #pragma unroll
        for (int x = 0; x < DIMS_PER_LANE; ++x) atomicAdd(&split_out[g * HEAD_DIM + lane_part() * DIMS_PER_LANE + x], acc[g][x]);
    }}
    __syncthreads();
    const size_t row0 = (size_t)(seq * kv_heads + kv_head) * GROUP;
    for (int e = tid; e < GROUP * HEAD_DIM; e += THREADS) {{
        const int g = e / HEAD_DIM, dim = e % HEAD_DIM;
        partial_out[((row0 + g) * splits + split) * HEAD_DIM + dim] = split_out[e];
    }}
    if (tid < GROUP) {{
        #pragma unroll
        for (int g = 0; g < GROUP; ++g) {{
            if (g == tid) {{
                partial_max[(row0 + g) * splits + split] = run_max[g];
                partial_sum[(row0 + g) * splits + split] = run_sum[g];
            }}
        }}
    }}
}}
"#,
        codebook_load = codebook_load(),
        query_transform = query_transform(),
        lut_build = lut_build(c),
        signature = kernel_signature(entry),
    )
}

/// Stage "split merge": log-sum-exp merge of the splits, normalisation, output conversion.
pub fn merge_kernel(entry: &str, output: OutputDtype) -> String {
    let convert = match output {
        OutputDtype::F16 => "float_to_half",
        OutputDtype::Bf16 => "float_to_bf16",
    };
    format!(
        r#"// Stage: split merge. grid: batch * q_heads blocks of HEAD_DIM threads.
extern "C" __global__ void __launch_bounds__(HEAD_DIM) {entry}(
    const float* __restrict__ partial_out, const float* __restrict__ partial_max,
    const float* __restrict__ partial_sum, unsigned short* __restrict__ out, int splits) {{
    const size_t row = blockIdx.x;
    float global_max = NEG_INF;
    for (int s = 0; s < splits; ++s) global_max = fmaxf(global_max, partial_max[row * splits + s]);
    float total = 0.f, value = 0.f;
    for (int s = 0; s < splits; ++s) {{
        const float m = partial_max[row * splits + s];
        if (m == NEG_INF) continue;  // an empty split
        const float w = __expf(m - global_max);
        total += partial_sum[row * splits + s] * w;
        value += partial_out[(row * splits + s) * HEAD_DIM + threadIdx.x] * w;
    }}
    out[row * HEAD_DIM + threadIdx.x] = {convert}(value / total);
}}
"#
    )
}
