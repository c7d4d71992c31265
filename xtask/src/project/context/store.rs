//! Where contexts are kept (`contexts/` of the tool's cache), and who may
//! remove one: each build holds a shared lock (`flock`) on its context
//! folder for as long as it runs; pruning removes only a folder it can
//! lock exclusively, so never one a build is reading. A process killed
//! with SIGKILL holds no lock: its leftovers (`.new-*`, `.blobs-*`, …) are
//! removed once an hour old.

use std::fs::{File, TryLockError};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The folder that holds the contexts, under the tool's cache.
pub fn root(cache: &Path) -> PathBuf {
    cache.join("contexts")
}

/// The name of a commit's context: the commit, and for a project in a
/// folder of its repository (`prefix`, e.g. `tools/images/`) a short hash
/// of that folder, since the same commit holds other files there.
pub fn key(commit: &str, prefix: &str) -> String {
    if prefix.is_empty() {
        commit.to_string()
    } else {
        let digest = crate::support::sha256::digest(prefix.as_bytes());
        format!("{commit}-{}", &digest["sha256:".len()..][..16])
    }
}

/// Where the context named `key` is kept.
pub fn of_key(cache: &Path, key: &str) -> PathBuf {
    root(cache).join(key)
}

/// Whether `name` is a context's: 40 hex digits, maybe `-` and 16 more.
fn is_key(name: &str) -> bool {
    let hex = |s: &str| s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let (commit, folder) = name.split_once('-').unwrap_or((name, "0123456789abcdef"));
    commit.len() == 40 && hex(commit) && folder.len() == 16 && hex(folder)
}

/// Whether `name` is what a run makes for a while (a context being
/// written, the blobs it is written from, a dirty build's copy, one being
/// removed), or made in an earlier version (`.index-*`).
pub fn is_leftover(name: &str) -> bool {
    [".new-", ".blobs-", ".dirty-", ".old-", ".index-", ".iid-"]
        .iter()
        .any(|p| name.starts_with(p))
}

/// A new name under the contexts folder that no other process uses:
/// `.<what>-<pid>-<random hex>`.
pub fn fresh(cache: &Path, what: &str) -> PathBuf {
    fresh_in(&root(cache), what)
}

/// [`fresh`], given the contexts folder itself.
pub fn fresh_in(folder: &Path, what: &str) -> PathBuf {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    folder.join(format!(
        ".{what}-{}-{:016x}",
        std::process::id(),
        h.finish()
    ))
}

/// Whether the open `f` is still what `path` names (not renamed away).
fn still_at(f: &File, path: &Path) -> io::Result<bool> {
    let a = f.metadata()?;
    match std::fs::symlink_metadata(path) {
        Ok(b) => Ok(a.dev() == b.dev() && a.ino() == b.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// The existing folder `dir`, locked shared (waiting while a prune that
/// holds it removes it); `None` when there is none.
pub fn open_locked(dir: &Path) -> io::Result<Option<File>> {
    let f = match File::open(dir) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    f.lock_shared()?;
    Ok(still_at(&f, dir)?.then_some(f))
}

/// A new folder `dir` (mode 0755), locked shared before anything is in it.
pub fn make_locked(dir: &Path) -> io::Result<File> {
    std::fs::DirBuilder::new().mode(0o755).create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    let f = File::open(dir)?;
    f.lock_shared()?;
    Ok(f)
}

/// `path` locked exclusively, when no build holds it (and it is still
/// there): then it may be removed or replaced.
pub fn take_over(path: &Path) -> io::Result<Option<File>> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    match f.try_lock() {
        Ok(()) => Ok(still_at(&f, path)?.then_some(f)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// Remove `path` (a folder or a file) if no build holds it: renamed out of
/// the way first, so no build finds it half removed.
fn remove_unheld(cache: &Path, path: &Path) -> bool {
    let Ok(Some(lock)) = take_over(path) else {
        return false;
    };
    let gone = fresh(cache, "old");
    let doomed = if std::fs::rename(path, &gone).is_ok() {
        gone
    } else {
        path.to_path_buf()
    };
    let removed = if doomed.is_dir() {
        std::fs::remove_dir_all(&doomed)
    } else {
        std::fs::remove_file(&doomed)
    };
    drop(lock);
    removed.is_ok()
}

/// How old a run's leftover must be before it is removed.
const LEFTOVER_AGE: Duration = Duration::from_secs(3600);

/// Remove the contexts of older commits, keeping the `keep` most recently
/// used, and leftovers of runs an hour old; never what a build holds.
/// The paths removed.
pub fn prune(cache: &Path, keep: usize, now: SystemTime) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root(cache)) else {
        return Vec::new();
    };
    let mut contexts: Vec<(SystemTime, PathBuf)> = Vec::new();
    let mut old_leftovers = Vec::new();
    for e in entries.filter_map(Result::ok) {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(modified) = e.metadata().ok().and_then(|m| m.modified().ok()) else {
            continue;
        };
        if is_key(&name) {
            contexts.push((modified, e.path()));
        } else if is_leftover(&name)
            && now.duration_since(modified).unwrap_or_default() >= LEFTOVER_AGE
        {
            old_leftovers.push(e.path());
        }
    }
    contexts.sort();
    contexts.reverse();
    let older = contexts.into_iter().skip(keep).map(|(_, p)| p);
    older
        .chain(old_leftovers)
        .filter(|p| remove_unheld(cache, p))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_contexts_and_leftovers() {
        let c = "a".repeat(40);
        assert_eq!(key(&c, ""), c);
        let k = key(&c, "tools/images/");
        assert!(
            is_key(&k) && k.len() == 57 && k != key(&c, "tools/other/"),
            "{k}"
        );
        assert!(is_key(&c));
        for bad in ["", "a", ".new-1-ab", &format!("{c}-x"), &"A".repeat(40)] {
            assert!(!is_key(bad), "{bad}");
        }
        assert!(is_leftover(".new-1-00ff") && is_leftover(".index-9-1"));
        assert!(!is_leftover(&c) && !is_leftover("notes"));
    }

    #[test]
    fn prune_never_takes_a_context_a_build_holds() {
        let scratch = crate::support::scratch::Scratch::new("prune");
        let cache = scratch.path().to_path_buf();
        std::fs::create_dir_all(root(&cache)).unwrap();
        let at = |i: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + i);
        let mut held = Vec::new();
        for i in 0..6u64 {
            let dir = of_key(&cache, &format!("{i:040}"));
            let lock = make_locked(&dir).unwrap();
            File::open(&dir).unwrap().set_modified(at(i)).unwrap();
            // The oldest is in use by a build.
            if i == 0 {
                held.push(lock);
            }
        }
        let fresh_new = fresh(&cache, "new");
        std::fs::create_dir(&fresh_new).unwrap();
        let stale_new = fresh(&cache, "new");
        std::fs::create_dir(&stale_new).unwrap();
        File::open(&stale_new).unwrap().set_modified(at(0)).unwrap();
        let now = at(10_000);
        let mut removed = prune(&cache, 3, now);
        removed.sort();
        let mut want = vec![
            of_key(&cache, &format!("{:040}", 1)),
            of_key(&cache, &format!("{:040}", 2)),
            stale_new,
        ];
        want.sort();
        assert_eq!(removed, want);
        // Held, the three most recent, and the leftover of a run that may
        // still be writing it.
        assert!(of_key(&cache, &format!("{:040}", 0)).is_dir());
        assert!(fresh_new.is_dir());
        drop(held);
        assert_eq!(
            prune(&cache, 3, now),
            [of_key(&cache, &format!("{:040}", 0))]
        );
    }
}
