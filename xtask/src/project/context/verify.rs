//! Whether a context folder holds exactly a commit's files: the walk
//! (file set, kinds, modes, symbolic links' targets), then each regular
//! file's bytes against its blob id as `git hash-object --no-filters`
//! computes it (the caller runs that step).

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::{Entry, Kind};
use crate::model::git::shown_path;

/// What a walk of a context found.
#[derive(Debug, Default)]
pub struct Survey {
    /// What differs from the list: a file missing or not in it, another
    /// kind or mode.
    pub differences: Vec<String>,
    /// Each regular file (its path in the folder) and the blob its bytes
    /// must hash to, in the list's order.
    pub files: Vec<(Vec<u8>, String)>,
    /// Each symbolic link: its path for messages, its blob, its target.
    pub links: Vec<(String, String, Vec<u8>)>,
}

/// Every path under `dir`, relative, with what it is (links not followed),
/// a folder's content after it.
fn walk(dir: &Path, rel: &[u8], out: &mut Vec<(Vec<u8>, std::fs::Metadata)>) -> io::Result<()> {
    let mut names: Vec<_> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()?;
    names.sort();
    for name in names {
        let mut path = rel.to_vec();
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(name.as_bytes());
        let full = dir.join(&name);
        let meta = std::fs::symlink_metadata(&full)?;
        let is_dir = meta.is_dir();
        out.push((path.clone(), meta));
        if is_dir {
            walk(&full, &path, out)?;
        }
    }
    Ok(())
}

fn mode_of(m: &std::fs::Metadata) -> u32 {
    m.permissions().mode() & 0o7777
}

/// Walk `dir` and compare it with `entries`: every entry there as its
/// kind says (a file 0644, or 0755 when executable; a submodule an empty
/// folder), every folder 0755, nothing else.
pub fn survey(dir: &Path, entries: &[Entry]) -> io::Result<Survey> {
    let mut s = Survey::default();
    let by_path: BTreeMap<&[u8], &Entry> = entries.iter().map(|e| (&e.path[..], e)).collect();
    let mut folders: BTreeSet<&[u8]> = BTreeSet::new();
    for e in entries {
        for (i, b) in e.path.iter().enumerate() {
            if *b == b'/' {
                folders.insert(&e.path[..i]);
            }
        }
    }
    let root = std::fs::symlink_metadata(dir)?;
    if !root.is_dir() || mode_of(&root) != 0o755 {
        s.differences.push(format!(
            "the folder itself: mode {:o}, not 755",
            mode_of(&root)
        ));
    }
    let mut found = Vec::new();
    walk(dir, b"", &mut found)?;
    let mut seen: BTreeSet<Vec<u8>> = BTreeSet::new();
    let mut outside: Option<Vec<u8>> = None;
    for (path, meta) in found {
        // Below something not in the commit: reported once, for that.
        if let Some(o) = &outside {
            if path.starts_with(o) && path.get(o.len()) == Some(&b'/') {
                continue;
            }
        }
        let shown = shown_path(&path);
        let mode = mode_of(&meta);
        let problem = match (by_path.get(&path[..]), folders.contains(&path[..])) {
            (Some(e), _) => check_entry(dir, e, &meta, &mut s),
            (None, true) if meta.is_dir() && mode == 0o755 => None,
            (None, true) if meta.is_dir() => Some(format!("mode {mode:o}, not 755")),
            (None, _) => {
                outside = Some(path.clone());
                Some("not in the commit".to_string())
            }
        };
        if let Some(p) = problem {
            s.differences.push(format!("{shown}: {p}"));
        }
        seen.insert(path);
    }
    for e in entries.iter().filter(|e| !seen.contains(&e.path)) {
        s.differences.push(format!("{}: missing", e.shown()));
    }
    Ok(s)
}

/// How one found path differs from its entry, if it does; a regular file
/// or a link is kept in `s` for its content's check.
fn check_entry(dir: &Path, e: &Entry, meta: &std::fs::Metadata, s: &mut Survey) -> Option<String> {
    let mode = mode_of(meta);
    match e.kind {
        Kind::File { executable } => {
            let want = if executable { 0o755 } else { 0o644 };
            if !meta.is_file() {
                return Some("not a regular file".into());
            }
            let full = dir.join(e.rel());
            s.files
                .push((full.as_os_str().as_bytes().to_vec(), e.oid.clone()));
            (mode != want).then(|| format!("mode {mode:o}, not {want:o}"))
        }
        Kind::Link => {
            if !meta.file_type().is_symlink() {
                return Some("not a symbolic link".into());
            }
            match std::fs::read_link(dir.join(e.rel())) {
                Ok(t) => {
                    let target = t.as_os_str().as_bytes().to_vec();
                    s.links.push((e.shown(), e.oid.clone(), target));
                    None
                }
                Err(err) => Some(format!("cannot be read: {err}")),
            }
        }
        Kind::Submodule => {
            let empty = meta.is_dir()
                && std::fs::read_dir(dir.join(e.rel())).is_ok_and(|mut d| d.next().is_none());
            if !empty {
                Some("not an empty folder (a submodule)".into())
            } else {
                (mode != 0o755).then(|| format!("mode {mode:o}, not 755"))
            }
        }
    }
}

