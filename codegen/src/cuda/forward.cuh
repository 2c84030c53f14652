// The small kernels of a Llama layer's forward pass, the FP16 KV cache's append and
// attention kernels, and the teacher-forcing helpers. The emitter (`forward.rs`) defines
// HEAD_DIM, GROUP, SOFTMAX_SCALE, DECODE_WARPS, DECODE_UNROLL and PREFILL_WARPS before this
// text. No toolkit header: the half helpers are declared here.
//
// Layouts (row-major; "fp16" is IEEE half bits in unsigned short):
// - activations: f32 rows of the residual stream `x [rows, E]`; GEMM inputs are fp16 rows;
// - Q: `[seqs, q_heads, chunk, D]`, K and V: `[seqs, kv_heads, chunk, D]` (chunk = 1 when
//   decoding), query head h reads KV head h / GROUP;
// - FP16 cache: `[seqs, kv_heads, capacity, D]` for K and for V, token i of a sequence in
//   slot i; `positions[s]` is the position of sequence s's current token.

#define NEG_INF (__int_as_float(0xff800000))

static constexpr int LANES_PER_TOKEN = HEAD_DIM / 8;  // decode attention: a lane owns 8 dims
static constexpr int TOKENS_PER_WARP = 32 / LANES_PER_TOKEN;
static constexpr int DECODE_THREADS = DECODE_WARPS * 32;
static constexpr int TOKENS_PER_ITERATION = DECODE_WARPS * TOKENS_PER_WARP * DECODE_UNROLL;
static constexpr int PREFILL_THREADS = PREFILL_WARPS * 32;
static constexpr int PREFILL_DIMS_PER_LANE = HEAD_DIM / 32;

#ifndef VECINFER_HOST_EMULATION  // the CPU emulation of these kernels (engine/tests) brings its own
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
#endif
// Eight fp16 values (one 16-byte word) as floats.
__device__ __forceinline__ void unpack_halves(uint4 w, float* out) {
    out[0] = half_to_float(w.x & 0xffff); out[1] = half_to_float(w.x >> 16);
    out[2] = half_to_float(w.y & 0xffff); out[3] = half_to_float(w.y >> 16);
    out[4] = half_to_float(w.z & 0xffff); out[5] = half_to_float(w.z >> 16);
    out[6] = half_to_float(w.w & 0xffff); out[7] = half_to_float(w.w >> 16);
}
// exp(a - b), 0 where a is -inf (a stream that has seen nothing).
__device__ __forceinline__ float rescale(float a, float b) {
    return a == NEG_INF ? 0.0f : __expf(a - b);
}
__device__ __forceinline__ float warp_sum(float v) {
    #pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
    #pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
// Sum over the block (blockDim.x a multiple of 32); every thread gets the total.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
    v = warp_sum(v);
    __syncthreads();  // the previous reduction's readers are done with `scratch`
    if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = v;
    __syncthreads();
    v = (int)(threadIdx.x & 31) < (int)(blockDim.x >> 5) ? scratch[threadIdx.x & 31] : 0.0f;
    return warp_sum(v);
}
__device__ __forceinline__ float block_max(float v, float* scratch) {
    v = warp_max(v);
    __syncthreads();
    if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = v;
    __syncthreads();
    v = (int)(threadIdx.x & 31) < (int)(blockDim.x >> 5) ? scratch[threadIdx.x & 31] : NEG_INF;
    return warp_max(v);
}

// Stage: embedding gather. x[row] = table[tokens[row]] (fp16 to f32); ids outside the
// vocabulary read row 0. Grid: rows; any block size.
extern "C" __global__ void embed_tokens(const unsigned short* __restrict__ table, const int* __restrict__ tokens,
                                        float* __restrict__ x, int width, int vocab) {
    const int token = tokens[blockIdx.x];
    const unsigned short* src = table + (size_t)(token >= 0 && token < vocab ? token : 0) * width;
    float* dst = x + (size_t)blockIdx.x * width;
    for (int i = threadIdx.x; i < width; i += blockDim.x) dst[i] = half_to_float(src[i]);
}

