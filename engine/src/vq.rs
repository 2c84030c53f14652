//! The VQ cache backend: the project's VQ kernels over the paged cache
//! (`vecinfer_runtime::PagedKvCache`, one page pool and block table per sequence for all
//! layers). Append is the GPU quantize-and-append kernel (the CPU reference's rules: sinks, the
//! newest `residual` tokens in fp16, the oldest window token flushed into codes), attention the
//! fused kernel, the prompt bulk-quantized.
//!
//! Eager steps begin a cache step at layer 0 (pages reserved, tables uploaded). Graph-captured
//! steps run over a horizon whose pages are reserved before capture: the captured launches
//! advance the lengths on the GPU, and the host counts each replayed step afterwards.

use crate::engine::{TokenWrites, Tuned};
use crate::error::{EngineError, Result};
use crate::kernels::{ForwardKernels, int8_row_cluster};
use crate::kv::{CacheShape, KvCache};
use cudarc::driver::CudaSlice;
use vecinfer_codegen::{BookFormat, CodeLayout, KernelConfig};
use vecinfer_quant::{CacheLayout, CodebookSet, KeyTransform, Method, WindowPrecision};
use vecinfer_runtime::kv_cache::coded_tokens;
use vecinfer_runtime::{
    CacheView, Gpu, PagedCacheOptions, PagedKvCache, PoolSize, SequenceId, SplitPlan, Step,
    TokenSlots, VqAppend, VqAttention, VqFlush, Workspace,
};
use vecinfer_tuner::{KernelShape, TuneKey};

/// Tokens per page of the engine's VQ cache (the tuner's page axis measured 64 to 512 within
/// 2% of each other on the H100, bench/results/h100/paged).
pub const PAGE_TOKENS: usize = 64;

/// Head dim 64 does half the work per code row of 128, so at a small batch the engine's
/// attention can take 512-token tiles over 8 warps (what the H100 tuner picked for every SmolLM2
/// key): the whole decode step at 1 and 4 sequences ran 6-10% faster (1 x 8k, 1 x 128k,
/// 4 x 8k, 4 x 128k), but at 64 sequences 5% slower at 8k and 21% at 128k
/// (bench/results/model-s7/d64-default.sh, d64-tiles.sh; on an H200 with dependent launches
/// 1 x 8k 9%, 4 x 8k 7%, 1 x 128k 5%, 4 x 128k 3%, bench/results/model-s9/wide-h200).
/// **Opt-in** (`VECINFER_WIDE_TILES=on`): they move SmolLM2's 2-bit GPU perplexity against the
/// CPU from +0.12% to +0.33% on 16 windows of 2048 at 4 per batch (tolerance 0.3%;
/// bench/results/model-s9/check-final-h100, eval-mix-h100). On all 60 windows, on against off,
/// window by window: +1.6 ± 1.1 nats a window, +0.08% (wide-paired-h200): within the 2-bit
/// cache's rounding spread and no fault, but the default path must meet the check.
pub const WIDE_TILE_MAX_BATCH: usize = 4;

/// `VECINFER_WIDE_TILES=on` (or `1`) takes the 512-token tiles at head dim 64 and up to
/// [`WIDE_TILE_MAX_BATCH`] sequences (a config from a tuned-configs file is taken as it is).
fn wide_tiles_turned_on() -> bool {
    std::env::var("VECINFER_WIDE_TILES").is_ok_and(|v| v == "on" || v == "1")
}

/// How the current step's lengths advance.
enum Mode {
    /// No step begun yet (or the last one ended).
    Idle,
    /// A host step: begun at layer 0's append.
    Eager(Step),
    /// Steps replayed from a graph: lengths advance on the GPU.
    Device(Step),
}

pub struct VqCache {
    config: KernelConfig,
    layout: CacheLayout,
    shape: CacheShape,
    cache: PagedKvCache,
    attention: VqAttention,
    appender: VqAppend,
    /// Every layer's window flush in one launch, for steps whose tokens the projection writes
    /// (`begin_written_step`); `None` without a window, or with an int8 one where the
    /// projection cannot write int8 rows (`int8_row_cluster`).
    flush: Option<VqFlush>,
    workspace: Workspace,
    /// The plan of captured steps, its table uploaded before the capture (`prepare_graphs`).
    graph_plan: Option<SplitPlan>,
    /// Batch entry `b` is sequence `ids[b]`.
    ids: Vec<SequenceId>,
    mode: Mode,
    /// Where the attention's config came from (shown by `describe`).
    config_source: String,
}

