//! [`Engine`]: the model on one GPU (weights, forward kernels, cuBLAS, RoPE tables, its own
//! stream), and [`Session`]: a batch of sequences with a KV cache, their decode state, the FP16
//! prefill and the decode step, eager or replayed from CUDA graphs.
//!
//! A decode step for `B` sequences, one token each, all on the engine's stream:
//! embed → per layer [residual add + RMSNorm → QKV GEMM → RoPE → cache append → cache attend
//! → output GEMM → residual add + RMSNorm → gate/up GEMM → SiLU·mul → down GEMM] → final norm
//! → head GEMM → argmax (greedy) or the target's NLL (teacher forcing) → positions + 1.
//! Positions and cache lengths live on the device, so the whole step can be captured once and
//! replayed with no host synchronisation.

use crate::blas::{Blas, LinearShape};
use crate::error::{EngineError, Result};
use crate::kernels::ForwardKernels;
use crate::kv::KvCache;
use crate::weights::{DeviceWeights, WeightReader, WeightSource, check_config};
use cudarc::driver::sys::{CUevent_flags, CUgraphInstantiate_flags, CUstreamCaptureMode};
use cudarc::driver::{CudaEvent, CudaGraph, CudaSlice, CudaStream};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use vecinfer_codegen::{ForwardConfig, SKINNY_ROWS};
use vecinfer_model::{LlamaConfig, rope_tables};
use vecinfer_runtime::Gpu;
use vecinfer_tuner::measure::fingerprint;
use vecinfer_tuner::store::file_name_for;
use vecinfer_tuner::{DeviceFingerprint, TunedConfigs};

/// A tiling must beat the engine's by this much (relative) to be taken: closer times are
/// noise, and a tiling changes the split plan and so the rounding, which should not flip
/// from run to run.
pub const FP16_TILING_MARGIN: f64 = 0.03;

type Fp16ShapeKey = (usize, usize, ForwardConfig);

/// The tiling an FP16 cache shape takes and every timing behind it (ms per layer alone).
#[derive(Clone, Debug)]
pub struct Fp16Choice {
    pub config: ForwardConfig,
    pub timed: Vec<(ForwardConfig, f64)>,
}

/// How the FP16 cache's decode attention is tiled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fp16Tiling {
    /// Each cache shape's fastest warps × unroll tiling, timed once per shape when its first
    /// cache is built: one tiling for all shapes left 10% of the step at 1 × 8192 and 4–5% at
    /// 1 × 128k on an H100 (bench/results/model-s12/README.md).
    #[default]
    Fastest,
    /// The engine's forward config ([`EngineOptions::forward`]) for every shape.
    Engine,
}

#[derive(Default)]
pub struct EngineOptions {
    pub device: usize,
    /// Positions the RoPE tables cover (at least the model's context): contexts past the
    /// model's are for speed measurements only.
    pub max_positions: usize,
    /// The forward kernels' tiling; `None`: the default for the model's shape.
    pub forward: Option<ForwardConfig>,
    /// A tuned-configs folder (`vecinfer tune`'s; the repository ships `tuned-configs/`) or
    /// file: the VQ cache's attention takes this GPU's nearest tuned config. `None`, no file
    /// for this GPU, or one tuned with other code: the default heuristic.
    pub tuned_configs: Option<PathBuf>,
    /// The FP16 cache's decode tiling per shape, or the forward config's everywhere.
    pub fp16_tiling: Fp16Tiling,
}

pub struct Engine {
    pub gpu: Gpu,
    pub config: LlamaConfig,
    pub kernels: ForwardKernels,
    pub weights: DeviceWeights,
    blas: Blas,
    rope_cos: CudaSlice<f32>,
    rope_sin: CudaSlice<f32>,
    max_positions: usize,
    tuned: Tuned,
    fp16_tiling: Fp16Tiling,
    /// What each FP16 cache shape (batch, capacity, the engine's forward config) was timed
    /// to, once.
    fp16_tilings: std::sync::Mutex<std::collections::HashMap<Fp16ShapeKey, Fp16Choice>>,
}

/// The tuned configs the VQ cache chooses from, or why there are none.
pub enum Tuned {
    Loaded(Box<TunedConfigs>),
    None(String),
}

impl Tuned {
    /// This GPU's file from `at` (a folder or a file), checked against this process's code
    /// (fingerprinted only when there is a file to check).
    fn load(at: Option<&Path>, gpu: &Gpu) -> Self {
        let path = match Self::path(at, &gpu.name) {
            Ok(p) => p,
            Err(why) => return Self::None(why),
        };
        match fingerprint(gpu) {
            Ok(device) => Self::load_file(&path, &device),
            Err(e) => Self::None(format!("no device fingerprint: {e}")),
        }
    }

    /// The file for GPU `name` from `at` (a folder or a file), or why there is none.
    fn path(at: Option<&Path>, name: &str) -> std::result::Result<PathBuf, String> {
        let at = at.ok_or("no tuned-configs folder given")?;
        let path = if at.is_dir() {
            at.join(file_name_for(name))
        } else {
            at.to_path_buf()
        };
        if path.exists() {
            Ok(path)
        } else {
            Err(format!("no {} (run `vecinfer tune`)", path.display()))
        }
    }

    /// The file at `path`, checked against `device`.
    fn load_file(path: &Path, device: &DeviceFingerprint) -> Self {
        match TunedConfigs::load(path).and_then(|s| s.check_device(device, path).map(|_| s)) {
            Ok(store) => Self::Loaded(Box::new(store)),
            Err(e) => {
                // A file that is there but cannot serve (corrupt, another GPU, driver or code)
                // is worth saying out loud, once per process.
                static SAID: std::sync::Once = std::sync::Once::new();
                SAID.call_once(|| eprintln!("vecinfer: tuned configs not used: {e}"));
                Self::None(e.to_string())
            }
        }
    }
}

