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

    /// A kernel launched on a cache it was not generated for: reading it would go past the end
    /// of its buffers or decode codes with the wrong codebooks.
    #[error(
        "kernel {kernel} does not fit this cache: the kernel is for {what} {kernel_has}, the cache holds {cache_has}"
    )]
    KernelMismatch {
        kernel: String,
        what: &'static str,
        kernel_has: String,
        cache_has: String,
    },

    /// A device buffer of the wrong length for the launch.
    #[error("{what} must hold {expected} values, got {got}")]
    BufferLength {
        what: &'static str,
        expected: String,
        got: usize,
    },

    /// The page pool cannot hold what a step appends; no sequence was changed.
    #[error(
        "out of pages: the step needs {needed} more pages, {free} of the pool's {pool} are free (no sequence was changed; remove sequences or make the pool larger)"
    )]
    OutOfPages {
        needed: usize,
        free: usize,
        pool: usize,
    },

    /// Every sequence slot is taken.
    #[error(
        "no free sequence slot: the cache holds at most {slots} live sequences (remove one, or make the cache with more slots)"
    )]
    NoFreeSlot { slots: usize },

    #[error("sequence {0} is not live in this cache (never added, or removed)")]
    UnknownSequence(u64),

    #[error("sequence {0} appears twice in one batch: each live sequence may be in a batch once")]
    DuplicateSequence(u64),

    #[error(transparent)]
    Quant(#[from] vecinfer_quant::QuantError),

    #[error("CUDA driver call failed: {0}")]
    Driver(#[from] cudarc::driver::DriverError),
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;
