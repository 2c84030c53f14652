//! `KernelConfig`: every knob of the fused decode-attention kernel, and its validation.

use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;
use vecinfer_quant::{Granularity, KeyTransform, VqCodec, WindowPrecision};

/// Shared memory a block may use on the GPUs this project targets, with the opt-in attribute
/// (the CUDA programming guide's table): sm_90 and sm_100 227 KB, sm_80 (A100) and sm_87 163 KB,
/// sm_86, sm_89 and sm_120 99 KB.
pub fn shared_memory_limit(arch: &str) -> usize {
    match arch {
        "sm_86" | "sm_89" | "sm_120" => 99 * 1024,
        "sm_80" | "sm_87" => 163 * 1024,
        _ => 227 * 1024,
    }
}

/// Whether `arch` converts between FP8 and f16 in one instruction (`cvt` with `e4m3x2`):
/// sm_89 (Ada) and newer.
pub fn has_fp8_conversions(arch: &str) -> bool {
    arch.strip_prefix("sm_")
        .and_then(|n| n.trim_end_matches(['a', 'f']).parse::<u32>().ok())
        .is_some_and(|n| n >= 89)
}

/// How a coded key is scored against the query.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyScoring {
    /// A table `LUT[g][m][j] = q'_{g,m} · C[j]` built once per block; a score is `D/d` lookups.
    Lut,
    /// Each sub-vector's centroid is read from shared memory and dotted with the query.
    Dequantize,
    /// Tensor cores: lanes decode centroids straight into `mma.m16n8k16` fragments (Q·Kᵀ with
    /// the query heads as rows, Vᵀ·Pᵀ with head dims as rows); softmax state per warp.
    Mma,
}

impl std::str::FromStr for KeyScoring {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "lut" => Ok(Self::Lut),
            "deq" | "dequantize" => Ok(Self::Dequantize),
            "mma" => Ok(Self::Mma),
            other => Err(format!(
                "key scoring {other:?}: valid values are lut, deq (dequantize) and mma"
            )),
        }
    }
}

impl KeyScoring {
    pub fn name(self) -> &'static str {
        match self {
            KeyScoring::Lut => "lut",
            KeyScoring::Dequantize => "deq",
            KeyScoring::Mma => "mma",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputDtype {
    F16,
    Bf16,
}

impl std::str::FromStr for SplitPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "auto" => Ok(Self::Auto),
            n => n.parse().map(Self::Fixed).map_err(|_| {
                format!("split {n:?}: valid values are auto or a number of splits (1 to 1024)")
            }),
        }
    }
}

/// How the tensor-core kernel holds the key codebook in shared memory.
///
/// `E4m3` stores each centroid as FP8 e4m3 (1 byte a dim) and widens 4 dims at a time with two
/// `cvt.rn.f16x2.e4m3x2`: a d8b12 book takes 32 KB instead of 64 KB. It is exact only for books
/// whose centroids are e4m3 values (`Codebook::to_e4m3`), so the cache refuses it for other books
/// (`CacheSpec::check`): rounding there would make the kernel silently differ from the reference
/// and from the append, which search the books as given. H200, d8b12/d8b8 at t512 w8 with 8
/// value copies: 22-30% faster at batch ≥ 8 (a second resident block; bench/results/kernel-s38).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BookFormat {
    #[default]
    F16,
    E4m3,
}

impl BookFormat {
    pub fn name(self) -> &'static str {
        match self {
            BookFormat::F16 => "f16",
            BookFormat::E4m3 => "e4m3",
        }
    }
}

impl fmt::Display for BookFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for BookFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "f16" => Ok(Self::F16),
            "e4m3" => Ok(Self::E4m3),
            other => Err(format!(
                "key book format {other:?}: valid values are f16 and e4m3"
            )),
        }
    }
}

/// Where a sequence's code rows live in GPU memory.
///
/// Every kernel maps (batch entry, KV head, coded row) to an address through one device
/// function (`code_row_index` in `cuda/cache_view.cuh`); the layout only changes that function.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeLayout {
    /// A fixed region of `code_capacity` rows per (sequence slot, KV head).
    #[default]
    Contiguous,
    /// Pages of `page_tokens` rows from a shared pool, `[pages, kv_heads, page_tokens, row]`,
    /// found through a block table per sequence (`page_indptr` / `page_indices`).
    Paged { page_tokens: usize },
}

