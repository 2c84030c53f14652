    // Stage: split merge. Log-sum-exp merge of the splits, normalisation, output conversion. A
    // sequence without tokens has no split with a finite max: its output is zero.
    const size_t row = blockIdx.x;
    float global_max = NEG_INF;
    for (int s = 0; s < splits; ++s) global_max = fmaxf(global_max, partial_max[row * splits + s]);
    float total = 0.f, value = 0.f;
    for (int s = 0; s < splits; ++s) {
        const float m = partial_max[row * splits + s];
        if (m == NEG_INF) continue;  // an empty split
        const float w = __expf(m - global_max);
        total += partial_sum[row * splits + s] * w;
        value += partial_out[(row * splits + s) * HEAD_DIM + threadIdx.x] * w;
    }
    out[row * HEAD_DIM + threadIdx.x] = convert_output(total == 0.f ? 0.f : value / total);
