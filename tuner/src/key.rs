//! The tuning key: what a tuned entry is for. It holds what the user fixes and what changes
//! the best config (head dim, GQA group, codecs, granularity, transform, output dtype, and the
//! batch and sequence length rounded to powers of two), never the list of candidates.

use serde::{Deserialize, Serialize};
use std::fmt;
use vecinfer_codegen::{KernelConfig, OutputDtype};
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
        }
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

    /// `config` with this shape's fields.
    pub fn apply(&self, config: KernelConfig) -> KernelConfig {
        KernelConfig {
            head_dim: self.head_dim,
            group: self.group,
            key_codec: self.key_codec,
            value_codec: self.value_codec,
            granularity: self.granularity,
            transform: self.transform,
            output: self.output,
            ..config
        }
    }
}

impl fmt::Display for KernelShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "d{}_g{}_k{}_v{}_{}_{}_{}",
            self.head_dim,
            self.group,
            self.key_codec,
            self.value_codec,
            self.granularity,
            self.transform.name(),
            match self.output {
                OutputDtype::F16 => "f16",
                OutputDtype::Bf16 => "bf16",
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
}
