//! Kernel launches that may overlap the stream's previous kernel (Hopper's programmatic
//! dependent launch): such a kernel is started while its predecessor is still running, reads
//! its constant data (weights, codebooks), and waits in `griddepcontrol.wait` before it reads
//! anything the predecessor wrote (`codegen/src/cuda/dependent_launch.cuh`). The kernels that
//! wait so, and only they, may be launched this way: the fused attention, its merge, the
//! append, the FP16 cache's append and decode attention, and the skinny projections. The
//! others (`advance_lengths`, the forward pass's small kernels) are launched normally, which
//! waits for the previous kernel whenever it let dependents start (`advance_lengths` lets a
//! dependent launched right after it start at once: the contiguous cache's append, or the paged
//! cache's flush when dependent launches are on). cudarc's launch builder has
//! no launch attributes: this calls `cuLaunchKernelEx` with the arguments marshalled here.

use crate::error::{Result, RuntimeError};
use crate::gpu::Gpu;
use crate::storage::CacheGeometry;
use cudarc::driver::sys;
use cudarc::driver::{CudaFunction, CudaStream, LaunchConfig, SyncOnDrop};
use std::ffi::c_void;

/// One kernel argument, by value.
#[derive(Clone, Copy, Debug)]
pub enum KernelArg {
    /// A device address (`T*` in the kernel).
    Pointer(sys::CUdeviceptr),
    Int(i32),
    Float(f32),
    /// The cache's geometry, by value (`CacheGeometry` in `cache_view.cuh`).
    Geometry(CacheGeometry),
}

/// Programmatic dependent launch needs sm_90 or later (`griddepcontrol`).
pub fn supports_dependent_launches(arch: &str) -> bool {
    arch.strip_prefix("sm_")
        .and_then(|n| n.parse::<u32>().ok())
        .is_some_and(|n| n >= 90)
}

/// `on`, where `gpu` supports dependent launches; turning them on elsewhere is a typed error.
pub fn checked_setting(gpu: &Gpu, on: bool) -> Result<bool> {
    if on && !supports_dependent_launches(gpu.arch) {
        return Err(RuntimeError::Invalid(format!(
            "dependent launches need sm_90 or later; {} is {}",
            gpu.name, gpu.arch
        )));
    }
    Ok(on)
}

/// The device addresses a launch reads and writes, with cudarc's guards kept alive until the
/// launch is queued.
#[derive(Default)]
pub struct Buffers<'a> {
    guards: Vec<SyncOnDrop<'a>>,
}