/// The files whose bytes do not hash to their blob: `printed` is `git
/// hash-object --stdin-paths`'s output for `files`, one id a line.
pub fn compare_hashes(
    files: &[(Vec<u8>, String)],
    dir: &Path,
    printed: &str,
) -> Result<Vec<String>, String> {
    let ids: Vec<&str> = printed.lines().collect();
    if ids.len() != files.len() {
        return Err(format!(
            "git hash-object printed {} ids for {} files",
            ids.len(),
            files.len()
        ));
    }
    let prefix = dir.as_os_str().as_bytes().len() + 1;
    Ok(files
        .iter()
        .zip(ids)
        .filter(|((_, want), got)| want != got)
        .map(|((path, _), _)| {
            format!(
                "{}: other content",
                shown_path(path.get(prefix..).unwrap_or(path))
            )
        })
        .collect())
}

/// The links whose target is not their blob's content: `printed` is `git
/// cat-file --batch`'s output for their blob ids, in order.
pub fn compare_links(
    links: &[(String, String, Vec<u8>)],
    printed: &str,
) -> Result<Vec<String>, String> {
    let mut rest = printed.as_bytes();
    let mut out = Vec::new();
    for (shown, oid, target) in links {
        let bad = || format!("git cat-file printed no blob {oid} for the link {shown}");
        let nl = rest.iter().position(|b| *b == b'\n').ok_or_else(bad)?;
        let head = std::str::from_utf8(&rest[..nl]).map_err(|_| bad())?;
        let size: usize = match head.split(' ').collect::<Vec<_>>()[..] {
            [id, "blob", size] if id == oid => size.parse().map_err(|_| bad())?,
            _ => return Err(bad()),
        };
        let body = rest.get(nl + 1..nl + 1 + size).ok_or_else(bad)?;
        if body != &target[..] {
            out.push(format!("{shown}: another target"));
        }
        rest = rest.get(nl + 2 + size..).ok_or_else(bad)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::{Entry, Kind, Writer};
    use super::*;

    fn entry(kind: Kind, path: &[u8]) -> Entry {
        Entry {
            kind,
            oid: "a".repeat(40),
            path: path.to_vec(),
            flagged: false,
        }
    }

    #[test]
    fn a_walk_finds_every_difference_but_content() {
        let scratch = crate::support::scratch::Scratch::new("survey");
        let dir = scratch.path().to_path_buf();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let entries = [
            entry(Kind::File { executable: false }, b"a/b.txt"),
            entry(Kind::File { executable: true }, b"run"),
            entry(Kind::Link, b"link"),
            entry(Kind::Submodule, b"sub"),
            entry(Kind::File { executable: false }, b"caf\xe9"),
        ];
        let mut w = Writer::new(&dir);
        w.file(entries[0].rel(), false, &mut &b"x"[..]).unwrap();
        w.file(entries[1].rel(), true, &mut &b"#!"[..]).unwrap();
        w.link(entries[2].rel(), b"a/b.txt").unwrap();
        w.folder(entries[3].rel()).unwrap();
        w.file(entries[4].rel(), false, &mut &b"e"[..]).unwrap();
        let s = survey(&dir, &entries).unwrap();
        assert!(s.differences.is_empty(), "{:?}", s.differences);
        assert_eq!(s.files.len(), 3);
        assert_eq!(
            s.links,
            [("link".to_string(), "a".repeat(40), b"a/b.txt".to_vec())]
        );
        // Injected, removed, another mode, a submodule not empty.
        std::fs::write(dir.join("injected.env"), "K=1").unwrap();
        std::fs::create_dir(dir.join("extra")).unwrap();
        std::fs::write(dir.join("extra/x"), "x").unwrap();
        std::fs::remove_file(dir.join("run")).unwrap();
        std::fs::set_permissions(dir.join("a/b.txt"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
        std::fs::write(dir.join("sub/f"), "").unwrap();
        let s = survey(&dir, &entries).unwrap();
        assert_eq!(
            s.differences,
            [
                "a/b.txt: mode 600, not 644",
                "extra: not in the commit",
                "injected.env: not in the commit",
                "sub: not an empty folder (a submodule)",
                "sub/f: not in the commit",
                "run: missing"
            ]
        );
        let printed = format!("{}\n{}\n", "a".repeat(40), "b".repeat(40));
        let files = vec![
            (
                dir.join("a/b.txt").as_os_str().as_bytes().to_vec(),
                "a".repeat(40),
            ),
            (
                [dir.as_os_str().as_bytes(), b"/caf\xe9"].concat(),
                "a".repeat(40),
            ),
        ];
        assert_eq!(
            compare_hashes(&files, &dir, &printed).unwrap(),
            ["\"caf\\351\": other content"]
        );
        assert!(compare_hashes(&files, &dir, "").is_err());
    }

    #[test]
    fn link_targets_are_compared_byte_for_byte() {
        let (a, b) = ("a".repeat(40), "b".repeat(40));
        let links = vec![
            ("l1".to_string(), a.clone(), b"x/y".to_vec()),
            ("l2".to_string(), b.clone(), b"z".to_vec()),
        ];
        let printed = format!("{a} blob 3\nx/y\n{b} blob 1\nw\n");
        assert_eq!(
            compare_links(&links, &printed).unwrap(),
            ["l2: another target"]
        );
        assert!(compare_links(&links, &format!("{a} missing\n")).is_err());
        assert!(compare_links(&links, &format!("{a} blob 3\nx/y\n")).is_err());
    }
}