/// Page sizes the kernels take: powers of two from 16 to 512 tokens.
pub const PAGE_TOKENS: [usize; 6] = [16, 32, 64, 128, 256, 512];

impl CodeLayout {
    /// Tokens per page (`None` for the contiguous layout).
    pub fn page_tokens(self) -> Option<usize> {
        match self {
            CodeLayout::Contiguous => None,
            CodeLayout::Paged { page_tokens } => Some(page_tokens),
        }
    }

    /// `contiguous` or `paged16` .. `paged512`, as in names and on the command line.
    pub fn name(self) -> String {
        match self {
            CodeLayout::Contiguous => "contiguous".into(),
            CodeLayout::Paged { page_tokens } => format!("paged{page_tokens}"),
        }
    }
}

impl fmt::Display for CodeLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl std::str::FromStr for CodeLayout {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s == "contiguous" {
            return Ok(Self::Contiguous);
        }
        s.strip_prefix("paged")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| PAGE_TOKENS.contains(n))
            .map(|page_tokens| Self::Paged { page_tokens })
            .ok_or_else(|| {
                format!(
                    "code layout {s:?}: valid layouts are contiguous and paged16, paged32, paged64, paged128, paged256, paged512 (tokens per page)"
                )
            })
    }
}

/// How many blocks share one sequence's tokens (flash-decoding split-KV).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitPolicy {
    /// Exactly this many splits.
    Fixed(u32),
    /// No split when batch × KV heads fills the GPU's resident block slots (SMs × blocks per
    /// SM, from the occupancy API); otherwise `floor(2 · slots / (batch · kv_heads))`, two
    /// whole waves (at most one split per tile). A partial third wave measured 15% slower
    /// on the H100 (bench/results/h100/README.md).
    Auto,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KernelConfig {
    pub head_dim: usize,
    /// Query heads per KV head (GQA group).
    pub group: usize,
    pub key_codec: VqCodec,
    pub value_codec: VqCodec,
    pub granularity: Granularity,
    pub transform: KeyTransform,
    /// Tokens per tile staged in shared memory.
    pub tile_tokens: usize,
    pub warps: usize,
    /// Tiles in flight in the `cp.async` pipeline (1 = load, wait, compute).
    pub stages: usize,
    /// Head dimensions each lane owns when scoring and accumulating a token: `head_dim /
    /// dims_per_lane` lanes share a token. More dims per lane means fewer shuffles per token
    /// and more registers (queries and accumulators: `2 × group × dims_per_lane` floats).
    pub dims_per_lane: usize,
    pub split: SplitPolicy,
    pub key_scoring: KeyScoring,
    /// Copies of each codebook of up to 16 KB in shared memory; lane `l` reads copy
    /// `l % replicas`, which spreads a warp's random centroid reads over more banks (mma kernel
    /// only). Larger books (d4b12, d8b12 and d8b11: 32 or 64 KB) keep one copy: see
    /// [`Self::book_copies`].
    #[serde(default = "one")]
    pub codebook_replicas: usize,
    /// The query as two fp16 parts (hi + lo) in the score mma: scores as exact as fp32
    /// queries. The low part takes the mma's padding rows, so the mma count does not change
    /// (mma kernel only; the others keep fp32 queries).
    #[serde(default)]
    pub split_query: bool,
    /// The key mma's rows are a slab's 16 tokens (`Sᵀ = K · Qᵀ`: one mma per 16 dims scores
    /// the slab) instead of the query heads (`S = Q · Kᵀ`: two, whose rows past the group are
    /// padding); the probabilities then take a `movmatrix` transpose (mma kernel only). With
    /// the split query the tokens form takes a second mma per 16 dims for the low part, which
    /// the heads form carries in its padding rows: the same count. Faster at head dim 128,
    /// slower at 64 (bench/results/kernel-s34). False is not written, so configs read and
    /// print as before the field.
    #[serde(default, skip_serializing_if = "is_false")]
    pub key_token_rows: bool,
    /// Each warp loads its codes from global memory straight into registers, one tile ahead,
    /// instead of staging tiles in shared memory with `cp.async` (mma kernel, 8-bit codes;
    /// `stages` must then be 1). Frees the tile buffers and the shared-memory traffic.
    #[serde(default)]
    pub direct_codes: bool,
    pub output: OutputDtype,
    /// Where the code rows live: contiguous per sequence, or in pages.
    #[serde(default)]
    pub layout: CodeLayout,
    /// Blocks per SM the compiler must fit (`__launch_bounds__`' second argument): it caps
    /// registers at 65536 / (this × threads), trading spills or a tighter schedule for a
    /// resident block more. 0 leaves registers to the compiler (and is not written, so
    /// unbounded configs read and print as before the field).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub min_blocks_per_sm: usize,
    /// How the cache holds its sinks and window (its slot rows, `cuda/cache_view.cuh`): fp16,
    /// or int8 with an fp16 scale per row. Fp16 is not written, so fp16 configs read and
    /// print as before the field.
    #[serde(default, skip_serializing_if = "is_fp16_window")]
    pub window: WindowPrecision,
    /// The key codebook in shared memory as f16 or e4m3 ([`BookFormat`]; mma kernel, 8-dim key
    /// books over 16 KB). F16 is not written, so configs read and print as before the field.
    #[serde(default, skip_serializing_if = "is_f16_book")]
    pub key_book: BookFormat,
}

