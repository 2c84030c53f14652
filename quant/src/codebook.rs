//! A trained codebook and the encode/decode of head vectors with it.

use crate::codec::VqCodec;
use crate::error::{QuantError, Result};
use crate::kmeans::{KMeansConfig, kmeans, weighted_kmeans};
use crate::pack::{pack_codes, unpack_code};
use crate::search::CentroidSearch;
use half::f16;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// `x` rounded to the nearest FP8 e4m3 value (ties to even), saturating at ±448; values under
/// 2^-6 round to its subnormals (steps of 2^-9). The rounding of the GPU's
/// `cvt.rn.satfinite.e4m3x2`.
pub fn round_to_e4m3(x: f32) -> f32 {
    float8::F8E4M3::from_f32(x).to_f32()
}

/// One codebook: `2^b` centroids of dimension `d`, held at fp16 precision (the stored form).
#[derive(Clone)]
pub struct Codebook {
    codec: VqCodec,
    /// Row-major `[2^b, d]`, every value exactly representable in fp16.
    centroids: Vec<f32>,
    search: CentroidSearch,
}

impl Codebook {
    /// Builds a codebook from centroids (row-major `[2^b, d]`), rounding them to fp16.
    pub fn new(codec: VqCodec, centroids: &[f32]) -> Result<Self> {
        let expected = codec.codebook_size() * codec.sub_dim();
        if centroids.len() != expected {
            return Err(QuantError::shape(
                format!("{codec} codebook"),
                expected,
                centroids.len(),
            ));
        }
        if centroids.iter().any(|v| !v.is_finite()) {
            return Err(QuantError::InvalidArgument(format!(
                "{codec} codebook has a non-finite centroid"
            )));
        }
        let centroids: Vec<f32> = centroids
            .iter()
            .map(|&v| f16::from_f32(v).to_f32())
            .collect();
        let search = CentroidSearch::new(&centroids, codec.sub_dim());
        Ok(Self {
            codec,
            centroids,
            search,
        })
    }

    /// Trains a codebook by k-means on sub-vectors (row-major `[n, d]`).
    pub fn train(codec: VqCodec, sub_vectors: &[f32], seed: u64) -> Result<Self> {
        let result = kmeans(
            sub_vectors,
            codec.sub_dim(),
            &KMeansConfig::new(codec.codebook_size(), seed),
        )?;
        Self::new(codec, &result.centroids)
    }

    /// [`Codebook::train`] with a weight per sub-vector (see [`weighted_kmeans`]).
    pub fn train_weighted(
        codec: VqCodec,
        sub_vectors: &[f32],
        weights: &[f32],
        seed: u64,
    ) -> Result<Self> {
        Self::train_with(
            codec,
            sub_vectors,
            Some(weights),
            &KMeansConfig::new(codec.codebook_size(), seed),
        )
    }

    /// Trains with a given k-means configuration (its `clusters` must be the codec's
    /// codebook size), weighted if `weights` is given.
    pub fn train_with(
        codec: VqCodec,
        sub_vectors: &[f32],
        weights: Option<&[f32]>,
        config: &KMeansConfig,
    ) -> Result<Self> {
        if config.clusters != codec.codebook_size() {
            return Err(crate::error::QuantError::InvalidArgument(format!(
                "k-means with {} clusters cannot train a {codec} codebook of {} centroids",
                config.clusters,
                codec.codebook_size()
            )));
        }
        let result = match weights {
            None => kmeans(sub_vectors, codec.sub_dim(), config)?,
            Some(w) => weighted_kmeans(sub_vectors, w, codec.sub_dim(), config)?,
        };
        Self::new(codec, &result.centroids)
    }

    pub fn codec(&self) -> VqCodec {
        self.codec
    }

    /// Row-major `[2^b, d]`.
    pub fn centroids(&self) -> &[f32] {
        &self.centroids
    }

    pub fn centroid(&self, index: usize) -> &[f32] {
        let d = self.codec.sub_dim();
        &self.centroids[index * d..(index + 1) * d]
    }

    pub fn to_f16(&self) -> Vec<f16> {
        self.centroids.iter().map(|&v| f16::from_f32(v)).collect()
    }

    /// This book with every centroid value rounded to FP8 e4m3 ([`round_to_e4m3`]): the books
    /// a kernel that keeps its key book as e4m3 reads exactly (`BookFormat::E4m3` in
    /// vecinfer-codegen). Encoding with it searches the rounded centroids, as the kernel's
    /// append then does. Every e4m3 value is an fp16 value, so nothing else rounds.
    pub fn to_e4m3(&self) -> Codebook {
        let centroids: Vec<f32> = self.centroids.iter().map(|&v| round_to_e4m3(v)).collect();
        let search = CentroidSearch::new(&centroids, self.codec.sub_dim());
        Codebook {
            codec: self.codec,
            centroids,
            search,
        }
    }

