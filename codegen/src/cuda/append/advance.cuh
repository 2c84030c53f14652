// Lengths kept on the GPU advance in stream order, before the append that fills the tokens.
extern "C" __global__ void advance_lengths(int* __restrict__ seq_len, int entries, int count) {
    const int b = blockIdx.x * blockDim.x + threadIdx.x;
    if (b < entries) seq_len[b] += count;
}
