//! The generated forward kernels, run on the CPU by a small SIMT emulation
//! (`emulation/simt.h`: a thread per CUDA thread, warp shuffles between barriers, fp16 through
//! `_Float16`) against double-precision references (`emulation/harness.cpp`): indexing,
//! layouts, split-K merging, masking and reductions are checked without a GPU. Needs a C++20
//! compiler with `_Float16` (`$CXX`, else g++ or clang++); skipped with a notice where there is
//! none.

use std::path::{Path, PathBuf};
use std::process::Command;
use vecinfer_codegen::{ForwardConfig, emit_forward};

/// A C++ compiler with C++20's `<barrier>` and `_Float16` (GCC 12, Clang 15), probed by
/// compiling a few lines.
fn compiler(dir: &Path) -> Option<String> {
    let probe = dir.join("probe.cpp");
    std::fs::write(
        &probe,
        "#include <barrier>\nint main() { std::barrier<> b(1); b.arrive_and_wait(); _Float16 h = 1; return (int)h - 1; }\n",
    )
    .ok()?;
    let candidates = std::env::var("CXX")
        .ok()
        .into_iter()
        .chain(["g++".to_string(), "clang++".to_string()]);
    candidates.into_iter().find(|c| {
        Command::new(c)
            .args(["-std=c++20", "-pthread", "-o"])
            .arg(dir.join("probe"))
            .arg(&probe)
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

fn run(config: ForwardConfig, cxx: &str, dir: &Path) {
    let emulation = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/emulation");
    let source = dir.join(format!("{}.cu", config.name()));
    std::fs::write(&source, emit_forward(&config).unwrap().source).unwrap();
    let binary = dir.join(config.name());
    let out = Command::new(cxx)
        .args(["-std=c++20", "-O1", "-pthread", "-w"])
        .arg(format!("-DFORWARD_SOURCE=\"{}\"", source.display()))
        .arg("-I")
        .arg(&emulation)
        .arg(emulation.join("harness.cpp"))
        .arg("-o")
        .arg(&binary)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: compiling the emulation failed:\n{}",
        config.name(),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(&binary).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{}:\n{text}", config.name());
    assert!(out.status.success(), "{}:\n{text}", config.name());
}

#[test]
fn forward_kernels_match_references_on_the_cpu_emulation() {
    let dir = tempfile::tempdir().unwrap();
    let Some(cxx) = compiler(dir.path()) else {
        eprintln!("SKIPPED: no C++20 compiler with <barrier> and _Float16 (set CXX)");
        return;
    };
    for config in [
        ForwardConfig::new(64, 3),
        ForwardConfig::new(128, 4),
        ForwardConfig {
            decode_warps: 2,
            decode_unroll: 8,
            prefill_warps: 8,
            ..ForwardConfig::new(64, 1)
        },
    ] {
        run(config, &cxx, dir.path());
    }
}