impl VqCache {
    /// The default kernel config for the model's shape and the codebooks' codecs,
    /// granularity and the method's key transform, on pages of [`PAGE_TOKENS`]; with
    /// `VECINFER_WIDE_TILES=on`, at head dim 64 and up to [`WIDE_TILE_MAX_BATCH`] sequences,
    /// 512-token tiles over 8 warps.
    pub fn config_for(
        set: &CodebookSet,
        transform: KeyTransform,
        shape: &CacheShape,
    ) -> KernelConfig {
        let config = KernelConfig {
            granularity: set.meta.granularity,
            transform,
            layout: CodeLayout::Paged {
                page_tokens: PAGE_TOKENS,
            },
            ..KernelConfig::default_for(
                shape.head_dim,
                shape.q_heads / shape.kv_heads,
                set.meta.key_codec,
                set.meta.value_codec,
            )
        };
        let wide = KernelConfig {
            tile_tokens: 512,
            warps: 8,
            ..config
        };
        let small_batch =
            shape.head_dim == 64 && wide_tiles_turned_on() && shape.batch <= WIDE_TILE_MAX_BATCH;
        if small_batch && wide.validate("sm_80").is_ok() {
            wide
        } else {
            config
        }
    }

    /// The kernel config for `shape` on `arch`, and where it came from: the nearest entry of
    /// `tuned` for this method and kernel shape on the engine's pages (`vecinfer tune --layouts
    /// paged64`), else [`Self::config_for`]. Entries tuned contiguous are not taken: the kernel
    /// alone ranks configs differently from a whole decode step (SmolLM2's 8 x 32k winner,
    /// 22% faster alone, made the step 4% slower, and 16 x 32k 15%;
    /// bench/results/model-s9/tuned-h100). Key books of e4m3 values (`vecinfer round-books`)
    /// then take the e4m3 key-book kernel wherever it validates: it reads them exactly, so the
    /// results are the same, and at 1.25 bits (d8b12/d8b8, the tuned geometry) it ran 22-30%
    /// faster at batch ≥ 8 on an H200 (bench/results/kernel-s38).
    pub fn choose_config(
        set: &CodebookSet,
        transform: KeyTransform,
        shape: &CacheShape,
        tuned: &Tuned,
        arch: &str,
    ) -> (KernelConfig, String) {
        let (geometry, source) = Self::choose_geometry(set, transform, shape, tuned, arch);
        // The format is the books', whatever a tuned entry holds.
        let (f16, e4m3) = (
            KernelConfig {
                key_book: BookFormat::F16,
                ..geometry
            },
            KernelConfig {
                key_book: BookFormat::E4m3,
                ..geometry
            },
        );
        if keys_are_e4m3(set, transform) && e4m3.validate(arch).is_ok() {
            return (e4m3, format!("{source}; e4m3 key books"));
        }
        (f16, source)
    }

    /// The tuned entry or the heuristic ([`Self::choose_config`] before the key-book format).
    fn choose_geometry(
        set: &CodebookSet,
        transform: KeyTransform,
        shape: &CacheShape,
        tuned: &Tuned,
        arch: &str,
    ) -> (KernelConfig, String) {
        let heuristic = Self::config_for(set, transform, shape);
        let store = match tuned {
            Tuned::Loaded(store) => store,
            Tuned::None(why) => return (heuristic, format!("default heuristic: {why}")),
        };
        let kernel = KernelShape::of(&heuristic);
        let picked = store.nearest(&TuneKey::for_shape(kernel, shape.batch, shape.capacity));
        let Some((entry, distance)) = picked else {
            return (
                heuristic,
                format!("default heuristic: nothing tuned for {kernel}"),
            );
        };
        let winner = entry.winner.expect("nearest returns tuned entries only");
        let config = kernel.apply(winner.config);
        match config.validate(arch) {
            Ok(()) => (
                config,
                format!("tuned for {}, {distance} powers of two away", entry.key),
            ),
            Err(e) => (
                heuristic,
                format!("default heuristic: the tuned config does not serve here ({e})"),
            ),
        }
    }

