//! The tuning key: what a tuned entry is for. It holds what the user fixes and what changes
//! the best config (head dim, GQA group, codecs, granularity, transform, output dtype, and the
//! batch and sequence length rounded to powers of two), never the list of candidates.

use serde::{Deserialize, Serialize};
use std::fmt;
use vecinfer_codegen::{CodeLayout, KernelConfig, OutputDtype};
use vecinfer_quant::{Granularity, KeyTransform, VqCodec};

/// Batch buckets are powers of two in this range (a batch outside it takes the nearest end).
pub const BATCH_BUCKETS: (usize, usize) = (1, 1024);
/// Sequence-length buckets are powers of two in this range.
pub const SEQ_BUCKETS: (usize, usize) = (256, 1 << 20);

/// The power of two nearest to `x` in log scale (ties go up), clamped to `range`.
pub fn bucket(x: usize, range: (usize, usize)) -> usize {
    let x = x.clamp(range.0, range.1);
    let below = 1usize << (usize::BITS - 1 - x.leading_zeros());
    // Nearest in log scale: above if x² ≥ below · above = 2 · below².
    let nearest = if (x as u128).pow(2) >= 2 * (below as u128).pow(2) {
        below * 2
    } else {
        below
    };
    nearest.clamp(range.0, range.1)
}

/// The code layout a key is for: what the engine fixes, or a paged layout whose page size
/// the tuner chooses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayoutKey {
    #[default]
    Contiguous,
    /// Pages of this size (an engine that fixes its page size).
    Paged { page_tokens: usize },
    /// Pages of whatever size runs fastest: the page size is a searched axis, and the winner's
    /// config says which (an engine that lets the kernel choose).
    PagedAny,
}

/// The page size a `PagedAny` key starts its search from (the default heuristic's).
pub const DEFAULT_PAGE_TOKENS: usize = 64;

impl LayoutKey {
    pub fn of(layout: CodeLayout) -> Self {
        match layout {
            CodeLayout::Contiguous => Self::Contiguous,
            CodeLayout::Paged { page_tokens } => Self::Paged { page_tokens },
        }
    }

    /// Whether a config of `layout` may serve this key.
    pub fn admits(self, layout: CodeLayout) -> bool {
        match self {
            Self::PagedAny => layout != CodeLayout::Contiguous,
            fixed => Self::of(layout) == fixed,
        }
    }

    /// `contiguous`, `paged64`, `paged` (any page size): as on the command line.
    pub fn name(self) -> String {
        match self {
            Self::Contiguous => "contiguous".into(),
            Self::Paged { page_tokens } => format!("paged{page_tokens}"),
            Self::PagedAny => "paged".into(),
        }
    }
}

impl std::str::FromStr for LayoutKey {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "paged" => Ok(Self::PagedAny),
            other => other
                .parse::<CodeLayout>()
                .map(Self::of)
                .map_err(|e| format!("{e}, or paged (the tuner chooses the page size)")),
        }
    }
}

/// The method and kernel shape a config is tuned for, without the searched knobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KernelShape {
    pub head_dim: usize,
    pub group: usize,
    pub key_codec: VqCodec,
    pub value_codec: VqCodec,
    pub granularity: Granularity,
    pub transform: KeyTransform,
    pub output: OutputDtype,
    /// Absent in files from before paging: contiguous.
    #[serde(default)]
    pub layout: LayoutKey,
}

impl KernelShape {
    /// The default method (layer codebooks, smooth + Hadamard, fp16 output).
    pub fn new(head_dim: usize, group: usize, key_codec: VqCodec, value_codec: VqCodec) -> Self {
        Self::of(&KernelConfig::default_for(
            head_dim,
            group,
            key_codec,
            value_codec,
        ))
    }

    pub fn of(config: &KernelConfig) -> Self {
        Self {
            head_dim: config.head_dim,
            group: config.group,
            key_codec: config.key_codec,
            value_codec: config.value_codec,
            granularity: config.granularity,
            transform: config.transform,
            output: config.output,
            layout: LayoutKey::of(config.layout),
        }
    }

