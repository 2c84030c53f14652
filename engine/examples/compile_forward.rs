//! Compiles the forward kernels of one shape with NVRTC, for reading their SASS without a GPU:
//!
//! ```sh
//! # prints each kernel's registers, stack and spills (ptxas' report)
//! VECINFER_CACHE_DIR=$(mktemp -d) cargo run --release -p vecinfer-engine --example compile_forward -- 64 3 sm_90 out.cu
//! cuobjdump -sass -res-usage $VECINFER_CACHE_DIR/kernels/*.cubin   # PyPI nvidia-cuda-{cuobjdump,nvdisasm}
//! ```

use vecinfer_codegen::{ForwardConfig, emit_forward};
use vecinfer_runtime::compile;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [head_dim, group, arch, out] = args.as_slice() else {
        return Err("usage: compile_forward HEAD_DIM GROUP sm_80|sm_90 OUT.cu".into());
    };
    let arch: &'static str = match arch.as_str() {
        "sm_80" => "sm_80",
        "sm_90" => "sm_90",
        other => return Err(format!("arch {other}: sm_80 or sm_90").into()),
    };
    let emitted = emit_forward(&ForwardConfig::new(head_dim.parse()?, group.parse()?))?;
    std::fs::write(out, &emitted.source)?;
    compile(&emitted.source, arch, "forward")?;
    // Registers, stack and spills as ptxas reports them: what decides how many blocks of
    // neighbouring kernels share an SM while a dependent launch waits.
    for k in vecinfer_runtime::resources::kernel_resources(&emitted.source, arch)? {
        println!(
            "{} {} registers, {} bytes stack, {} bytes spilled",
            k.entry, k.registers, k.stack_bytes, k.spill_store_bytes
        );
    }
    Ok(())
}