impl Engine {
    /// Opens the GPU, compiles the forward kernels, reads, converts (fp16) and uploads the
    /// weights.
    pub fn open(source: WeightSource<'_>, options: EngineOptions) -> Result<Self> {
        let mut gpu = Gpu::new(options.device)?;
        // One stream, ordered: no cross-stream events (which graph capture would trip on).
        // SAFETY: every buffer of this context is used on `gpu.stream` only.
        unsafe { gpu.context.disable_event_tracking() };
        // The legacy default stream cannot be captured into a graph.
        gpu.stream = gpu.context.new_stream()?;
        let mut reader = WeightReader::open(source)?;
        let config = reader.config().clone();
        check_config(&config)?;
        let forward = options
            .forward
            .unwrap_or_else(|| ForwardConfig::new(config.head_dim, config.group()));
        if (forward.head_dim, forward.group) != (config.head_dim, config.group()) {
            return Err(EngineError::Invalid(format!(
                "forward kernels for head dim {} and group {}, the model has {} and {}",
                forward.head_dim,
                forward.group,
                config.head_dim,
                config.group()
            )));
        }
        let kernels = ForwardKernels::new(&gpu, forward)?;
        let blas = Blas::new(&gpu.stream)?;
        let weights = DeviceWeights::upload(&mut reader, &gpu.stream)?;
        let max_positions = options.max_positions.max(config.context);
        let (cos, sin) = rope_tables(max_positions, config.head_dim, config.rope_base);
        let rope_cos = gpu.stream.clone_htod(&cos)?;
        let rope_sin = gpu.stream.clone_htod(&sin)?;
        gpu.stream.synchronize()?;
        let tuned = Tuned::load(options.tuned_configs.as_deref(), &gpu);
        Ok(Self {
            tuned,
            fp16_tiling: options.fp16_tiling,
            fp16_tilings: Default::default(),
            gpu,
            config,
            kernels,
            weights,
            blas,
            rope_cos,
            rope_sin,
            max_positions,
        })
    }

    pub fn stream(&self) -> &std::sync::Arc<CudaStream> {
        &self.gpu.stream
    }

    pub fn max_positions(&self) -> usize {
        self.max_positions
    }

    /// The tuned configs the VQ cache chooses from (see [`EngineOptions::tuned_configs`]).
    pub fn tuned(&self) -> &Tuned {
        &self.tuned
    }

    /// The forward kernels an FP16 cache of `batch` sequences of `capacity` tokens decodes
    /// with ([`Fp16Tiling`]): with `Fastest`, the tiling fastest alone at that shape where it
    /// beats the engine's by [`FP16_TILING_MARGIN`], timed once. A timing that fails (no
    /// memory for it) is an error here, and nothing is remembered for the shape.
    pub fn fp16_kernels(&self, batch: usize, capacity: usize) -> Result<ForwardKernels> {
        if self.fp16_tiling == Fp16Tiling::Engine {
            return Ok(self.kernels.clone());
        }
        let key = (batch, capacity, self.kernels.config);
        let known = self
            .fp16_tilings
            .lock()
            .expect("never held across a panic")
            .get(&key)
            .map(|c| c.config);
        let config = match known {
            Some(config) => config,
            None => {
                let timed = crate::bench::fp16_tilings(self, batch, capacity)?;
                let config = fp16_choice(self.kernels.config, &timed);
                self.fp16_tilings
                    .lock()
                    .expect("never held across a panic")
                    .insert(key, Fp16Choice { config, timed });
                config
            }
        };
        if config == self.kernels.config {
            return Ok(self.kernels.clone());
        }
        let mut kernels = ForwardKernels::new(&self.gpu, config)?;
        kernels.set_dependent_launches(self.kernels.dependent_launches());
        Ok(kernels)
    }

    /// The FP16 tilings chosen so far: (batch, capacity) and the choice with its timings.
    pub fn fp16_choices(&self) -> Vec<((usize, usize), Fp16Choice)> {
        let mut all: Vec<_> = self
            .fp16_tilings
            .lock()
            .expect("never held across a panic")
            .iter()
            .filter(|(k, _)| k.2 == self.kernels.config)
            .map(|(k, c)| ((k.0, k.1), c.clone()))
            .collect();
        all.sort_by_key(|(k, _)| *k);
        all
    }

    /// Replaces the tuned configs that caches built from now on choose from: an engine
    /// author's own store, or one candidate made a key's winner (`vecinfer tune-steps`).
    pub fn set_tuned(&mut self, tuned: Tuned) {
        self.tuned = tuned;
    }

    /// Device bytes of one sequence's step buffers (activations, logits).
    pub fn step_bytes_per_sequence(&self) -> usize {
        let c = &self.config;
        let qkv = (c.q_heads + 2 * c.kv_heads) * c.head_dim;
        4 * (2 * c.embedding + qkv + 2 * c.feed_forward + c.vocab)
            + 2 * (c.embedding + qkv + c.q_heads * c.head_dim + c.feed_forward)
            + 4 * 4
    }
}

/// What a step time is spent on (CUDA events between launches).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Share {
    Attention,
    Append,
    Matmul,
    Rest,
}

/// How a decode step runs its projections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Projections {
    /// cuBLAS GEMMs with the norms, RoPE and SiLU·mul as launches of their own: 12 launches a
    /// layer; any batch.
    Cublas,
    /// The skinny kernels (`skinny.cuh`), norms, RoPE, SiLU·mul and residual adds fused in: 6
    /// launches a layer (the attention's two included); batches of 1 to [`SKINNY_ROWS`].
    Skinny,
}

/// Batches of up to this many sequences take the skinny projections by default: they beat
/// cuBLAS at 1, 2 and 4 sequences (a step at 8192 tokens 17%, 14% and 6% faster) and lose 5% at
/// 8 (`bench/results/model-s7/`).
pub const SKINNY_DEFAULT_ROWS: usize = 4;

