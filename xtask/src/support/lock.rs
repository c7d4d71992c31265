//! Pushes and alias moves to one repository from one machine run one at a
//! time: each takes an exclusive file lock under the cache directory for
//! every repository it writes, from before it reads the registry until it
//! is done. Between machines a window remains (registries have no
//! compare-and-swap); the plan narrows it by reading the registry again
//! right before each write and right after it.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::support::error::{invalid, Interrupted};

/// Held locks; released when dropped (or when the process ends).
pub struct Held(#[allow(dead_code)] Vec<File>);

fn path_of(dir: &std::path::Path, kind: &str, key: &str) -> PathBuf {
    let name: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!("{kind}-{name}.lock"))
}

/// Lock every repository (sorted, so two runs never wait on each other in
/// a cycle), waiting as long as a transfer may take.
pub fn acquire(repositories: &[String]) -> Result<Held> {
    acquire_keys("push", repositories, "push to")
}

/// Lock a file's edit (`version set`/`bump` of one pyproject.toml): each
/// read-modify-write runs alone, so none is lost.
pub fn acquire_edit(file: &std::path::Path) -> Result<Held> {
    acquire_keys("edit", &[file.display().to_string()], "edit of")
}

fn acquire_keys(kind: &str, keys: &[String], what: &str) -> Result<Held> {
    let dir = crate::support::cache::dir().ok_or_else(|| {
        invalid(format!("cannot name a cache directory for the {kind} lock: set HOME or an absolute XDG_CACHE_HOME"))
    })?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut repos = keys.to_vec();
    repos.sort();
    repos.dedup();
    let limit = crate::support::process::limit_of(crate::support::process::Wait::Transfer);
    let mut files = Vec::new();
    for repo in repos {
        let p = path_of(&dir, kind, &repo);
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .with_context(|| format!("cannot open the lock {}", p.display()))?;
        let start = Instant::now();
        let mut said = false;
        loop {
            match f.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) => {
                    return Err(
                        anyhow::Error::new(e).context(format!("cannot lock {}", p.display()))
                    )
                }
            }
            if !said {
                crate::support::output::stderr_line(&format!(
                    "waiting for another {what} {repo} to finish (lock {})",
                    p.display()
                ));
                said = true;
            }
            if crate::support::signals::happened() {
                return Err(Interrupted.into());
            }
            if let Some((max, env)) = limit {
                if start.elapsed() >= max {
                    anyhow::bail!(
                        "another {what} {repo} held {} for {} s; raise {env} or look for a stuck process",
                        p.display(),
                        max.as_secs()
                    );
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        files.push(f);
    }
    Ok(Held(files))
}
