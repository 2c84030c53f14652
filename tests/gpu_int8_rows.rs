//! The QKV projections' int8 slot rows on the GPU against the CPU rule
//! (`vecinfer_quant::window::int8_row`), bit for bit: the skinny projection, whose blocks share
//! each head row's maximum in a thread-block cluster (head dims 64 and 128: clusters of 4 and
//! 8 blocks, 8 rows), and `rope_qkv`, a warp per row. Each projection runs once into its step
//! buffers (fp16 K and V) and once into int8 slots; every written row must be what the CPU makes
//! of the fp16 one, and every other word must keep its sentinel. Edge rows: zero, NaN, a value
//! past fp16's range (a row with an infinity), and for `rope_qkv` .5 ties under a power-of-two
//! scale and a subnormal fp16 scale. Runs where a GPU is; elsewhere it prints a notice and
//! passes, unless VECINFER_REQUIRE_GPU=1.

use cudarc::driver::CudaSlice;
use half::f16;
use vecinfer_codegen::ForwardConfig;
use vecinfer_engine::ForwardKernels;
use vecinfer_engine::kernels::int8_row_cluster;
use vecinfer_quant::WindowPrecision;
use vecinfer_quant::synthetic::{random_vec, rng};
use vecinfer_quant::window::int8_row;
use vecinfer_runtime::{Gpu, SlotShape, TokenSlots};
use vecinfer_tests::gpu_or_skip;

const SENTINEL: u16 = 0x7e01;
const ROWS: usize = 8;
/// Token slots per (row, KV head): row r's token sits at position r % SINKS, a sink slot.
const SINKS: usize = 4;

struct Shape {
    head_dim: usize,
    q_heads: usize,
    kv_heads: usize,
}

impl Shape {
    fn heads(&self) -> usize {
        self.q_heads + 2 * self.kv_heads
    }

    fn slots(&self) -> SlotShape {
        SlotShape {
            slots: ROWS,
            kv_heads: self.kv_heads,
            capacity: SINKS,
            head_dim: self.head_dim,
            sinks: SINKS,
            residual: 0,
            precision: WindowPrecision::Int8,
        }
    }
}

/// The step's buffers: q, k, v as fp16 bits.
struct Step {
    q: CudaSlice<u16>,
    k: CudaSlice<u16>,
    v: CudaSlice<u16>,
}

fn step(gpu: &Gpu, s: &Shape) -> Step {
    let kv = ROWS * s.kv_heads * s.head_dim;
    Step {
        q: gpu
            .stream
            .alloc_zeros(ROWS * s.q_heads * s.head_dim)
            .unwrap(),
        k: gpu.stream.alloc_zeros(kv).unwrap(),
        v: gpu.stream.alloc_zeros(kv).unwrap(),
    }
}

