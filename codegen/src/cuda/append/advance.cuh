// Lengths kept on the GPU advance in stream order, before the append that fills the tokens.
// The append may be launched as this kernel's dependent: it loads its codebook while this runs
// and waits (griddepcontrol.wait) for the lengths.
extern "C" __global__ void advance_lengths(int* __restrict__ seq_len, int entries, int count) {
    allow_dependents();
    const int b = blockIdx.x * blockDim.x + threadIdx.x;
    if (b < entries) seq_len[b] += count;
}