// Stage: residual add and RMSNorm. x[row] += delta[row] (when delta is not null), then
// out[row] = x[row] / sqrt(mean(x[row]^2) + eps) * weight, in fp16 for the next GEMM.
// Grid: rows; block: a multiple of 32 threads.
extern "C" __global__ void add_rms_norm(float* __restrict__ x, const float* __restrict__ delta,
                                        const float* __restrict__ weight, unsigned short* __restrict__ out,
                                        int width, float eps) {
    __shared__ float scratch[32];
    const size_t base = (size_t)blockIdx.x * width;
    float squares = 0.0f;
    for (int i = threadIdx.x; i < width; i += blockDim.x) {
        float v = x[base + i];
        if (delta != nullptr) {
            v += delta[base + i];
            x[base + i] = v;
        }
        squares += v * v;
    }
    const float inverse = rsqrtf(block_sum(squares, scratch) / (float)width + eps);
    for (int i = threadIdx.x; i < width; i += blockDim.x)
        out[base + i] = float_to_half(x[base + i] * inverse * weight[i]);
}

// Stage: SiLU(gate) * up. gate_up rows hold [gate (width), up (width)]; out is fp16.
// Grid: rows; any block size.
extern "C" __global__ void silu_mul(const float* __restrict__ gate_up, unsigned short* __restrict__ out, int width) {
    const float* gate = gate_up + (size_t)blockIdx.x * 2 * width;
    for (int i = threadIdx.x; i < width; i += blockDim.x) {
        const float g = gate[i];
        out[(size_t)blockIdx.x * width + i] = float_to_half(g / (1.0f + __expf(-g)) * gate[width + i]);
    }
}

// Stage: log-softmax NLL of the target token. For targets[row] >= 0,
// nll[row * stride + positions[row]] = logsumexp(logits[row]) - logits[row][target].
// Grid: rows; block: a multiple of 32 threads.
extern "C" __global__ void token_nll(const float* __restrict__ logits, const int* __restrict__ targets,
                                     const int* __restrict__ positions, float* __restrict__ nll, int vocab,
                                     int stride) {
    __shared__ float scratch[32];
    const int target = targets[blockIdx.x];
    if (target < 0 || target >= vocab) return;  // the whole block: the row is not scored
    const float* row = logits + (size_t)blockIdx.x * vocab;
    float m = NEG_INF;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) m = fmaxf(m, row[i]);
    m = block_max(m, scratch);
    float total = 0.0f;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) total += __expf(row[i] - m);
    total = block_sum(total, scratch);
    if (threadIdx.x == 0) nll[(size_t)blockIdx.x * stride + positions[blockIdx.x]] = logf(total) + m - row[target];
}

// Stage: greedy pick. out[row] = the first index of the largest logit. Grid: rows; block:
// ARGMAX_THREADS (emitted, 1024). One block reads a whole row (49k logits for SmolLM2): 1024
// threads with 16-byte loads, four in flight each, instead of 256 threads and one 4-byte load
// at a time (52 us a step at batch 1, bench/results/model-s8).
__device__ __forceinline__ void keep_first_max(float v, int i, float& best, int& index) {
    if (v > best) { best = v; index = i; }  // a thread visits its indices in rising order
}
extern "C" __global__ void __launch_bounds__(ARGMAX_THREADS) argmax_rows(const float* __restrict__ logits, int* __restrict__ out,
                                                                         int vocab) {
    __shared__ float best_values[32];
    __shared__ int best_indices[32];
    const float* row = logits + (size_t)blockIdx.x * vocab;
    float best = NEG_INF;
    int index = 0;
    // 16-byte loads where every row is 16-byte aligned (rows of a multiple of 4 logits).
    const int quads = vocab % 4 == 0 ? vocab / 4 : 0;
    const float4* row4 = reinterpret_cast<const float4*>(row);
    #pragma unroll 4
    for (int i = threadIdx.x; i < quads; i += blockDim.x) {
        const float4 v = row4[i];
        keep_first_max(v.x, 4 * i, best, index);
        keep_first_max(v.y, 4 * i + 1, best, index);
        keep_first_max(v.z, 4 * i + 2, best, index);
        keep_first_max(v.w, 4 * i + 3, best, index);
    }
    for (int i = 4 * quads + threadIdx.x; i < vocab; i += blockDim.x) keep_first_max(row[i], i, best, index);
    #pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float other = __shfl_xor_sync(0xffffffffu, best, o);
        const int other_index = __shfl_xor_sync(0xffffffffu, index, o);
        if (other > best || (other == best && other_index < index)) { best = other; index = other_index; }
    }
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    if (lane == 0) { best_values[warp] = best; best_indices[warp] = index; }
    __syncthreads();
    if (warp == 0) {
        best = lane < (int)(blockDim.x >> 5) ? best_values[lane] : NEG_INF;
        index = lane < (int)(blockDim.x >> 5) ? best_indices[lane] : 0;
        #pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            const float other = __shfl_xor_sync(0xffffffffu, best, o);
            const int other_index = __shfl_xor_sync(0xffffffffu, index, o);
            if (other > best || (other == best && other_index < index)) { best = other; index = other_index; }
        }
        if (lane == 0) out[blockIdx.x] = index;
    }
}

