    // Stage: split merge. Log-sum-exp merge of the splits, normalisation, output conversion. A
    // sequence without tokens has no split with a finite max: its output is zero.
    // Every thread of the block takes part: a thread reads 4 dims of one split per step, so
    // MERGE_PARTS splits are read at once (a loop of one thread per dim over all splits took
    // as long as the attention itself at batch 1, bench/results/h100/kernel-s6).
    // Each part merges its splits online (a running max, its sum and values rescaled as the max
    // grows), so a split's max, sum and values are all loaded at once: no block-wide max first,
    // which cost a barrier and an L2 round trip before the first value load.
    constexpr int DIM_THREADS = HEAD_DIM / 4, MERGE_PARTS = MERGE_THREADS / DIM_THREADS;
    __shared__ float part_max[MERGE_PARTS];
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
    const int part = tid / DIM_THREADS, quad = tid % DIM_THREADS;
    float run_max = NEG_INF, total = 0.f;
    float4 value = make_float4(0.f, 0.f, 0.f, 0.f);
    // Every load is issued before the empty-split test, which selects rather than branches:
    // with a branch the loads of a split waited on its max, one L2 round trip after another
    // (14 us for the FP16 cache's 352 splits at batch 1, bench/results/model-s8).
    #pragma unroll 4
    for (int s = part; s < splits; s += MERGE_PARTS) {
        const float ms = row_max[s];
        const float ss = row_sum[s];
        const float4 v = reinterpret_cast<const float4*>(partial_out + (row * splits + s) * HEAD_DIM)[quad];
        const bool empty = ms == NEG_INF;  // an empty split: its partials are loaded, never used
        const float new_max = fmaxf(run_max, ms);
        const float base = new_max == NEG_INF ? 0.f : new_max;  // nothing seen yet: keep exp finite
        const float keep = __expf(run_max - base), w = empty ? 0.f : __expf(ms - base);
        run_max = new_max;
        total = total * keep + (empty ? 0.f : ss * w);
        value.x = value.x * keep + (empty ? 0.f : v.x * w);
        value.y = value.y * keep + (empty ? 0.f : v.y * w);
        value.z = value.z * keep + (empty ? 0.f : v.z * w);
        value.w = value.w * keep + (empty ? 0.f : v.w * w);
    }
    reinterpret_cast<float4*>(part_value[part])[quad] = value;
    if (quad == 0) {
        part_max[part] = run_max;
        part_total[part] = total;
    }
    __syncthreads();
    float global_max = NEG_INF;
    #pragma unroll
    for (int p = 0; p < MERGE_PARTS; ++p) global_max = fmaxf(global_max, part_max[p]);
    const float base = global_max == NEG_INF ? 0.f : global_max;
    for (int e = tid; e < HEAD_DIM; e += MERGE_THREADS) {
        float v = 0.f, t = 0.f;
        #pragma unroll
        for (int p = 0; p < MERGE_PARTS; ++p) {
            // A part without a split with tokens holds zeros under an infinite max: weight 0.
            const float f = part_max[p] == NEG_INF ? 0.f : __expf(part_max[p] - base);
            v += f * part_value[p][e];
            t += f * part_total[p];
        }
        out[row * HEAD_DIM + e] = convert_output(t == 0.f ? 0.f : v / t);
    }
