    // Stage: split merge. Log-sum-exp merge of the splits, normalisation, output conversion. A
    // sequence without tokens has no split with a finite max: its output is zero.
    // Every thread of the block takes part: a thread reads 4 dims of one split per step, so
    // MERGE_PARTS splits are read at once (a loop of one thread per dim over all splits took
    // as long as the attention itself at batch 1, bench/results/h100/kernel-s6).
    // Each part merges its splits online (a running max, its sum and values rescaled as the max
    // grows), so no block-wide max is needed before the values load: that cost a barrier and an
    // L2 round trip (merge kernel 5.5 -> 4.1 us at 1 x 32k on an H200).
    constexpr int DIM_THREADS = HEAD_DIM / 4, MERGE_PARTS = MERGE_THREADS / DIM_THREADS;
    static_assert(MERGE_THREADS % DIM_THREADS == 0, "a merge part is whole threads of 4 dims each");
    __shared__ float part_max[MERGE_PARTS];
    __shared__ __align__(16) float part_value[MERGE_PARTS][HEAD_DIM];
    __shared__ float part_total[MERGE_PARTS];
    // From the prelude (merge_pieces.cuh or merge_uniform.cuh): the output `row`, its `splits`
    // partial rows from `first_part` on, and `tid`.
    const float* row_max = partial_max + first_part;
    const float* row_sum = partial_sum + first_part;
    const int part = tid / DIM_THREADS, quad = tid % DIM_THREADS;
    float run_max = NEG_INF, total = 0.f;
    float4 value = make_float4(0.f, 0.f, 0.f, 0.f);
    // A part's splits in batches of MERGE_BATCH, splits past the end predicated off: a batch's
    // maxes are all loaded before its first exp, and its sums and values (which ptxas issues
    // after that exp) in one more L2 round trip. One rescale per batch, by the batch's max, so
    // the weights do not wait on each other. Against an online merge a split at a time (unroll
    // 4): SmolLM2's shape 9-12% faster at batch 1 (16 parts, 8 splits each at 1 x 32k), 3% at
    // 8 x 32k; FP16 cache steps 2% at 1 x 8192; Llama's shape within 1% (bench/results/kernel-s30).
    // The empty-split test selects rather than branches: with a branch the loads of a split
    // waited on its max, one L2 round trip after another (14 us for the FP16 cache's 352 splits
    // at batch 1, bench/results/model-s8).
    constexpr int MERGE_BATCH = 8;
    for (int first = part; first < splits; first += MERGE_BATCH * MERGE_PARTS) {
        float ms[MERGE_BATCH], ss[MERGE_BATCH];
        float4 v[MERGE_BATCH];
        #pragma unroll
        for (int b = 0; b < MERGE_BATCH; ++b) {
            const int s = first + b * MERGE_PARTS;
            const bool in = s < splits;
            ms[b] = in ? row_max[s] : NEG_INF;
            ss[b] = in ? row_sum[s] : 0.f;
            v[b] = in ? reinterpret_cast<const float4*>(partial_out + (first_part + s) * HEAD_DIM)[quad]
                      : make_float4(0.f, 0.f, 0.f, 0.f);
        }
        // One rescale per batch, by the batch's max: the weights are then independent of each
        // other (no chain of maxes from split to split).
        float batch_max = run_max;
        #pragma unroll
        for (int b = 0; b < MERGE_BATCH; ++b) batch_max = fmaxf(batch_max, ms[b]);
        const float base = batch_max == NEG_INF ? 0.f : batch_max;  // nothing seen yet: keep exp finite
        const float keep = __expf(run_max - base);
        run_max = batch_max;
        total *= keep;
        value.x *= keep; value.y *= keep; value.z *= keep; value.w *= keep;
        #pragma unroll
        for (int b = 0; b < MERGE_BATCH; ++b) {
            // An empty split (or none: zeros) weighs 0. Its sum and values are multiplied by
            // that 0 rather than selected away: a split whose scores were all NaN keeps an
            // infinite max (fmaxf drops NaN) but a NaN sum, which must reach the output (0 *
            // NaN), as it does in the attention's one-piece output (split_result.cuh).
            const float w = ms[b] == NEG_INF ? 0.f : __expf(ms[b] - base);
            total += ss[b] * w;
            value.x += v[b].x * w;
            value.y += v[b].y * w;
            value.z += v[b].z * w;
            value.w += v[b].w * w;
        }
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
            // A NaN the part holds (an unwritten or uncovered split) must still reach the output
            // through f * NaN, so no "skip when f == 0".
            const float f = part_max[p] == NEG_INF ? 0.f : __expf(part_max[p] - base);
            v += f * part_value[p][e];
            t += f * part_total[p];
        }
        out[row * HEAD_DIM + e] = convert_output(t == 0.f ? 0.f : v / t);
    }
