//! One error type for the CPU method: every variant says what was wrong and what is valid.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum QuantError {
    #[error(
        "invalid codec {given:?}: expected d{{d}}b{{b}} with d in {{2, 4, 8}} and b in 8..=12 (e.g. d2b8 = 4 bit, d4b8 = 2 bit, d8b12 = 1.5 bit, d8b10 = 1.25 bit)"
    )]
    InvalidCodec { given: String },

    #[error("head dim {0} is not supported: it must be a power of two (e.g. 64 or 128)")]
    HeadDimNotPowerOfTwo(usize),

    #[error("head dim {head_dim} is not a multiple of the codec's sub-vector dim {sub_dim}")]
    HeadDimNotDivisible { head_dim: usize, sub_dim: usize },

    #[error("shape mismatch in {what}: expected {expected}, got {got}")]
    ShapeMismatch {
        what: String,
        expected: String,
        got: String,
    },

    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    #[error(
        "k-means weight {value} of point {index} is not valid: weights must be finite and positive (leave out a point that should not count)"
    )]
    InvalidWeight { index: usize, value: f32 },

    #[error("unknown method {given:?}: valid methods are {valid}")]
    UnknownMethod { given: String, valid: String },

    #[error("codebook file {path}: {problem}")]
    CodebookFile { path: String, problem: String },

    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = QuantError> = std::result::Result<T, E>;

impl QuantError {
    pub(crate) fn shape(
        what: impl Into<String>,
        expected: impl ToString,
        got: impl ToString,
    ) -> Self {
        QuantError::ShapeMismatch {
            what: what.into(),
            expected: expected.to_string(),
            got: got.to_string(),
        }
    }
}
