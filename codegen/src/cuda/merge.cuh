    // Stage: split merge. Log-sum-exp merge of the splits, normalisation, output conversion. A
    // sequence without tokens has no split with a finite max: its output is zero.
    // Every thread of the block takes part: a thread reads 4 dims of one split per step, so
    // MERGE_PARTS splits are read at once (a loop of one thread per dim over all splits took
    // as long as the attention itself at batch 1, bench/results/h100/kernel-s6).
    constexpr int DIM_THREADS = HEAD_DIM / 4, MERGE_PARTS = MERGE_THREADS / DIM_THREADS;
    __shared__ float part_max[MERGE_THREADS / 32];
    __shared__ __align__(16) float part_value[MERGE_PARTS][HEAD_DIM];
    __shared__ float part_total[MERGE_PARTS];
    const size_t row = blockIdx.x;
    const int tid = threadIdx.x;
    // The partials are the attention kernel's (this may start before it ends: see
    // dependent_launch.cuh); the next kernel may start its prologue meanwhile.
    wait_for_predecessor();
    allow_dependents();
    const float* row_max = partial_max + row * splits;
    const float* row_sum = partial_sum + row * splits;
    float m = NEG_INF;
    for (int s = tid; s < splits; s += MERGE_THREADS) m = fmaxf(m, row_max[s]);
    m = warp_max(m);
    if ((tid & 31) == 0) part_max[tid >> 5] = m;
    __syncthreads();
    float global_max = NEG_INF;
    #pragma unroll
    for (int w = 0; w < MERGE_THREADS / 32; ++w) global_max = fmaxf(global_max, part_max[w]);
    const int part = tid / DIM_THREADS, quad = tid % DIM_THREADS;
    float4 value = make_float4(0.f, 0.f, 0.f, 0.f);
    float total = 0.f;
    // Every load is issued before the empty-split test, which selects rather than branches:
    // with a branch the loads of a split waited on its max, one L2 round trip after another
    // (14 us for the FP16 cache's 352 splits at batch 1, bench/results/model-s8).
    #pragma unroll 4
    for (int s = part; s < splits; s += MERGE_PARTS) {
        const float ms = row_max[s];
        const float ss = row_sum[s];
        const float4 v = reinterpret_cast<const float4*>(partial_out + (row * splits + s) * HEAD_DIM)[quad];
        const bool empty = ms == NEG_INF;  // an empty split: its partials are loaded, never used
        const float w = empty ? 0.f : __expf(ms - global_max);
        total += empty ? 0.f : ss * w;
        value.x += empty ? 0.f : v.x * w;
        value.y += empty ? 0.f : v.y * w;
        value.z += empty ? 0.f : v.z * w;
        value.w += empty ? 0.f : v.w * w;
    }
    reinterpret_cast<float4*>(part_value[part])[quad] = value;
    if (quad == 0) part_total[part] = total;
    __syncthreads();
    for (int e = tid; e < HEAD_DIM; e += MERGE_THREADS) {
        float v = 0.f, t = 0.f;
        #pragma unroll
        for (int p = 0; p < MERGE_PARTS; ++p) { v += part_value[p][e]; t += part_total[p]; }
        out[row * HEAD_DIM + e] = convert_output(t == 0.f ? 0.f : v / t);
    }
