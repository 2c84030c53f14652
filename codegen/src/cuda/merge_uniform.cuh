    // Prelude of a merge over `splits` partial rows per output row, row r's at r * splits (the
    // FP16 cache's decode attention). The partials are the attention kernel's (this may start
    // before it ends: see dependent_launch.cuh); the next kernel may start its prologue meanwhile.
    const size_t row = blockIdx.x;
    const int tid = threadIdx.x;
    wait_for_predecessor();
    allow_dependents();
    const size_t first_part = row * splits;