fn is_f16_book(b: &BookFormat) -> bool {
    *b == BookFormat::F16
}

fn is_fp16_window(w: &WindowPrecision) -> bool {
    *w == WindowPrecision::Fp16
}

fn one() -> usize {
    1
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

pub const VALID_REPLICAS: [usize; 6] = [1, 2, 4, 8, 16, 32];

/// Threads an SM holds at once: 2048 on sm_80 and sm_90, 1536 on sm_86 and sm_89.
fn threads_per_sm(arch: &str) -> usize {
    match arch {
        "sm_86" | "sm_89" => 1536,
        _ => 2048,
    }
}

#[derive(Debug, Error, PartialEq)]
pub enum ConfigError {
    #[error("head dim {0} is not supported: valid head dims are 64, 128 and 256")]
    HeadDim(usize),
    #[error("GQA group {0} is out of range: valid groups are 1 to 8")]
    Group(usize),
    #[error("warps per block {0} is out of range: valid values are 1, 2, 4 and 8")]
    Warps(usize),
    #[error(
        "tile of {tile} tokens: it must be a multiple of 16 between 16 and 512 and at least the {threads} threads of the block"
    )]
    Tile { tile: usize, threads: usize },
    #[error("pipeline depth {0} is out of range: valid depths are 1 to 4")]
    Stages(usize),
    #[error(
        "{dims} dims per lane for head dim {head_dim}: valid values are 8, 16 or 32, dividing the head dim into at most 32 lanes, each a multiple of the codecs' sub-vector dims ({sub_dims})"
    )]
    DimsPerLane {
        dims: usize,
        head_dim: usize,
        sub_dims: String,
    },
    #[error("split count {0} is out of range: valid fixed splits are 1 to 1024")]
    Split(u32),
    #[error(
        "codebook replicas {0}: valid values are 1, 2, 4, 8, 16 and 32, and more than 1 only with key scoring mma"
    )]
    Replicas(usize),
    #[error(
        "codebook replicas {replicas}: copies apply to codebooks of up to 16 KB, and neither {key} (keys) nor {value} (values) is one; use 1"
    )]
    ReplicasOfWideBooks {
        replicas: usize,
        key: VqCodec,
        value: VqCodec,
    },
    #[error(
        "tile of {tile} tokens over {warps} warps: the mma kernel needs a multiple of 16 tokens per warp, at most 128"
    )]
    MmaTile { tile: usize, warps: usize },
    #[error("split query applies to key scoring mma only (the other kernels keep fp32 queries)")]
    SplitQuery,
    #[error(
        "key token rows apply to key scoring mma only (the other kernels score keys without an mma)"
    )]
    KeyTokenRows,
    #[error(
        "direct code loads need key scoring mma, 8-bit codes for K and V (got {key} and {value}) and stages 1 (got {stages})"
    )]
    DirectCodes {
        key: VqCodec,
        value: VqCodec,
        stages: usize,
    },
    #[error(
        "dims per lane {0} with key scoring mma: the mma kernel's lanes follow the fragment layout; leave it at 8"
    )]
    MmaDimsPerLane(usize),
    #[error("page of {0} tokens: valid page sizes are 16, 32, 64, 128, 256 and 512 tokens")]
    PageTokens(usize),
    #[error(
        "direct code loads with {per_warp} tokens per warp on pages of {page_tokens}: a warp's share of the tile must hold whole pages or lie within one (tokens per warp a power of two: tile and warps such as 256 and 4)"
    )]
    DirectPages { per_warp: usize, page_tokens: usize },
    #[error(
        "{blocks} blocks per SM of {threads} threads cannot be resident on {arch}: valid values are 0 (no bound) or 1 to {max}"
    )]
    MinBlocks {
        blocks: usize,
        threads: usize,
        arch: String,
        max: usize,
    },
    #[error("an e4m3 key book needs {needs} (got {got})")]
    E4m3KeyBook { needs: &'static str, got: String },
    #[error("{codec} does not divide head dim {head_dim}")]
    Codec { codec: VqCodec, head_dim: usize },
    #[error("shared memory {needed} KB > {limit} KB on {arch} ({detail})")]
    SharedMemory {
        needed: usize,
        limit: usize,
        arch: String,
        detail: String,
    },
}