impl Projections {
    /// The faster path for `batch` sequences where the model allows it.
    pub fn default_for(config: &LlamaConfig, batch: usize) -> Self {
        if batch <= SKINNY_DEFAULT_ROWS && Self::Skinny.check(config, batch).is_ok() {
            Self::Skinny
        } else {
            Self::Cublas
        }
    }

    /// Whether this path can run `batch` sequences of `config`, and why not.
    pub fn check(self, config: &LlamaConfig, batch: usize) -> Result<()> {
        if self == Self::Cublas {
            return Ok(());
        }
        if batch > SKINNY_ROWS {
            return Err(EngineError::Invalid(format!(
                "skinny projections take batches of 1 to {SKINNY_ROWS}, not {batch}: use cuBLAS"
            )));
        }
        let inner = [
            ("embedding", config.embedding),
            ("feed-forward", config.feed_forward),
            ("attention output", config.q_heads * config.head_dim),
        ];
        if let Some((what, size)) = inner.iter().find(|(_, size)| !size.is_multiple_of(8)) {
            return Err(EngineError::Invalid(format!(
                "skinny projections need inner sizes that are multiples of 8; the model's {what} size is {size}: use cuBLAS"
            )));
        }
        Ok(())
    }
}

/// Events recorded after each launch of an eager step, each interval charged to the launch
/// that ends it.
pub struct Profiler {
    start: CudaEvent,
    marks: Vec<(Share, CudaEvent)>,
}

impl Profiler {
    pub fn start(gpu: &Gpu) -> Result<Self> {
        let start = gpu
            .context
            .new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))?;
        start.record(&gpu.stream)?;
        Ok(Self {
            start,
            marks: Vec::new(),
        })
    }

    fn mark(&mut self, gpu: &Gpu, share: Share) -> Result<()> {
        let e = gpu
            .context
            .new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))?;
        e.record(&gpu.stream)?;
        self.marks.push((share, e));
        Ok(())
    }

    /// Milliseconds per share, and the total (waits for the step).
    pub fn finish(self) -> Result<(Vec<(Share, f64)>, f64)> {
        let Some((_, last)) = self.marks.last() else {
            return Ok((Vec::new(), 0.0));
        };
        last.synchronize()?;
        let mut totals: std::collections::BTreeMap<Share, f64> = Default::default();
        let mut previous = &self.start;
        for (share, e) in &self.marks {
            *totals.entry(*share).or_default() += previous.elapsed_ms(e)? as f64;
            previous = e;
        }
        let total = self.start.elapsed_ms(last)? as f64;
        Ok((totals.into_iter().collect(), total))
    }
}

struct StepBuffers {
    tokens: CudaSlice<i32>,
    targets: CudaSlice<i32>,
    x: CudaSlice<f32>,
    delta: CudaSlice<f32>,
    h: CudaSlice<u16>,
    qkv: CudaSlice<f32>,
    q: CudaSlice<u16>,
    k: CudaSlice<u16>,
    v: CudaSlice<u16>,
    attn: CudaSlice<u16>,
    gate_up: CudaSlice<f32>,
    act: CudaSlice<u16>,
    logits: CudaSlice<f32>,
}

impl StepBuffers {
    fn new(stream: &std::sync::Arc<CudaStream>, c: &LlamaConfig, rows: usize) -> Result<Self> {
        let qkv = (c.q_heads + 2 * c.kv_heads) * c.head_dim;
        Ok(Self {
            tokens: stream.alloc_zeros(rows)?,
            targets: stream.alloc_zeros(rows)?,
            x: stream.alloc_zeros(rows * c.embedding)?,
            delta: stream.alloc_zeros(rows * c.embedding)?,
            h: stream.alloc_zeros(rows * c.embedding)?,
            qkv: stream.alloc_zeros(rows * qkv)?,
            q: stream.alloc_zeros(rows * c.q_heads * c.head_dim)?,
            k: stream.alloc_zeros(rows * c.kv_heads * c.head_dim)?,
            v: stream.alloc_zeros(rows * c.kv_heads * c.head_dim)?,
            attn: stream.alloc_zeros(rows * c.q_heads * c.head_dim)?,
            gate_up: stream.alloc_zeros(rows * 2 * c.feed_forward)?,
            act: stream.alloc_zeros(rows * c.feed_forward)?,
            logits: stream.alloc_zeros(rows * c.vocab)?,
        })
    }
}

/// Teacher forcing: the windows on the device and the NLL of every scored position.
struct Teacher {
    windows: CudaSlice<i32>,
    nll: CudaSlice<f32>,
    stride: usize,
}

/// The pair of graphs that replays decode steps: one per parity of the VQ cache's
/// double-buffered lengths (the FP16 cache needs one; the pair costs nothing).
struct StepGraphs {
    graphs: Vec<CudaGraph>,
    next: usize,
    steps_left: usize,
}

pub struct Session<'e> {
    engine: &'e Engine,
    cache: Box<dyn KvCache + 'e>,
    batch: usize,
    buffers: StepBuffers,
    positions: CudaSlice<i32>,
    positions_host: Vec<usize>,
    teacher: Option<Teacher>,
    graphs: Option<StepGraphs>,
    /// An eager step has run (kernels loaded, workspaces sized): capture is safe.
    warmed: bool,
    /// Steps one captured graph pair serves before it is captured again (launch geometry
    /// is planned for the longest sequence it will meet).
    pub horizon: usize,
    projections: Projections,
    token_writes: TokenWrites,
}

/// How a decode step's new K and V reach the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenWrites {
    /// The QKV projection writes them into the cache's slots itself (fp16 rows, or int8 rows
    /// on sm_90 and later); what the appends did besides runs once per step for every layer
    /// (the VQ cache's window flush). 30 fewer launches a step on SmolLM2. Caches that cannot
    /// take it (a VQ cache without a window, or with an int8 one before sm_90 or at head dim
    /// 256) fall back to `Append`.
    Projection,
    /// An append launch per layer after the projection.
    Append,
}

