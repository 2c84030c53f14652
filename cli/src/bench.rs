//! `vecinfer bench`: time the fused kernel on the bench grid with CUDA events, next to the
//! FP16 baselines measured by `../shared/bench/fp16_decode_baseline.py` in the same run.
//!
//! Every timed config is first verified against the CPU reference on a small random cache.

use crate::error::{CliError, Result};
use cudarc::driver::sys::CUevent_flags;
use serde::{Deserialize, Serialize};
use vecinfer_codegen::KernelConfig;
use vecinfer_quant::DecodeShape;
use vecinfer_runtime::{Gpu, GpuKvCache, VqAttention, Workspace};

#[derive(Clone, Debug, Serialize)]
pub struct BenchRow {
    pub batch: usize,
    pub seq: usize,
    pub key_codec: String,
    pub value_codec: String,
    pub bits_per_element: f64,
    pub config: String,
    pub splits: u32,
    pub registers: i32,
    pub spilled_bytes: i32,
    pub ms: f64,
    pub ms_min: f64,
    pub ms_max: f64,
    pub bytes: usize,
    pub gb_per_s: f64,
    /// Achieved bandwidth over the device's measured copy bandwidth.
    pub roofline_fraction: f64,
    pub sdpa_ms: Option<f64>,
    pub speedup_vs_sdpa: Option<f64>,
}

/// A row of the shared baseline script's JSON.
#[derive(Clone, Debug, Deserialize)]
pub struct BaselineRow {
    pub batch: usize,
    pub seq: usize,
    pub sdpa_ms: f64,
    pub copy_tbs: Option<f64>,
}

pub struct Timer<'a> {
    gpu: &'a Gpu,
}

impl<'a> Timer<'a> {
    pub fn new(gpu: &'a Gpu) -> Self {
        Self { gpu }
    }

    /// Median, min and max milliseconds of `runs` timed calls after `warmup` untimed ones;
    /// `step(i)` should rotate through inputs larger than L2.
    pub fn time(
        &self,
        warmup: usize,
        runs: usize,
        mut step: impl FnMut(usize) -> Result<()>,
    ) -> Result<(f64, f64, f64)> {
        let ctx = &self.gpu.context;
        for i in 0..warmup {
            step(i)?;
        }
        let mut times = Vec::with_capacity(runs);
        for i in 0..runs {
            let start = ctx
                .new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))
                .map_err(rt)?;
            let end = ctx
                .new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))
                .map_err(rt)?;
            start.record(&self.gpu.stream).map_err(rt)?;
            step(warmup + i)?;
            end.record(&self.gpu.stream).map_err(rt)?;
            end.synchronize().map_err(rt)?;
            times.push(start.elapsed_ms(&end).map_err(rt)? as f64);
        }
        times.sort_by(f64::total_cmp);
        Ok((times[times.len() / 2], times[0], times[times.len() - 1]))
    }
}

fn rt(e: cudarc::driver::DriverError) -> CliError {
    CliError::from(vecinfer_runtime::RuntimeError::from(e))
}

/// Device-to-device copy bandwidth (read + write), TB/s.
pub fn copy_bandwidth(gpu: &Gpu) -> Result<f64> {
    let n = 1usize << 30;
    let src = gpu.stream.alloc_zeros::<u8>(n).map_err(rt)?;
    let mut dst = gpu.stream.alloc_zeros::<u8>(n).map_err(rt)?;
    let (ms, _, _) = Timer::new(gpu).time(2, 10, |_| {
        gpu.stream.memcpy_dtod(&src, &mut dst).map_err(rt)
    })?;
    Ok(2.0 * n as f64 / (ms * 1e-3) / 1e12)
}

/// Times one config at one (batch, seq) on the Llama-3.1-8B attention shape given by `shape`.
pub fn bench_one(
    gpu: &Gpu,
    config: &KernelConfig,
    shape: DecodeShape,
    seq: usize,
    residual: usize,
    copy_tbs: f64,
    runs: usize,
) -> Result<BenchRow> {
    let kernel = VqAttention::new(gpu, config)?;
    let coded = seq.saturating_sub(residual);
    let fp16 = seq - coded;
    let probe = GpuKvCache::random(gpu, shape, config, coded, fp16, 1)?;
    let bytes = probe.bytes_per_step(config);
    // Rotate through enough caches that one step never finds the last one's bytes in L2.
    let copies = (256usize << 20).div_ceil(bytes).clamp(1, 16);
    let mut caches = vec![probe];
    for i in 1..copies {
        caches.push(GpuKvCache::random(
            gpu,
            shape,
            config,
            coded,
            fp16,
            1 + i as u64,
        )?);
    }
    let elements = shape.batch * shape.q_heads * shape.head_dim;
    let query = gpu
        .stream
        .clone_htod(&vec![0x3c00u16; elements])
        .map_err(rt)?; // 1.0 in fp16
    let mut out = gpu.stream.alloc_zeros::<u16>(elements).map_err(rt)?;
    let mut workspace = Workspace::default();
    let plan = kernel.plan(gpu, &caches[0]);
    let (ms, ms_min, ms_max) = Timer::new(gpu).time(5, runs, |i| {
        Ok(kernel.attend(gpu, &caches[i % copies], &query, &mut out, &mut workspace)?)
    })?;
    let (registers, spilled_bytes) = kernel.resources()?;
    let gb_per_s = bytes as f64 / (ms * 1e-3) / 1e9;
    Ok(BenchRow {
        batch: shape.batch,
        seq,
        key_codec: config.key_codec.to_string(),
        value_codec: config.value_codec.to_string(),
        bits_per_element: (config.key_codec.bits_per_element()
            + config.value_codec.bits_per_element())
            / 2.0,
        config: config.name(),
        splits: plan.splits,
        registers,
        spilled_bytes,
        ms,
        ms_min,
        ms_max,
        bytes,
        gb_per_s,
        roofline_fraction: gb_per_s / (copy_tbs * 1e3),
        sdpa_ms: None,
        speedup_vs_sdpa: None,
    })
}

pub fn format_rows(rows: &[BenchRow], copy_tbs: f64) -> String {
    let mut s = format!("copy bandwidth {copy_tbs:.2} TB/s (read+write)\n");
    s += &format!(
        "{:>5} {:>7} {:>12} {:>5} {:>6} {:>8} {:>8} {:>9} {:>8} {:>8}\n",
        "batch", "seq", "K/V", "bits", "splits", "ms", "GB/s", "roofline", "sdpa ms", "speedup"
    );
    for r in rows {
        s += &format!(
            "{:>5} {:>7} {:>12} {:>5.2} {:>6} {:>8.4} {:>8.0} {:>8.1}% {:>8} {:>8}\n",
            r.batch,
            r.seq,
            format!("{}/{}", r.key_codec, r.value_codec),
            r.bits_per_element,
            r.splits,
            r.ms,
            r.gb_per_s,
            100.0 * r.roofline_fraction,
            r.sdpa_ms.map_or("-".into(), |v| format!("{v:.3}")),
            r.speedup_vs_sdpa.map_or("-".into(), |v| format!("{v:.2}x")),
        );
    }
    s
}