impl KernelConfig {
    /// A config that works for any valid shape; the tuner searches around it. The tensor-core
    /// kernel with 256-token tiles over 4 warps and as many codebook copies (up to 16, the
    /// count that makes a warp's 8-byte centroid reads conflict-free) as fit in 64 KB: the
    /// best of the H100 sweep in bench/results/h100/sweep-mma. A book over 16 KB counts once
    /// (it keeps one copy); beside one, the other book's copies are capped by head dim and by
    /// the smallest GPU limit the one-copy block fits (sm_86's 99 KB, else the A100's 163 KB).
    pub fn default_for(
        head_dim: usize,
        group: usize,
        key_codec: VqCodec,
        value_codec: VqCodec,
    ) -> Self {
        // A book over 16 KB keeps one copy whatever the count (book_copies), and a count over 1
        // needs a book that takes it. Beside such a book the small one takes up to 16 copies at
        // head dim 128 and up, 8 below: on the H200, K d4b12 / V d4b8 with 16 value copies ran
        // 13-17% faster at batch >= 8 on the Llama shape; on SmolLM2's (head dim 64, 64-token
        // pages) 8 copies ran 4-22% faster there than one, and 16 lost up to 18% (the books'
        // 64 KB cost resident blocks; bench/results/kernel-s37).
        let book_bytes =
            |c: VqCodec, r: usize| c.codebook_size() * c.sub_dim() * 2 * copies_of(c, r);
        let takes = (takes_copies(key_codec), takes_copies(value_codec));
        let mixed = takes.0 != takes.1;
        let most = match takes {
            (true, true) => 16,
            (false, false) => 1,
            _ if head_dim >= 128 => 16,
            _ => 8,
        };
        let codebook_replicas = VALID_REPLICAS
            .iter()
            .copied()
            .filter(|&r| {
                r <= most && book_bytes(key_codec, r) + book_bytes(value_codec, r) <= 64 * 1024
            })
            .max()
            .unwrap_or(1);
        let direct = key_codec.bits() == 8 && value_codec.bits() == 8;
        // Three resident blocks for the 128-dim byte-code kernel: left alone the compiler
        // gives it 171 registers, two blocks per SM; bounded, 168 and 8 bytes of spill, which
        // measured faster at 7 of 8 H100 keys (up to 10%) and 6.5% slower at one
        // (bench/results/kernel-s15). The 64-dim kernel fits three blocks unbounded, and a
        // bound there measured slower. 2-dim sub-vectors (d2b8) hold twice the code bytes per
        // lane: bounded they spill 192 bytes, which the tuner prunes, and unbounded they run
        // within 4% of the H200 winners at every bench key (bench/results/kernel-s21).
        let narrow_sub_vectors = key_codec.sub_dim() < 4 || value_codec.sub_dim() < 4;
        let min_blocks_per_sm = if direct && head_dim == 128 && !narrow_sub_vectors {
            3
        } else {
            0
        };
        let config = Self {
            head_dim,
            group,
            key_codec,
            value_codec,
            granularity: Granularity::Layer,
            transform: KeyTransform::BOTH,
            tile_tokens: 256,
            warps: 4,
            // Codes straight into registers where the codes are bytes (measured faster on
            // the H100); otherwise two cp.async stages.
            stages: if direct { 1 } else { 2 },
            dims_per_lane: 8,
            split: SplitPolicy::Auto,
            key_scoring: KeyScoring::Mma,
            codebook_replicas,
            split_query: false,
            // H200, medians of four `bench` rounds: the Llama shape (head dim 128) 4-5% faster
            // at batch >= 8, SmolLM2's (64) 0-5% slower: 4 chunks amortise less of the extra
            // register moves and transposes (bench/results/kernel-s34).
            key_token_rows: head_dim >= 128,
            direct_codes: direct,
            output: OutputDtype::F16,
            layout: CodeLayout::Contiguous,
            min_blocks_per_sm,
            window: WindowPrecision::Fp16,
            key_book: BookFormat::F16,
        };
        // Copies beside a wide book must not cost the default a GPU: the block stays within the
        // 99 KB of sm_86 and sm_89 wherever one copy does, else within the A100's 163 KB (the
        // Llama shape's K d4b12 / V d4b8 with 16 value copies takes 108 KB, with 8 92 KB).
        let one_copy = Self {
            codebook_replicas: 1,
            ..config
        };
        let smallest_fit = ["sm_86", "sm_80"]
            .into_iter()
            .find(|arch| one_copy.validate(arch).is_ok());
        match smallest_fit {
            Some(arch) if mixed => {
                let mut fitted = config;
                while fitted.codebook_replicas > 1 && fitted.validate(arch).is_err() {
                    fitted.codebook_replicas /= 2;
                }
                fitted
            }
            _ => config,
        }
    }