/// Runs `project` once into the step's buffers and once into int8 slots (filled with the
/// sentinel), then checks every slot word against the CPU rule applied to the step's fp16 K
/// and V. Returns how many rows were NaN rows (a check that the edge rows took effect).
fn check(
    gpu: &Gpu,
    s: &Shape,
    what: &str,
    mut project: impl FnMut(&mut Step, Option<&mut TokenSlots<'_>>),
) -> usize {
    let mut plain = step(gpu, s);
    project(&mut plain, None);
    let words = s.slots().elements().unwrap();
    let mut keys = gpu.stream.clone_htod(&vec![SENTINEL; words]).unwrap();
    let mut values = gpu.stream.clone_htod(&vec![SENTINEL; words]).unwrap();
    let mut written = step(gpu, s);
    {
        let mut slots =
            TokenSlots::new(keys.as_view_mut(), values.as_view_mut(), None, s.slots()).unwrap();
        project(&mut written, Some(&mut slots));
    }
    let q = gpu.stream.clone_dtoh(&plain.q).unwrap();
    assert_eq!(
        gpu.stream.clone_dtoh(&written.q).unwrap(),
        q,
        "{what}: queries"
    );
    let rows_total = ROWS * s.kv_heads * SINKS;
    let half = s.head_dim / 2;
    let mut nan_rows = 0;
    for (side, step_rows, slot_words) in [("keys", &plain.k, &keys), ("values", &plain.v, &values)]
    {
        let fp16 = gpu.stream.clone_dtoh(step_rows).unwrap();
        let got = gpu.stream.clone_dtoh(slot_words).unwrap();
        let mut want = vec![SENTINEL; words];
        for r in 0..ROWS {
            for h in 0..s.kv_heads {
                let at = (r * s.kv_heads + h) * s.head_dim;
                let row: Vec<f32> = fp16[at..at + s.head_dim]
                    .iter()
                    .map(|&b| f16::from_bits(b).to_f32())
                    .collect();
                let (codes, scale) = int8_row(&row);
                nan_rows += usize::from(scale.is_nan());
                let slot_row = (r * s.kv_heads + h) * SINKS + r % SINKS;
                for (i, pair) in codes.chunks_exact(2).enumerate() {
                    want[slot_row * half + i] =
                        u16::from(pair[0] as u8) | (u16::from(pair[1] as u8) << 8);
                }
                want[rows_total * half + slot_row] = scale.to_bits();
            }
        }
        let differing: Vec<usize> = (0..words).filter(|&i| got[i] != want[i]).collect();
        assert!(
            differing.is_empty(),
            "{what}, {side}: {} of {words} words differ from the CPU rule, first at {}: got {:#06x}, want {:#06x}",
            differing.len(),
            differing[0],
            got[differing[0]],
            want[differing[0]]
        );
    }
    eprintln!(
        "{what}: {ROWS} rows x {} KV heads, int8 slots = the CPU rule bit for bit ({nan_rows} NaN rows)",
        s.kv_heads
    );
    nan_rows
}

#[test]
#[ignore = "needs an NVIDIA GPU: cargo test --release -- --ignored with VECINFER_REQUIRE_GPU=1"]
fn projections_write_int8_rows_by_the_cpu_rule() {
    let Some(gpu) = gpu_or_skip() else { return };
    let mut r = rng(23);
    for (head_dim, group, kv_heads) in [(64, 3, 3), (128, 2, 2)] {
        let s = Shape {
            head_dim,
            q_heads: kv_heads * group,
            kv_heads,
        };
        let kernels = ForwardKernels::new(&gpu, ForwardConfig::new(head_dim, group)).unwrap();
        let pairs = head_dim / 2;
        let cos: Vec<f32> = random_vec(&mut r, SINKS * pairs, 1.0);
        let sin: Vec<f32> = random_vec(&mut r, SINKS * pairs, 1.0);
        let rope = (
            gpu.stream.clone_htod(&cos).unwrap(),
            gpu.stream.clone_htod(&sin).unwrap(),
        );
        let positions: Vec<i32> = (0..ROWS).map(|row| (row % SINKS) as i32).collect();
        let positions = gpu.stream.clone_htod(&positions).unwrap();
        let heads = s.heads();

        // rope_qkv: the fused rows as given, edge rows in the V heads (RoPE leaves them).
        let mut qkv = random_vec(&mut r, ROWS * heads * head_dim, 2.0);
        let v_row = |row: usize, h: usize| (row * heads + s.q_heads + s.kv_heads + h) * head_dim;
        for i in 0..head_dim {
            qkv[v_row(0, 0) + i] = [127.0f32, 0.5, -2.5, 1.5][i % 4] * 0.0625;
            qkv[v_row(1, 0) + i] = 0.0;
            qkv[v_row(5, 1) + i] = (i % 3) as f32 * 127.0 * 2f32.powi(-20) - 127.0 * 2f32.powi(-20);
        }
        qkv[v_row(2, 0) + 3] = f32::NAN;
        qkv[v_row(3, 1) + 7] = f32::INFINITY;
        qkv[v_row(4, 0)] = 1e6; // fp16 infinity
        let qkv = gpu.stream.clone_htod(&qkv).unwrap();
        let nan_rows = check(
            &gpu,
            &s,
            &format!("rope_qkv, head dim {head_dim}"),
            |st, slots| {
                kernels
                    .rope_qkv(
                        &gpu.stream,
                        &qkv,
                        (&rope.0, &rope.1),
                        &positions,
                        (&mut st.q, &mut st.k, &mut st.v),
                        slots,
                        (s.q_heads, s.kv_heads),
                        (ROWS, 1),
                    )
                    .unwrap()
            },
        );
        assert_eq!(nan_rows, 3, "the NaN, infinity and overflow rows");

        // The skinny projection (clusters; sm_90 and later).
        if let Err(e) = int8_row_cluster(gpu.arch, head_dim) {
            eprintln!("SKIPPED the skinny projection's int8 rows: {e}");
            continue;
        }
        let width = 256;
        let mut x = random_vec(&mut r, ROWS * width, 1.0);
        x[width..2 * width].fill(0.0); // row 1: a zero row everywhere
        x[2 * width + 9] = f32::NAN; // row 2: NaN rows everywhere
        let norm: Vec<f32> = (0..width).map(|i| 1.0 + (i % 7) as f32 * 0.05).collect();
        let scale = 1.0 / (width as f32).sqrt();
        let mut weight: Vec<u16> = random_vec(&mut r, heads * head_dim * width, scale)
            .iter()
            .map(|&w| f16::from_f32(w).to_bits())
            .collect();
        // One V column far past fp16's range: a row with an infinity in every row's V head 0.
        let column = (s.q_heads + s.kv_heads) * head_dim + 5;
        weight[column * width..(column + 1) * width].fill(f16::from_f32(60000.0).to_bits());
        let (x, norm, weight) = (
            gpu.stream.clone_htod(&x).unwrap(),
            gpu.stream.clone_htod(&norm).unwrap(),
            gpu.stream.clone_htod(&weight).unwrap(),
        );
        let nan_rows = check(
            &gpu,
            &s,
            &format!(
                "skinny_qkv_rope, head dim {head_dim} (clusters of {})",
                head_dim / 16
            ),
            |st, slots| {
                kernels
                    .skinny_qkv_rope(
                        &gpu.stream,
                        &x,
                        (&norm, 1e-5),
                        &weight,
                        (&rope.0, &rope.1),
                        &positions,
                        (&mut st.q, &mut st.k, &mut st.v),
                        slots,
                        (s.q_heads, s.kv_heads),
                        (ROWS, width),
                    )
                    .unwrap()
            },
        );
        // Row 2's K and V heads, and V head 0 of the rows whose column 5 overflows fp16.
        assert!(nan_rows > 2 * s.kv_heads, "{nan_rows} NaN rows");
    }
}
