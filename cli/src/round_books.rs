//! `vecinfer round-books`: a codebook file with its key books rounded to FP8 e4m3, for the GPU
//! kernels that keep d8b11 and d8b12 key books as e4m3 (`BookFormat::E4m3`).

use crate::error::{CliError, Result};
use std::path::Path;
use vecinfer_quant::CodebookSet;

/// `round-books`: the file's key books rounded to e4m3, with how much they moved.
pub fn run(codebooks: &Path, out: &Path) -> Result<()> {
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same(codebooks, out) {
        return Err(CliError::BadOption {
            option: "--out",
            given: out.display().to_string(),
            valid: "another file than --codebooks (writing over it would lose its f16 books)"
                .into(),
        });
    }
    let mut set = CodebookSet::load(codebooks)?;
    let before = set.clone();
    set.round_keys_to_e4m3();
    let (mut values, mut moved, mut error, mut norm) = (0usize, 0usize, 0f64, 0f64);
    for (name, layers) in &set.keys {
        for (rounded, original) in layers.iter().zip(&before.keys[name]) {
            for (r, o) in rounded.all().iter().zip(original.all()) {
                for (&a, &b) in r.centroids().iter().zip(o.centroids()) {
                    values += 1;
                    moved += usize::from(a != b);
                    error += f64::from(a - b).powi(2);
                    norm += f64::from(b).powi(2);
                }
            }
        }
    }
    set.save(out)?;
    println!(
        "{}: {moved} of {values} key centroid values moved to e4m3 (relative RMS change {:.2}%); wrote {}",
        codebooks.display(),
        100.0 * (error / norm.max(f64::MIN_POSITIVE)).sqrt(),
        out.display()
    );
    let k = set.meta.key_codec;
    if !vecinfer_codegen::e4m3_key_codec(k) {
        println!(
            "note: the GPU keeps e4m3 key books for d8b11 and d8b12 keys only; {k} keys run the f16 kernel, on the same rounded values"
        );
    }
    Ok(())
}
