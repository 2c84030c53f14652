use thiserror::Error;

#[derive(Debug, Error)]
pub enum ModelError {
    #[error(
        "model file {path} not found: run `vecinfer fetch-model` or pass --model PATH to a Llama-architecture GGUF"
    )]
    ModelMissing { path: String },

    #[error("{path} is not a usable Llama GGUF: {problem}")]
    BadModel { path: String, problem: String },

    #[error("{path}: metadata {key} is {found}; expected {valid}")]
    InvalidMetadata {
        path: String,
        key: String,
        found: String,
        valid: String,
    },

    #[error("fetching the model failed: {0}")]
    Fetch(String),

    #[error("tokenizer: {0}")]
    Tokenizer(String),

    #[error("the text is empty after tokenization: nothing to evaluate or calibrate on")]
    EmptyText,

    #[error("invalid input: {0}")]
    InvalidInput(String),

    #[error(transparent)]
    Quant(#[from] vecinfer_quant::QuantError),

    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),

    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = ModelError> = std::result::Result<T, E>;

pub(crate) fn io_error(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> ModelError + '_ {
    move |source| ModelError::Io {
        path: path.display().to_string(),
        source,
    }
}
