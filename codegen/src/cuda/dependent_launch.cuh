// Programmatic dependent launch (sm_90; a no-op elsewhere, in the CPU emulation, and for a
// kernel launched without the attribute): the host may start a kernel while the previous
// kernel of its stream still runs. Such a kernel reads only constant data (weights,
// codebooks) before `wait_for_predecessor`, and writes nothing before it; the wait returns
// once the previous kernel has finished and its writes are visible. Since every kernel of a
// chain waits before it finishes, the previous kernel's end implies the end of all before it.
__device__ __forceinline__ void wait_for_predecessor() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
// Lets the next kernel, if it was launched as a dependent, start its prologue now (its blocks
// are placed once every block of this grid has called this or exited). Calling it before this
// kernel's own wait is safe too (the skinny projections do): the next kernel's wait still
// returns only once this grid has ended.
__device__ __forceinline__ void allow_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
