//! What ptxas gives each kernel of a source (registers, stack, spills), read from NVRTC's
//! verbose log: no GPU needed. The fused kernel's occupancy hangs on a few registers (the
//! default 2-bit Llama kernel sits at exactly 168, the most that lets three 128-thread blocks
//! share an SM: bench/results/kernel-s10), so this lets a test or a researcher see a change's
//! register cost before any device run.

use crate::compile::nvrtc_log;
use crate::error::{Result, RuntimeError};

/// One kernel's resources as ptxas reports them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelResources {
    pub entry: String,
    pub registers: u32,
    pub stack_bytes: u32,
    pub spill_store_bytes: u32,
    pub spill_load_bytes: u32,
}

/// Compiles `source` for `arch` with ptxas' verbose report and returns every entry function's
/// resources, in the order ptxas compiled them.
pub fn kernel_resources(source: &str, arch: &'static str) -> Result<Vec<KernelResources>> {
    let log = nvrtc_log(source, arch, &["--ptxas-options=--verbose"])?;
    let found = parse_ptxas_log(&log);
    if found.is_empty() {
        return Err(RuntimeError::Invalid(format!(
            "NVRTC's log for {arch} names no compiled entry function with its registers (ptxas --verbose); log:\n{log}"
        )));
    }
    Ok(found)
}

/// Entry functions with their stack, spills and registers from ptxas' `--verbose` lines:
/// "Compiling entry function 'NAME' for 'sm_90'", then "N bytes stack frame, N bytes spill
/// stores, N bytes spill loads", then "Used N registers". Device functions' lines (not entry
/// functions) are skipped.
pub fn parse_ptxas_log(log: &str) -> Vec<KernelResources> {
    let number_before = |line: &str, word: &str| -> Option<u32> {
        let end = line.find(word)?;
        line[..end].split_whitespace().last()?.parse().ok()
    };
    let mut out = Vec::new();
    let mut current: Option<KernelResources> = None;
    for line in log.lines() {
        if let Some(rest) = line.split("Compiling entry function '").nth(1) {
            let entry = rest.split('\'').next().unwrap_or_default().to_string();
            current = Some(KernelResources {
                entry,
                registers: 0,
                stack_bytes: 0,
                spill_store_bytes: 0,
                spill_load_bytes: 0,
            });
        } else if let Some(k) = current.as_mut() {
            if line.contains("bytes stack frame") {
                k.stack_bytes = number_before(line, "bytes stack frame").unwrap_or(0);
                k.spill_store_bytes = number_before(line, "bytes spill stores").unwrap_or(0);
                k.spill_load_bytes = number_before(line, "bytes spill loads").unwrap_or(0);
            } else if let Some(registers) = number_before(line, "registers") {
                k.registers = registers;
                out.extend(current.take());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_entry_function_of_a_ptxas_log() {
        let log = "x.cu(11): warning #177-D: variable \"STAGES\" was declared but never referenced\n\
ptxas info    : 173 bytes gmem\n\
ptxas info    : Compiling entry function 'vq_attention_a' for 'sm_90'\n\
ptxas info    : Function properties for vq_attention_a\n\
ptxas         .     24 bytes stack frame, 8 bytes spill stores, 4 bytes spill loads\n\
ptxas info    : Used 168 registers, used 1 barriers\n\
ptxas info    : Compile time = 558.554 ms\n\
ptxas info    : Compiling entry function 'vq_merge_a' for 'sm_90'\n\
ptxas info    : Function properties for vq_merge_a\n\
ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\n\
ptxas info    : Used 32 registers, used 1 barriers, 5184 bytes smem\n";
        let found = parse_ptxas_log(log);
        assert_eq!(
            found,
            vec![
                KernelResources {
                    entry: "vq_attention_a".into(),
                    registers: 168,
                    stack_bytes: 24,
                    spill_store_bytes: 8,
                    spill_load_bytes: 4,
                },
                KernelResources {
                    entry: "vq_merge_a".into(),
                    registers: 32,
                    stack_bytes: 0,
                    spill_store_bytes: 0,
                    spill_load_bytes: 0,
                },
            ]
        );
        assert!(parse_ptxas_log("nvrtc: error: no input").is_empty());
    }
}
