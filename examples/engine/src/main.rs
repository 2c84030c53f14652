//! An engine's view: declare the kernels at compile time (one tuned for the H100, one
//! hand-set), compile them once at start-up, attend over a GPU KV cache, and check the output
//! against the CPU reference. No tuner runs here.
//!
//! Run: `cargo run --release -p vecinfer-example-engine` on a machine with an NVIDIA GPU.

use half::f16;
use vecinfer_macros::{vq_attention, vq_kernels};
use vecinfer_quant::synthetic::{outlier_keys, random_codebook_set, random_vec, rng};
use vecinfer_quant::{CacheLayout, DecodeShape, ReferenceKvCache};
use vecinfer_runtime::{DeclaredKernel, Gpu, GpuKvCache, KernelDeclaration};

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

/// Worst relative error of the kernel against the CPU reference on a random cache of
/// `lengths` tokens per sequence.
fn check<K: KernelDeclaration>(
    gpu: &Gpu,
    kernel: &mut DeclaredKernel<K>,
    lengths: &[usize],
) -> Result<f64, Box<dyn std::error::Error>> {
    let c = K::CONFIG;
    let kv_heads = 2;
    let shape = DecodeShape {
        batch: lengths.len(),
        q_heads: kv_heads * c.group,
        kv_heads,
        head_dim: c.head_dim,
    };
    let books = random_codebook_set(
        7,
        c.key_codec,
        c.value_codec,
        c.granularity,
        1,
        kv_heads,
        c.head_dim,
    );
    let mut cpu =
        ReferenceKvCache::new(books.layer(0, c.transform)?, shape, CacheLayout::default())?;
    let mut r = rng(7);
    for (seq, &len) in lengths.iter().enumerate() {
        for _ in 0..len {
            let k = outlier_keys(&mut r, kv_heads, c.head_dim);
            let v = random_vec(&mut r, kv_heads * c.head_dim, 1.0);
            cpu.append(seq, &k, &v)?;
        }
    }
    let q16: Vec<f16> = random_vec(&mut r, shape.batch * shape.q_heads * c.head_dim, 2.0)
        .into_iter()
        .map(f16::from_f32)
        .collect();
    let want = cpu.attend(&q16.iter().map(|h| h.to_f32()).collect::<Vec<_>>())?;
    let cache = GpuKvCache::from_reference(gpu, &cpu)?;
    let query = gpu
        .stream
        .clone_htod(&q16.iter().map(|h| h.to_bits()).collect::<Vec<u16>>())?;
    let mut out = gpu.stream.alloc_zeros::<u16>(q16.len())?;
    kernel.attend(gpu, &cache, &query, &mut out)?;
    let got = gpu.stream.clone_dtoh(&out)?;
    let mut worst = 0f64;
    for (g, w) in got.chunks(c.head_dim).zip(want.chunks(c.head_dim)) {
        let diff: f64 = g
            .iter()
            .zip(w)
            .map(|(g, w)| (f16::from_bits(*g).to_f32() as f64 - *w as f64).powi(2))
            .sum();
        let norm: f64 = w.iter().map(|w| (*w as f64).powi(2)).sum();
        worst = worst.max((diff / norm.max(1e-30)).sqrt());
    }
    Ok(worst)
}

fn run<K: KernelDeclaration>(gpu: &Gpu, name: &str) -> Result<bool, Box<dyn std::error::Error>> {
    let mut kernel = DeclaredKernel::<K>::compile(gpu)?;
    let worst = check(gpu, &mut kernel, &[5, 900, 2600])?;
    let ok = worst <= 2e-3;
    println!(
        "{name:<13} {:<60} tuned from {:<40} worst rel err {worst:.2e} {}",
        K::CONFIG.to_string(),
        K::TUNED_FROM.unwrap_or("-"),
        if ok { "ok" } else { "FAILED (> 2e-3)" }
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
