use vecinfer_macros::{vq_attention, vq_kernels};
use vecinfer_runtime::{DeclaredKernel, Gpu, GpuKvCache, KernelDeclaration};

#[vq_attention(head_dim = 128, group = 4, k = "d4b8", v = "d4b8", tile = 256, stages = 2)]
pub struct Decode;

vq_kernels! {
    /// Two kernels at once.
    pub struct Small(head_dim = 64, group = 2, k = "d2b8", v = "d4b8", scoring = "lut");
    struct Wide(head_dim = 256, group = 1, k = "d8b10", v = "d8b8", output = "bf16");
}

// The config is a constant: usable at compile time.
const _: () = assert!(Decode::CONFIG.tile_tokens == 256 && Decode::CONFIG.stages == 2);
const _: () = assert!(Small::CONFIG.head_dim == 64);

// The launcher's argument types are checked by the compiler.
#[allow(dead_code)]
fn step(gpu: &Gpu, cache: &GpuKvCache, q: &cudarc::driver::CudaSlice<u16>, out: &mut cudarc::driver::CudaSlice<u16>) {
    let mut k: DeclaredKernel<Decode> = Decode::compile(gpu).unwrap();
    k.attend(gpu, cache, q, out).unwrap();
    let _wide = Wide::compile(gpu);
}

fn main() {
    assert!(Decode::SOURCE.contains(Decode::ATTENTION_ENTRY));
    assert!(Wide::TUNED_FROM.is_none());
}
