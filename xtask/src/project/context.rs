//! The build context: exactly the files of a commit, as a clean checkout
//! holds them, in a folder of the tool's cache that docker reads as the
//! context (the docker CLI applies `.dockerignore` to it as to any folder).
//! Nothing ignored, untracked, skip-worktree or assume-unchanged can enter.
//!
//! A clean build's context is the commit's: git writes it
//! (`git read-tree` into an index of our own, then `git checkout-index`,
//! which applies the repository's filters as a checkout does), once per
//! commit, into `contexts/<commit>`; the same commit reuses it. A dirty
//! development build's context is the working tree's tracked files, copied
//! afresh for the build and removed after it.

use std::path::{Path, PathBuf};

/// The folder that holds the contexts, under the tool's cache.
pub fn root(cache: &Path) -> PathBuf {
    cache.join("contexts")
}

/// Where a commit's context is kept.
pub fn of_commit(cache: &Path, commit: &str) -> PathBuf {
    root(cache).join(commit)
}

/// A new name under the contexts folder that no other process uses:
/// `.<what>-<pid>-<random hex>`.
pub fn fresh(cache: &Path, what: &str) -> PathBuf {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    root(cache).join(format!(
        ".{what}-{}-{:016x}",
        std::process::id(),
        h.finish()
    ))
}

/// One entry of `git ls-files --stage -z`: mode and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked {
    pub mode: u32,
    pub path: String,
}

/// Parse `git ls-files --stage -z` (`<mode> <object> <stage>\t<path>\0`).
/// A path is relative and stays inside the tree.
pub fn parse_tracked(text: &str) -> Result<Vec<Tracked>, String> {
    let mut out: Vec<Tracked> = Vec::new();
    for entry in text.split('\0').filter(|e| !e.is_empty()) {
        let (meta, path) = entry
            .split_once('\t')
            .ok_or_else(|| format!("git ls-files printed {entry:?}"))?;
        let mode = meta
            .split(' ')
            .next()
            .and_then(|m| u32::from_str_radix(m, 8).ok())
            .ok_or_else(|| format!("git ls-files printed the mode of {path:?} as {meta:?}"))?;
        let inside = !path.is_empty()
            && !path.starts_with('/')
            && path
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != "..");
        if !inside {
            return Err(format!("git ls-files printed the path {path:?}"));
        }
        // A path in conflict is listed once per stage.
        if out.last().is_none_or(|t| t.path != path) {
            out.push(Tracked {
                mode,
                path: path.to_string(),
            });
        }
    }
    Ok(out)
}

/// Copy the tracked files of the working tree `root` into `dest`, as they
/// are now: regular files with their executable bit, symbolic links as
/// links, a submodule as an empty folder (as a clone without its
/// submodules holds it). A tracked file missing from the working tree is
/// missing from the copy.
pub fn copy_tracked(root: &Path, files: &[Tracked], dest: &Path) -> std::io::Result<u64> {
    use std::os::unix::fs::PermissionsExt;
    let mut bytes = 0;
    std::fs::create_dir_all(dest)?;
    for f in files {
        let from = root.join(&f.path);
        let to = dest.join(&f.path);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        match f.mode & 0o170000 {
            0o160000 => std::fs::create_dir_all(&to)?,
            0o120000 => match std::fs::read_link(&from) {
                Ok(target) => std::os::unix::fs::symlink(target, &to)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            },
            _ => {
                let meta = match std::fs::symlink_metadata(&from) {
                    Ok(m) => m,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                if !meta.is_file() {
                    // Replaced in the working tree by something else (a
                    // folder, a link): git status says so; not copied.
                    continue;
                }
                bytes += std::fs::copy(&from, &to)?;
                let mode = if f.mode & 0o111 != 0 { 0o755 } else { 0o644 };
                std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode))?;
            }
        }
    }
    Ok(bytes)
}

/// Remove the contexts of older commits, keeping the `keep` most recently
/// used (and whatever another process is making now).
pub fn prune(cache: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(root(cache)) else {
        return;
    };
    let mut commits: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            crate::model::git::check_commit_hash(&name).is_ok()
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    commits.sort();
    commits.reverse();
    for (_, old) in commits.into_iter().skip(keep) {
        let _ = std::fs::remove_dir_all(old);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracked_files_are_read_exactly() {
        let text = "100644 aa 0\tpyproject.toml\x00100755 bb 0\tbin/run me\x00120000 cc 0\tlink\x00160000 dd 0\tsub\x00100644 ee 1\tc\x00100644 ff 2\tc\x00";
        let got = parse_tracked(text).unwrap();
        let paths: Vec<(u32, &str)> = got.iter().map(|t| (t.mode, t.path.as_str())).collect();
        assert_eq!(
            paths,
            [
                (0o100644, "pyproject.toml"),
                (0o100755, "bin/run me"),
                (0o120000, "link"),
                (0o160000, "sub"),
                (0o100644, "c")
            ]
        );
        for bad in [
            "100644 aa 0\t../x\0",
            "100644 aa 0\t/etc/x\0",
            "x aa 0\ty\0",
            "100644 aa 0 y\0",
        ] {
            assert!(parse_tracked(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_working_trees_tracked_files_are_copied_and_nothing_else() {
        let dir = std::env::temp_dir().join(format!("xtask-context-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let src = dir.join("src");
        std::fs::create_dir_all(src.join("bin")).unwrap();
        std::fs::write(src.join("a.txt"), "a").unwrap();
        std::fs::write(src.join("bin/run"), "#!/x").unwrap();
        std::fs::write(src.join("secret.env"), "KEY=1").unwrap();
        std::os::unix::fs::symlink("a.txt", src.join("link")).unwrap();
        let files = [
            Tracked {
                mode: 0o100644,
                path: "a.txt".into(),
            },
            Tracked {
                mode: 0o100755,
                path: "bin/run".into(),
            },
            Tracked {
                mode: 0o120000,
                path: "link".into(),
            },
            Tracked {
                mode: 0o160000,
                path: "sub".into(),
            },
            Tracked {
                mode: 0o100644,
                path: "deleted.txt".into(),
            },
        ];
        let dest = dir.join("dest");
        let bytes = copy_tracked(&src, &files, &dest).unwrap();
        assert_eq!(bytes, 5);
        assert_eq!(std::fs::read_to_string(dest.join("a.txt")).unwrap(), "a");
        assert_eq!(
            std::fs::read_link(dest.join("link")).unwrap(),
            Path::new("a.txt")
        );
        assert!(dest.join("sub").is_dir());
        assert!(!dest.join("secret.env").exists());
        assert!(!dest.join("deleted.txt").exists());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dest.join("bin/run"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
