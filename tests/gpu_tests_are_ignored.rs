//! Honest test counts: every test that needs a GPU is `#[ignore]`d with the reason and the
//! command that runs it, so `cargo test` on a machine without a GPU never counts a kernel
//! that did not run as passed.

use std::path::{Path, PathBuf};

const IGNORE: &str = "#[ignore = \"needs an NVIDIA GPU: cargo test --release -- --ignored with VECINFER_REQUIRE_GPU=1\"]";

/// How a test that needs a GPU opens it (split, so this file does not match itself): the
/// shared helper, or opening a device and returning early when there is none. A test that
/// checks both outcomes (no early return) is honest without a GPU.
const HELPER: &str = concat!("gpu_or", "_skip()");
const OPEN: &str = concat!("Gpu::", "new(");

fn needs_a_gpu(body: &str) -> bool {
    body.contains(HELPER) || (body.contains(OPEN) && body.contains("return"))
}

/// Every `.rs` file of the workspace outside `target/` and hidden folders.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if !name.starts_with('.') && name != "target" {
                sources(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_test_that_opens_the_gpu_is_ignored_with_how_to_run_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let mut gpu_tests = 0;
    let mut unmarked = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        // Each piece is one test: its attributes, then its body up to the next test.
        for piece in text.split("#[test]\n").skip(1) {
            let body = piece.split("\n}\n").next().unwrap_or(piece);
            if needs_a_gpu(body) {
                gpu_tests += 1;
                if !piece.trim_start().starts_with(IGNORE) {
                    let name = piece.lines().find(|l| l.contains("fn ")).unwrap_or("?");
                    unmarked.push(format!("{}: {}", file.display(), name.trim()));
                }
            }
        }
    }
    assert!(gpu_tests >= 9, "found only {gpu_tests} GPU tests");
    assert!(
        unmarked.is_empty(),
        "GPU tests without {IGNORE}:\n{}",
        unmarked.join("\n")
    );
}