    /// A paged cache for `shape.batch` sequences of up to `shape.capacity` tokens with `set`'s
    /// codebooks for `transform`, kernels compiled (cached); the attention's config from
    /// `tuned` when it has one for this shape ([`Self::choose_config`]).
    pub fn new(
        gpu: &Gpu,
        set: &CodebookSet,
        transform: KeyTransform,
        shape: CacheShape,
        layout: CacheLayout,
        tuned: &Tuned,
    ) -> Result<Self> {
        let (config, source) = Self::choose_config(set, transform, &shape, tuned, gpu.arch);
        let mut cache = Self::with_config(gpu, set, config, shape, layout)?;
        cache.config_source = source;
        Ok(cache)
    }

    pub fn with_config(
        gpu: &Gpu,
        set: &CodebookSet,
        config: KernelConfig,
        shape: CacheShape,
        layout: CacheLayout,
    ) -> Result<Self> {
        // The cache's window precision decides how the kernels read the slots; a tuned or
        // given geometry serves either.
        let config = KernelConfig {
            window: layout.precision,
            ..config
        };
        let m = &set.meta;
        if (m.layers, m.kv_heads, m.head_dim) != (shape.layers, shape.kv_heads, shape.head_dim) {
            return Err(EngineError::Invalid(format!(
                "codebooks are for {} layers × {} KV heads × dim {} ({}), the model has {} × {} × {}",
                m.layers,
                m.kv_heads,
                m.head_dim,
                m.model_id,
                shape.layers,
                shape.kv_heads,
                shape.head_dim
            )));
        }
        let Some(page_tokens) = config.layout.page_tokens() else {
            return Err(EngineError::Invalid(format!(
                "{config}: the engine's VQ cache is paged; give a paged kernel config"
            )));
        };
        let pages = shape.batch * coded_tokens(layout, shape.capacity).div_ceil(page_tokens);
        let mut cache = PagedKvCache::from_codebooks(
            gpu,
            set,
            config.transform,
            PagedCacheOptions {
                page_tokens,
                pool: PoolSize::Pages(pages.max(1)),
                max_sequences: shape.batch,
                window: layout,
                shuffle_seed: None,
            },
        )?;
        // Here rather than at the first launch: e.g. an e4m3 key-book config on f16 books.
        cache.spec().check(&config)?;
        let ids = (0..shape.batch)
            .map(|_| cache.add_sequence())
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let attention = VqAttention::new(gpu, &config)?;
        // Split scratch for any plan up to a full cache, so that no launch allocates, inside a
        // graph capture least of all (at ctx 8192 and 12+ sequences a shorter length planned
        // more splits than the full one, and the capture failed with an invalid value).
        let splits = attention.max_splits(
            gpu,
            shape.batch,
            shape.kv_heads,
            coded_tokens(layout, shape.capacity),
        );
        let workspace = Workspace::with_capacity(
            gpu,
            shape.batch * shape.q_heads * splits as usize,
            shape.head_dim,
        )?;
        // The projections write int8 rows where the skinny one can (clusters); elsewhere an
        // int8 window's rows take the append kernel, which quantizes each whole row.
        let projection_writes = match layout.precision {
            WindowPrecision::Fp16 => true,
            WindowPrecision::Int8 => int8_row_cluster(gpu.arch, shape.head_dim).is_ok(),
        };
        let flush = if layout.residual > 0 && projection_writes {
            Some(VqFlush::new(gpu, &config)?)
        } else {
            None
        };
        Ok(Self {
            appender: VqAppend::new(gpu, &config)?,
            flush,
            attention,
            workspace,
            graph_plan: None,
            config,
            layout,
            shape,
            cache,
            ids,
            mode: Mode::Idle,
            config_source: "given".into(),
        })
    }

    pub fn kernel_config(&self) -> &KernelConfig {
        &self.config
    }

    pub fn layout(&self) -> CacheLayout {
        self.layout
    }

    /// The paged cache (for checks).
    pub fn cache(&self) -> &PagedKvCache {
        &self.cache
    }

