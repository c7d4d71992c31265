//! Files written whole or not at all: a temporary file beside the target,
//! unpredictable and created exclusively (a file or link planted under that
//! name is never followed or reused), renamed over it. The tool's own
//! temporary files are known by path, so that `git status` can leave out
//! exactly those and no other.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Replace `path`'s contents atomically; the temporary file is removed on
/// every failure, and a signal received by then stops the write before the
/// rename (nothing written).
pub fn write(path: &Path, text: &str) -> Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let (tmp, mut f) = create_temp_beside(path, name)
        .with_context(|| format!("cannot create a temporary file beside {}", path.display()))?;
    let result = (|| -> Result<()> {
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        if let Ok(meta) = std::fs::metadata(path) {
            std::fs::set_permissions(&tmp, meta.permissions())?;
        }
        if crate::support::signals::happened() {
            return Err(crate::support::error::Interrupted.into());
        }
        std::fs::rename(&tmp, path)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// What marks the tool's own temporary files: `.<name>.xtask-<pid>-<hex>.tmp`.
const TEMP_MARK: &str = ".xtask-";

/// The temporary files this process created and has not yet renamed or
/// removed: the only untracked files that are not a change of the tree.
static OWN_TEMPS: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// [`OWN_TEMPS`] that still exist, relative to `root` (as git names them).
pub fn own_temp_files(root: &Path) -> Vec<String> {
    OWN_TEMPS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter(|p| p.exists())
        .filter_map(|p| p.strip_prefix(root).ok())
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

/// A new file beside `path`, named `.<name>.xtask-<pid>-<random hex>.tmp`
/// and created with O_CREAT|O_EXCL, so an existing file or symbolic link of
/// that name makes it try another name instead of writing through it.
fn create_temp_beside(
    path: &std::path::Path,
    name: &str,
) -> std::io::Result<(std::path::PathBuf, std::fs::File)> {
    use std::hash::{BuildHasher, Hasher};
    let mut last = None;
    for attempt in 0u32..16 {
        // RandomState is seeded from the OS's randomness once per process;
        // the attempt makes each name of this process differ.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(attempt);
        let tmp = path.with_file_name(format!(
            ".{name}{TEMP_MARK}{}-{:016x}.tmp",
            std::process::id(),
            h.finish()
        ));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(f) => {
                OWN_TEMPS
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(tmp.clone());
                return Ok((tmp, f));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free temporary name")))
}