// Stage: teacher forcing. Each sequence's token at its position in its window, and the
// next one as the target (-1 past the window's end). windows: [rows, stride].
extern "C" __global__ void gather_step_tokens(const int* __restrict__ windows, const int* __restrict__ positions,
                                              int* __restrict__ tokens, int* __restrict__ targets, int rows,
                                              int stride) {
    const int row = blockIdx.x * blockDim.x + threadIdx.x;
    if (row >= rows) return;
    const int position = positions[row];
    const int* window = windows + (size_t)row * stride;
    tokens[row] = position < stride ? window[position] : 0;
    targets[row] = position + 1 < stride ? window[position + 1] : -1;
}

// Stage: the step is done. positions[row] += by.
extern "C" __global__ void advance_positions(int* __restrict__ positions, int rows, int by) {
    const int row = blockIdx.x * blockDim.x + threadIdx.x;
    if (row < rows) positions[row] += by;
}

// Stage: FP16 cache append. New token t of sequence s (`[seqs, kv_heads, count, D]`) goes to
// slot positions[s] + t (slots past the capacity are dropped; the host checks capacity).
// Grid: (count, kv_heads, seqs); block: HEAD_DIM / 8 threads, 16 bytes each.
extern "C" __global__ void kv_append_fp16(const unsigned short* __restrict__ new_keys,
                                          const unsigned short* __restrict__ new_values,
                                          unsigned short* __restrict__ keys, unsigned short* __restrict__ values,
                                          const int* __restrict__ positions, int count, int capacity) {
    const int t = blockIdx.x, head = blockIdx.y, seq = blockIdx.z, kv_heads = gridDim.y;
    // Everything this reads is the projection's (dependent_launch.cuh).
    wait_for_predecessor();
    allow_dependents();
    const int slot = positions[seq] + t;
    const int i = threadIdx.x * 8;
    if (slot < 0 || slot >= capacity || i >= HEAD_DIM) return;
    const size_t src = (((size_t)seq * kv_heads + head) * count + t) * HEAD_DIM + i;
    const size_t dst = (((size_t)seq * kv_heads + head) * capacity + slot) * HEAD_DIM + i;
    *reinterpret_cast<uint4*>(keys + dst) = *reinterpret_cast<const uint4*>(new_keys + src);
    *reinterpret_cast<uint4*>(values + dst) = *reinterpret_cast<const uint4*>(new_values + src);
}