impl TokenWrites {
    /// `VECINFER_TOKEN_WRITES=projection` or `append`, to compare the two; unset: `None` (each
    /// cache's [`KvCache::preferred_token_writes`]); anything else is an error.
    pub fn from_env() -> Result<Option<Self>> {
        match std::env::var("VECINFER_TOKEN_WRITES") {
            Err(_) => Ok(None),
            Ok(v) => Self::parse(&v).map(Some).map_err(|e| {
                EngineError::Invalid(format!(
                    "VECINFER_TOKEN_WRITES: {e} (or unset: each cache's own)"
                ))
            }),
        }
    }

    /// `projection` or `append`.
    pub fn parse(value: &str) -> Result<Self> {
        match value {
            "projection" => Ok(Self::Projection),
            "append" => Ok(Self::Append),
            other => Err(EngineError::Invalid(format!(
                "{other:?}: valid values are projection and append"
            ))),
        }
    }
}

impl<'e> Session<'e> {
    /// An empty batch over `cache` (its shape gives the batch and the capacity).
    pub fn new(engine: &'e Engine, cache: Box<dyn KvCache + 'e>) -> Result<Self> {
        let s = cache.shape();
        let c = &engine.config;
        if (s.layers, s.q_heads, s.kv_heads, s.head_dim)
            != (c.layers, c.q_heads, c.kv_heads, c.head_dim)
        {
            return Err(EngineError::Invalid(format!(
                "cache for {} layers, {}/{} heads of dim {}; the model has {}, {}/{}, {}",
                s.layers,
                s.q_heads,
                s.kv_heads,
                s.head_dim,
                c.layers,
                c.q_heads,
                c.kv_heads,
                c.head_dim
            )));
        }
        if s.capacity > engine.max_positions {
            return Err(EngineError::Invalid(format!(
                "a cache of {} tokens per sequence needs RoPE tables that long; the engine covers {} (EngineOptions::max_positions)",
                s.capacity, engine.max_positions
            )));
        }
        let st = engine.stream();
        let token_writes = TokenWrites::from_env()?.unwrap_or(cache.preferred_token_writes());
        Ok(Self {
            buffers: StepBuffers::new(st, c, s.batch)?,
            positions: st.alloc_zeros(s.batch)?,
            positions_host: vec![0; s.batch],
            batch: s.batch,
            engine,
            cache,
            teacher: None,
            graphs: None,
            warmed: false,
            horizon: 256,
            projections: Projections::default_for(c, s.batch),
            token_writes,
        })
    }

    /// How this session's steps hand their new K/V to the cache: the chosen way, or `Append`
    /// where the cache cannot take the projection's writes.
    pub fn token_writes(&self) -> TokenWrites {
        match self.token_writes {
            TokenWrites::Projection if !self.cache.takes_projection_writes() => TokenWrites::Append,
            chosen => chosen,
        }
    }

    /// Chooses how decode steps hand their new K and V to the cache (see [`TokenWrites`]).
    pub fn set_token_writes(&mut self, writes: TokenWrites) {
        if writes != self.token_writes {
            self.token_writes = writes;
            self.graphs = None;
        }
    }

    pub fn batch(&self) -> usize {
        self.batch
    }

    pub fn projections(&self) -> Projections {
        self.projections
    }

    /// Chooses how decode steps run their projections (the default is the faster one the
    /// batch allows: [`Projections::default_for`]).
    pub fn set_projections(&mut self, projections: Projections) -> Result<()> {
        projections.check(&self.engine.config, self.batch)?;
        if projections != self.projections {
            self.projections = projections;
            self.graphs = None;
        }
        Ok(())
    }

    pub fn cache(&self) -> &dyn KvCache {
        self.cache.as_ref()
    }

    pub fn positions(&self) -> &[usize] {
        &self.positions_host
    }

    /// Device bytes of the step buffers and the cache.
    pub fn device_bytes(&self) -> usize {
        self.batch * self.engine.step_bytes_per_sequence() + self.cache.device_bytes()
    }

    fn longest(&self) -> usize {
        self.positions_host.iter().copied().max().unwrap_or(0)
    }

    fn check_room(&self, steps: usize) -> Result<()> {
        let capacity = self.cache.shape().capacity;
        if self.longest() + steps > capacity {
            return Err(EngineError::Invalid(format!(
                "{steps} more tokens would make a sequence {} tokens long; the cache holds {capacity}",
                self.longest() + steps
            )));
        }
        Ok(())
    }

    /// Sets every sequence to `len` cached tokens of noise and random next tokens
    /// (benchmarks; a fresh session).
    pub fn fill_for_benchmark(&mut self, len: usize) -> Result<()> {
        self.fill_for_benchmark_lengths(&vec![len; self.batch])
    }

    /// Sets sequence `i` to `lengths[i]` cached tokens of noise and random next tokens
    /// (benchmarks of ragged batches), in a fresh session: the caches grow by the lengths.
    pub fn fill_for_benchmark_lengths(&mut self, lengths: &[usize]) -> Result<()> {
        if self.longest() > 0 {
            return Err(EngineError::Invalid(
                "a benchmark fill needs a fresh session; this one holds tokens".into(),
            ));
        }
        if lengths.len() != self.batch {
            return Err(EngineError::Invalid(format!(
                "{} lengths for a batch of {}: give one per sequence",
                lengths.len(),
                self.batch
            )));
        }
        let capacity = self.cache.shape().capacity;
        if let Some(&n) = lengths.iter().find(|&&n| n > capacity) {
            return Err(EngineError::Invalid(format!(
                "a sequence of {n} tokens; the cache holds {capacity}"
            )));
        }
        let e = self.engine;
        self.cache.fill_for_benchmark(&e.gpu, &e.kernels, lengths)?;
        self.positions_host = lengths.to_vec();
        let positions: Vec<i32> = lengths.iter().map(|&n| n as i32).collect();
        let st = e.stream();
        st.memcpy_htod(&positions, &mut self.positions)?;
        let vocab = e.config.vocab as u64;
        let tokens: Vec<i32> = (0..self.batch as u64)
            .map(|i| ((i * 2654435761) % vocab) as i32)
            .collect();
        st.memcpy_htod(&tokens, &mut self.buffers.tokens)?;
        self.graphs = None;
        Ok(())
    }

