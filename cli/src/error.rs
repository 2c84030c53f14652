use thiserror::Error;

#[derive(Debug, Error)]
pub enum CliError {
    #[error(transparent)]
    Model(#[from] vecinfer_model::ModelError),
    #[error(transparent)]
    Quant(#[from] vecinfer_quant::QuantError),
    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Runtime(Box<vecinfer_runtime::RuntimeError>),
    #[error(transparent)]
    Store(#[from] vecinfer_tuner::StoreError),
    /// A command-line value that cannot be honoured as given.
    #[error("{option} {given}: {valid}")]
    BadOption {
        option: &'static str,
        given: String,
        valid: String,
    },
    /// A quantizing method on windows too short to quantize anything.
    #[error(
        "{method} would quantize nothing: windows of {window} tokens keep all in fp16 ({sinks} sinks + {residual} residual); make --ctx larger than sinks + residual{extra}, or lower --residual / --sinks"
    )]
    NothingQuantized {
        method: String,
        window: usize,
        sinks: usize,
        residual: usize,
        /// KIVI's group note, or empty.
        extra: String,
    },
    /// `compare-tuning --exhaustive` given a file that is not a complete exhaustive run.
    #[error(
        "{path} cannot be the exhaustive reference: entry {key} is {what}; pass a file tuned with --strategy exhaustive to completion"
    )]
    NotExhaustive {
        path: String,
        key: String,
        what: String,
    },
    #[error(transparent)]
    Engine(Box<vecinfer_engine::EngineError>),
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = CliError> = std::result::Result<T, E>;

impl From<vecinfer_runtime::RuntimeError> for CliError {
    fn from(e: vecinfer_runtime::RuntimeError) -> Self {
        CliError::Runtime(Box::new(e))
    }
}

impl From<vecinfer_engine::EngineError> for CliError {
    fn from(e: vecinfer_engine::EngineError) -> Self {
        CliError::Engine(Box::new(e))
    }
}

impl From<cudarc::driver::DriverError> for CliError {
    fn from(e: cudarc::driver::DriverError) -> Self {
        CliError::Engine(Box::new(e.into()))
    }
}

pub(crate) fn io_error(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> CliError + '_ {
    move |source| CliError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Writes a whole output file atomically (a unique temp file renamed over `path`): a failed
/// or concurrent write never leaves a corrupt file where a good one was.
pub fn write_output(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    vecinfer_quant::atomic_file::write(path, bytes).map_err(io_error(path))
}

/// A count option that must be at least 1: a typed error naming it and what would be valid
/// (never raised to 1 without a word).
pub fn at_least_one(option: &'static str, value: usize, valid: &str) -> Result<()> {
    if value == 0 {
        return Err(CliError::BadOption {
            option,
            given: "0".into(),
            valid: valid.into(),
        });
    }
    Ok(())
}