    /// Batch entry `b`'s sequence in [`Self::cache`].
    pub fn sequence(&self, b: usize) -> SequenceId {
        self.ids[b]
    }

    /// One token more for every sequence: on the GPU in a device-advanced (graph) step, else
    /// a host step begins.
    fn begin_decode_step(&mut self, gpu: &Gpu) -> Result<()> {
        match self.mode {
            Mode::Device(step) => self.cache.advance(gpu, &self.appender, &step)?,
            _ => self.mode = Mode::Eager(self.cache.begin_step(gpu, &self.ids, 1)?),
        }
        Ok(())
    }

    /// The attention's plan over `view` for sequences of up to `plan_len` tokens. Every
    /// sequence grows as the longest does over the steps the plan serves (a captured graph's
    /// horizon): each is planned at its length then, and pieces a shorter step does not reach
    /// idle.
    fn plan(&self, gpu: &Gpu, view: &CacheView<'_>, plan_len: usize) -> SplitPlan {
        let (batch, kv_heads) = (self.shape.batch, self.shape.kv_heads);
        match view.lengths() {
            Some(lengths) if lengths.len() == batch => {
                let longest = lengths.iter().copied().max().unwrap_or(0);
                let extra = plan_len.saturating_sub(longest);
                let planned: Vec<usize> = lengths
                    .iter()
                    .map(|&n| coded_tokens(self.layout, (n + extra).min(self.shape.capacity)))
                    .collect();
                self.attention.plan_for_lengths(gpu, kv_heads, &planned)
            }
            _ => {
                let planned = coded_tokens(self.layout, plan_len.min(self.shape.capacity))
                    .max(view.longest_coded());
                self.attention.plan_for(gpu, batch, kv_heads, planned)
            }
        }
    }

    fn step(&self) -> Result<Step> {
        match self.mode {
            Mode::Eager(s) | Mode::Device(s) => Ok(s),
            Mode::Idle => Err(EngineError::Invalid(
                "attention before any append: no cache step has begun".into(),
            )),
        }
    }
}

impl KvCache for VqCache {
    fn set_dependent_launches(&mut self, gpu: &Gpu, on: bool) -> Result<()> {
        self.appender.set_dependent_launches(gpu, on)?;
        self.attention.set_dependent_launches(gpu, on)?;
        if let Some(flush) = &mut self.flush {
            flush.set_dependent_launches(gpu, on)?;
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!(
            "{} K {} V {} ({} codebooks), sinks {}, newest {} in {}, {}, tile {} x {} warps ({})",
            Method::Vq(self.config.transform).name(),
            self.config.key_codec,
            self.config.value_codec,
            self.config.granularity,
            self.layout.sinks,
            self.layout.residual,
            self.layout.precision,
            self.config.layout,
            self.config.tile_tokens,
            self.config.warps,
            self.config_source
        )
    }

    fn shape(&self) -> CacheShape {
        self.shape
    }

    fn load_prompt(
        &mut self,
        gpu: &Gpu,
        layer: usize,
        keys: &CudaSlice<u16>,
        values: &CudaSlice<u16>,
        tokens: usize,
    ) -> Result<()> {
        if layer == 0 {
            self.mode = Mode::Eager(self.cache.begin_step(gpu, &self.ids, tokens)?);
        }
        let step = self.step()?;
        if step.count != tokens {
            return Err(EngineError::Invalid(format!(
                "layer {layer} loads {tokens} prompt tokens, layer 0 loaded {}",
                step.count
            )));
        }
        Ok(self
            .cache
            .append(gpu, &self.appender, &step, layer, keys, values)?)
    }

    fn append(
        &mut self,
        gpu: &Gpu,
        layer: usize,
        keys: &CudaSlice<u16>,
        values: &CudaSlice<u16>,
        _positions: &CudaSlice<i32>,
    ) -> Result<()> {
        if layer == 0 {
            self.begin_decode_step(gpu)?;
        }
        let step = self.step()?;
        Ok(self
            .cache
            .append(gpu, &self.appender, &step, layer, keys, values)?)
    }

    fn takes_projection_writes(&self) -> bool {
        self.flush.is_some()
    }

    fn begin_written_step(&mut self, gpu: &Gpu) -> Result<bool> {
        if !self.takes_projection_writes() {
            return Ok(false);
        }
        self.begin_decode_step(gpu)?;
        let step = self.step()?;
        if let Some(flush) = &self.flush {
            self.cache.flush_window(gpu, flush, &step)?;
        }
        Ok(true)
    }

    // No append launch per layer: 20% off a step at 1 × 8192, 9% at 1 × 131072 (H100).
    fn preferred_token_writes(&self) -> TokenWrites {
        TokenWrites::Projection
    }

    fn token_slots(&mut self, layer: usize) -> Result<TokenSlots<'_>> {
        let step = self.step()?;
        Ok(self.cache.token_slots(&step, layer)?)
    }