    /// Teacher forcing over `windows` (one per sequence, all of one length): each step feeds
    /// a sequence its window's token at its position and scores the next one.
    pub fn teacher_force(&mut self, windows: &[&[u32]]) -> Result<()> {
        let len = windows.first().map_or(0, |w| w.len());
        if windows.len() != self.batch || windows.iter().any(|w| w.len() != len) || len < 2 {
            return Err(EngineError::Invalid(format!(
                "teacher forcing needs {} windows of one length (at least 2 tokens)",
                self.batch
            )));
        }
        if len > self.cache.shape().capacity {
            return Err(EngineError::Invalid(format!(
                "windows of {len} tokens do not fit a cache of {}",
                self.cache.shape().capacity
            )));
        }
        let flat: Vec<i32> = windows
            .iter()
            .flat_map(|w| w.iter().map(|&t| t as i32))
            .collect();
        let st = self.engine.stream();
        self.teacher = Some(Teacher {
            windows: st.clone_htod(&flat)?,
            nll: st.alloc_zeros(self.batch * len)?,
            stride: len,
        });
        Ok(())
    }

    /// The NLL of every scored position, `[batch, window]` (position `p` holds the NLL of
    /// token `p + 1` given tokens `0..=p`).
    pub fn nll(&self) -> Result<Vec<f32>> {
        let t = self
            .teacher
            .as_ref()
            .ok_or_else(|| EngineError::Invalid("the session is not teacher-forced".into()))?;
        Ok(self.engine.stream().clone_dtoh(&t.nll)?)
    }

    /// The last step's logits, `[batch, vocab]`.
    pub fn logits(&self) -> Result<Vec<f32>> {
        Ok(self.engine.stream().clone_dtoh(&self.buffers.logits)?)
    }

    /// The tokens the next step feeds (the last greedy picks), one per sequence.
    pub fn next_tokens(&self) -> Result<Vec<u32>> {
        let t = self.engine.stream().clone_dtoh(&self.buffers.tokens)?;
        Ok(t.into_iter().map(|x| x as u32).collect())
    }

    /// The prompts (one per sequence, all of one length) through the model in chunks of
    /// `chunk` tokens with FP16 causal attention over an FP16 staging copy of their K/V;
    /// then each layer's K/V goes to the cache (bulk-quantized by the VQ cache), the last
    /// position's logits are kept and its greedy pick is the next token.
    pub fn prefill(&mut self, prompts: &[&[u32]], chunk: usize) -> Result<()> {
        let e = self.engine;
        let c = &e.config;
        let st = e.stream();
        let b = self.batch;
        let t_len = prompts.first().map_or(0, |p| p.len());
        if prompts.len() != b || prompts.iter().any(|p| p.len() != t_len) || t_len == 0 {
            return Err(EngineError::Invalid(format!(
                "prefill takes {b} prompts of one length (at least 1 token)"
            )));
        }
        if self.longest() != 0 {
            return Err(EngineError::Invalid(
                "prefill starts an empty session".into(),
            ));
        }
        self.check_room(t_len)?;
        if let Some(&bad) = prompts
            .iter()
            .flat_map(|p| p.iter())
            .find(|&&t| t as usize >= c.vocab)
        {
            return Err(EngineError::Invalid(format!(
                "token id {bad} is outside the vocabulary of {}",
                c.vocab
            )));
        }
        let (hq, hk, d, width) = (c.q_heads, c.kv_heads, c.head_dim, c.embedding);
        let qkv_width = (hq + 2 * hk) * d;
        let eps = c.rms_eps as f32;
        let n_max = chunk.max(1).min(t_len);
        let rows_max = b * n_max;
        let mut staging_k = Vec::with_capacity(c.layers);
        let mut staging_v = Vec::with_capacity(c.layers);
        for _ in 0..c.layers {
            staging_k.push(st.alloc_zeros::<u16>(b * hk * t_len * d)?);
            staging_v.push(st.alloc_zeros::<u16>(b * hk * t_len * d)?);
        }
        let mut chunk_buf = StepBuffers::new(st, c, rows_max)?;
        let k = &e.kernels;
        let mut start = 0;
        while start < t_len {
            let n = n_max.min(t_len - start);
            let rows = b * n;
            let ids: Vec<i32> = prompts
                .iter()
                .flat_map(|p| p[start..start + n].iter().map(|&t| t as i32))
                .collect();
            let cb = &mut chunk_buf;
            st.memcpy_htod(&ids, &mut cb.tokens)?;
            k.embed(
                st,
                &e.weights.embedding,
                &cb.tokens,
                &mut cb.x,
                rows,
                width,
                c.vocab,
            )?;
            for (l, w) in e.weights.layers.iter().enumerate() {
                let delta = (l > 0).then_some(&cb.delta);
                k.add_rms_norm(
                    st,
                    &mut cb.x,
                    delta,
                    &w.attn_norm,
                    &mut cb.h,
                    rows,
                    width,
                    eps,
                )?;
                e.blas.linear(
                    st,
                    &cb.h,
                    &w.qkv,
                    &mut cb.qkv,
                    LinearShape {
                        rows,
                        n: qkv_width,
                        k: width,
                    },
                    false,
                )?;
                k.rope_qkv(
                    st,
                    &cb.qkv,
                    (&e.rope_cos, &e.rope_sin),
                    &self.positions,
                    (&mut cb.q, &mut cb.k, &mut cb.v),
                    None,
                    (hq, hk),
                    (b, n),
                )?;
                k.kv_append(
                    st,
                    (&cb.k, &cb.v),
                    (&mut staging_k[l], &mut staging_v[l]),
                    &self.positions,
                    (b, hk, n),
                    t_len,
                )?;
                k.prefill_attention(
                    st,
                    &cb.q,
                    (&staging_k[l], &staging_v[l]),
                    &self.positions,
                    &mut cb.attn,
                    (b, hq, n, t_len),
                )?;
                e.blas.linear(
                    st,
                    &cb.attn,
                    &w.out,
                    &mut cb.delta,
                    LinearShape {
                        rows,
                        n: width,
                        k: hq * d,
                    },
                    false,
                )?;
                k.add_rms_norm(
                    st,
                    &mut cb.x,
                    Some(&cb.delta),
                    &w.ffn_norm,
                    &mut cb.h,
                    rows,
                    width,
                    eps,
                )?;
                e.blas.linear(
                    st,
                    &cb.h,
                    &w.gate_up,
                    &mut cb.gate_up,
                    LinearShape {
                        rows,
                        n: 2 * c.feed_forward,
                        k: width,
                    },
                    false,
                )?;
                k.silu_mul(st, &cb.gate_up, &mut cb.act, rows, c.feed_forward)?;
                e.blas.linear(
                    st,
                    &cb.act,
                    &w.down,
                    &mut cb.delta,
                    LinearShape {
                        rows,
                        n: width,
                        k: c.feed_forward,
                    },
                    false,
                )?;
            }
            if start + n == t_len {
                k.add_rms_norm(
                    st,
                    &mut cb.x,
                    Some(&cb.delta),
                    &e.weights.final_norm,
                    &mut cb.h,
                    rows,
                    width,
                    eps,
                )?;
                for s in 0..b {
                    let last = (s * n + n - 1) * width;
                    st.memcpy_dtod(
                        &cb.h.slice(last..last + width),
                        &mut self.buffers.h.slice_mut(s * width..(s + 1) * width),
                    )?;
                }
                let sb = &mut self.buffers;
                e.blas.linear(
                    st,
                    &sb.h,
                    e.weights.output(),
                    &mut sb.logits,
                    LinearShape {
                        rows: b,
                        n: c.vocab,
                        k: width,
                    },
                    false,
                )?;
                k.argmax(st, &sb.logits, &mut sb.tokens, b, c.vocab)?;
            }
            k.advance_positions(st, &mut self.positions, b, n)?;
            self.positions_host.iter_mut().for_each(|p| *p += n);
            start += n;
        }
        for l in 0..c.layers {
            self.cache
                .load_prompt(&e.gpu, l, &staging_k[l], &staging_v[l], t_len)?;
        }
        self.graphs = None;
        st.synchronize()?;
        Ok(())
    }

