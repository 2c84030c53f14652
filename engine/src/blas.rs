//! cuBLAS for the projections: fp16 weights and activations in, f32 accumulate and out.
//!
//! libcublas is opened at run time (cudarc `dynamic-loading`), so the binary starts on machines
//! without it; [`ensure_cublas`] finds it in the usual folders or says what to install.

use crate::error::{EngineError, Result};
use cudarc::cublas::{CudaBlas, result, sys};
use cudarc::driver::{CudaSlice, CudaStream, DevicePtr, DevicePtrMut};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// cuBLAS's own scratch, given to it up front so that no GEMM allocates while a CUDA graph is
/// being captured.
const WORKSPACE_BYTES: usize = 32 << 20;

fn cublas_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for var in ["CUDA_HOME", "CUDA_PATH"] {
        if let Some(v) = std::env::var_os(var) {
            dirs.push(PathBuf::from(&v).join("lib64"));
            dirs.push(PathBuf::from(v));
        }
    }
    dirs.push(PathBuf::from("/usr/local/cuda/lib64"));
    dirs.push(PathBuf::from("/usr/lib/x86_64-linux-gnu"));
    dirs
}

/// Makes libcublas loadable (libcublasLt first: cuBLAS opens it by soname), or says what is
/// missing.
pub fn ensure_cublas() -> Result<()> {
    static FOUND: OnceLock<bool> = OnceLock::new();
    let found = *FOUND.get_or_init(|| {
        // SAFETY: loading a shared library runs its initialisers; cuBLAS's are benign.
        if unsafe { sys::is_culib_present() } {
            return true;
        }
        for dir in cublas_dirs() {
            for major in ["13", "12"] {
                let lt = dir.join(format!("libcublasLt.so.{major}"));
                let blas = dir.join(format!("libcublas.so.{major}"));
                if !blas.is_file() {
                    continue;
                }
                // Kept loaded for the life of the process so the sonames stay resolvable.
                // SAFETY: as above.
                unsafe {
                    if let Ok(lib) = libloading::Library::new(&lt) {
                        std::mem::forget(lib);
                    }
                    if let Ok(lib) = libloading::Library::new(&blas) {
                        std::mem::forget(lib);
                        if sys::is_culib_present() {
                            return true;
                        }
                    }
                }
            }
        }
        false
    });
    if found {
        Ok(())
    } else {
        Err(EngineError::NoCublas)
    }
}

/// A cuBLAS handle on the engine's stream.
pub struct Blas {
    blas: CudaBlas,
    _workspace: CudaSlice<u8>,
}

/// `C = A·Bᵀ` of row-major matrices as cuBLAS's column-major arguments: a row-major
/// `[rows, k]` activation is a column-major `k × rows`, a row-major `[n, k]` weight a
/// column-major `k × n`; so `Cᵀ (n × rows) = Wᵀᵀ · Xᵀ`: `transa = T` on the weight,
/// `transb = N` on the activation, `m = n`, `n = rows`, leading dims `k`, `k`, `n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinearShape {
    pub rows: usize,
    pub n: usize,
    pub k: usize,
}

impl LinearShape {
    /// `(transa, transb, m, n, k, lda, ldb, ldc)` for cuBLAS.
    pub fn cublas_arguments(&self) -> (bool, bool, usize, usize, usize, usize, usize, usize) {
        (
            true, false, self.n, self.rows, self.k, self.k, self.k, self.n,
        )
    }
}

/// Column-major GEMM on the host with cuBLAS's argument conventions (`op(A)` is `m × k`,
/// `op(B)` `k × n`), for checking [`LinearShape::cublas_arguments`] without a GPU.
#[allow(clippy::too_many_arguments)]
pub fn host_gemm_column_major(
    (transa, transb, m, n, k, lda, ldb, ldc): (
        bool,
        bool,
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
    ),
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
) {
    for j in 0..n {
        for i in 0..m {
            let mut sum = 0f64;
            for p in 0..k {
                let av = if transa {
                    a[p + i * lda]
                } else {
                    a[i + p * lda]
                };
                let bv = if transb {
                    b[j + p * ldb]
                } else {
                    b[p + j * ldb]
                };
                sum += av as f64 * bv as f64;
            }
            c[i + j * ldc] = sum as f32;
        }
    }
}

