use thiserror::Error;

#[derive(Debug, Error)]
pub enum EngineError {
    #[error(
        "libcublas is not loadable: install the CUDA toolkit's cuBLAS (libcublas.so.13 and libcublasLt.so.13, e.g. in /usr/local/cuda/lib64) or put its folder on LD_LIBRARY_PATH"
    )]
    NoCublas,

    #[error("{0}")]
    Invalid(String),

    #[error(transparent)]
    Runtime(#[from] vecinfer_runtime::RuntimeError),

    #[error(transparent)]
    Model(#[from] vecinfer_model::ModelError),

    #[error(transparent)]
    Quant(#[from] vecinfer_quant::QuantError),

    #[error(transparent)]
    Forward(#[from] vecinfer_codegen::ForwardError),

    #[error("CUDA driver: {0}")]
    Driver(#[from] cudarc::driver::DriverError),

    #[error("cuBLAS: {0:?}")]
    Blas(cudarc::cublas::result::CublasError),

    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
}

impl From<cudarc::cublas::result::CublasError> for EngineError {
    fn from(e: cudarc::cublas::result::CublasError) -> Self {
        EngineError::Blas(e)
    }
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