    /// Whether `config` may serve this shape: the same method and kernel shape, and a layout
    /// the key admits (any page size for [`LayoutKey::PagedAny`]).
    pub fn admits(&self, config: &KernelConfig) -> bool {
        Self::of(config).with_layout(self.layout) == *self && self.layout.admits(config.layout)
    }

    /// This shape with another layout.
    pub fn with_layout(self, layout: LayoutKey) -> Self {
        Self { layout, ..self }
    }

    /// The documented default heuristic for this shape ([`KernelConfig::default_for`]) with
    /// the shape's method fields.
    pub fn default_config(&self) -> KernelConfig {
        self.apply(KernelConfig::default_for(
            self.head_dim,
            self.group,
            self.key_codec,
            self.value_codec,
        ))
    }

    /// `config` with this shape's fields (for `PagedAny`, the config's page size if it has
    /// one, else the default page size).
    pub fn apply(&self, config: KernelConfig) -> KernelConfig {
        let layout = match self.layout {
            LayoutKey::Contiguous => CodeLayout::Contiguous,
            LayoutKey::Paged { page_tokens } => CodeLayout::Paged { page_tokens },
            LayoutKey::PagedAny => match config.layout {
                CodeLayout::Contiguous => CodeLayout::Paged {
                    page_tokens: DEFAULT_PAGE_TOKENS,
                },
                paged => paged,
            },
        };
        KernelConfig {
            head_dim: self.head_dim,
            group: self.group,
            key_codec: self.key_codec,
            value_codec: self.value_codec,
            granularity: self.granularity,
            transform: self.transform,
            output: self.output,
            layout,
            ..config
        }
    }
}

impl fmt::Display for KernelShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Contiguous keys keep the names they had before paging.
        write!(
            f,
            "d{}_g{}_k{}_v{}_{}_{}_{}{}",
            self.head_dim,
            self.group,
            self.key_codec,
            self.value_codec,
            self.granularity,
            self.transform.name(),
            match self.output {
                OutputDtype::F16 => "f16",
                OutputDtype::Bf16 => "bf16",
            },
            match self.layout {
                LayoutKey::Contiguous => String::new(),
                other => format!("_{}", other.name()),
            }
        )
    }
}

/// A kernel shape and the batch and sequence buckets: one entry of a tuned-configs file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TuneKey {
    pub shape: KernelShape,
    /// A power of two; see [`BATCH_BUCKETS`].
    pub batch: usize,
    /// A power of two; see [`SEQ_BUCKETS`].
    pub seq: usize,
}

impl TuneKey {
    /// The key whose buckets hold `batch` and `seq`.
    pub fn for_shape(shape: KernelShape, batch: usize, seq: usize) -> Self {
        Self {
            shape,
            batch: bucket(batch, BATCH_BUCKETS),
            seq: bucket(seq, SEQ_BUCKETS),
        }
    }

    /// Whether the buckets are what [`TuneKey::for_shape`] makes (a check on files).
    pub fn is_canonical(&self) -> bool {
        bucket(self.batch, BATCH_BUCKETS) == self.batch && bucket(self.seq, SEQ_BUCKETS) == self.seq
    }

    /// The entry's name in a tuned-configs file.
    pub fn id(&self) -> String {
        format!("{}_b{}_s{}", self.shape, self.batch, self.seq)
    }

    /// How far apart two keys' buckets are, in powers of two; `None` for different kernel
    /// shapes (a config tuned for one shape cannot run another).
    pub fn bucket_distance(&self, other: &TuneKey) -> Option<u32> {
        let log = |x: usize| x.max(1).ilog2() as i64;
        (self.shape == other.shape).then(|| {
            (log(self.batch) - log(other.batch)).unsigned_abs() as u32
                + (log(self.seq) - log(other.seq)).unsigned_abs() as u32
        })
    }

    /// A rough distance for error messages that name the nearest keys: shape fields that
    /// differ count 100 each, bucket steps 1 each.
    pub fn loose_distance(&self, other: &TuneKey) -> u32 {
        let (a, b) = (&self.shape, &other.shape);
        let differing = [
            a.head_dim != b.head_dim,
            a.group != b.group,
            a.key_codec != b.key_codec,
            a.value_codec != b.value_codec,
            a.granularity != b.granularity,
            a.transform != b.transform,
            a.output != b.output,
            a.layout != b.layout,
        ]
        .iter()
        .filter(|d| **d)
        .count() as u32;
        let aligned = TuneKey {
            shape: *a,
            ..*other
        };
        100 * differing + self.bucket_distance(&aligned).unwrap_or(0)
    }
}