    fn attend(
        &mut self,
        gpu: &Gpu,
        layer: usize,
        query: &CudaSlice<u16>,
        out: &mut CudaSlice<u16>,
        _positions: &CudaSlice<i32>,
        plan_len: usize,
    ) -> Result<()> {
        let step = self.step()?;
        let view = self.cache.view(&step, layer)?;
        // Captured steps launch the plan uploaded before the capture (an upload cannot be
        // captured).
        let plan = match (&self.mode, &self.graph_plan) {
            (Mode::Device(_), Some(plan)) => plan.clone(),
            _ => self.plan(gpu, &view, plan_len),
        };
        Ok(self
            .attention
            .attend_with_plan(gpu, view, query, out, &mut self.workspace, &plan)?)
    }

    fn prepare_graphs(&mut self, gpu: &Gpu, horizon: usize, plan_len: usize) -> Result<()> {
        self.graph_plan = None;
        let step = self.cache.begin_device_steps(gpu, &self.ids, horizon)?;
        self.mode = Mode::Device(step);
        let plan = self.plan(gpu, &self.cache.view(&step, 0)?, plan_len);
        self.attention
            .prepare_plan(gpu, &mut self.workspace, &plan)?;
        self.graph_plan = Some(plan);
        Ok(())
    }

    fn leave_graphs(&mut self) {
        if matches!(self.mode, Mode::Device(_)) {
            self.mode = Mode::Idle;
        }
        self.graph_plan = None;
    }

    // Captured launches change nothing on the host: lengths advance on the GPU.
    fn save_host(&mut self) {}
    fn restore_host(&mut self) {}

    fn replayed(&mut self) -> Result<()> {
        if let Mode::Device(step) = self.mode {
            // Pages for the whole horizon were reserved before capture; a step past it is an
            // error here rather than a write through stale tables.
            self.cache.device_step_done(&step)?;
        }
        Ok(())
    }

    fn fill_for_benchmark(
        &mut self,
        gpu: &Gpu,
        kernels: &ForwardKernels,
        lengths: &[usize],
    ) -> Result<()> {
        self.mode = Mode::Eager(self.cache.grow(gpu, &self.ids, lengths)?);
        let st = &gpu.stream;
        for layer in 0..self.shape.layers {
            let mut c = self.cache.contents_mut(layer)?;
            let seed = 4 * layer as u32 + 1;
            kernels.fill_random(st, &mut c.key_codes, seed, false)?;
            kernels.fill_random(st, &mut c.value_codes, seed + 1, false)?;
            kernels.fill_random(st, &mut c.slot_keys, seed + 2, true)?;
            kernels.fill_random(st, &mut c.slot_values, seed + 3, true)?;
        }
        self.mode = Mode::Idle;
        Ok(())
    }

    fn device_bytes(&self) -> usize {
        self.cache.memory().total()
    }

    fn bytes_read_per_step(&self, len: usize) -> usize {
        let s = self.shape;
        let coded = coded_tokens(self.layout, len);
        let slot_tokens = len - coded;
        let row = self.config.key_row_bytes() + self.config.value_row_bytes();
        let slot_row = 2 * self.layout.precision.row_bytes(s.head_dim);
        s.layers * s.batch * s.kv_heads * (coded * row + slot_tokens * slot_row)
    }

