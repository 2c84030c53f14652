//! The forward kernels (`vecinfer_codegen::forward`), compiled once (NVRTC, cached) and
//! launched with typed arguments.

use crate::error::{EngineError, Result};
use cudarc::driver::{
    CudaFunction, CudaSlice, CudaStream, CudaViewMut, DevicePtr, DevicePtrMut, LaunchConfig,
    PushKernelArg,
};
use vecinfer_codegen::{ForwardConfig, SKINNY_ROWS, emit_forward};
use vecinfer_quant::WindowPrecision;
pub use vecinfer_runtime::dependent_launch::supports_dependent_launches;
use vecinfer_runtime::dependent_launch::{
    Buffers, KernelArg, launch, launch_in_clusters, supports_clusters,
};
use vecinfer_runtime::{Gpu, TokenSlots, compile};

/// Threads of the row-wise kernels (norm, RoPE, SiLU, NLL, argmax, gather).
const ROW_THREADS: u32 = 256;

#[derive(Clone)]
pub struct ForwardKernels {
    pub config: ForwardConfig,
    /// Launch the skinny projections as programmatic dependents of the previous kernel (their
    /// weight loads overlap its tail): on by default where supported (sm_90 and later).
    dependent_launches: bool,
    arch: &'static str,
    embed_tokens: CudaFunction,
    add_rms_norm: CudaFunction,
    rope_qkv: CudaFunction,
    silu_mul: CudaFunction,
    token_nll: CudaFunction,
    argmax_rows: CudaFunction,
    gather_step_tokens: CudaFunction,
    advance_positions: CudaFunction,
    kv_append_fp16: CudaFunction,
    decode_attention_fp16: CudaFunction,
    decode_merge: CudaFunction,
    prefill_attention_fp16: CudaFunction,
    fill_random: CudaFunction,
    skinny_qkv_rope: CudaFunction,
    skinny_residual: CudaFunction,
    skinny_gate_up_silu: CudaFunction,
    skinny_logits: CudaFunction,
}

fn rows_config(rows: usize, threads: u32) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (rows as u32, 1, 1),
        block_dim: (threads, 1, 1),
        shared_mem_bytes: 0,
    }
}

fn int(x: usize) -> i32 {
    i32::try_from(x).expect("sizes checked by the caller fit in i32")
}

/// Threads of a skinny projection block (`SKINNY_THREADS` of `skinny.cuh`): 8 warps, each
/// owning one group of output columns.
const SKINNY_THREADS: u32 = 256;
const SKINNY_WARPS: usize = (SKINNY_THREADS / 32) as usize;

fn skinny_config(column_groups: usize, columns_per_group: usize) -> LaunchConfig {
    let warps = SKINNY_WARPS;
    rows_config(
        column_groups.div_ceil(columns_per_group).div_ceil(warps),
        SKINNY_THREADS,
    )
}

/// The clusters in which the skinny QKV projection writes int8 slot rows on `arch` at
/// `head_dim`: `head_dim / 16` blocks, one head row (sm_90 or later, at most 8 blocks: head
/// dims up to 128). Where this is an error, an int8 window takes its new tokens through the
/// append kernel.
pub fn int8_row_cluster(arch: &str, head_dim: usize) -> Result<u32> {
    let blocks = head_dim / (2 * SKINNY_WARPS);
    if !supports_clusters(arch) || !(1..=8).contains(&blocks) {
        return Err(EngineError::Invalid(format!(
            "the skinny QKV projection writes int8 slot rows in clusters of head_dim / 16 blocks, which need sm_90 or later and a head dim of at most 128; this is {arch} with head dim {head_dim}: append the new tokens instead (TokenWrites::Append)"
        )));
    }
    Ok(blocks as u32)
}

/// The skinny projections' preconditions: 1..=SKINNY_ROWS rows, an inner size of whole
/// 16-byte words, and every buffer at least as long as the launch reads or writes.
fn check_skinny(what: &str, rows: usize, k: usize, buffers: &[(&str, usize, usize)]) -> Result<()> {
    if rows == 0 || rows > SKINNY_ROWS {
        return Err(EngineError::Invalid(format!(
            "{what}: {rows} rows; the skinny projections take 1 to {SKINNY_ROWS} (use cuBLAS above)"
        )));
    }
    if k == 0 || !k.is_multiple_of(8) {
        return Err(EngineError::Invalid(format!(
            "{what}: inner size {k} is not a positive multiple of 8"
        )));
    }
    check_buffers(what, buffers)
}