    /// The launches of one decode step (see the module doc). `plan_len` bounds the tokens a
    /// sequence holds when they run.
    fn launch_step(&mut self, plan_len: usize, mut profiler: Option<&mut Profiler>) -> Result<()> {
        let e = self.engine;
        let c = &e.config;
        let st = e.stream();
        let k = &e.kernels;
        let b = self.batch;
        let (hq, hk, d, width) = (c.q_heads, c.kv_heads, c.head_dim, c.embedding);
        let qkv_width = (hq + 2 * hk) * d;
        let eps = c.rms_eps as f32;
        let gpu = &e.gpu;
        let mut mark = |share: Share| -> Result<()> {
            match profiler.as_deref_mut() {
                Some(p) => p.mark(gpu, share),
                None => Ok(()),
            }
        };
        // The cache's kernels overlap their neighbours as the forward kernels do.
        self.cache
            .set_dependent_launches(gpu, k.dependent_launches())?;
        let buf = &mut self.buffers;
        if let Some(t) = &self.teacher {
            k.gather_step_tokens(
                st,
                &t.windows,
                &self.positions,
                (&mut buf.tokens, &mut buf.targets),
                b,
                t.stride,
            )?;
        }
        k.embed(
            st,
            &e.weights.embedding,
            &buf.tokens,
            &mut buf.x,
            b,
            width,
            c.vocab,
        )?;
        mark(Share::Rest)?;
        let written =
            self.token_writes == TokenWrites::Projection && self.cache.begin_written_step(gpu)?;
        if written {
            mark(Share::Append)?;
        }
        if self.projections == Projections::Skinny {
            let ff = c.feed_forward;
            for (l, w) in e.weights.layers.iter().enumerate() {
                let mut slots = written.then(|| self.cache.token_slots(l)).transpose()?;
                k.skinny_qkv_rope(
                    st,
                    &buf.x,
                    (&w.attn_norm, eps),
                    &w.qkv,
                    (&e.rope_cos, &e.rope_sin),
                    &self.positions,
                    (&mut buf.q, &mut buf.k, &mut buf.v),
                    slots.as_mut(),
                    (hq, hk),
                    (b, width),
                )?;
                mark(Share::Matmul)?;
                if !written {
                    self.cache.append(gpu, l, &buf.k, &buf.v, &self.positions)?;
                    mark(Share::Append)?;
                }
                self.cache
                    .attend(gpu, l, &buf.q, &mut buf.attn, &self.positions, plan_len)?;
                mark(Share::Attention)?;
                k.skinny_residual(st, &mut buf.x, &buf.attn, &w.out, b, hq * d, width)?;
                mark(Share::Matmul)?;
                k.skinny_gate_up_silu(
                    st,
                    &buf.x,
                    (&w.ffn_norm, eps),
                    &w.gate_up,
                    &mut buf.act,
                    (b, width),
                    ff,
                )?;
                mark(Share::Matmul)?;
                k.skinny_residual(st, &mut buf.x, &buf.act, &w.down, b, ff, width)?;
                mark(Share::Matmul)?;
            }
            k.skinny_logits(
                st,
                &buf.x,
                (&e.weights.final_norm, eps),
                e.weights.output(),
                &mut buf.logits,
                (b, width),
                c.vocab,
            )?;
            mark(Share::Matmul)?;
        } else {
            for (l, w) in e.weights.layers.iter().enumerate() {
                let delta = (l > 0).then_some(&buf.delta);
                k.add_rms_norm(
                    st,
                    &mut buf.x,
                    delta,
                    &w.attn_norm,
                    &mut buf.h,
                    b,
                    width,
                    eps,
                )?;
                mark(Share::Rest)?;
                e.blas.linear(
                    st,
                    &buf.h,
                    &w.qkv,
                    &mut buf.qkv,
                    LinearShape {
                        rows: b,
                        n: qkv_width,
                        k: width,
                    },
                    false,
                )?;
                mark(Share::Matmul)?;
                let mut slots = written.then(|| self.cache.token_slots(l)).transpose()?;
                k.rope_qkv(
                    st,
                    &buf.qkv,
                    (&e.rope_cos, &e.rope_sin),
                    &self.positions,
                    (&mut buf.q, &mut buf.k, &mut buf.v),
                    slots.as_mut(),
                    (hq, hk),
                    (b, 1),
                )?;
                mark(Share::Rest)?;
                if !written {
                    self.cache.append(gpu, l, &buf.k, &buf.v, &self.positions)?;
                    mark(Share::Append)?;
                }
                self.cache
                    .attend(gpu, l, &buf.q, &mut buf.attn, &self.positions, plan_len)?;
                mark(Share::Attention)?;
                e.blas.linear(
                    st,
                    &buf.attn,
                    &w.out,
                    &mut buf.delta,
                    LinearShape {
                        rows: b,
                        n: width,
                        k: hq * d,
                    },
                    false,
                )?;
                mark(Share::Matmul)?;
                k.add_rms_norm(
                    st,
                    &mut buf.x,
                    Some(&buf.delta),
                    &w.ffn_norm,
                    &mut buf.h,
                    b,
                    width,
                    eps,
                )?;
                mark(Share::Rest)?;
                e.blas.linear(
                    st,
                    &buf.h,
                    &w.gate_up,
                    &mut buf.gate_up,
                    LinearShape {
                        rows: b,
                        n: 2 * c.feed_forward,
                        k: width,
                    },
                    false,
                )?;
                mark(Share::Matmul)?;
                k.silu_mul(st, &buf.gate_up, &mut buf.act, b, c.feed_forward)?;
                mark(Share::Rest)?;
                e.blas.linear(
                    st,
                    &buf.act,
                    &w.down,
                    &mut buf.delta,
                    LinearShape {
                        rows: b,
                        n: width,
                        k: c.feed_forward,
                    },
                    false,
                )?;
                mark(Share::Matmul)?;
            }
            k.add_rms_norm(
                st,
                &mut buf.x,
                Some(&buf.delta),
                &e.weights.final_norm,
                &mut buf.h,
                b,
                width,
                eps,
            )?;
            mark(Share::Rest)?;
            e.blas.linear(
                st,
                &buf.h,
                e.weights.output(),
                &mut buf.logits,
                LinearShape {
                    rows: b,
                    n: c.vocab,
                    k: width,
                },
                false,
            )?;
            mark(Share::Matmul)?;
        }
        match &mut self.teacher {
            Some(t) => k.token_nll(
                st,
                &buf.logits,
                &buf.targets,
                &self.positions,
                &mut t.nll,
                b,
                c.vocab,
                t.stride,
            )?,
            None => k.argmax(st, &buf.logits, &mut buf.tokens, b, c.vocab)?,
        }
        k.advance_positions(st, &mut self.positions, b, 1)?;
        mark(Share::Rest)?;
        Ok(())
    }