    /// The first centroid value that is not an e4m3 value (its index into
    /// [`Self::centroids`]), or None when an e4m3 kernel reads this book exactly.
    pub fn first_non_e4m3(&self) -> Option<(usize, f32)> {
        self.centroids
            .iter()
            .position(|&v| round_to_e4m3(v) != v)
            .map(|i| (i, self.centroids[i]))
    }

    pub fn scratch(&self) -> Vec<f32> {
        self.search.scratch()
    }

    /// Codes of one head vector, one per sub-vector.
    pub fn encode_vector(&self, x: &[f32], codes: &mut [u16], scratch: &mut [f32]) {
        for (sub, code) in x.chunks_exact(self.codec.sub_dim()).zip(codes.iter_mut()) {
            *code = self.search.nearest(sub, scratch).0 as u16;
        }
    }

    /// Packs the codes of one head vector into `row` (see [`crate::pack`]).
    pub fn encode_packed(&self, x: &[f32], row: &mut [u8], scratch: &mut [f32]) {
        // Head dims up to 256 fit on the stack; larger ones (any power of two is valid) do not.
        let m = x.len() / self.codec.sub_dim();
        let mut stack = [0u16; 128];
        let mut heap = Vec::new();
        let codes = if m <= stack.len() {
            &mut stack[..m]
        } else {
            heap.resize(m, 0);
            &mut heap[..]
        };
        self.encode_vector(x, codes, scratch);
        pack_codes(codes, self.codec.bits(), row);
    }

    pub fn decode_vector(&self, codes: &[u16], out: &mut [f32]) {
        for (&code, sub) in codes.iter().zip(out.chunks_exact_mut(self.codec.sub_dim())) {
            sub.copy_from_slice(self.centroid(code as usize));
        }
    }

    pub fn decode_packed(&self, row: &[u8], out: &mut [f32]) {
        let d = self.codec.sub_dim();
        for (m, sub) in out.chunks_exact_mut(d).enumerate() {
            sub.copy_from_slice(self.centroid(unpack_code(row, self.codec.bits(), m) as usize));
        }
    }

    /// Quantizes then dequantizes every row of `[rows, head_dim]` in place, in parallel.
    pub fn round_trip_rows(&self, rows: &mut [f32], head_dim: usize) -> Result<()> {
        let m = self.codec.codes_per_vector(head_dim)?;
        if !rows.len().is_multiple_of(head_dim) {
            return Err(QuantError::shape(
                "rows",
                format!("a multiple of {head_dim}"),
                rows.len(),
            ));
        }
        rows.par_chunks_mut(head_dim * 64).for_each_init(
            || (self.scratch(), vec![0u16; m]),
            |(scratch, codes), block| {
                for row in block.chunks_exact_mut(head_dim) {
                    self.encode_vector(row, codes, scratch);
                    self.decode_vector(codes, row);
                }
            },
        );
        Ok(())
    }
}

impl fmt::Debug for Codebook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Codebook({})", self.codec)
    }
}

/// Whether one codebook serves a whole layer, or each KV head has its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    /// One codebook per layer, shared by every KV head and sub-vector position.
    Layer,
    /// One codebook per (layer, KV head), shared by the sub-vector positions.
    Head,
}

impl Granularity {
    pub fn codebooks_per_layer(self, kv_heads: usize) -> usize {
        match self {
            Granularity::Layer => 1,
            Granularity::Head => kv_heads,
        }
    }
}

impl fmt::Display for Granularity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Granularity::Layer => "layer",
            Granularity::Head => "head",
        })
    }
}

impl FromStr for Granularity {
    type Err = QuantError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "layer" => Ok(Granularity::Layer),
            "head" => Ok(Granularity::Head),
            _ => Err(QuantError::InvalidArgument(format!(
                "granularity {s:?}: expected \"layer\" or \"head\" (calibrate takes both as layer,head)"
            ))),
        }
    }
}

/// The codebooks of one layer for keys or values: one, or one per KV head.
#[derive(Clone, Debug)]
pub struct LayerCodebooks {
    codebooks: Vec<Codebook>,
}

impl LayerCodebooks {
    pub fn new(codebooks: Vec<Codebook>) -> Result<Self> {
        if codebooks.is_empty() {
            return Err(QuantError::InvalidArgument(
                "a layer needs at least one codebook".into(),
            ));
        }
        Ok(Self { codebooks })
    }

    pub fn for_head(&self, kv_head: usize) -> &Codebook {
        if self.codebooks.len() == 1 {
            &self.codebooks[0]
        } else {
            &self.codebooks[kv_head]
        }
    }

    pub fn all(&self) -> &[Codebook] {
        &self.codebooks
    }

