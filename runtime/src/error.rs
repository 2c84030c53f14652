use thiserror::Error;

#[derive(Debug, Error)]
pub enum RuntimeError {
    #[error(
        "libcuda (the NVIDIA driver) could not be loaded: install the NVIDIA driver, or run on a machine with an NVIDIA GPU"
    )]
    NoDriver,

    #[error(
        "libnvrtc could not be loaded (looked in LD_LIBRARY_PATH, $CUDA_HOME/lib64, /usr/local/cuda/lib64 and $VECINFER_NVRTC_DIR): install the CUDA toolkit's NVRTC, or `pip install nvidia-cuda-nvrtc==13.0.*` and set VECINFER_NVRTC_DIR to its nvidia/cu13/lib"
    )]
    NoNvrtc,

    #[error("no CUDA device {ordinal}: {source}")]
    NoDevice {
        ordinal: usize,
        #[source]
        source: cudarc::driver::DriverError,
    },

    #[error(
        "compute capability {major}.{minor} is not supported: vecinfer kernels need sm_80 or newer (A100, RTX 30xx/40xx, H100, H200)"
    )]
    UnsupportedArch { major: i32, minor: i32 },

    #[error(
        "NVRTC failed to compile {entry} for {arch} with options {options:?}:\n{log}\n--- generated source ---\n{source_text}"
    )]
    Compile {
        entry: String,
        arch: String,
        options: Vec<String>,
        log: String,
        source_text: String,
    },

    #[error("invalid kernel config: {0}")]
    Config(#[from] vecinfer_codegen::ConfigError),

    #[error("{0}")]
    Invalid(String),

    #[error(transparent)]
    Quant(#[from] vecinfer_quant::QuantError),

    #[error("CUDA driver call failed: {0}")]
    Driver(#[from] cudarc::driver::DriverError),
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;