    fn after_step(&mut self) {
        self.positions_host.iter_mut().for_each(|p| *p += 1);
    }

    /// One decode step. With `graph`, it replays a captured graph (capturing a pair first when
    /// none is left); the first step of a session runs eagerly either way.
    pub fn step(&mut self, graph: bool) -> Result<()> {
        self.check_room(1)?;
        if graph && self.warmed {
            if self.graphs.as_ref().is_none_or(|g| g.steps_left == 0) {
                self.capture()?;
            }
            let g = self.graphs.as_mut().expect("captured above");
            g.graphs[g.next].launch()?;
            g.next = (g.next + 1) % g.graphs.len();
            g.steps_left -= 1;
            self.cache.replayed()?;
        } else {
            self.graphs = None;
            self.cache.leave_graphs();
            let plan = self.longest() + 1;
            self.launch_step(plan, None)?;
            self.warmed = true;
        }
        self.after_step();
        Ok(())
    }

    /// One eager step with events after every launch: milliseconds per share and in total.
    pub fn profiled_step(&mut self) -> Result<(Vec<(Share, f64)>, f64)> {
        self.check_room(1)?;
        self.graphs = None;
        self.cache.leave_graphs();
        let plan = self.longest() + 1;
        let mut profiler = Profiler::start(&self.engine.gpu)?;
        self.launch_step(plan, Some(&mut profiler))?;
        self.warmed = true;
        self.after_step();
        profiler.finish()
    }

    /// Captures the step pair for the next `horizon` steps (fewer near the capacity).
    fn capture(&mut self) -> Result<()> {
        // The previous pair's last replays may still be queued: let them finish before their
        // executables go (the host otherwise runs up to a whole horizon ahead). One wait per
        // horizon costs nothing measurable.
        if self.graphs.is_some() {
            self.engine.stream().synchronize()?;
        }
        self.graphs = None;
        let capacity = self.cache.shape().capacity;
        let horizon = self.horizon.max(1).min(capacity - self.longest());
        let plan = self.longest() + horizon;
        let st = self.engine.stream().clone();
        self.cache.prepare_graphs(&self.engine.gpu, horizon, plan)?;
        self.cache.save_host();
        let mut graphs = Vec::with_capacity(2);
        let mut failure = None;
        for _ in 0..horizon.min(2) {
            if let Err(e) = st.begin_capture(CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_RELAXED) {
                failure = Some(EngineError::from(e));
                break;
            }
            let launched = self.launch_step(plan, None);
            let captured = st.end_capture(CUgraphInstantiate_flags(0));
            match (launched, captured) {
                (Ok(()), Ok(Some(g))) => graphs.push(g),
                (Err(e), _) => {
                    failure = Some(e);
                    break;
                }
                (Ok(()), Err(e)) => {
                    failure = Some(e.into());
                    break;
                }
                (Ok(()), Ok(None)) => {
                    failure = Some(EngineError::Invalid(
                        "stream capture produced no graph".into(),
                    ));
                    break;
                }
            }
        }
        self.cache.restore_host();
        if let Some(e) = failure {
            return Err(e);
        }
        for g in &graphs {
            g.upload()?;
        }
        self.graphs = Some(StepGraphs {
            graphs,
            next: 0,
            steps_left: horizon,
        });
        Ok(())
    }