/// The kernel arguments of `TokenSlots` (`qkv_slots.cuh`: keys, values, seq_slot, slots,
/// capacity, sinks, residual, int8) for a step of `rows` batch entries of `kv_heads` heads of
/// `head_dim`, checked against the slots' shape; `None`: no slots (null keys), K and V go to
/// the step's buffers.
fn slot_args<'b>(
    stream: &'b CudaStream,
    slots: Option<&'b mut TokenSlots<'_>>,
    (rows, kv_heads, head_dim): (usize, usize, usize),
    b: &mut Buffers<'b>,
) -> Result<[KernelArg; 8]> {
    let Some(slots) = slots else {
        return Ok([
            KernelArg::Pointer(0),
            KernelArg::Pointer(0),
            KernelArg::Pointer(0),
            KernelArg::Int(0),
            KernelArg::Int(0),
            KernelArg::Int(0),
            KernelArg::Int(0),
            KernelArg::Int(0),
        ]);
    };
    let shape = slots.shape();
    if shape.kv_heads != kv_heads || shape.head_dim != head_dim {
        return Err(EngineError::Invalid(format!(
            "token slots of {} KV heads of dim {}, a step of {kv_heads} KV heads of dim {head_dim}",
            shape.kv_heads, shape.head_dim
        )));
    }
    match slots.table_len() {
        Some(len) if len < rows => {
            return Err(EngineError::Invalid(format!(
                "the sequence-slot table has {len} entries, the step {rows} rows"
            )));
        }
        None if shape.slots < rows => {
            return Err(EngineError::Invalid(format!(
                "token slots for {} sequences, a step of {rows} rows",
                shape.slots
            )));
        }
        _ => {}
    }
    let pointers = slots.device_ptrs(stream);
    // TokenSlots checked that these fit i32 when it was made.
    Ok([
        b.add(pointers.keys),
        b.add(pointers.values),
        match pointers.seq_slot {
            Some(table) => b.add(table),
            None => KernelArg::Pointer(0),
        },
        KernelArg::Int(int(shape.slots)),
        KernelArg::Int(int(shape.capacity)),
        KernelArg::Int(int(shape.sinks)),
        KernelArg::Int(int(shape.residual)),
        KernelArg::Int(i32::from(shape.precision == WindowPrecision::Int8)),
    ])
}

/// Every buffer `(name, length, needed)` holds at least what the launch reads or writes.
fn check_buffers(what: &str, buffers: &[(&str, usize, usize)]) -> Result<()> {
    for &(name, len, needed) in buffers {
        if len < needed {
            return Err(EngineError::Invalid(format!(
                "{what}: {name} holds {len} values, the launch needs {needed}"
            )));
        }
    }
    Ok(())
}

/// `VECINFER_DEPENDENT_LAUNCHES=off` (or `0`) starts every engine with dependent launches off,
/// for any command (an A/B or a diagnosis without a rebuild).
fn dependent_launches_disabled() -> bool {
    std::env::var("VECINFER_DEPENDENT_LAUNCHES").is_ok_and(|v| v == "off" || v == "0")
}

/// No decode-attention split covers fewer tokens (the merge's cost per split).
const MIN_TOKENS_PER_SPLIT: usize = 256;

/// The decode attention's split plan: `splits` blocks per (sequence, KV head), each over
/// `tokens_per_split` slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeSplit {
    pub splits: usize,
    pub tokens_per_split: usize,
}

fn wanted_splits(sm_count: usize, pairs: usize) -> usize {
    (2 * 4 * sm_count).div_ceil(pairs.max(1)).max(1)
}

/// Split plan of the decode attention for `pairs` (sequence, KV head) pairs over at most
/// `longest` tokens: enough blocks for about two waves of `sm_count` SMs at 4 blocks each, no
/// split under `MIN_TOKENS_PER_SPLIT` tokens, split sizes a multiple of a loop iteration.
pub fn plan_decode_split(
    config: &ForwardConfig,
    sm_count: usize,
    pairs: usize,
    longest: usize,
) -> DecodeSplit {
    let step = config.decode_tokens_per_iteration();
    let longest = longest.max(1);
    let per_split = longest
        .div_ceil(wanted_splits(sm_count, pairs))
        .max(MIN_TOKENS_PER_SPLIT)
        .next_multiple_of(step);
    DecodeSplit {
        splits: longest.div_ceil(per_split),
        tokens_per_split: per_split,
    }
}

/// The most splits [`plan_decode_split`] plans for any length up to `capacity`: a split covers
/// at least `longest / wanted` and at least `MIN_TOKENS_PER_SPLIT` tokens.
pub fn max_decode_splits(sm_count: usize, pairs: usize, capacity: usize) -> usize {
    wanted_splits(sm_count, pairs).min(capacity.max(1).div_ceil(MIN_TOKENS_PER_SPLIT))
}

