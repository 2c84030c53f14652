// Skinny projections: the decode step's GEMMs at a small batch (rows <= SKINNY_ROWS), with the
// layer's small stages fused in. At batch 1-8 a cuBLAS GEMM of this model's size is a few
// microseconds of latency for under one of bytes, and each stage around it is a launch of its
// own; these make a layer's projections 4 launches instead of 8:
//   skinny_qkv_rope      RMSNorm -> QKV projection -> RoPE and head split (K and V into the
//                        cache's slots where it takes them, fp16 or int8 rows: no append launch)
//   skinny_residual      x += input · Wᵀ (the output and down projections)
//   skinny_gate_up_silu  RMSNorm -> gate and up projections -> SiLU(gate) · up
//   skinny_logits        RMSNorm -> output head
// The rounding is the cuBLAS path's: the projection's input is fp16 (the normed rows are
// rounded as `add_rms_norm` rounds them), products accumulate in f32.
//
// A warp owns SKINNY_COLUMNS output columns for every row (a RoPE pair, or gate j with up j):
// each lane reads 16 bytes of each column's weight row per step and dots them with the rows'
// inputs, staged in shared memory as fp16, SKINNY_CHUNK columns at a time; one 16-value warp
// reduction ends it.
// Weight rows are `k` fp16 long, k % 8 == 0 (16-byte aligned rows; the host checks).
// Grid: ceil(column groups / SKINNY_WARPS); block: SKINNY_THREADS.

static constexpr int SKINNY_WARPS = 8;
static constexpr int SKINNY_THREADS = SKINNY_WARPS * 32;
static constexpr int SKINNY_COLUMNS = 2;
// Registers decide how many blocks of the step's kernels an SM holds at once, so how early a
// dependent launch's blocks arrive and load their weights before they wait: a lane holds one
// chunk's weights, 3 words per column with 768-value chunks (77-80 registers, 3 blocks of 256
// threads per SM) where 2048-value chunks took 125-128 and 2 blocks: 9-12% off SmolLM2's batch-1
// step, both caches (bench/results/model-s13).
static constexpr int SKINNY_CHUNK = 768;  // 8 rows x 1.5 KB of fp16 input per pass
static constexpr int SKINNY_MIN_BLOCKS = 3;
static constexpr int SKINNY_CHUNK_WORDS = SKINNY_CHUNK / 8;
static_assert(SKINNY_ROWS <= SKINNY_WARPS, "a warp computes each row's RMS");

struct SkinnyInput {
    const float* x;             // f32 rows to RMS-normalise (with `norm_weight`), or null
    const float* norm_weight;
    float eps;
    const unsigned short* act;  // else fp16 rows, used as they are
};

// out = fp16(x * inverse RMS * weight), 8 values from column `at` of row `row`.
__device__ __forceinline__ uint4 skinny_stage_word(const SkinnyInput& in, int row, int k, int at, float inverse) {
    if (in.x == nullptr) return *reinterpret_cast<const uint4*>(in.act + (size_t)row * k + at);
    unsigned packed[4];
    #pragma unroll
    for (int i = 0; i < 4; ++i) {
        const float a = in.x[(size_t)row * k + at + 2 * i] * inverse * in.norm_weight[at + 2 * i];
        const float b = in.x[(size_t)row * k + at + 2 * i + 1] * inverse * in.norm_weight[at + 2 * i + 1];
        packed[i] = (unsigned)float_to_half(a) | ((unsigned)float_to_half(b) << 16);
    }
    return make_uint4(packed[0], packed[1], packed[2], packed[3]);
}

static constexpr int SKINNY_LANE_WORDS = SKINNY_CHUNK_WORDS / 32;  // weight words a lane holds per chunk
static_assert(SKINNY_CHUNK % 256 == 0, "a chunk is whole words for every lane (32 lanes x 8 values)");
static_assert(SKINNY_COLUMNS * SKINNY_ROWS == 16, "skinny_reduce sums 16 values");
// Values of a row a lane loads at once for its RMS: 24 cover this project's model (width 576)
// in one L2 round trip, where a loop unrolled by 8 took three.
static constexpr int SKINNY_RMS_LOADS = 24;

