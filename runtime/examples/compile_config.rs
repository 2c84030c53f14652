//! Compiles one kernel config with NVRTC, for reading its SASS without a GPU:
//!
//! ```sh
//! VECINFER_CACHE_DIR=$(mktemp -d) cargo run --release -p vecinfer-runtime --example compile_config -- \
//!     '{"head_dim":128,"group":4,...}' sm_90 out.cu
//! cuobjdump -sass $VECINFER_CACHE_DIR/kernels/*.cubin     # cuobjdump + nvdisasm: PyPI nvidia-cuda-{cuobjdump,nvdisasm}
//! ```
//! The append kernel of the same cache layout is compiled beside it (source in OUT.cu.append.cu),
//! and each kernel's registers, stack and spills are printed (ptxas' report, `resources`).
//! The config is `KernelConfig` JSON (as in a tuned-configs file or a snapshot's header). With
//! a fourth argument, that file's source is compiled instead of the emitted one (the emitted
//! source still goes to OUT.cu), for trying an edit of the generated code by hand.

use vecinfer_codegen::{KernelConfig, emit, emit_append};
use vecinfer_runtime::compile;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (config, arch, out, edited) = match args.as_slice() {
        [c, a, o] => (c, a, o, None),
        [c, a, o, e] => (c, a, o, Some(e)),
        _ => return Err("usage: compile_config CONFIG_JSON ARCH OUT.cu [EDITED.cu]".into()),
    };
    let config: KernelConfig = serde_json::from_str(config)?;
    let arch: &'static str = match arch.as_str() {
        "sm_80" => "sm_80",
        "sm_90" => "sm_90",
        other => return Err(format!("arch {other}: sm_80 or sm_90").into()),
    };
    let kernel = emit(&config, arch)?;
    std::fs::write(out, &kernel.source)?;
    let source = match edited {
        Some(path) => std::fs::read_to_string(path)?,
        None => kernel.source.clone(),
    };
    compile(&source, arch, &kernel.attention_entry)?;
    // The quantize-and-append kernel of the same cache layout, beside it.
    let append = emit_append(&config)?;
    std::fs::write(format!("{out}.append.cu"), &append.source)?;
    compile(&append.source, arch, append.entry())?;
    println!(
        "{}: {} threads, {} bytes of shared memory; CUBIN in {}",
        kernel.attention_entry,
        kernel.block_threads,
        kernel.shared_bytes,
        vecinfer_runtime::compile::kernel_cache_dir().display()
    );
    // Registers, stack and spills as ptxas reports them (what occupancy hangs on).
    for (name, text) in [("attention", &source), ("append", &append.source)] {
        for k in vecinfer_runtime::resources::kernel_resources(text, arch)? {
            println!(
                "{name}: {} {} registers, {} bytes stack, {} bytes spilled",
                k.entry, k.registers, k.stack_bytes, k.spill_store_bytes
            );
        }
    }
    Ok(())
}
