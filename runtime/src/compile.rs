//! NVRTC compilation with a module cache in memory and on disk, keyed by everything that
//! changes the result: the source's hash, the arch and the NVRTC version.

use crate::error::{Result, RuntimeError};
use crate::libraries::ensure_nvrtc;
use cudarc::nvrtc::{CompileError, CompileOptions, Ptx, compile_ptx_with_opts};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

/// Arch names NVRTC takes (`CompileOptions::arch` wants a `&'static str`).
pub fn arch_name(major: i32, minor: i32) -> Result<&'static str> {
    Ok(match (major, minor) {
        (8, 0) => "sm_80",
        (8, 6) => "sm_86",
        (8, 7) => "sm_87",
        (8, 9) => "sm_89",
        (9, 0) => "sm_90",
        (10, 0) => "sm_100",
        (12, 0) => "sm_120",
        _ => return Err(RuntimeError::UnsupportedArch { major, minor }),
    })
}

pub fn nvrtc_version() -> Result<(i32, i32)> {
    ensure_nvrtc()?;
    let (mut major, mut minor) = (0, 0);
    // SAFETY: the library is loaded (checked above); the call only writes the two ints.
    let status = unsafe { cudarc::nvrtc::sys::nvrtcVersion(&mut major, &mut minor) };
    if status != cudarc::nvrtc::sys::nvrtcResult::NVRTC_SUCCESS {
        return Err(RuntimeError::Invalid(format!(
            "nvrtcVersion failed: {status:?}"
        )));
    }
    Ok((major, minor))
}

const OPTIONS: [&str; 2] = ["--use_fast_math", "--std=c++17"];

/// `$VECINFER_CACHE_DIR/kernels`, else the user cache dir.
pub fn kernel_cache_dir() -> PathBuf {
    std::env::var_os("VECINFER_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|d| d.join("vecinfer")))
        .unwrap_or_else(|| PathBuf::from(".vecinfer-cache"))
        .join("kernels")
}

fn cache_key(source: &str, arch: &str, nvrtc: (i32, i32)) -> String {
    let mut h = Sha256::new();
    h.update(source.as_bytes());
    h.update(arch.as_bytes());
    h.update(format!("nvrtc {}.{} {:?}", nvrtc.0, nvrtc.1, OPTIONS).as_bytes());
    h.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Compiles `source` to PTX for `arch`; a failure carries NVRTC's log and the source.
/// Results are cached in memory and on disk.
pub fn compile(source: &str, arch: &'static str, entry: &str) -> Result<Ptx> {
    static MEMORY: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    let nvrtc = nvrtc_version()?;
    let key = cache_key(source, arch, nvrtc);
    let memory = MEMORY.get_or_init(Default::default);
    if let Some(ptx) = memory.lock().expect("cache lock").get(&key) {
        return Ok(Ptx::from_src(ptx.clone()));
    }
    let disk = kernel_cache_dir().join(format!("{key}.ptx"));
    if let Ok(ptx) = std::fs::read_to_string(&disk) {
        memory.lock().expect("cache lock").insert(key, ptx.clone());
        return Ok(Ptx::from_src(ptx));
    }
    let options = CompileOptions {
        arch: Some(arch),
        options: OPTIONS.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    let ptx = compile_ptx_with_opts(source, options).map_err(|e| match e {
        CompileError::CompileError { log, options, .. } => RuntimeError::Compile {
            entry: entry.to_string(),
            arch: arch.to_string(),
            options,
            log: log.to_string_lossy().into_owned(),
            source_text: source.to_string(),
        },
        other => RuntimeError::Compile {
            entry: entry.to_string(),
            arch: arch.to_string(),
            options: OPTIONS.iter().map(|s| s.to_string()).collect(),
            log: format!("{other:?}"),
            source_text: source.to_string(),
        },
    })?;
    let text = ptx.to_src();
    // Best effort: a read-only cache dir only costs a recompile next time.
    if std::fs::create_dir_all(disk.parent().expect("has a parent")).is_ok() {
        let tmp = disk.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, &text).is_ok() {
            let _ = std::fs::rename(&tmp, &disk);
        }
    }
    memory.lock().expect("cache lock").insert(key, text.clone());
    Ok(Ptx::from_src(text))
}
