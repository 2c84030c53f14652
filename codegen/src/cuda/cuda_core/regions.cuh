    float* scores = reinterpret_cast<float*>(smem + OFF_SCORES);
    float* lut = reinterpret_cast<float*>(smem + OFF_LUT);
    float* scratch = reinterpret_cast<float*>(smem + OFF_REDUCTION);
    float* split_out = reinterpret_cast<float*>(smem + OFF_OUTPUT);
    for (int e = threadIdx.x; e < GROUP * HEAD_DIM; e += THREADS) split_out[e] = 0.f;
