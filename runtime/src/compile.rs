//! NVRTC compilation (to CUBIN) with a module cache in memory and on disk, keyed by everything that
//! changes the result: the source's hash, the arch and the NVRTC version.

use crate::error::{Result, RuntimeError};
use crate::libraries::ensure_nvrtc;
use cudarc::nvrtc::Ptx;
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

/// Compiles `source` to a CUBIN for `arch` (NVRTC runs ptxas itself, so loading needs no
/// driver JIT and parallel compiles scale across threads); a failure carries NVRTC's log and
/// the source. Results are cached in memory and on disk.
pub fn compile(source: &str, arch: &'static str, entry: &str) -> Result<Ptx> {
    static MEMORY: OnceLock<Mutex<HashMap<String, Vec<u8>>>> = OnceLock::new();
    let nvrtc = nvrtc_version()?;
    let key = cache_key(source, arch, nvrtc);
    let memory = MEMORY.get_or_init(Default::default);
    if let Some(cubin) = memory.lock().expect("cache lock").get(&key) {
        return Ok(Ptx::from_binary(cubin.clone()));
    }
    let disk = kernel_cache_dir().join(format!("{key}.cubin"));
    if let Ok(cubin) = std::fs::read(&disk) {
        memory
            .lock()
            .expect("cache lock")
            .insert(key, cubin.clone());
        return Ok(Ptx::from_binary(cubin));
    }
    let cubin = nvrtc_cubin(source, arch).map_err(|log| RuntimeError::Compile {
        entry: entry.to_string(),
        arch: arch.to_string(),
        options: options(arch),
        log,
        source_text: source.to_string(),
    })?;
    store_on_disk(&disk, &cubin);
    memory
        .lock()
        .expect("cache lock")
        .insert(key, cubin.clone());
    Ok(Ptx::from_binary(cubin))
}

/// Best effort: a read-only cache dir only costs a recompile next time. A unique temp file
/// renamed into place, so threads or processes compiling the same source never write into
/// one file, and a reader sees a whole CUBIN or none.
fn store_on_disk(path: &std::path::Path, cubin: &[u8]) {
    let _ = vecinfer_quant::atomic_file::write(path, cubin);
}

fn options(arch: &str) -> Vec<String> {
    let mut o = vec![format!("--gpu-architecture={arch}")];
    o.extend(OPTIONS.iter().map(|s| s.to_string()));
    o
}

/// NVRTC's log of compiling `source` for `arch` with the usual options and `extra` (e.g.
/// ptxas' verbose report); not cached. A failure is [`RuntimeError::Compile`] with the log.
pub(crate) fn nvrtc_log(source: &str, arch: &'static str, extra: &[&str]) -> Result<String> {
    ensure_nvrtc()?;
    let mut opts = options(arch);
    opts.extend(extra.iter().map(|s| s.to_string()));
    // SAFETY: `program_log` reads the program `with_compiled` created and has not destroyed.
    with_compiled(source, &opts, |prog| unsafe { program_log(prog) }).map_err(|log| {
        RuntimeError::Compile {
            entry: "(resource report)".to_string(),
            arch: arch.to_string(),
            options: opts.clone(),
            log,
            source_text: source.to_string(),
        }
    })
}

/// One NVRTC program to CUBIN; the error is NVRTC's log (or what failed).
fn nvrtc_cubin(source: &str, arch: &str) -> std::result::Result<Vec<u8>, String> {
    use cudarc::nvrtc::sys;
    with_compiled(source, &options(arch), |prog| {
        let mut size = 0usize;
        // SAFETY: `prog` is a compiled, live program; the data call writes into a buffer of
        // the size NVRTC reports.
        unsafe {
            sys::nvrtcGetCUBINSize(prog, &mut size)
                .result()
                .and_then(|()| {
                    let mut cubin = vec![0u8; size];
                    sys::nvrtcGetCUBIN(prog, cubin.as_mut_ptr().cast())
                        .result()
                        .map(|()| cubin)
                })
                .map_err(|e| format!("reading the CUBIN failed: {e:?}"))
        }
    })
}

/// Compiles one NVRTC program with `opts` and reads what `read` takes from it (its CUBIN, its
/// log) before destroying it; a failed compile gives NVRTC's log (or what failed).
fn with_compiled<T>(
    source: &str,
    opts: &[String],
    read: impl FnOnce(cudarc::nvrtc::sys::nvrtcProgram) -> std::result::Result<T, String>,
) -> std::result::Result<T, String> {
    use cudarc::nvrtc::result;
    let src = std::ffi::CString::new(source).map_err(|e| format!("source has a NUL byte: {e}"))?;
    let prog = result::create_program(&src, None).map_err(|e| format!("{e:?}"))?;
    // SAFETY: `prog` was created above, is read only while live, and is destroyed once, at
    // the end.
    unsafe {
        let out = match result::compile_program(prog, opts) {
            Ok(()) => read(prog),
            Err(e) => Err(program_log(prog).unwrap_or_else(|_| format!("{e:?}"))),
        };
        let _ = result::destroy_program(prog);
        out
    }
}

/// The program's log as text.
///
/// # Safety
/// `prog` must be a live NVRTC program.
unsafe fn program_log(
    prog: cudarc::nvrtc::sys::nvrtcProgram,
) -> std::result::Result<String, String> {
    // SAFETY: the caller's contract; the log is a NUL-terminated buffer NVRTC filled.
    unsafe {
        cudarc::nvrtc::result::get_program_log(prog)
            .map(|log| {
                std::ffi::CStr::from_ptr(log.as_ptr())
                    .to_string_lossy()
                    .into_owned()
            })
            .map_err(|e| format!("reading the log failed: {e:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_storing_one_kernel_leave_one_whole_file_and_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kernels").join("abc.cubin");
        std::thread::scope(|scope| {
            for t in 0..8u8 {
                let path = &path;
                scope.spawn(move || {
                    for _ in 0..20 {
                        store_on_disk(path, &vec![t; 1 << 15]);
                    }
                });
            }
        });
        let cubin = std::fs::read(&path).unwrap();
        assert_eq!(cubin.len(), 1 << 15);
        assert!(
            cubin.iter().all(|&b| b == cubin[0]),
            "one thread's whole file"
        );
        let files = std::fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(files, 1, "no temp files left");
    }
}