impl fmt::Display for TuneKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_the_nearest_power_of_two_in_log_scale() {
        let b = |x| bucket(x, (1, 1024));
        assert_eq!(
            [b(1), b(2), b(3), b(5), b(6), b(8), b(11), b(12)],
            [1, 2, 4, 4, 8, 8, 8, 16]
        );
        // Clamped at both ends.
        assert_eq!(b(0), 1);
        assert_eq!(b(5000), 1024);
        assert_eq!(bucket(100, SEQ_BUCKETS), 256);
        assert_eq!(bucket(32768, SEQ_BUCKETS), 32768);
        assert_eq!(bucket(40000, SEQ_BUCKETS), 32768);
        assert_eq!(bucket(50000, SEQ_BUCKETS), 65536);
    }

    #[test]
    fn keys_round_shapes_and_measure_distance_within_one_kernel_shape() {
        let shape = KernelShape::new(128, 4, "d4b8".parse().unwrap(), "d4b8".parse().unwrap());
        let k = TuneKey::for_shape(shape, 6, 30000);
        assert_eq!((k.batch, k.seq), (8, 32768));
        assert!(k.is_canonical());
        assert_eq!(
            k.id(),
            "d128_g4_kd4b8_vd4b8_layer_smooth_hadamard_f16_b8_s32768"
        );
        let far = TuneKey::for_shape(shape, 64, 4096);
        assert_eq!(k.bucket_distance(&far), Some(3 + 3));
        let other = KernelShape::new(128, 4, "d2b8".parse().unwrap(), "d4b8".parse().unwrap());
        let k2 = TuneKey::for_shape(other, 8, 32768);
        assert_eq!(k.bucket_distance(&k2), None);
        assert_eq!(k.loose_distance(&k2), 100);
        assert!(!TuneKey { batch: 6, ..k }.is_canonical());
    }

    #[test]
    fn the_layout_is_part_of_the_key() {
        let shape = KernelShape::new(128, 4, "d4b8".parse().unwrap(), "d4b8".parse().unwrap());
        let paged = shape.with_layout(LayoutKey::Paged { page_tokens: 64 });
        let any = shape.with_layout(LayoutKey::PagedAny);
        let key = |s| TuneKey::for_shape(s, 8, 32768);
        assert_eq!(
            key(paged).id(),
            "d128_g4_kd4b8_vd4b8_layer_smooth_hadamard_f16_paged64_b8_s32768"
        );
        assert_eq!(
            key(any).id(),
            "d128_g4_kd4b8_vd4b8_layer_smooth_hadamard_f16_paged_b8_s32768"
        );
        assert_eq!(key(shape).bucket_distance(&key(paged)), None);
        assert_eq!(key(paged).loose_distance(&key(any)), 100);
        assert_eq!(
            paged.default_config().layout,
            CodeLayout::Paged { page_tokens: 64 }
        );
        let chosen = any.apply(KernelConfig {
            layout: CodeLayout::Paged { page_tokens: 256 },
            ..shape.default_config()
        });
        assert_eq!(chosen.layout, CodeLayout::Paged { page_tokens: 256 });
        assert!(LayoutKey::PagedAny.admits(chosen.layout));
        assert!(!LayoutKey::PagedAny.admits(CodeLayout::Contiguous));
        assert_eq!("paged".parse::<LayoutKey>().unwrap(), LayoutKey::PagedAny);
        assert_eq!(
            "paged128".parse::<LayoutKey>().unwrap(),
            LayoutKey::Paged { page_tokens: 128 }
        );
        assert!(
            "paged100"
                .parse::<LayoutKey>()
                .unwrap_err()
                .contains("paged16")
        );
        // Files from before paging read as contiguous.
        let old = r#"{"head_dim":128,"group":4,"key_codec":"d4b8","value_codec":"d4b8","granularity":"layer","transform":{"smooth":true,"hadamard":true},"output":"f16"}"#;
        assert_eq!(serde_json::from_str::<KernelShape>(old).unwrap(), shape);
    }
}