// Asks L1 for the line at `p` (a hint: no result depends on it). The kernels' epilogues read a
// few values each (positions, RoPE angles, slot tables, the residual) one dependent L2 round trip
// after another once the sums are done; asked for early, those reads hit L1. Constant data may be
// asked for before the wait, anything a predecessor writes only after it.
__device__ __forceinline__ void prefetch_l1(const void* p) {
#if defined(__CUDA_ARCH__)
    asm volatile("prefetch.global.L1 [%0];" :: "l"(p));
#endif
}

// Asks L2 for the line at `p` (a hint, like prefetch_l1).
__device__ __forceinline__ void prefetch_l2(const void* p) {
#if defined(__CUDA_ARCH__)
    asm volatile("prefetch.global.L2 [%0];" :: "l"(p));
#endif
}

// One of the 16 sums of a warp, as a lane holds it after `skinny_reduce`.
struct SkinnySum {
    float value;
    int column;  // 0 .. SKINNY_COLUMNS - 1
    int row;     // 0 .. SKINNY_ROWS - 1
    bool owner;  // one lane of the two that hold it
};

// Which sum `lane` holds after skinny_reduce (its value aside): fixed by the lane alone, so a
// kernel knows its lane's row and column before the sums exist.
__device__ __forceinline__ SkinnySum skinny_lane_sum(int lane) {
    const int index = ((lane >> 4) & 1) * 8 + ((lane >> 3) & 1) * 4 + ((lane >> 2) & 1) * 2 + ((lane >> 1) & 1);
    return SkinnySum{0.0f, index / SKINNY_ROWS, index % SKINNY_ROWS, (lane & 1) == 0};
}

// One folding step of skinny_reduce: lanes HALF * 2 apart swap halves of their first 2 HALF
// values; each keeps the half its lane bit selects, summed with the partner's copy.
template <int HALF>
__device__ __forceinline__ void skinny_fold(float (&v)[16], int lane) {
    const bool upper = (lane & (2 * HALF)) != 0;
    #pragma unroll
    for (int i = 0; i < HALF; ++i) {
        const float keep = upper ? v[i + HALF] : v[i];
        const float send = upper ? v[i] : v[i + HALF];
        v[i] = keep + __shfl_xor_sync(0xffffffffu, send, 2 * HALF);
    }
}

// Sums 16 values over the warp in 16 shuffles (not 16 x 5): at each step a lane keeps half of
// its values and adds its partner's copies of them. Lane L ends with value ((L >> 1) bit-
// reversed over 4 bits), complete, as does lane L ^ 1.
__device__ __forceinline__ SkinnySum skinny_reduce(const float (&sums)[SKINNY_COLUMNS][SKINNY_ROWS]) {
    const int lane = threadIdx.x & 31;
    float v[16];
    #pragma unroll
    for (int i = 0; i < 16; ++i) v[i] = sums[i / SKINNY_ROWS][i % SKINNY_ROWS];
    skinny_fold<8>(v, lane);
    skinny_fold<4>(v, lane);
    skinny_fold<2>(v, lane);
    skinny_fold<1>(v, lane);
    SkinnySum sum = skinny_lane_sum(lane);
    sum.value = v[0] + __shfl_xor_sync(0xffffffffu, v[0], 1);
    return sum;
}