    pub fn codec(&self) -> VqCodec {
        self.codebooks[0].codec()
    }

    /// Every book rounded to e4m3 ([`Codebook::to_e4m3`]).
    pub fn to_e4m3(&self) -> Self {
        Self {
            codebooks: self.codebooks.iter().map(Codebook::to_e4m3).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    #[test]
    fn e4m3_rounding_is_nearest_even_saturating_with_subnormals() {
        // 3 mantissa bits: 1.0625 lies halfway between 1 and 1.125 and goes to the even 1.
        assert_eq!(round_to_e4m3(1.0625), 1.0);
        assert_eq!(round_to_e4m3(1.1875), 1.25);
        assert_eq!(round_to_e4m3(-0.3), -0.3125);
        assert_eq!(round_to_e4m3(448.0), 448.0);
        assert_eq!(round_to_e4m3(1000.0), 448.0);
        assert_eq!(round_to_e4m3(-1000.0), -448.0);
        // Subnormals: multiples of 2^-9 below 2^-6.
        assert_eq!(round_to_e4m3(3.1 / 512.0), 3.0 / 512.0);
        assert_eq!(round_to_e4m3(0.4 / 512.0), 0.0);
    }

    #[test]
    fn a_book_rounded_to_e4m3_is_exact_and_encodes_against_its_own_centroids() {
        let codec: VqCodec = "d8b12".parse().unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let cents: Vec<f32> = (0..4096 * 8).map(|_| rng.random_range(-3.0..3.0)).collect();
        let book = Codebook::new(codec, &cents).unwrap();
        let (index, value) = book
            .first_non_e4m3()
            .expect("random f16 values are not e4m3");
        assert_eq!(book.centroids()[index], value);
        let e4m3 = book.to_e4m3();
        assert_eq!(e4m3.first_non_e4m3(), None);
        // Every e4m3 value is an f16 value: the stored form keeps it.
        let reread = Codebook::new(codec, e4m3.centroids()).unwrap();
        assert_eq!(reread.centroids(), e4m3.centroids());
        // Encoding searches the rounded centroids: a rounded centroid encodes to itself.
        let mut scratch = e4m3.scratch();
        let mut codes = [0u16; 1];
        e4m3.encode_vector(e4m3.centroid(1234), &mut codes, &mut scratch);
        assert_eq!(e4m3.centroid(codes[0] as usize), e4m3.centroid(1234));
        let max_error = book
            .centroids()
            .iter()
            .zip(e4m3.centroids())
            .map(|(a, b)| (a - b).abs() / a.abs().max(1.0 / 64.0))
            .fold(0f32, f32::max);
        assert!(
            max_error <= 1.0 / 16.0,
            "relative rounding error {max_error}"
        );
    }

    #[test]
    fn encode_decode_picks_the_nearest_centroid() {
        let codec: VqCodec = "d4b8".parse().unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        let cents: Vec<f32> = (0..256 * 4).map(|_| rng.random_range(-1.0..1.0)).collect();
        let cb = Codebook::new(codec, &cents).unwrap();
        let mut scratch = cb.scratch();
        // A vector made of exact centroids encodes to them.
        let picks = [3usize, 200, 17, 255, 0, 9, 9, 100, 1, 2, 3, 4, 5, 6, 7, 8];
        let x: Vec<f32> = picks
            .iter()
            .flat_map(|&p| cb.centroid(p).to_vec())
            .collect();
        let mut row = vec![0u8; codec.packed_bytes(64).unwrap()];
        cb.encode_packed(&x, &mut row, &mut scratch);
        let mut back = vec![0f32; 64];
        cb.decode_packed(&row, &mut back);
        assert_eq!(x, back);
    }

    #[test]
    fn encodes_head_dims_past_256() {
        let codec: VqCodec = "d2b8".parse().unwrap();
        let cents: Vec<f32> = (0..512).map(|i| i as f32 * 0.01).collect();
        let cb = Codebook::new(codec, &cents).unwrap();
        let x: Vec<f32> = (0..1024).map(|i| (i % 512) as f32 * 0.01).collect();
        let mut row = vec![0u8; codec.packed_bytes(1024).unwrap()];
        cb.encode_packed(&x, &mut row, &mut cb.scratch());
        let mut back = vec![0f32; 1024];
        cb.decode_packed(&row, &mut back);
        assert_eq!(
            back,
            x.iter()
                .map(|&v| half::f16::from_f32(v).to_f32())
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn rejects_wrong_sizes() {
        let codec: VqCodec = "d4b8".parse().unwrap();
        assert!(Codebook::new(codec, &[0.0; 10]).is_err());
        assert!(Codebook::new(codec, &vec![f32::NAN; 1024]).is_err());
    }
}
