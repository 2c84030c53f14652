//! VecInfer on the CPU: the method, the baselines and the reference decode attention.
//!
//! - [`codec`]: `d{d}b{b}` codecs; [`pack`]: the bit-packed code layout the GPU reads.
//! - [`transform`], [`hadamard`]: smooth + Hadamard key transforms with query compensation.
//! - [`kmeans`], [`search`], [`codebook`]: codebook training and nearest-centroid encoding.
//! - [`codebook_file`]: calibrated codebooks and smooth scales on disk (safetensors).
//! - [`plan`]: which codebooks serve each layer (a layer-wise bit allocation); [`plan_file`]:
//!   a plan in one file.
//! - [`method`]: FP16, VQ (± smooth, ± Hadamard), KIVI-2 behind one interface.
//! - [`attention`]: the reference decode attention over a quantized cache.
//! - [`anchors`]: anchor tokens chosen causally as they leave the window (kept at its precision).
//! - [`atomic_file`]: whole-file writes through a unique temp file and a rename.
//! - [`rotation`]: a learned key rotation (OPQ) in place of the Hadamard.
//! - [`weighting`]: how calibration weighs tokens in k-means (attention mass, Fisher-like).

pub mod anchors;
pub mod atomic_file;
pub mod attention;
pub mod codebook;
pub mod codebook_file;
pub mod codec;
pub mod error;
pub mod hadamard;
pub mod kivi;
pub mod kmeans;
pub mod method;
pub mod pack;
pub mod plan;
pub mod plan_file;
pub mod rotation;
pub mod search;
pub mod synthetic;
pub mod transform;
pub mod weighting;
pub mod window;

pub use anchors::{AnchorBudget, AnchorPolicy, AnchorRule};
pub use attention::{DecodeShape, ReferenceKvCache};
pub use codebook::{Codebook, Granularity, LayerCodebooks, round_to_e4m3};
pub use codebook_file::{CodebookMeta, CodebookSet, LayerParams};
pub use codec::VqCodec;
pub use error::{QuantError, Result};
pub use method::{CacheLayout, EffectiveBits, Method};
pub use plan::{CodebookPlan, Codebooks, PlanPart};
pub use transform::{KeyTransform, SmoothRule, SmoothStats};
pub use weighting::{CacheSide, TokenStatistics, WeightRule, WeightSource};
pub use window::WindowPrecision;
