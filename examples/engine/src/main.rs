//! An engine's view: declare the kernels at compile time (one tuned for the H100, two
//! hand-set), compile them once at start-up, check each against the CPU reference, and attend
//! over a GPU KV cache. No tuner runs here.
//!
//! Run: `cargo run --release -p vecinfer-example-engine` on a machine with an NVIDIA GPU.

use half::f16;
use vecinfer_macros::{vq_attention, vq_kernels};
use vecinfer_quant::{CacheLayout, DecodeShape};
use vecinfer_runtime::verify::{RandomCase, VerifyCase};
use vecinfer_runtime::{DeclaredKernel, Gpu, GpuKvCache, KernelDeclaration, RuntimeError, Timer};

/// Worst relative error against the CPU reference a kernel may have (the kernel tests' bound).
const TOLERANCE: f64 = 2e-3;

/// 2-bit K and V for Llama-3.1-8B attention (head dim 128, 4 query heads per KV head): the
/// H100's tuned winner for 8 sequences of 32k tokens, embedded at compile time.
#[vq_attention(
    head_dim = 128,
    group = 4,
    k = "d4b8",
    v = "d4b8",
    tuned = "../../tuned-configs/nvidia-h100-80gb-hbm3.json",
    batch = 8,
    seq = 32768
)]
pub struct Decode2Bit;

vq_kernels! {
    /// 4-bit keys and values with a hand-picked tile.
    pub struct Decode4Bit(head_dim = 128, group = 4, k = "d2b8", v = "d2b8", tile = 128, warps = 4);
    /// 1.5 bits per element: 4096-entry codebooks, one copy.
    pub struct Decode1p5Bit(head_dim = 128, group = 4, k = "d8b12", v = "d8b12", tile = 512, warps = 8, stages = 2);
}

/// Compiles a declared kernel, checks it against the CPU reference on a random cache (never
/// trust a kernel before that), then runs decode steps as an engine would: 8 sequences of 4096
/// tokens over 8 KV heads.
fn run<K: KernelDeclaration>(gpu: &Gpu, name: &str) -> Result<bool, Box<dyn std::error::Error>> {
    let c = K::CONFIG;
    let mut kernel = DeclaredKernel::<K>::compile(gpu)?;
    let case = RandomCase {
        kv_heads: 2,
        lengths: vec![5, 900, 2600],
        layout: CacheLayout::default(),
        seed: 7,
    };
    let worst = VerifyCase::new(gpu, &c, &case)?.worst_error(gpu, kernel.attention())?;
    let ok = worst <= TOLERANCE;

    let shape = DecodeShape {
        batch: 8,
        q_heads: 8 * c.group,
        kv_heads: 8,
        head_dim: c.head_dim,
    };
    let residual = CacheLayout::default().residual;
    let cache = GpuKvCache::random(gpu, shape, &c, (4096 - residual, residual, 0), 1)?;
    let elements = shape.batch * shape.q_heads * shape.head_dim;
    let query = gpu.stream.clone_htod(&vec![f16::ONE.to_bits(); elements])?;
    let mut out = gpu.stream.alloc_zeros::<u16>(elements)?;
    let step = Timer::new(gpu)
        .time::<RuntimeError>(3, 20, |_| kernel.attend(gpu, &cache, &query, &mut out))?;
    println!(
        "{name:<13} {:<60} tuned from {:<40} worst rel err {worst:.2e} {}, 8 x 4096 step {:.4} ms",
        c.to_string(),
        K::TUNED_FROM.unwrap_or("-"),
        if ok { "ok" } else { "FAILED" },
        step.median_ms
    );
    Ok(ok)
}

fn main() -> std::process::ExitCode {
    let gpu = match Gpu::new(0) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("no GPU: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("{} ({})", gpu.name, gpu.arch);
    let results = [
        run::<Decode2Bit>(&gpu, "Decode2Bit"),
        run::<Decode4Bit>(&gpu, "Decode4Bit"),
        run::<Decode1p5Bit>(&gpu, "Decode1p5Bit"),
    ];
    let mut all_ok = true;
    for r in results {
        match r {
            Ok(ok) => all_ok &= ok,
            Err(e) => {
                eprintln!("error: {e}");
                all_ok = false;
            }
        }
    }
    if all_ok {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