    /// The CUDA-core kernel (dequantize-and-dot) with the settings that measured best for it
    /// on the H100 (bench/results/h100/history/sweep-v2): 8 dims per lane, 128-token tiles.
    pub fn cuda_core_for(
        head_dim: usize,
        group: usize,
        key_codec: VqCodec,
        value_codec: VqCodec,
    ) -> Self {
        Self {
            tile_tokens: 128,
            stages: 2,
            key_scoring: KeyScoring::Dequantize,
            codebook_replicas: 1,
            key_token_rows: false,
            direct_codes: false,
            min_blocks_per_sm: 0,
            ..Self::default_for(head_dim, group, key_codec, value_codec)
        }
    }

    pub fn threads(&self) -> usize {
        self.warps * 32
    }

    /// Whether the tensor-core kernel keeps both codebooks in one table of 256-byte entries
    /// (a centroid's 16 key copies, then its 16 value copies) and turns each 8-bit code into
    /// the byte offset of its lane's copy by one byte permute (`mma/fragments.cuh`,
    /// `unpack_codes`; the table's base is then one add): 4-dim centroids of 256-entry books,
    /// 16 copies. Otherwise a code's address takes a permute and a shift-add.
    pub fn offset_codes(&self) -> bool {
        // 16 copies of an 8-byte centroid per book: 2 × 128 bytes, an entry the code's byte
        // addresses.
        self.key_scoring == KeyScoring::Mma
            && [self.key_codec, self.value_codec]
                .iter()
                .all(|&c| c.bits() == 8 && c.sub_dim() == 4)
            && self.codebook_replicas == 16
    }

    /// Copies in shared memory of a book of `codec`: `codebook_replicas` for a book of up to
    /// 16 KB, one for a larger one (d4b12, d8b12 and d8b11: 32 or 64 KB). So a 1.25-bit kernel
    /// (d8b12 keys, d8b8 values) can spread its value reads over the banks while its 64 KB key
    /// book stays single.
    pub fn book_copies(&self, codec: VqCodec) -> usize {
        copies_of(codec, self.codebook_replicas)
    }

    /// What an e4m3 key book needs, checked in `validate`: the first requirement not met.
    fn check_e4m3_key_book(&self, arch: &str) -> Result<(), ConfigError> {
        let refuse = |needs, got: String| Err(ConfigError::E4m3KeyBook { needs, got });
        if self.key_scoring != KeyScoring::Mma {
            return refuse("key scoring mma", self.key_scoring.name().into());
        }
        if !e4m3_key_codec(self.key_codec) {
            return refuse(
                "an 8-dim key book over 16 KB: d8b11 or d8b12",
                self.key_codec.to_string(),
            );
        }
        if !has_fp8_conversions(arch) {
            return refuse("an sm_89 or newer GPU (fp8 conversions)", arch.into());
        }
        Ok(())
    }

    /// Bytes of one copy of the key book in shared memory: 2 a dim, 1 as e4m3.
    pub fn key_book_bytes(&self) -> usize {
        let per_dim = match self.key_book {
            BookFormat::F16 => 2,
            BookFormat::E4m3 => 1,
        };
        self.key_codec.codebook_size() * self.key_codec.sub_dim() * per_dim
    }