// sums[c][r] = input row r · weight row columns[c], for r < rows and columns[c] >= 0, summed
// per lane (skinny_reduce finishes them); the whole block calls it (it stages through shared
// memory). The weight words of a chunk are loaded before the input is staged, so their DRAM
// latency overlaps the RMS and the staging. `after_wait()` runs right after the wait for the
// predecessor: where a kernel asks for its epilogue's operands (prefetch_l1).
template <typename AfterWait>
__device__ __forceinline__ void skinny_project(const SkinnyInput& in, const unsigned short* __restrict__ weight,
                                               const int (&columns)[SKINNY_COLUMNS], int rows, int k,
                                               float (&sums)[SKINNY_COLUMNS][SKINNY_ROWS], AfterWait after_wait) {
    __shared__ __align__(16) uint4 stage[SKINNY_ROWS][SKINNY_CHUNK_WORDS];
    __shared__ float inverse[SKINNY_ROWS];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    allow_dependents();
    // The norm weights are constant: into L1 before the wait, for the staging.
    if (in.x != nullptr && (int)threadIdx.x * 32 < k) prefetch_l1(in.norm_weight + threadIdx.x * 32);
    // The registers hold the first chunk's weights before the wait; L2 gets the second chunk's
    // (constant too: 128-byte lines, 64 values apart, and the chunk's last value), so its loads
    // after the wait skip DRAM. One chunk ahead only: all of a wide model's later chunks, for
    // every resident block, would be more than L2 holds.
    if (k > SKINNY_CHUNK) {
        const int end = min(2 * SKINNY_CHUNK, k);
        #pragma unroll
        for (int c = 0; c < SKINNY_COLUMNS; ++c) {
            if (columns[c] < 0) continue;
            const unsigned short* row = weight + (size_t)columns[c] * k;
            for (int at = SKINNY_CHUNK + lane * 64; at < end; at += 32 * 64) prefetch_l2(row + at);
            if (lane == 0) prefetch_l2(row + end - 1);
        }
    }
    #pragma unroll
    for (int c = 0; c < SKINNY_COLUMNS; ++c)
        #pragma unroll
        for (int r = 0; r < SKINNY_ROWS; ++r) sums[c][r] = 0.0f;
    for (int start = 0; start < k; start += SKINNY_CHUNK) {
        const int words = min(SKINNY_CHUNK, k - start) / 8;
        uint4 held[SKINNY_COLUMNS][SKINNY_LANE_WORDS];
        #pragma unroll
        for (int j = 0; j < SKINNY_LANE_WORDS; ++j) {
            const int word = lane + 32 * j;
            #pragma unroll
            for (int c = 0; c < SKINNY_COLUMNS; ++c) {
                held[c][j] = make_uint4(0, 0, 0, 0);
                if (word < words && columns[c] >= 0)
                    held[c][j] = *reinterpret_cast<const uint4*>(weight + (size_t)columns[c] * k + start + word * 8);
            }
        }
        if (start == 0) {
            wait_for_predecessor();
            after_wait();
        }
        if (start == 0 && in.x != nullptr && warp < rows) {
            // All of a lane's loads first, then the squares in the order of i (the sum is the
            // same to the bit as one value at a time).
            const float* row = in.x + (size_t)warp * k;
            float squares = 0.0f;
            for (int base = 0; base < k; base += 32 * SKINNY_RMS_LOADS) {
                float v[SKINNY_RMS_LOADS];
                #pragma unroll
                for (int j = 0; j < SKINNY_RMS_LOADS; ++j) {
                    const int i = base + lane + 32 * j;
                    v[j] = i < k ? row[i] : 0.0f;
                }
                #pragma unroll
                for (int j = 0; j < SKINNY_RMS_LOADS; ++j) squares += v[j] * v[j];
            }
            squares = warp_sum(squares);
            if (lane == 0) inverse[warp] = rsqrtf(squares / (float)k + in.eps);
        }
        __syncthreads();  // the inverses are written; the previous chunk's readers are done
        for (int index = threadIdx.x; index < rows * words; index += SKINNY_THREADS) {
            const int r = index / words, word = index % words;
            stage[r][word] = skinny_stage_word(in, r, k, start + word * 8, in.x != nullptr ? inverse[r] : 1.0f);
        }
        __syncthreads();
        #pragma unroll
        for (int j = 0; j < SKINNY_LANE_WORDS; ++j) {
            const int word = lane + 32 * j;
            if (word >= words) break;
            float w[SKINNY_COLUMNS][8];
            #pragma unroll
            for (int c = 0; c < SKINNY_COLUMNS; ++c) unpack_halves(held[c][j], w[c]);
            #pragma unroll
            for (int r = 0; r < SKINNY_ROWS; ++r) {
                if (r < rows) {
                    float a[8];
                    unpack_halves(stage[r][word], a);
                    #pragma unroll
                    for (int c = 0; c < SKINNY_COLUMNS; ++c)
                        #pragma unroll
                        for (int i = 0; i < 8; ++i) sums[c][r] += w[c][i] * a[i];
                }
            }
        }
    }
}

