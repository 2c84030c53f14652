//! Finding libcuda and libnvrtc. cudarc opens them by soname; preloading a copy found in one
//! of the usual folders makes that soname resolve even when it is not on the loader's path.

use crate::error::{Result, RuntimeError};
use std::path::PathBuf;
use std::sync::OnceLock;

const NVRTC_SONAMES: [&str; 2] = ["libnvrtc.so.13", "libnvrtc.so.12"];

fn nvrtc_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for var in ["VECINFER_NVRTC_DIR", "CUDA_HOME", "CUDA_PATH"] {
        if let Some(v) = std::env::var_os(var) {
            let p = PathBuf::from(v);
            dirs.push(p.join("lib64"));
            dirs.push(p);
        }
    }
    dirs.push(PathBuf::from("/usr/local/cuda/lib64"));
    dirs.push(PathBuf::from("/usr/lib/x86_64-linux-gnu"));
    dirs
}

/// Makes libnvrtc loadable, or says what to install.
pub fn ensure_nvrtc() -> Result<()> {
    static FOUND: OnceLock<bool> = OnceLock::new();
    let found = *FOUND.get_or_init(|| {
        // SAFETY: loading a shared library runs its initialisers; libnvrtc's are benign.
        if unsafe { cudarc::nvrtc::sys::is_culib_present() } {
            return true;
        }
        for dir in nvrtc_dirs() {
            for name in NVRTC_SONAMES {
                let path = dir.join(name);
                if path.is_file() {
                    // libnvrtc opens its builtins library by soname: load it first from here.
                    preload_builtins(&dir);
                    // Kept loaded for the life of the process so the soname stays resolvable.
                    // SAFETY: a file named like libnvrtc in an NVRTC folder; loading it runs
                    // libnvrtc's initialisers, which are benign, and it is never unloaded.
                    if let Ok(lib) = unsafe { libloading_open(&path) } {
                        std::mem::forget(lib);
                        // SAFETY: as above: the probe loads libnvrtc by soname.
                        if unsafe { cudarc::nvrtc::sys::is_culib_present() } {
                            return true;
                        }
                    }
                }
            }
        }
        false
    });
    if found {
        Ok(())
    } else {
        Err(RuntimeError::NoNvrtc)
    }
}

/// Makes libcuda loadable, or says what to install.
pub fn ensure_driver() -> Result<()> {
    // SAFETY: the probe loads libcuda by soname; the driver's initialisers are benign.
    if unsafe { cudarc::driver::sys::is_culib_present() } {
        Ok(())
    } else {
        Err(RuntimeError::NoDriver)
    }
}

fn preload_builtins(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("libnvrtc-builtins.so.")
            && !name.contains(".alt.")
            // SAFETY: NVRTC's own builtins library beside libnvrtc; benign initialisers,
            // never unloaded.
            && let Ok(lib) = unsafe { libloading_open(&entry.path()) }
        {
            std::mem::forget(lib);
        }
    }
}

/// # Safety
/// Loading runs the library's initialisers: call it only on libraries whose initialisers are
/// sound to run (NVIDIA's).
unsafe fn libloading_open(
    path: &std::path::Path,
) -> std::result::Result<libloading::Library, libloading::Error> {
    // SAFETY: the caller vouches for the library (see above).
    unsafe { libloading::Library::new(path) }
}
