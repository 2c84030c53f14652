//! Whole-file writes that never leave a half-written or mixed-up file behind.
//!
//! The bytes go to a temp file with a unique name beside the target (the `tempfile` crate),
//! are flushed to disk, then the temp file is renamed over the target. A reader sees the old
//! file or the new one, never part of one; two writers to one target leave one of the two
//! whole files; two writers to targets that share a stem (`cb.safetensors`, `cb.bin`) never
//! share a temp file; and on any error the temp file is removed.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically (see the module doc). Creates the parent folder.
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = parent(path);
    std::fs::create_dir_all(&dir)?;
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy());
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // tempfile creates 0600 files; the result should be readable as `File::create` makes it
    // (0666 less the umask), e.g. a codebook file shared with other users.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    // Dropping `tmp` on any early return deletes the temp file.
    let mut tmp = builder.tempfile_in(&dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The folder `path` is in (`.` for a bare file name).
pub fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn writes_replace_the_file_and_leave_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        write(&path, b"first").unwrap();
        write(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert_eq!(names(dir.path()), ["out.bin"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_ne!(
                mode & 0o044,
                0,
                "readable beyond the owner, as File::create: {mode:o}"
            );
        }
    }

    #[test]
    fn a_failed_write_keeps_the_old_target_and_removes_its_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        // A folder where the file should go: the rename fails.
        let path = dir.path().join("taken");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("inside"), b"kept").unwrap();
        assert!(write(&path, b"new").is_err());
        assert_eq!(names(dir.path()), ["taken"], "no temp file left");
        assert_eq!(std::fs::read(path.join("inside")).unwrap(), b"kept");
    }

    #[test]
    fn concurrent_writers_to_one_target_and_to_targets_sharing_a_stem_never_mix() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("cb.safetensors"), dir.path().join("cb.bin"));
        let body = |tag: u8| vec![tag; 1 << 16];
        std::thread::scope(|scope| {
            for tag in 0..4u8 {
                let (a, b) = (&a, &b);
                scope.spawn(move || {
                    for _ in 0..25 {
                        write(a, &body(tag)).unwrap();
                        write(b, &body(100 + tag)).unwrap();
                    }
                });
            }
        });
        let (a, b) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        assert!(
            a.iter().all(|&x| x == a[0]) && a[0] < 4,
            "one whole writer's file"
        );
        assert!(
            b.iter().all(|&x| x == b[0]) && b[0] >= 100,
            "the other target's own"
        );
        assert_eq!(names(dir.path()), ["cb.bin", "cb.safetensors"]);
    }
}