// Thread-block clusters (sm_90): the blocks that hold one int8 head row agree on its scale
// through each other's shared memory. Elsewhere a cluster is the block alone (the host launches
// int8 rows on sm_90 only; the CPU emulation runs blocks one at a time and never asks for int8
// rows from this kernel).
__device__ __forceinline__ unsigned cluster_blocks() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    unsigned n;
    asm volatile("mov.u32 %0, %%cluster_nctarank;" : "=r"(n));
    return n;
#else
    return 1;
#endif
}
// Every thread of every block of the cluster: arrive (releasing this block's shared writes),
// then wait (acquiring the others'). Split so that a block can work between the two.
__device__ __forceinline__ void cluster_arrive() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("barrier.cluster.arrive.release;" ::: "memory");
#else
    __syncthreads();
#endif
}
__device__ __forceinline__ void cluster_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("barrier.cluster.wait.acquire;" ::: "memory");
#endif
}
// Stops the kernel (and the context: an error the host sees) where the launch broke the
// cluster contract.
__device__ __forceinline__ void cluster_mismatch() {
#if defined(__CUDA_ARCH__)
    asm volatile("trap;");
#endif
}
// The word at `local`'s place in the shared memory of the cluster's block `rank`.
__device__ __forceinline__ unsigned cluster_load(const unsigned* local, unsigned rank) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    unsigned value;
    asm volatile("{ .reg .u64 generic; .reg .u32 local, remote; cvta.to.shared.u64 generic, %1; cvt.u32.u64 local, generic;\n"
                 "  mapa.shared::cluster.u32 remote, local, %2; ld.shared::cluster.u32 %0, [remote]; }"
                 : "=r"(value) : "l"(local), "r"(rank));
    return value;
#else
    return *local;
#endif
}