impl ForwardKernels {
    pub fn new(gpu: &Gpu, config: ForwardConfig) -> Result<Self> {
        let emitted = emit_forward(&config)?;
        let ptx = compile(&emitted.source, gpu.arch, "forward")?;
        let module = gpu.context.load_module(ptx)?;
        let f = |name: &str| module.load_function(name);
        Ok(Self {
            config,
            dependent_launches: supports_dependent_launches(gpu.arch)
                && !dependent_launches_disabled(),
            arch: gpu.arch,
            embed_tokens: f("embed_tokens")?,
            add_rms_norm: f("add_rms_norm")?,
            rope_qkv: f("rope_qkv")?,
            silu_mul: f("silu_mul")?,
            token_nll: f("token_nll")?,
            argmax_rows: f("argmax_rows")?,
            gather_step_tokens: f("gather_step_tokens")?,
            advance_positions: f("advance_positions")?,
            kv_append_fp16: f("kv_append_fp16")?,
            decode_attention_fp16: f("decode_attention_fp16")?,
            decode_merge: f("decode_merge")?,
            prefill_attention_fp16: f("prefill_attention_fp16")?,
            fill_random: f("fill_random")?,
            skinny_qkv_rope: f("skinny_qkv_rope")?,
            skinny_residual: f("skinny_residual")?,
            skinny_gate_up_silu: f("skinny_gate_up_silu")?,
            skinny_logits: f("skinny_logits")?,
        })
    }

    /// Whether the skinny projections launch as programmatic dependents.
    pub fn dependent_launches(&self) -> bool {
        self.dependent_launches
    }

    /// Turns programmatic dependent launches on or off; on only takes where the GPU supports
    /// them. Returns what is now in effect.
    pub fn set_dependent_launches(&mut self, on: bool) -> bool {
        self.dependent_launches = on && supports_dependent_launches(self.arch);
        self.dependent_launches
    }

    /// See [`plan_decode_split`].
    pub fn decode_split(&self, sm_count: usize, pairs: usize, longest: usize) -> DecodeSplit {
        plan_decode_split(&self.config, sm_count, pairs, longest)
    }