    pub fn key_row_bytes(&self) -> usize {
        self.key_codec.packed_bytes(self.head_dim).unwrap_or(0)
    }

    pub fn value_row_bytes(&self) -> usize {
        self.value_codec.packed_bytes(self.head_dim).unwrap_or(0)
    }

    /// Checks every axis and the shared-memory budget on `arch`.
    pub fn validate(&self, arch: &str) -> Result<(), ConfigError> {
        if ![64, 128, 256].contains(&self.head_dim) {
            return Err(ConfigError::HeadDim(self.head_dim));
        }
        if !(1..=8).contains(&self.group) {
            return Err(ConfigError::Group(self.group));
        }
        if ![1, 2, 4, 8].contains(&self.warps) {
            return Err(ConfigError::Warps(self.warps));
        }
        if !self.tile_tokens.is_multiple_of(16)
            || !(16..=512).contains(&self.tile_tokens)
            || self.tile_tokens < self.threads()
        {
            return Err(ConfigError::Tile {
                tile: self.tile_tokens,
                threads: self.threads(),
            });
        }
        // Tiles and pages are independent for the staged kernels: every tile (16 to 512
        // tokens, a multiple of 16) goes with every page size. A tile may straddle pages; the
        // cp.async tiles resolve addresses per 16-byte copy, and since a page holds a multiple
        // of 16 rows, starts 16-byte aligned and tiles start at multiples of 16 rows, no copy
        // crosses a page boundary. Direct loads address per page a warp's share spans, so
        // there shares and pages must nest (checked with the mma rules below).
        if let CodeLayout::Paged { page_tokens } = self.layout
            && !PAGE_TOKENS.contains(&page_tokens)
        {
            return Err(ConfigError::PageTokens(page_tokens));
        }
        if !(1..=4).contains(&self.stages) {
            return Err(ConfigError::Stages(self.stages));
        }
        if let SplitPolicy::Fixed(n) = self.split
            && !(1..=1024).contains(&n)
        {
            return Err(ConfigError::Split(n));
        }
        if !VALID_REPLICAS.contains(&self.codebook_replicas)
            || (self.codebook_replicas > 1 && self.key_scoring != KeyScoring::Mma)
        {
            return Err(ConfigError::Replicas(self.codebook_replicas));
        }
        // Wide books keep one copy (book_copies): more would name the same kernel twice.
        if self.codebook_replicas > 1
            && self.book_copies(self.key_codec) == 1
            && self.book_copies(self.value_codec) == 1
        {
            return Err(ConfigError::ReplicasOfWideBooks {
                replicas: self.codebook_replicas,
                key: self.key_codec,
                value: self.value_codec,
            });
        }
        if self.key_book == BookFormat::E4m3 {
            self.check_e4m3_key_book(arch)?;
        }
        if self.split_query && self.key_scoring != KeyScoring::Mma {
            return Err(ConfigError::SplitQuery);
        }
        if self.key_token_rows && self.key_scoring != KeyScoring::Mma {
            return Err(ConfigError::KeyTokenRows);
        }
        if self.direct_codes
            && (self.key_scoring != KeyScoring::Mma
                || self.key_codec.bits() != 8
                || self.value_codec.bits() != 8
                || self.stages != 1)
        {
            return Err(ConfigError::DirectCodes {
                key: self.key_codec,
                value: self.value_codec,
                stages: self.stages,
            });
        }
        if self.key_scoring == KeyScoring::Mma {
            let per_warp = self.tile_tokens / self.warps;
            if !per_warp.is_multiple_of(16) || per_warp > 128 {
                return Err(ConfigError::MmaTile {
                    tile: self.tile_tokens,
                    warps: self.warps,
                });
            }
            // Direct loads address a warp's share from one base per page it spans
            // (mma/slabs.cuh): the share must hold whole pages, or lie within one.
            if let (true, CodeLayout::Paged { page_tokens }) = (self.direct_codes, self.layout)
                && !per_warp.is_multiple_of(page_tokens)
                && !page_tokens.is_multiple_of(per_warp)
            {
                return Err(ConfigError::DirectPages {
                    per_warp,
                    page_tokens,
                });
            }
            if self.dims_per_lane != 8 {
                return Err(ConfigError::MmaDimsPerLane(self.dims_per_lane));
            }
        }
        for codec in [self.key_codec, self.value_codec] {
            if codec.codes_per_vector(self.head_dim).is_err() {
                return Err(ConfigError::Codec {
                    codec,
                    head_dim: self.head_dim,
                });
            }
        }
        if self.key_scoring != KeyScoring::Mma {
            let dims = self.dims_per_lane;
            let subs = [self.key_codec.sub_dim(), self.value_codec.sub_dim()];
            if ![8, 16, 32].contains(&dims)
                || !self.head_dim.is_multiple_of(dims)
                || self.head_dim / dims > 32
                || subs.iter().any(|s| !dims.is_multiple_of(*s))
            {
                return Err(ConfigError::DimsPerLane {
                    dims,
                    head_dim: self.head_dim,
                    sub_dims: format!("{} and {}", subs[0], subs[1]),
                });
            }
        }
        let layout = crate::SharedLayout::of(self);
        let limit = shared_memory_limit(arch);
        if layout.total > limit {
            return Err(ConfigError::SharedMemory {
                needed: layout.total.div_ceil(1024),
                limit: limit / 1024,
                arch: arch.to_string(),
                detail: layout.describe(),
            });
        }
        // More threads than an SM holds is a bound nothing can meet. One that only shared
        // memory keeps out of reach (e.g. the default's 3 blocks on an sm_80, whose 164 KB fit
        // 2) still compiles and runs, at the blocks the shared memory allows; the tuner does
        // not time such bounds (tuner/src/measure.rs).
        let max_blocks = threads_per_sm(arch) / self.threads();
        if self.min_blocks_per_sm > max_blocks {
            return Err(ConfigError::MinBlocks {
                blocks: self.min_blocks_per_sm,
                threads: self.threads(),
                arch: arch.to_string(),
                max: max_blocks,
            });
        }
        Ok(())
    }