impl Blas {
    pub fn new(stream: &Arc<CudaStream>) -> Result<Self> {
        ensure_cublas()?;
        let blas = CudaBlas::new(stream.clone())?;
        let workspace = stream.alloc_zeros::<u8>(WORKSPACE_BYTES)?;
        {
            let (pointer, _record) = workspace.device_ptr(stream);
            // SAFETY: the workspace outlives the handle (both live in `Self`; fields drop in
            // order, the handle first).
            unsafe {
                sys::cublasSetWorkspace_v2(
                    *blas.handle(),
                    pointer as *mut std::ffi::c_void,
                    WORKSPACE_BYTES,
                )
            }
            .result()?;
        }
        Ok(Self {
            blas,
            _workspace: workspace,
        })
    }

    /// `out[rows, n] = act[rows, k] · weight[n, k]ᵀ` (+ `out` when `accumulate`): fp16 inputs,
    /// f32 accumulation and output (tensor cores).
    pub fn linear(
        &self,
        stream: &CudaStream,
        act: &impl DevicePtr<u16>,
        weight: &CudaSlice<u16>,
        out: &mut impl DevicePtrMut<f32>,
        shape: LinearShape,
        accumulate: bool,
    ) -> Result<()> {
        let LinearShape { rows, n, k } = shape;
        if act.len() < rows * k || weight.len() != n * k || out.len() < rows * n {
            return Err(EngineError::Invalid(format!(
                "linear [{rows}, {k}] x [{n}, {k}]^T: buffers of {}, {} and {} values are too small",
                act.len(),
                weight.len(),
                out.len()
            )));
        }
        let (transa, transb, m, n_cols, k_inner, lda, ldb, ldc) = shape.cublas_arguments();
        let op = |t: bool| {
            if t {
                sys::cublasOperation_t::CUBLAS_OP_T
            } else {
                sys::cublasOperation_t::CUBLAS_OP_N
            }
        };
        let int = |x: usize| -> Result<i32> {
            i32::try_from(x).map_err(|_| EngineError::Invalid(format!("GEMM size {x} over 2^31")))
        };
        let alpha = 1.0f32;
        let beta = if accumulate { 1.0f32 } else { 0.0 };
        let (a, _ra) = weight.device_ptr(stream);
        let (b, _rb) = act.device_ptr(stream);
        let (c, _rc) = out.device_ptr_mut(stream);
        // SAFETY: the buffers hold the sizes checked above; the pointers are device pointers
        // on the handle's stream; alpha and beta are host f32 (the default pointer mode).
        unsafe {
            result::gemm_ex(
                *self.blas.handle(),
                op(transa),
                op(transb),
                int(m)?,
                int(n_cols)?,
                int(k_inner)?,
                (&alpha) as *const f32 as *const _,
                a as *const _,
                sys::cudaDataType_t::CUDA_R_16F,
                int(lda)?,
                b as *const _,
                sys::cudaDataType_t::CUDA_R_16F,
                int(ldb)?,
                (&beta) as *const f32 as *const _,
                c as *mut _,
                sys::cudaDataType_t::CUDA_R_32F,
                int(ldc)?,
                sys::cublasComputeType_t::CUBLAS_COMPUTE_32F,
                sys::cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cublas_arguments_compute_activation_times_weight_transposed() {
        let shape = LinearShape {
            rows: 3,
            n: 5,
            k: 4,
        };
        let act: Vec<f32> = (0..12).map(|i| i as f32 * 0.5 - 2.0).collect();
        let weight: Vec<f32> = (0..20).map(|i| (i * 7 % 11) as f32 - 5.0).collect();
        let mut out = vec![0f32; 15];
        host_gemm_column_major(shape.cublas_arguments(), &weight, &act, &mut out);
        for r in 0..3 {
            for j in 0..5 {
                let want: f32 = (0..4).map(|p| act[r * 4 + p] * weight[j * 4 + p]).sum();
                assert!((out[r * 5 + j] - want).abs() < 1e-5, "row {r} col {j}");
            }
        }
    }
}