    /// See [`max_decode_splits`].
    pub fn max_decode_splits(&self, sm_count: usize, pairs: usize, capacity: usize) -> usize {
        max_decode_splits(sm_count, pairs, capacity)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn embed(
        &self,
        stream: &CudaStream,
        table: &CudaSlice<u16>,
        tokens: &CudaSlice<i32>,
        x: &mut CudaSlice<f32>,
        rows: usize,
        width: usize,
        vocab: usize,
    ) -> Result<()> {
        let (w, v) = (int(width), int(vocab));
        let mut b = stream.launch_builder(&self.embed_tokens);
        b.arg(table).arg(tokens).arg(x).arg(&w).arg(&v);
        // SAFETY: table is [vocab, width], tokens [rows], x [rows, width] (the engine's buffers).
        unsafe { b.launch(rows_config(rows, ROW_THREADS)) }?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub fn add_rms_norm(
        &self,
        stream: &CudaStream,
        x: &mut CudaSlice<f32>,
        delta: Option<&CudaSlice<f32>>,
        weight: &CudaSlice<f32>,
        out: &mut CudaSlice<u16>,
        rows: usize,
        width: usize,
        eps: f32,
    ) -> Result<()> {
        let null = 0u64;
        let w = int(width);
        let mut b = stream.launch_builder(&self.add_rms_norm);
        b.arg(x);
        match delta {
            Some(d) => b.arg(d),
            None => b.arg(&null),
        };
        b.arg(weight).arg(out).arg(&w).arg(&eps);
        // SAFETY: x, delta [rows, width] f32, weight [width], out [rows, width] fp16.
        unsafe { b.launch(rows_config(rows, ROW_THREADS)) }?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub fn rope_qkv(
        &self,
        stream: &CudaStream,
        qkv: &CudaSlice<f32>,
        rope: (&CudaSlice<f32>, &CudaSlice<f32>),
        positions: &CudaSlice<i32>,
        (q, k, v): (
            &mut CudaSlice<u16>,
            &mut CudaSlice<u16>,
            &mut CudaSlice<u16>,
        ),
        slots: Option<&mut TokenSlots<'_>>,
        (q_heads, kv_heads): (usize, usize),
        (seqs, chunk): (usize, usize),
    ) -> Result<()> {
        let d = self.config.head_dim;
        let rows = seqs * chunk;
        check_buffers(
            "RoPE",
            &[
                ("qkv", qkv.len(), rows * (q_heads + 2 * kv_heads) * d),
                ("positions", positions.len(), seqs),
                ("q", q.len(), rows * q_heads * d),
                ("k", k.len(), rows * kv_heads * d),
                ("v", v.len(), rows * kv_heads * d),
            ],
        )?;
        if slots.is_some() && chunk != 1 {
            return Err(EngineError::Invalid(format!(
                "RoPE into the cache's slots takes one token per sequence (a decode step), got chunks of {chunk}: ring slots would collide"
            )));
        }
        let mut b = Buffers::default();
        let slot_args = slot_args(stream, slots, (seqs, kv_heads, d), &mut b)?;
        let mut args = vec![
            b.add(qkv.device_ptr(stream)),
            b.add(rope.0.device_ptr(stream)),
            b.add(rope.1.device_ptr(stream)),
            b.add(positions.device_ptr(stream)),
            b.add(q.device_ptr_mut(stream)),
            b.add(k.device_ptr_mut(stream)),
            b.add(v.device_ptr_mut(stream)),
            KernelArg::Int(int(q_heads)),
            KernelArg::Int(int(kv_heads)),
            KernelArg::Int(int(chunk)),
        ];
        args.extend(slot_args);
        // SAFETY: the kernel's parameters in order; buffer sizes and the slots' shape checked
        // above; the angle tables cover every position (checked by the engine). Not a
        // dependent launch: the kernel does not wait on its predecessor.
        unsafe {
            launch(
                stream,
                &self.rope_qkv,
                rows_config(rows, ROW_THREADS),
                &args,
                b,
                false,
            )
        }?;
        Ok(())
    }

    pub fn silu_mul(
        &self,
        stream: &CudaStream,
        gate_up: &CudaSlice<f32>,
        out: &mut CudaSlice<u16>,
        rows: usize,
        width: usize,
    ) -> Result<()> {
        let w = int(width);
        let mut b = stream.launch_builder(&self.silu_mul);
        b.arg(gate_up).arg(out).arg(&w);
        // SAFETY: gate_up [rows, 2 width] f32, out [rows, width] fp16.
        unsafe { b.launch(rows_config(rows, ROW_THREADS)) }?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub fn token_nll(
        &self,
        stream: &CudaStream,
        logits: &CudaSlice<f32>,
        targets: &CudaSlice<i32>,
        positions: &CudaSlice<i32>,
        nll: &mut CudaSlice<f32>,
        rows: usize,
        vocab: usize,
        stride: usize,
    ) -> Result<()> {
        let (v, s) = (int(vocab), int(stride));
        let mut b = stream.launch_builder(&self.token_nll);
        b.arg(logits)
            .arg(targets)
            .arg(positions)
            .arg(nll)
            .arg(&v)
            .arg(&s);
        // SAFETY: logits [rows, vocab]; nll [rows, stride] with positions < stride.
        unsafe { b.launch(rows_config(rows, ROW_THREADS)) }?;
        Ok(())
    }

    pub fn argmax(
        &self,
        stream: &CudaStream,
        logits: &CudaSlice<f32>,
        out: &mut CudaSlice<i32>,
        rows: usize,
        vocab: usize,
    ) -> Result<()> {
        check_buffers(
            "argmax",
            &[
                ("logits", logits.len(), rows * vocab),
                ("out", out.len(), rows),
            ],
        )?;
        let v = int(vocab);
        let mut b = stream.launch_builder(&self.argmax_rows);
        b.arg(logits).arg(out).arg(&v);
        // SAFETY: logits [rows, vocab], out [rows].
        unsafe { b.launch(rows_config(rows, vecinfer_codegen::ARGMAX_THREADS)) }?;
        Ok(())
    }

    pub fn gather_step_tokens(
        &self,
        stream: &CudaStream,
        windows: &CudaSlice<i32>,
        positions: &CudaSlice<i32>,
        (tokens, targets): (&mut CudaSlice<i32>, &mut CudaSlice<i32>),
        rows: usize,
        stride: usize,
    ) -> Result<()> {
        let (r, s) = (int(rows), int(stride));
        let mut b = stream.launch_builder(&self.gather_step_tokens);
        b.arg(windows)
            .arg(positions)
            .arg(tokens)
            .arg(targets)
            .arg(&r)
            .arg(&s);
        // SAFETY: windows [rows, stride]; the kernel guards rows.
        unsafe { b.launch(LaunchConfig::for_num_elems(rows as u32)) }?;
        Ok(())
    }

    pub fn advance_positions(
        &self,
        stream: &CudaStream,
        positions: &mut CudaSlice<i32>,
        rows: usize,
        by: usize,
    ) -> Result<()> {
        let (r, n) = (int(rows), int(by));
        let mut b = stream.launch_builder(&self.advance_positions);
        b.arg(positions).arg(&r).arg(&n);
        // SAFETY: positions [rows]; the kernel guards rows.
        unsafe { b.launch(LaunchConfig::for_num_elems(rows as u32)) }?;
        Ok(())
    }

    /// New K/V `[seqs, kv_heads, count, D]` into an FP16 cache `[seqs, kv_heads, capacity, D]`
    /// at slots `positions[s] + t`.
    #[allow(clippy::too_many_arguments)]
    pub fn kv_append(
        &self,
        stream: &CudaStream,
        (new_keys, new_values): (&CudaSlice<u16>, &CudaSlice<u16>),
        (keys, values): (&mut CudaSlice<u16>, &mut CudaSlice<u16>),
        positions: &CudaSlice<i32>,
        (seqs, kv_heads, count): (usize, usize, usize),
        capacity: usize,
    ) -> Result<()> {
        let d = self.config.head_dim;
        let (new, cache) = (seqs * kv_heads * count * d, seqs * kv_heads * capacity * d);
        check_buffers(
            &format!("kv append [{seqs}, {kv_heads}, {count}, {d}] into capacity {capacity}"),
            &[
                ("new keys", new_keys.len(), new),
                ("new values", new_values.len(), new),
                ("keys", keys.len(), cache),
                ("values", values.len(), cache),
                ("positions", positions.len(), seqs),
            ],
        )?;
        let mut b = Buffers::default();
        let args = [
            b.add(new_keys.device_ptr(stream)),
            b.add(new_values.device_ptr(stream)),
            b.add(keys.device_ptr_mut(stream)),
            b.add(values.device_ptr_mut(stream)),
            b.add(positions.device_ptr(stream)),
            KernelArg::Int(int(count)),
            KernelArg::Int(int(capacity)),
        ];
        let config = LaunchConfig {
            grid_dim: (count as u32, kv_heads as u32, seqs as u32),
            block_dim: ((d / 8) as u32, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: the kernel's parameters in order; sizes checked above; the kernel drops
        // slots past the capacity.
        unsafe { self.queue(stream, &self.kv_append_fp16, config, &args, b) }
    }

    /// Split-K decode attention over an FP16 cache (slots `0..=positions[s]`) and its merge
    /// into `out` `[seqs, q_heads, D]` fp16. `partial` is scratch of at least
    /// `seqs * q_heads * splits * (D + 2)` floats.
    #[allow(clippy::too_many_arguments)]
    pub fn decode_attention(
        &self,
        stream: &CudaStream,
        query: &CudaSlice<u16>,
        (keys, values): (&CudaSlice<u16>, &CudaSlice<u16>),
        positions: &CudaSlice<i32>,
        partial: &mut CudaSlice<f32>,
        out: &mut CudaSlice<u16>,
        (seqs, kv_heads, capacity): (usize, usize, usize),
        plan: DecodeSplit,
    ) -> Result<()> {
        let c = self.config;
        let rows = seqs * kv_heads * c.group;
        let cache = seqs * kv_heads * capacity * c.head_dim;
        check_buffers(
            &format!(
                "decode attention over [{seqs}, {kv_heads}, {capacity}, {}]",
                c.head_dim
            ),
            &[
                (
                    "scratch",
                    partial.len(),
                    rows * plan.splits * (c.head_dim + 2),
                ),
                ("query", query.len(), rows * c.head_dim),
                ("output", out.len(), rows * c.head_dim),
                ("keys", keys.len(), cache),
                ("values", values.len(), cache),
                ("positions", positions.len(), seqs),
            ],
        )?;
        let (partial_out, mut rest) = partial.split_at_mut(rows * plan.splits * c.head_dim);
        let (mut partial_max, mut rest) = rest.split_at_mut(rows * plan.splits);
        let mut partial_sum = rest.slice_mut(0..rows * plan.splits);
        let mut partial_out = partial_out;
        let mut b = Buffers::default();
        let args = [
            b.add(query.device_ptr(stream)),
            b.add(keys.device_ptr(stream)),
            b.add(values.device_ptr(stream)),
            b.add(positions.device_ptr(stream)),
            b.add(partial_out.device_ptr_mut(stream)),
            b.add(partial_max.device_ptr_mut(stream)),
            b.add(partial_sum.device_ptr_mut(stream)),
            KernelArg::Int(int(capacity)),
            KernelArg::Int(int(plan.tokens_per_split)),
        ];
        let config = LaunchConfig {
            grid_dim: (plan.splits as u32, kv_heads as u32, seqs as u32),
            block_dim: (c.decode_threads(), 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: the kernel's parameters in order; the cache is [seqs, kv_heads, capacity,
        // D] (the backend's), positions hold lengths within it, the scratch holds the plan's
        // splits (checked above).
        unsafe { self.queue(stream, &self.decode_attention_fp16, config, &args, b) }?;
        let mut b = Buffers::default();
        let args = [
            b.add(partial_out.device_ptr(stream)),
            b.add(partial_max.device_ptr(stream)),
            b.add(partial_sum.device_ptr(stream)),
            b.add(out.device_ptr_mut(stream)),
            KernelArg::Int(int(plan.splits)),
        ];
        let config = rows_config(rows, vecinfer_codegen::MERGE_THREADS);
        // SAFETY: the merge's parameters in order; rows of the merge = seqs * q_heads, each
        // over the plan's splits (checked above).
        unsafe { self.queue(stream, &self.decode_merge, config, &args, b) }
    }

    /// Causal attention of a prefill chunk's queries `[seqs, q_heads, chunk, D]` at positions
    /// `positions[s] + t` over an FP16 cache; `out` `[seqs, chunk, q_heads, D]`.
    #[allow(clippy::too_many_arguments)]
    pub fn prefill_attention(
        &self,
        stream: &CudaStream,
        query: &CudaSlice<u16>,
        (keys, values): (&CudaSlice<u16>, &CudaSlice<u16>),
        positions: &CudaSlice<i32>,
        out: &mut CudaSlice<u16>,
        (seqs, q_heads, chunk, capacity): (usize, usize, usize, usize),
    ) -> Result<()> {
        let c = self.config;
        let (n, cap) = (int(chunk), int(capacity));
        let mut b = stream.launch_builder(&self.prefill_attention_fp16);
        b.arg(query)
            .arg(keys)
            .arg(values)
            .arg(positions)
            .arg(out)
            .arg(&n)
            .arg(&cap);
        let config = LaunchConfig {
            grid_dim: (
                chunk.div_ceil(c.prefill_warps) as u32,
                q_heads as u32,
                seqs as u32,
            ),
            block_dim: (c.prefill_threads(), 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: query/out hold seqs * q_heads * chunk * D, the cache covers every position.
        unsafe { b.launch(config) }?;
        Ok(())
    }

    /// RMSNorm(x) → QKV projection → RoPE at `positions` → `q`, `k`, `v` (fp16, head-major):
    /// `add_rms_norm`, the QKV GEMM and `rope_qkv` of a decode step in one launch.
    #[allow(clippy::too_many_arguments)]
    pub fn skinny_qkv_rope(
        &self,
        stream: &CudaStream,
        x: &CudaSlice<f32>,
        (norm, eps): (&CudaSlice<f32>, f32),
        weight: &CudaSlice<u16>,
        rope: (&CudaSlice<f32>, &CudaSlice<f32>),
        positions: &CudaSlice<i32>,
        (q, k, v): (
            &mut CudaSlice<u16>,
            &mut CudaSlice<u16>,
            &mut CudaSlice<u16>,
        ),
        slots: Option<&mut TokenSlots<'_>>,
        (q_heads, kv_heads): (usize, usize),
        (rows, width): (usize, usize),
    ) -> Result<()> {
        let d = self.config.head_dim;
        let columns = (q_heads + 2 * kv_heads) * d;
        check_skinny(
            "skinny QKV",
            rows,
            width,
            &[
                ("x", x.len(), rows * width),
                ("the norm weight", norm.len(), width),
                ("the QKV weight", weight.len(), columns * width),
                ("positions", positions.len(), rows),
                ("q", q.len(), rows * q_heads * d),
                ("k", k.len(), rows * kv_heads * d),
                ("v", v.len(), rows * kv_heads * d),
            ],
        )?;
        // Int8 rows: a cluster of blocks per head row agrees on its scale (`skinny.cuh`).
        let int8 = slots
            .as_ref()
            .is_some_and(|s| s.shape().precision == WindowPrecision::Int8);
        let cluster = if int8 {
            int8_row_cluster(self.arch, d)?
        } else {
            1
        };
        let mut b = Buffers::default();
        let slot_args = slot_args(stream, slots, (rows, kv_heads, d), &mut b)?;
        let mut args = vec![
            b.add(x.device_ptr(stream)),
            b.add(norm.device_ptr(stream)),
            KernelArg::Float(eps),
            b.add(weight.device_ptr(stream)),
            b.add(rope.0.device_ptr(stream)),
            b.add(rope.1.device_ptr(stream)),
            b.add(positions.device_ptr(stream)),
            b.add(q.device_ptr_mut(stream)),
            b.add(k.device_ptr_mut(stream)),
            b.add(v.device_ptr_mut(stream)),
            KernelArg::Int(int(rows)),
            KernelArg::Int(int(width)),
            KernelArg::Int(int(q_heads)),
            KernelArg::Int(int(kv_heads)),
        ];
        args.extend(slot_args);
        let config = skinny_config(columns / 2, 1);
        // SAFETY: the kernel's parameters in order; sizes and the slots' shape checked above;
        // the angle tables cover every position (the engine checks capacity against them).
        // A cluster covers one head's blocks: a block holds SKINNY_WARPS pairs, a head
        // head_dim / 2, and the grid whole heads (launch_in_clusters checks the grid).
        unsafe {
            launch_in_clusters(
                stream,
                &self.skinny_qkv_rope,
                config,
                &args,
                b,
                self.dependent_launches,
                cluster,
            )
        }?;
        Ok(())
    }

    /// `x [rows, n] += input [rows, k] · weight [n, k]ᵀ` (fp16 input and weight, f32 sums): the
    /// output or down projection with its residual add, in one launch.
    #[allow(clippy::too_many_arguments)]
    pub fn skinny_residual(
        &self,
        stream: &CudaStream,
        x: &mut CudaSlice<f32>,
        input: &CudaSlice<u16>,
        weight: &CudaSlice<u16>,
        rows: usize,
        k: usize,
        n: usize,
    ) -> Result<()> {
        check_skinny(
            "skinny residual projection",
            rows,
            k,
            &[
                ("x", x.len(), rows * n),
                ("the input", input.len(), rows * k),
                ("the weight", weight.len(), n * k),
            ],
        )?;
        let mut b = Buffers::default();
        let args = [
            b.add(x.device_ptr_mut(stream)),
            b.add(input.device_ptr(stream)),
            b.add(weight.device_ptr(stream)),
            KernelArg::Int(int(rows)),
            KernelArg::Int(int(k)),
            KernelArg::Int(int(n)),
        ];
        // SAFETY: the kernel's parameters in order; sizes checked above.
        unsafe { self.queue(stream, &self.skinny_residual, skinny_config(n, 2), &args, b) }
    }

    /// RMSNorm(x) → gate and up projections (`weight [2 ff, width]`) → `act = SiLU(gate) · up`
    /// in fp16, in one launch.
    #[allow(clippy::too_many_arguments)]
    pub fn skinny_gate_up_silu(
        &self,
        stream: &CudaStream,
        x: &CudaSlice<f32>,
        (norm, eps): (&CudaSlice<f32>, f32),
        weight: &CudaSlice<u16>,
        act: &mut CudaSlice<u16>,
        (rows, width): (usize, usize),
        ff: usize,
    ) -> Result<()> {
        check_skinny(
            "skinny gate/up",
            rows,
            width,
            &[
                ("x", x.len(), rows * width),
                ("the norm weight", norm.len(), width),
                ("the gate/up weight", weight.len(), 2 * ff * width),
                ("act", act.len(), rows * ff),
            ],
        )?;
        let config = skinny_config(ff, 1);
        self.launch_normed(
            &self.skinny_gate_up_silu,
            stream,
            config,
            x,
            (norm, eps),
            weight,
            act,
            (rows, width),
            ff,
        )
    }

    /// RMSNorm(x) → `logits [rows, n] = normed · weight [n, width]ᵀ` (f32), in one launch.
    #[allow(clippy::too_many_arguments)]
    pub fn skinny_logits(
        &self,
        stream: &CudaStream,
        x: &CudaSlice<f32>,
        (norm, eps): (&CudaSlice<f32>, f32),
        weight: &CudaSlice<u16>,
        logits: &mut CudaSlice<f32>,
        (rows, width): (usize, usize),
        n: usize,
    ) -> Result<()> {
        check_skinny(
            "skinny output head",
            rows,
            width,
            &[
                ("x", x.len(), rows * width),
                ("the norm weight", norm.len(), width),
                ("the head weight", weight.len(), n * width),
                ("logits", logits.len(), rows * n),
            ],
        )?;
        let config = skinny_config(n, 2);
        self.launch_normed(
            &self.skinny_logits,
            stream,
            config,
            x,
            (norm, eps),
            weight,
            logits,
            (rows, width),
            n,
        )
    }

    /// Launches a skinny kernel whose parameters are `(x, norm weight, eps, weight, out, rows,
    /// width, columns)`: `skinny_gate_up_silu` and `skinny_logits`. The caller checks sizes.
    #[allow(clippy::too_many_arguments)]
    fn launch_normed<T>(
        &self,
        function: &CudaFunction,
        stream: &CudaStream,
        config: LaunchConfig,
        x: &CudaSlice<f32>,
        (norm, eps): (&CudaSlice<f32>, f32),
        weight: &CudaSlice<u16>,
        out: &mut CudaSlice<T>,
        (rows, width): (usize, usize),
        columns: usize,
    ) -> Result<()> {
        let mut b = Buffers::default();
        let args = [
            b.add(x.device_ptr(stream)),
            b.add(norm.device_ptr(stream)),
            KernelArg::Float(eps),
            b.add(weight.device_ptr(stream)),
            b.add(out.device_ptr_mut(stream)),
            KernelArg::Int(int(rows)),
            KernelArg::Int(int(width)),
            KernelArg::Int(int(columns)),
        ];
        // SAFETY: the kernels' parameters in order; the callers check every size.
        unsafe { self.queue(stream, function, config, &args, b) }
    }

    /// Queues `function` through `cuLaunchKernelEx`, as a programmatic dependent of the
    /// stream's previous kernel when [`Self::dependent_launches`] is on.
    ///
    /// # Safety
    /// As `vecinfer_runtime::dependent_launch::launch`: `args` match the kernel's parameters,
    /// `buffers` hold every pointer, and the kernel waits in `griddepcontrol.wait` before it
    /// reads or writes what an earlier kernel may touch.
    unsafe fn queue(
        &self,
        stream: &CudaStream,
        function: &CudaFunction,
        config: LaunchConfig,
        args: &[KernelArg],
        buffers: Buffers<'_>,
    ) -> Result<()> {
        // SAFETY: the caller's contract.
        unsafe {
            launch(
                stream,
                function,
                config,
                args,
                buffers,
                self.dependent_launches,
            )
        }?;
        Ok(())
    }

    /// Hashed noise into a buffer (fp16 values in [-1, 1) with `halves`, else raw bits), for
    /// benchmarks; `bytes` must be a multiple of 4.
    pub fn fill_random<T>(
        &self,
        stream: &CudaStream,
        data: &mut CudaViewMut<'_, T>,
        seed: u32,
        halves: bool,
    ) -> Result<()> {
        let bytes = data.len() * std::mem::size_of::<T>();
        if !bytes.is_multiple_of(4) {
            return Err(EngineError::Invalid(format!(
                "fill_random: {bytes} bytes is not a whole number of 32-bit words"
            )));
        }
        let words = (bytes / 4) as u64;
        let flag = halves as i32;
        let mut b = stream.launch_builder(&self.fill_random);
        b.arg(data).arg(&words).arg(&seed).arg(&flag);
        let config = LaunchConfig {
            grid_dim: (1024, 1, 1),
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: the kernel writes `words` 32-bit words, all within `data`.
        unsafe { b.launch(config) }?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int8_rows_from_the_skinny_projection_need_sm90_and_a_cluster_of_at_most_8() {
        assert_eq!(int8_row_cluster("sm_90", 64).unwrap(), 4);
        assert_eq!(int8_row_cluster("sm_100", 128).unwrap(), 8);
        let err = int8_row_cluster("sm_80", 64).unwrap_err().to_string();
        assert!(err.contains("sm_90") && err.contains("Append"), "{err}");
        let err = int8_row_cluster("sm_90", 256).unwrap_err().to_string();
        assert!(err.contains("at most 128"), "{err}");
    }

    #[test]
    fn skinny_preconditions_are_typed_errors() {
        let err = |rows, k, buffers: &[(&str, usize, usize)]| {
            check_skinny("test", rows, k, buffers)
                .unwrap_err()
                .to_string()
        };
        assert!(err(0, 64, &[]).contains("1 to 8"));
        assert!(err(SKINNY_ROWS + 1, 64, &[]).contains("use cuBLAS"));
        assert!(err(1, 12, &[]).contains("multiple of 8"));
        assert!(err(1, 0, &[]).contains("multiple of 8"));
        let short = err(2, 64, &[("x", 100, 128)]);
        assert!(
            short.contains("x holds 100") && short.contains("needs 128"),
            "{short}"
        );
        assert!(check_skinny("test", 8, 64, &[("x", 512, 512)]).is_ok());
        // Launch geometry: 8 warps a block, each owning one group of columns.
        assert_eq!(skinny_config(480, 1).grid_dim.0, 60);
        assert_eq!(skinny_config(577, 2).grid_dim.0, 37); // 289 column pairs
    }
}