    /// A short name, unique per config, used in entry-point names and file names.
    pub fn name(&self) -> String {
        let split = match self.split {
            SplitPolicy::Fixed(n) => format!("s{n}"),
            SplitPolicy::Auto => "sauto".into(),
        };
        format!(
            "d{}_g{}_k{}_v{}_{}_{}_t{}_w{}_p{}_l{}_{}_{}{}{}{}{}{}{}{}{}_{}",
            self.head_dim,
            self.group,
            self.key_codec,
            self.value_codec,
            self.granularity,
            self.transform.name(),
            self.tile_tokens,
            self.warps,
            self.stages,
            self.dims_per_lane,
            split,
            self.key_scoring.name(),
            match self.codebook_replicas {
                1 => String::new(),
                r => format!("_r{r}"),
            },
            if self.split_query { "_qsplit" } else { "" },
            if self.key_token_rows { "_ktr" } else { "" },
            if self.direct_codes { "_direct" } else { "" },
            match self.layout {
                CodeLayout::Contiguous => String::new(),
                CodeLayout::Paged { page_tokens } => format!("_pg{page_tokens}"),
            },
            match self.min_blocks_per_sm {
                0 => String::new(),
                b => format!("_mb{b}"),
            },
            match self.window {
                WindowPrecision::Fp16 => "",
                WindowPrecision::Int8 => "_win8",
            },
            match self.key_book {
                BookFormat::F16 => "",
                BookFormat::E4m3 => "_ke4m3",
            },
            match self.output {
                OutputDtype::F16 => "f16",
                OutputDtype::Bf16 => "bf16",
            }
        )
    }
}

impl fmt::Display for KernelConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// Whether a book of `codec` takes the config's copies: one of up to 16 KB (see
/// [`KernelConfig::book_copies`]).
fn takes_copies(codec: VqCodec) -> bool {
    codec.codebook_size() * codec.sub_dim() * 2 <= 16 * 1024
}

/// Whether keys of `codec` can have an e4m3 key book (`BookFormat::E4m3`): 8-dim centroids
/// in a book over 16 KB, which keeps one copy (d8b11, d8b12).
pub fn e4m3_key_codec(codec: VqCodec) -> bool {
    codec.sub_dim() == 8 && !takes_copies(codec)
}

/// Copies of a book of `codec` for a config of `replicas`.
fn copies_of(codec: VqCodec, replicas: usize) -> usize {
    if takes_copies(codec) { replicas } else { 1 }
}