// FP16 decode attention, split-K ("flash decoding"): block (split, kv head, sequence) takes
// tokens [split * tokens_per_split, ...) of slots 0..=positions[s] for all GROUP query heads
// of its KV head, so K and V are read once per KV head. LANES_PER_TOKEN lanes share a token
// (8 dims, one 16-byte load of K and one of V each); a warp takes TOKENS_PER_WARP tokens per
// load and DECODE_UNROLL loads are in flight per lane. Each lane keeps an online softmax per
// query head; lanes, then warps, merge theirs; the split's unnormalised result goes to
// partial_* for `decode_merge`. Grid: (splits, kv_heads, seqs); block: DECODE_THREADS.
extern "C" __global__ void __launch_bounds__(DECODE_THREADS)
decode_attention_fp16(const unsigned short* __restrict__ query, const unsigned short* __restrict__ keys,
                      const unsigned short* __restrict__ values, const int* __restrict__ positions,
                      float* __restrict__ partial_out, float* __restrict__ partial_max,
                      float* __restrict__ partial_sum, int capacity, int tokens_per_split) {
    __shared__ float merge_max[DECODE_WARPS][GROUP];
    __shared__ float merge_sum[DECODE_WARPS][GROUP];
    __shared__ float merge_out[DECODE_WARPS][GROUP][HEAD_DIM];
    const int split = blockIdx.x, kv_head = blockIdx.y, seq = blockIdx.z;
    const int splits = gridDim.x, kv_heads = gridDim.y;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int part = lane % LANES_PER_TOKEN, slot = lane / LANES_PER_TOKEN;
    // The query and the newest token are the kernels' before (dependent_launch.cuh).
    wait_for_predecessor();
    allow_dependents();
    // Slots past the capacity do not exist: a position beyond it reads the whole cache, no more.
    const int length = min(positions[seq] + 1, capacity);
    const int begin = split * tokens_per_split;
    const int end = min(length, begin + tokens_per_split);

    // Stage: query load, scaled by 1/sqrt(D).
    float q[GROUP][8];
    #pragma unroll
    for (int g = 0; g < GROUP; ++g) {
        const size_t at = (((size_t)seq * kv_heads + kv_head) * GROUP + g) * HEAD_DIM + part * 8;
        unpack_halves(*reinterpret_cast<const uint4*>(query + at), q[g]);
        #pragma unroll
        for (int i = 0; i < 8; ++i) q[g][i] *= SOFTMAX_SCALE;
    }
    float m[GROUP], l[GROUP], acc[GROUP][8];
    #pragma unroll
    for (int g = 0; g < GROUP; ++g) {
        m[g] = NEG_INF;
        l[g] = 0.0f;
        #pragma unroll
        for (int i = 0; i < 8; ++i) acc[g][i] = 0.0f;
    }
    const size_t head_base = ((size_t)seq * kv_heads + kv_head) * capacity * HEAD_DIM + part * 8;
    const uint4* key_rows = reinterpret_cast<const uint4*>(keys + head_base);
    const uint4* value_rows = reinterpret_cast<const uint4*>(values + head_base);
    constexpr int ROW_WORDS = HEAD_DIM / 8;

    for (int start = begin; start < end; start += TOKENS_PER_ITERATION) {
        // Stage: loads, DECODE_UNROLL tokens per lane in flight.
        uint4 key_words[DECODE_UNROLL], value_words[DECODE_UNROLL];
        bool valid[DECODE_UNROLL];
        #pragma unroll
        for (int u = 0; u < DECODE_UNROLL; ++u) {
            const int token = start + (u * DECODE_WARPS + warp) * TOKENS_PER_WARP + slot;
            valid[u] = token < end;
            if (valid[u]) {
                key_words[u] = key_rows[(size_t)token * ROW_WORDS];
                value_words[u] = value_rows[(size_t)token * ROW_WORDS];
            } else {
                key_words[u] = make_uint4(0, 0, 0, 0);
                value_words[u] = make_uint4(0, 0, 0, 0);
            }
        }
        // Stage: scores, summed over the token's lanes.
        float score[DECODE_UNROLL][GROUP];
        #pragma unroll
        for (int u = 0; u < DECODE_UNROLL; ++u) {
            float k[8];
            unpack_halves(key_words[u], k);
            #pragma unroll
            for (int g = 0; g < GROUP; ++g) {
                float dot = 0.0f;
                #pragma unroll
                for (int i = 0; i < 8; ++i) dot += q[g][i] * k[i];
                #pragma unroll
                for (int o = 1; o < LANES_PER_TOKEN; o <<= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
                score[u][g] = valid[u] ? dot : NEG_INF;
            }
        }
        // Stage: online softmax, once per DECODE_UNROLL tokens.
        float new_max[GROUP];
        #pragma unroll
        for (int g = 0; g < GROUP; ++g) {
            float chunk_max = score[0][g];
            #pragma unroll
            for (int u = 1; u < DECODE_UNROLL; ++u) chunk_max = fmaxf(chunk_max, score[u][g]);
            new_max[g] = fmaxf(m[g], chunk_max);
            const float correction = rescale(m[g], new_max[g]);
            l[g] *= correction;
            #pragma unroll
            for (int i = 0; i < 8; ++i) acc[g][i] *= correction;
            m[g] = new_max[g];
        }
        // Stage: value accumulation.
        #pragma unroll
        for (int u = 0; u < DECODE_UNROLL; ++u) {
            float v[8];
            unpack_halves(value_words[u], v);
            #pragma unroll
            for (int g = 0; g < GROUP; ++g) {
                const float p = rescale(score[u][g], m[g]);
                l[g] += p;
                #pragma unroll
                for (int i = 0; i < 8; ++i) acc[g][i] += p * v[i];
            }
        }
    }

    // Stage: split merge, first across the warp's token slots (lanes `part` apart)...
    #pragma unroll
    for (int o = LANES_PER_TOKEN; o < 32; o <<= 1) {
        #pragma unroll
        for (int g = 0; g < GROUP; ++g) {
            const float other_max = __shfl_xor_sync(0xffffffffu, m[g], o);
            const float other_sum = __shfl_xor_sync(0xffffffffu, l[g], o);
            const float merged = fmaxf(m[g], other_max);
            const float mine = rescale(m[g], merged), theirs = rescale(other_max, merged);
            l[g] = l[g] * mine + other_sum * theirs;
            #pragma unroll
            for (int i = 0; i < 8; ++i) {
                const float other = __shfl_xor_sync(0xffffffffu, acc[g][i], o);
                acc[g][i] = acc[g][i] * mine + other * theirs;
            }
            m[g] = merged;
        }
    }
    // ...then across warps, into the split's partial result.
    if (slot == 0) {
        #pragma unroll
        for (int g = 0; g < GROUP; ++g) {
            #pragma unroll
            for (int i = 0; i < 8; ++i) merge_out[warp][g][part * 8 + i] = acc[g][i];
            if (part == 0) {
                merge_max[warp][g] = m[g];
                merge_sum[warp][g] = l[g];
            }
        }
    }
    __syncthreads();
    for (int index = threadIdx.x; index < GROUP * HEAD_DIM; index += DECODE_THREADS) {
        const int g = index / HEAD_DIM, d = index % HEAD_DIM;
        float top = NEG_INF;
        #pragma unroll
        for (int w = 0; w < DECODE_WARPS; ++w) top = fmaxf(top, merge_max[w][g]);
        float total = 0.0f, out = 0.0f;
        #pragma unroll
        for (int w = 0; w < DECODE_WARPS; ++w) {
            const float f = rescale(merge_max[w][g], top);
            total += merge_sum[w][g] * f;
            out += merge_out[w][g][d] * f;
        }
        const size_t row = ((size_t)seq * kv_heads + kv_head) * GROUP + g;
        partial_out[(row * splits + split) * HEAD_DIM + d] = out;
        if (d == 0) {
            partial_max[row * splits + split] = top;
            partial_sum[row * splits + split] = total;
        }
    }
}

// decode_merge, the splits' results of one (sequence, query head) row into its fp16 output, is
// the fused VQ kernel's split merge (codegen's `merge_kernel`), appended to this module.

// FP16 causal prefill attention over the cache: query t of the chunk (sequence s, query head
// h) sits at position p = positions[s] + t and attends slots 0..=p. One warp per query: lane j
// scores key j0 + j of each 32-key step, the warp takes the step's max once, then each lane
// accumulates PREFILL_DIMS_PER_LANE dims of the values. out: `[seqs, chunk, q_heads, D]`.
// Grid: (ceil(chunk / PREFILL_WARPS), q_heads, seqs); block: PREFILL_THREADS.
extern "C" __global__ void __launch_bounds__(PREFILL_THREADS)
prefill_attention_fp16(const unsigned short* __restrict__ query, const unsigned short* __restrict__ keys,
                       const unsigned short* __restrict__ values, const int* __restrict__ positions,
                       unsigned short* __restrict__ out, int chunk, int capacity) {
    __shared__ float scaled_query[PREFILL_WARPS][HEAD_DIM];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int t = blockIdx.x * PREFILL_WARPS + warp, head = blockIdx.y, seq = blockIdx.z;
    const int q_heads = gridDim.y, kv_heads = q_heads / GROUP, kv_head = head / GROUP;
    if (t >= chunk) return;  // whole warps only; no block-wide barrier follows
    const int last = positions[seq] + t;
    const unsigned short* q = query + (((size_t)seq * q_heads + head) * chunk + t) * HEAD_DIM;
    for (int d = lane; d < HEAD_DIM; d += 32) scaled_query[warp][d] = half_to_float(q[d]) * SOFTMAX_SCALE;
    __syncwarp();
    const size_t head_base = ((size_t)seq * kv_heads + kv_head) * capacity * HEAD_DIM;
    float acc[PREFILL_DIMS_PER_LANE];
    #pragma unroll
    for (int i = 0; i < PREFILL_DIMS_PER_LANE; ++i) acc[i] = 0.0f;
    float m = NEG_INF, l = 0.0f;
    for (int j0 = 0; j0 <= last; j0 += 32) {
        const int j = j0 + lane;
        float score = NEG_INF;
        if (j <= last) {
            const uint4* key = reinterpret_cast<const uint4*>(keys + head_base + (size_t)j * HEAD_DIM);
            float dot = 0.0f;
            #pragma unroll
            for (int c = 0; c < HEAD_DIM / 8; ++c) {
                float k[8];
                unpack_halves(key[c], k);
                #pragma unroll
                for (int i = 0; i < 8; ++i) dot += scaled_query[warp][c * 8 + i] * k[i];
            }
            score = dot;
        }
        const float top = fmaxf(m, warp_max(score));  // key j0 is valid, so top is finite
        const float correction = rescale(m, top);
        const float p = rescale(score, top);
        l = l * correction + warp_sum(p);
        #pragma unroll
        for (int i = 0; i < PREFILL_DIMS_PER_LANE; ++i) acc[i] *= correction;
        const int count = min(32, last - j0 + 1);
        for (int i = 0; i < count; ++i) {
            const float weight = __shfl_sync(0xffffffffu, p, i);
            const unsigned short* value = values + head_base + (size_t)(j0 + i) * HEAD_DIM + lane * PREFILL_DIMS_PER_LANE;
            #pragma unroll
            for (int e = 0; e < PREFILL_DIMS_PER_LANE; ++e) acc[e] += weight * half_to_float(value[e]);
        }
        m = top;
    }
    unsigned short* o = out + (((size_t)seq * chunk + t) * q_heads + head) * HEAD_DIM + lane * PREFILL_DIMS_PER_LANE;
    #pragma unroll
    for (int e = 0; e < PREFILL_DIMS_PER_LANE; ++e) o[e] = float_to_half(acc[e] / l);
}

// Benchmark fill: `words` 32-bit words of hashed noise; with `halves`, two fp16 values in
// [-1, 1) per word (KV tokens), else raw bits (codes). Any grid.
extern "C" __global__ void fill_random(unsigned* __restrict__ data, unsigned long long words, unsigned seed, int halves) {
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < words;
         i += (unsigned long long)gridDim.x * blockDim.x) {
        unsigned x = (unsigned)i * 0x9e3779b9u ^ (unsigned)(i >> 32) * 0x85ebca6bu ^ seed;
        x ^= x >> 16; x *= 0x7feb352du; x ^= x >> 15; x *= 0x846ca68bu; x ^= x >> 16;
        if (halves) {
            const float a = (float)(x & 0xffff) * (1.0f / 32768.0f) - 1.0f;
            const float b = (float)(x >> 16) * (1.0f / 32768.0f) - 1.0f;
            x = (unsigned)float_to_half(a) | ((unsigned)float_to_half(b) << 16);
        }
        data[i] = x;
    }
}