    fn entry_contents(&self, gpu: &Gpu, layer: usize, entry: usize) -> Result<Vec<u8>> {
        crate::kv::check_entry(&self.shape, layer, entry)?;
        let id = self.ids[entry];
        let mut bytes = Vec::new();
        for kv_head in 0..self.shape.kv_heads {
            let (keys, values) = self.cache.download_rows(gpu, layer, id, kv_head)?;
            bytes.extend(keys);
            bytes.extend(values);
            let (keys, values) = self.cache.download_fp16(gpu, layer, id, kv_head)?;
            bytes.extend(keys.iter().chain(&values).flat_map(|h| h.to_le_bytes()));
        }
        Ok(bytes)
    }
}

/// Whether every key codebook of `set` for `transform` holds e4m3 values only.
fn keys_are_e4m3(set: &CodebookSet, transform: KeyTransform) -> bool {
    (0..set.meta.layers).all(|layer| {
        set.layer(layer, transform).is_ok_and(|p| {
            p.keys
                .all()
                .iter()
                .all(|book| book.first_non_e4m3().is_none())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vecinfer_quant::Granularity;

    #[test]
    fn key_books_of_e4m3_values_take_the_e4m3_kernel_where_it_runs() {
        let (k, v) = ("d8b12".parse().unwrap(), "d8b8".parse().unwrap());
        let mut set =
            vecinfer_quant::synthetic::random_codebook_set(2, k, v, Granularity::Layer, 2, 8, 128);
        let shape = CacheShape {
            layers: 2,
            batch: 8,
            q_heads: 32,
            kv_heads: 8,
            head_dim: 128,
            capacity: 32768,
        };
        let none = Tuned::None("no file".into());
        let choose = |set: &CodebookSet, arch| {
            VqCache::choose_config(set, KeyTransform::BOTH, &shape, &none, arch)
        };
        let (config, source) = choose(&set, "sm_90");
        assert_eq!(config.key_book, BookFormat::F16, "{source}");
        set.round_keys_to_e4m3();
        let (config, source) = choose(&set, "sm_90");
        assert_eq!(config.key_book, BookFormat::E4m3);
        assert!(source.ends_with("; e4m3 key books"), "{source}");
        assert_eq!(
            KernelConfig {
                key_book: BookFormat::F16,
                ..config
            },
            VqCache::config_for(&set, KeyTransform::BOTH, &shape)
        );
        // No fp8 conversions on an A100: the f16 kernel reads the same books.
        assert_eq!(choose(&set, "sm_80").0.key_book, BookFormat::F16);
        // 2-bit books stay f16 whatever their values (the kernel takes 8-dim wide books only).
        let (d4b8, smollm2) = smollm2(8, 32768);
        let mut rounded = d4b8.clone();
        rounded.round_keys_to_e4m3();
        let (config, _) =
            VqCache::choose_config(&rounded, KeyTransform::BOTH, &smollm2, &none, "sm_90");
        assert_eq!(config.key_book, BookFormat::F16);
    }

    fn smollm2(batch: usize, capacity: usize) -> (CodebookSet, CacheShape) {
        let codec = "d4b8".parse().expect("valid codec");
        let set = vecinfer_quant::synthetic::random_codebook_set(
            1,
            codec,
            codec,
            Granularity::Layer,
            2,
            3,
            64,
        );
        let shape = CacheShape {
            layers: 2,
            batch,
            q_heads: 9,
            kv_heads: 3,
            head_dim: 64,
            capacity,
        };
        (set, shape)
    }

    fn shipped_h100() -> vecinfer_tuner::TunedConfigs {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tuned-configs/nvidia-h100-80gb-hbm3.json");
        vecinfer_tuner::TunedConfigs::load(&path).expect("the shipped H100 file loads")
    }

    /// The shipped file with its SmolLM2 entry at 8 x 32k as if tuned on the engine's pages,
    /// and that entry's winner.
    fn with_a_paged_entry() -> (Tuned, KernelConfig) {
        let mut store = shipped_h100();
        let mut entry = store
            .entries
            .values()
            .find(|e| e.key.id() == "d64_g3_kd4b8_vd4b8_layer_smooth_hadamard_f16_b8_s32768")
            .expect("the shipped file has SmolLM2's 8 x 32k")
            .clone();
        let paged = CodeLayout::Paged {
            page_tokens: PAGE_TOKENS,
        };
        // The winner keeps its contiguous layout: the engine must put it on its pages.
        entry.key.shape.layout = vecinfer_tuner::LayoutKey::of(paged);
        let winner = entry.winner.as_ref().expect("a tuned entry").config;
        store.entries.insert(entry.key.id(), entry);
        (Tuned::Loaded(Box::new(store)), winner)
    }

    #[test]
    fn an_entry_tuned_on_the_engines_pages_serves() {
        let (store, winner) = with_a_paged_entry();
        let (set, shape) = smollm2(8, 32768);
        let (config, source) =
            VqCache::choose_config(&set, KeyTransform::BOTH, &shape, &store, "sm_90");
        // SmolLM2's 8 x 32k winner, whatever the last tuning made it.
        assert_eq!(
            (config.tile_tokens, config.warps, config.codebook_replicas),
            (winner.tile_tokens, winner.warps, winner.codebook_replicas),
            "{source}"
        );
        assert_eq!(
            config.layout,
            CodeLayout::Paged {
                page_tokens: PAGE_TOKENS
            }
        );
        assert!(source.starts_with("tuned for"), "{source}");
        assert!(config.validate("sm_90").is_ok());
    }

    /// Session 11 shipped SmolLM2's keys tuned on the engine's pages
    /// (bench/results/model-s11/tune-grid2-h100): every batch and context of the engine's grid
    /// finds one at most two powers of two away.
    #[test]
    fn the_shipped_h100_file_serves_the_engines_smollm2_steps() {
        let store = Tuned::Loaded(Box::new(shipped_h100()));
        for (batch, capacity) in [(1, 131072), (1, 8192), (4, 32768), (16, 8192), (64, 8192)] {
            let (set, shape) = smollm2(batch, capacity);
            let (config, source) =
                VqCache::choose_config(&set, KeyTransform::BOTH, &shape, &store, "sm_90");
            assert!(
                source.starts_with("tuned for") && source.contains("_paged64_"),
                "{batch} x {capacity}: {source}"
            );
            assert!(config.validate("sm_90").is_ok());
        }
        let (set, shape) = smollm2(1, 131072);
        let (config, _) = VqCache::choose_config(&set, KeyTransform::BOTH, &shape, &store, "sm_90");
        assert_eq!((config.tile_tokens, config.warps), (512, 8));
    }

    #[test]
    fn the_wide_tiles_are_opt_in() {
        if std::env::var_os("VECINFER_WIDE_TILES").is_some() {
            return; // set by whoever runs the tests: the default is not what runs
        }
        let (set, shape) = smollm2(1, 8192);
        let config = VqCache::config_for(&set, KeyTransform::BOTH, &shape);
        assert_eq!((config.tile_tokens, config.warps), (256, 4));
    }

    #[test]
    fn without_a_tuned_entry_the_heuristic_serves() {
        let (set, shape) = smollm2(64, 8192);
        let (config, source) = VqCache::choose_config(
            &set,
            KeyTransform::BOTH,
            &shape,
            &Tuned::None("no file".into()),
            "sm_90",
        );
        assert_eq!(
            config,
            VqCache::config_for(&set, KeyTransform::BOTH, &shape)
        );
        assert_eq!(source, "default heuristic: no file");
        // Entries tuned contiguous only (the shipped file without its paged SmolLM2 entries)
        // are not taken, nor another method than any tuned one (no Hadamard): the heuristic,
        // and why.
        let mut contiguous = shipped_h100();
        contiguous.entries.retain(|_, e| {
            e.key.shape.layout == vecinfer_tuner::LayoutKey::of(CodeLayout::Contiguous)
        });
        let store = Tuned::Loaded(Box::new(contiguous));
        let (config, source) =
            VqCache::choose_config(&set, KeyTransform::BOTH, &shape, &store, "sm_90");
        assert_eq!(
            config,
            VqCache::config_for(&set, KeyTransform::BOTH, &shape)
        );
        assert!(source.contains("nothing tuned"), "{source}");
        let (config, source) =
            VqCache::choose_config(&set, KeyTransform::SMOOTH, &shape, &store, "sm_90");
        assert_eq!(
            config,
            VqCache::config_for(&set, KeyTransform::SMOOTH, &shape)
        );
        assert!(source.contains("nothing tuned"), "{source}");
    }
}
