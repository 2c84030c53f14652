//! The command-line tool on bad input: a non-zero exit and a message that says what is wrong
//! and what would be valid. None of these needs the model.

use std::process::Command;

fn vecinfer(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vecinfer"))
        .args(args)
        .output()
        .expect("the binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_bad_codec_lists_the_valid_forms() {
    let (ok, err) = vecinfer(&[
        "calibrate",
        "--text",
        "x.txt",
        "--k",
        "d3b8",
        "--out",
        "cb.safetensors",
    ]);
    assert!(!ok);
    assert!(
        err.contains("d3b8") && err.contains("d{d}b{b}") && err.contains("8..=12"),
        "{err}"
    );
}

#[test]
fn a_bad_method_lists_the_valid_ones() {
    let (ok, err) = vecinfer(&["eval", "--text", "x.txt", "--methods", "fp16,vq+foo"]);
    assert!(!ok);
    assert!(
        err.contains("vq+foo") && err.contains("vecinfer") && err.contains("kivi2"),
        "{err}"
    );
}

#[test]
fn vq_methods_without_codebooks_are_refused() {
    let (ok, err) = vecinfer(&["eval", "--text", "x.txt", "--methods", "vecinfer"]);
    assert!(!ok);
    assert!(err.contains("--codebooks"), "{err}");
}

#[test]
fn a_corrupt_codebook_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cb.safetensors");
    std::fs::write(&path, b"definitely not safetensors").unwrap();
    let (ok, err) = vecinfer(&[
        "eval",
        "--text",
        "x.txt",
        "--codebooks",
        path.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(
        err.contains("cb.safetensors") && err.contains("truncated or corrupt"),
        "{err}"
    );
}

#[test]
fn a_missing_model_says_how_to_get_one() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("t.txt");
    std::fs::write(&text, "some text").unwrap();
    let (ok, err) = vecinfer(&[
        "eval",
        "--text",
        text.to_str().unwrap(),
        "--methods",
        "fp16",
        "--model",
        "/nonexistent/m.gguf",
    ]);
    assert!(!ok);
    assert!(
        err.contains("/nonexistent/m.gguf") && err.contains("fetch-model"),
        "{err}"
    );
}

#[test]
fn a_bad_bench_shape_says_what_is_valid() {
    let (ok, err) = vecinfer(&["bench", "--shapes", "8by32768"]);
    assert!(!ok);
    assert!(err.contains("BATCHxSEQ"), "{err}");
}

#[test]
fn dump_kv_rejects_a_layer_the_model_lacks() {
    let (ok, err) = vecinfer(&[
        "dump-kv",
        "--text",
        "x.txt",
        "--layers",
        "99",
        "--out",
        "kv.safetensors",
        "--model",
        "/nonexistent/m.gguf",
    ]);
    assert!(!ok);
    // The model is checked first; either way the user is told what is wrong.
    assert!(
        err.contains("fetch-model") || err.contains("--layers"),
        "{err}"
    );
}
