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