// RMSNorm(x) -> QKV projection (weight [(q_heads + 2 kv_heads) D, width]) -> RoPE on Q and K
// in interleaved pairs at positions[row] -> q [rows, q_heads, D], k and v [rows, kv_heads, D]
// in fp16, or K and V into the cache's slots (TokenSlots): `rope_qkv` with chunk 1. A warp owns
// one pair (2i, 2i + 1) of one head, a block 8 pairs.
// With `slot_int8` (slots only), K and V go into int8 rows: launched in clusters of
// HEAD_DIM / 16 blocks, one head row a cluster, whose blocks take each row's absolute maximum
// from each other's shared memory.
extern "C" __global__ void __launch_bounds__(SKINNY_THREADS, SKINNY_MIN_BLOCKS)
skinny_qkv_rope(const float* __restrict__ x, const float* __restrict__ norm_weight, float eps,
                const unsigned short* __restrict__ weight, const float* __restrict__ cos_table,
                const float* __restrict__ sin_table, const int* __restrict__ positions,
                unsigned short* __restrict__ q, unsigned short* __restrict__ k, unsigned short* __restrict__ v,
                int rows, int width, int q_heads, int kv_heads, unsigned short* __restrict__ slot_keys,
                unsigned short* __restrict__ slot_values, const int* __restrict__ seq_slot, int slots, int slot_capacity,
                int sinks, int residual, int slot_int8) {
    constexpr int PAIRS = HEAD_DIM / 2;
    static_assert(PAIRS % SKINNY_WARPS == 0, "a block's pairs lie in one head");
    const int heads = q_heads + 2 * kv_heads;
    const int pair = blockIdx.x * SKINNY_WARPS + (threadIdx.x >> 5);
    const bool active = pair < heads * PAIRS;
    const int columns[SKINNY_COLUMNS] = {active ? 2 * pair : -1, active ? 2 * pair + 1 : -1};
    // The block's K or V rows go in as int8 (uniform over the block, and over its cluster: one head).
    const bool int8 = slot_int8 != 0 && slot_keys != nullptr && blockIdx.x * SKINNY_WARPS / PAIRS >= q_heads;
    // Each row's largest |value| as f32 bits: non-negative floats compare as integers, and an
    // infinity (0x7f800000) or a NaN (above it) outranks every finite value.
    __shared__ unsigned row_absmax[SKINNY_ROWS];
    if (threadIdx.x < SKINNY_ROWS) row_absmax[threadIdx.x] = 0u;
    float sums[SKINNY_COLUMNS][SKINNY_ROWS];
    // The epilogue's reads (position, RoPE angle, slot table), asked for while the sums run.
    const int lane_row = skinny_lane_sum(threadIdx.x & 31).row;
    const auto epilogue_operands = [&] {
        if (!active || lane_row >= rows) return;
        const int position = positions[lane_row];
        if (pair / PAIRS < q_heads + kv_heads) {
            const size_t angle = (size_t)position * PAIRS + pair % PAIRS;
            prefetch_l1(cos_table + angle);
            prefetch_l1(sin_table + angle);
        }
        if (seq_slot != nullptr) prefetch_l1(seq_slot + lane_row);
    };
    // (its __syncthreads order the initialisation above before the epilogue)
    skinny_project(SkinnyInput{x, norm_weight, eps, nullptr}, weight, columns, rows, width, sums, epilogue_operands);
    const SkinnySum sum = skinny_reduce(sums);
    const float other = __shfl_xor_sync(0xffffffffu, sum.value, 16);  // the other column, same row
    const bool writes = active && sum.owner && sum.column == 0 && sum.row < rows;
    const int head = pair / PAIRS, i = pair % PAIRS, row = sum.row;
    const TokenSlots cache{slot_keys, slot_values, seq_slot, slots, slot_capacity, sinks, residual, int8};
    float a = sum.value, b = other;
    if (writes) rope_pair(a, b, cos_table, sin_table, (size_t)positions[row], i, head, q_heads + kv_heads);
    if (!int8) {
        unsigned short* dst = writes ? qkv_destination(cache, q, k, v, row, 0, 1, positions[row], head, q_heads, kv_heads) : nullptr;
        if (dst == nullptr) return;
        dst[2 * i] = float_to_half(a);
        dst[2 * i + 1] = float_to_half(b);
        return;
    }
    // int8: every thread of the cluster takes part in its barriers. A cluster must be one head
    // row's blocks: a scale from part of the row would wrap codes past ±127.
    constexpr unsigned CLUSTER = PAIRS / SKINNY_WARPS;
    if (cluster_blocks() != CLUSTER) cluster_mismatch();
    a = fp16_rounded(a);
    b = fp16_rounded(b);
    if (writes) {
        const unsigned bits_a = __float_as_uint(fabsf(a)), bits_b = __float_as_uint(fabsf(b));
        atomicMax(&row_absmax[row], bits_a > bits_b ? bits_a : bits_b);
    }
    cluster_arrive();
    cluster_wait();
    // Every block's part at once (one remote round trip, not one per block).
    unsigned parts[CLUSTER];
    #pragma unroll
    for (unsigned rank = 0; rank < CLUSTER; ++rank) parts[rank] = writes ? cluster_load(&row_absmax[row], rank) : 0u;
    cluster_arrive();  // this block is done with the others' shared memory
    if (writes) {
        unsigned absmax = 0u;
        #pragma unroll
        for (unsigned rank = 0; rank < CLUSTER; ++rank) absmax = parts[rank] > absmax ? parts[rank] : absmax;
        const bool finite = absmax < 0x7f800000u;
        const bool key = head < q_heads + kv_heads;
        const long long at = token_slot_row(cache, row, kv_heads, head - q_heads - (key ? 0 : kv_heads), positions[row]);
        if (at >= 0) store_int8_pair(cache, key, kv_heads, at, i, a, b, int8_scale_of(__uint_as_float(absmax), finite));
    }
    cluster_wait();  // the others are done with this block's
}