    /// Waits for the stream.
    pub fn synchronize(&self) -> Result<()> {
        Ok(self.engine.stream().synchronize()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{smollm2_config, tiny_config};

    /// The shipped H100 file and the fingerprint it was tuned with.
    fn shipped_h100() -> (PathBuf, DeviceFingerprint) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tuned-configs");
        let store = TunedConfigs::load(&dir.join("nvidia-h100-80gb-hbm3.json")).expect("loads");
        (dir, store.device)
    }

    /// [`Tuned::load`] with a given fingerprint (no GPU here).
    fn load_for(at: Option<&Path>, device: &DeviceFingerprint) -> Tuned {
        match Tuned::path(at, &device.name) {
            Ok(path) => Tuned::load_file(&path, device),
            Err(why) => Tuned::None(why),
        }
    }

    #[test]
    fn tuned_configs_come_from_a_folder_or_a_file_of_this_gpu() {
        let (dir, device) = shipped_h100();
        assert!(matches!(load_for(Some(&dir), &device), Tuned::Loaded(_)));
        let file = dir.join("nvidia-h100-80gb-hbm3.json");
        assert!(matches!(load_for(Some(&file), &device), Tuned::Loaded(_)));
        let why = |t: Tuned| match t {
            Tuned::None(why) => why,
            Tuned::Loaded(_) => panic!("loaded"),
        };
        assert!(why(load_for(None, &device)).contains("no tuned-configs folder"));
        // Another GPU: no file of its name in the folder.
        let other = DeviceFingerprint {
            name: "NVIDIA B200".into(),
            ..device.clone()
        };
        assert!(why(load_for(Some(&dir), &other)).contains("vecinfer tune"));
        // The H100 file given by path for a device of other code: refused, with the field.
        let stale = DeviceFingerprint {
            codegen: "0000".into(),
            ..device
        };
        assert!(why(load_for(Some(&file), &stale)).contains("code generator"));
    }

    #[test]
    fn small_batches_take_the_skinny_projections_where_the_model_allows() {
        let c = smollm2_config();
        for batch in 1..=SKINNY_DEFAULT_ROWS {
            assert_eq!(Projections::default_for(&c, batch), Projections::Skinny);
        }
        for batch in [SKINNY_DEFAULT_ROWS + 1, SKINNY_ROWS, 64] {
            assert_eq!(Projections::default_for(&c, batch), Projections::Cublas);
        }
        // Forced up to SKINNY_ROWS, refused above, with what to use instead.
        assert!(Projections::Skinny.check(&c, SKINNY_ROWS).is_ok());
        let err = Projections::Skinny
            .check(&c, SKINNY_ROWS + 1)
            .unwrap_err()
            .to_string();
        assert!(err.contains("1 to 8") && err.contains("cuBLAS"), "{err}");
        assert!(Projections::Cublas.check(&c, 1000).is_ok());
    }

    #[test]
    fn token_writes_parse_or_name_the_valid_values() {
        assert_eq!(TokenWrites::parse("append").unwrap(), TokenWrites::Append);
        assert_eq!(
            TokenWrites::parse("projection").unwrap(),
            TokenWrites::Projection
        );
        let err = TokenWrites::parse("fused").unwrap_err().to_string();
        assert!(
            err.contains("\"fused\"") && err.contains("projection and append"),
            "{err}"
        );
    }

    #[test]
    fn inner_sizes_off_whole_words_keep_cublas() {
        let c = LlamaConfig {
            feed_forward: 1540,
            ..tiny_config()
        };
        assert_eq!(Projections::default_for(&c, 1), Projections::Cublas);
        let err = Projections::Skinny.check(&c, 1).unwrap_err().to_string();
        assert!(
            err.contains("feed-forward") && err.contains("1540"),
            "{err}"
        );
    }
}

/// The fastest of `timed` where it beats `base`'s time by [`FP16_TILING_MARGIN`], else `base`.
fn fp16_choice(base: ForwardConfig, timed: &[(ForwardConfig, f64)]) -> ForwardConfig {
    let base_ms = timed.iter().find(|(c, _)| *c == base).map(|t| t.1);
    let fastest = timed.iter().min_by(|a, b| a.1.total_cmp(&b.1));
    match (fastest, base_ms) {
        (Some(&(config, ms)), Some(b)) if ms < b * (1.0 - FP16_TILING_MARGIN) => config,
        (Some(&(config, _)), None) => config,
        _ => base,
    }
}

#[cfg(test)]
mod fp16_choice_tests {
    use super::*;

    #[test]
    fn another_tiling_is_taken_only_when_clearly_faster() {
        let base = ForwardConfig::new(64, 3);
        let other = |w| ForwardConfig {
            decode_warps: w,
            ..base
        };
        // 2% faster: noise, the engine's stays.
        assert_eq!(fp16_choice(base, &[(base, 1.0), (other(8), 0.98)]), base);
        // 18% faster (the H100 at 1 x 8192): taken.
        assert_eq!(
            fp16_choice(base, &[(base, 1.0), (other(8), 0.82)]),
            other(8)
        );
        // The engine's not timed (not a valid tiling here): the fastest.
        assert_eq!(
            fp16_choice(base, &[(other(2), 1.0), (other(8), 0.9)]),
            other(8)
        );
        assert_eq!(fp16_choice(base, &[]), base);
    }
}
