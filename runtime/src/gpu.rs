//! One CUDA device: its context, stream and the facts kernels are specialized for.

use crate::compile::arch_name;
use crate::error::{Result, RuntimeError};
use crate::libraries::{ensure_driver, ensure_nvrtc};
use cudarc::driver::sys::CUdevice_attribute;
use cudarc::driver::{CudaContext, CudaStream};
use std::sync::Arc;

pub struct Gpu {
    pub context: Arc<CudaContext>,
    pub stream: Arc<CudaStream>,
    pub name: String,
    pub arch: &'static str,
    pub sm_count: u32,
    pub max_shared_per_block: u32,
    pub compute_capability: (i32, i32),
    /// The driver's CUDA version, e.g. (13, 0).
    pub driver_version: (i32, i32),
}

impl Gpu {
    /// Opens device `ordinal`; the error says what is missing (driver, NVRTC, device).
    pub fn new(ordinal: usize) -> Result<Self> {
        ensure_driver()?;
        ensure_nvrtc()?;
        let context = CudaContext::new(ordinal)
            .map_err(|source| RuntimeError::NoDevice { ordinal, source })?;
        let (major, minor) = context.compute_capability()?;
        let arch = arch_name(major, minor)?;
        let sm_count =
            context.attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)? as u32;
        let max_shared_per_block = context
            .attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)?
            as u32;
        let mut version = 0;
        // SAFETY: the driver is loaded (checked above); the call only writes the int.
        unsafe { cudarc::driver::sys::cuDriverGetVersion(&mut version) }.result()?;
        Ok(Self {
            compute_capability: (major, minor),
            driver_version: (version / 1000, version % 1000 / 10),
            stream: context.default_stream(),
            name: context.name()?,
            arch,
            sm_count,
            max_shared_per_block,
            context,
        })
    }
}