// One result of a warp that owns adjacent columns 2j and 2j + 1 of `n`: the lane's sum, where
// it goes in a row-major [rows, n] output, and whether the lane writes it.
struct SkinnyOut {
    float value;
    size_t at;
    bool valid;
};
// `residual`: the output the caller adds its sum to (asked for early), or null.
__device__ __forceinline__ SkinnyOut skinny_adjacent_columns(const SkinnyInput& in, const unsigned short* __restrict__ weight,
                                                            int rows, int k, int n, const float* residual) {
    const int group = blockIdx.x * SKINNY_WARPS + (threadIdx.x >> 5);
    int columns[SKINNY_COLUMNS];
    #pragma unroll
    for (int c = 0; c < SKINNY_COLUMNS; ++c) {
        const int column = group * SKINNY_COLUMNS + c;
        columns[c] = column < n ? column : -1;
    }
    float sums[SKINNY_COLUMNS][SKINNY_ROWS];
    const SkinnySum slot = skinny_lane_sum(threadIdx.x & 31);
    const int lane_column = group * SKINNY_COLUMNS + slot.column;
    // The residual's old value, asked for while the sums run.
    const auto epilogue_operands = [&] {
        if (residual != nullptr && slot.owner && slot.row < rows && lane_column < n)
            prefetch_l1(residual + (size_t)slot.row * n + lane_column);
    };
    skinny_project(in, weight, columns, rows, k, sums, epilogue_operands);
    const SkinnySum sum = skinny_reduce(sums);
    const int column = group * SKINNY_COLUMNS + sum.column;
    return SkinnyOut{sum.value, (size_t)sum.row * n + column, sum.owner && sum.row < rows && column < n};
}

// x [rows, n] += input [rows, k] (fp16) · weight [n, k]ᵀ: the output and down projections
// with their residual add.
extern "C" __global__ void __launch_bounds__(SKINNY_THREADS, SKINNY_MIN_BLOCKS)
skinny_residual(float* __restrict__ x, const unsigned short* __restrict__ input,
                const unsigned short* __restrict__ weight, int rows, int k, int n) {
    const SkinnyOut out = skinny_adjacent_columns(SkinnyInput{nullptr, nullptr, 0.0f, input}, weight, rows, k, n, x);
    if (out.valid) x[out.at] += out.value;
}

// RMSNorm(x) -> gate and up projections (weight [2 ff, width]: gate rows, then up rows) ->
// act [rows, ff] = fp16(SiLU(gate) · up). A warp owns gate row j and up row j.
extern "C" __global__ void __launch_bounds__(SKINNY_THREADS, SKINNY_MIN_BLOCKS)
skinny_gate_up_silu(const float* __restrict__ x, const float* __restrict__ norm_weight, float eps,
                    const unsigned short* __restrict__ weight, unsigned short* __restrict__ act,
                    int rows, int width, int ff) {
    const int j = blockIdx.x * SKINNY_WARPS + (threadIdx.x >> 5);
    const bool active = j < ff;
    const int columns[SKINNY_COLUMNS] = {active ? j : -1, active ? ff + j : -1};
    float sums[SKINNY_COLUMNS][SKINNY_ROWS];
    skinny_project(SkinnyInput{x, norm_weight, eps, nullptr}, weight, columns, rows, width, sums, [] {});
    const SkinnySum sum = skinny_reduce(sums);
    const float up = __shfl_xor_sync(0xffffffffu, sum.value, 16);  // column 1, same row
    if (!active || !sum.owner || sum.column != 0 || sum.row >= rows) return;
    const float g = sum.value;
    act[(size_t)sum.row * ff + j] = float_to_half(g / (1.0f + __expf(-g)) * up);
}

// RMSNorm(x) -> logits [rows, n] = normed · weight [n, width]ᵀ in f32 (the output head).
extern "C" __global__ void __launch_bounds__(SKINNY_THREADS, SKINNY_MIN_BLOCKS)
skinny_logits(const float* __restrict__ x, const float* __restrict__ norm_weight, float eps,
              const unsigned short* __restrict__ weight, float* __restrict__ logits, int rows, int width, int n) {
    const SkinnyOut out = skinny_adjacent_columns(SkinnyInput{x, norm_weight, eps, nullptr}, weight, rows, width, n, nullptr);
    if (out.valid) logits[out.at] = out.value;
}