impl<'a> Buffers<'a> {
    /// Keeps `guard` until the launch and gives its address as an argument.
    pub fn add(&mut self, (pointer, guard): (sys::CUdeviceptr, SyncOnDrop<'a>)) -> KernelArg {
        self.guards.push(guard);
        KernelArg::Pointer(pointer)
    }
}

/// Queues `function` on `stream` with `args`; with `dependent`, with programmatic stream
/// serialization allowed (only where the kernel waits with `griddepcontrol.wait` before it
/// reads its predecessor's results: sm_90 and later).
///
/// # Safety
/// `args` must match the kernel's parameters in number, order and type, every pointer must be
/// valid for what the kernel reads and writes with `config`, and `buffers` must hold them.
/// With `dependent`, the kernel must execute `griddepcontrol.wait` on every path before it
/// touches global memory that an earlier kernel of the stream may write or read (it may read
/// data no kernel writes, such as weights and codebooks, before): a dependent kernel that does
/// not wait breaks the ordering for every kernel after it.
pub unsafe fn launch(
    stream: &CudaStream,
    function: &CudaFunction,
    config: LaunchConfig,
    args: &[KernelArg],
    buffers: Buffers<'_>,
    dependent: bool,
) -> Result<()> {
    // SAFETY: the caller's contract, as this function's.
    unsafe { launch_in_clusters(stream, function, config, args, buffers, dependent, 1) }
}

/// Thread-block clusters need sm_90 or later.
pub fn supports_clusters(arch: &str) -> bool {
    supports_dependent_launches(arch)
}

/// A cluster holds 1 to 8 blocks (the portable size) and the grid whole clusters.
fn check_clusters(grid_x: u32, cluster: u32) -> Result<()> {
    if !(1..=8).contains(&cluster) || !grid_x.is_multiple_of(cluster) {
        return Err(RuntimeError::Invalid(format!(
            "clusters of {cluster} blocks for a grid of {grid_x} blocks along x: a cluster holds 1 to 8 blocks and the grid whole clusters"
        )));
    }
    Ok(())
}

/// As [`launch`], in clusters of `cluster` consecutive blocks along x (1: no clusters; more
/// needs sm_90, a grid of whole clusters and at most 8, the portable size). The kernel decides
/// what its blocks share.
///
/// # Safety
/// As [`launch`].
pub unsafe fn launch_in_clusters(
    stream: &CudaStream,
    function: &CudaFunction,
    config: LaunchConfig,
    args: &[KernelArg],
    buffers: Buffers<'_>,
    dependent: bool,
    cluster: u32,
) -> Result<()> {
    check_clusters(config.grid_dim.0, cluster)?;
    stream.context().bind_to_thread()?;
    // The values live in `values` (never resized after this) while the driver reads them.
    let mut values: Vec<KernelArg> = args.to_vec();
    let mut params: Vec<*mut c_void> = values
        .iter_mut()
        .map(|a| match a {
            KernelArg::Pointer(p) => p as *mut sys::CUdeviceptr as *mut c_void,
            KernelArg::Int(v) => v as *mut i32 as *mut c_void,
            KernelArg::Float(v) => v as *mut f32 as *mut c_void,
            KernelArg::Geometry(g) => g as *mut CacheGeometry as *mut c_void,
        })
        .collect();
    let mut attributes = Vec::with_capacity(2);
    if dependent {
        // SAFETY: a zeroed attribute is a valid "ignore" value; id and value set here.
        let mut attribute: sys::CUlaunchAttribute = unsafe { std::mem::zeroed() };
        attribute.id =
            sys::CUlaunchAttributeID::CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION;
        attribute.value.programmaticStreamSerializationAllowed = 1;
        attributes.push(attribute);
    }
    if cluster > 1 {
        // SAFETY: as above.
        let mut attribute: sys::CUlaunchAttribute = unsafe { std::mem::zeroed() };
        attribute.id = sys::CUlaunchAttributeID::CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
        attribute.value.clusterDim.x = cluster;
        attribute.value.clusterDim.y = 1;
        attribute.value.clusterDim.z = 1;
        attributes.push(attribute);
    }
    let launch_config = sys::CUlaunchConfig {
        gridDimX: config.grid_dim.0,
        gridDimY: config.grid_dim.1,
        gridDimZ: config.grid_dim.2,
        blockDimX: config.block_dim.0,
        blockDimY: config.block_dim.1,
        blockDimZ: config.block_dim.2,
        sharedMemBytes: config.shared_mem_bytes,
        hStream: stream.cu_stream(),
        attrs: if attributes.is_empty() {
            std::ptr::null_mut()
        } else {
            attributes.as_mut_ptr()
        },
        numAttrs: attributes.len() as u32,
    };
    // SAFETY: the caller's contract covers the arguments; `params` points into `values`,
    // alive until after the call, which copies them.
    unsafe {
        sys::cuLaunchKernelEx(
            &launch_config,
            function.cu_function(),
            params.as_mut_ptr(),
            std::ptr::null_mut(),
        )
    }
    .result()?;
    drop(buffers);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependent_launches_need_sm90_or_later() {
        assert!(supports_dependent_launches("sm_90"));
        assert!(supports_dependent_launches("sm_100"));
        assert!(!supports_dependent_launches("sm_89"));
        assert!(!supports_dependent_launches("sm_80"));
        assert!(!supports_dependent_launches("compute_90x"));
    }

    #[test]
    fn cluster_launches_need_whole_portable_clusters() {
        assert!(check_clusters(36, 4).is_ok());
        assert!(check_clusters(7, 1).is_ok());
        let err = check_clusters(10, 4).unwrap_err().to_string();
        assert!(err.contains("whole clusters"), "{err}");
        assert!(check_clusters(32, 16).is_err(), "past the portable size");
        assert!(check_clusters(32, 0).is_err());
    }
}
