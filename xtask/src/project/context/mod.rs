//! The build context: exactly the files of a commit, in a folder of the
//! tool's cache that docker reads as the context (the docker CLI applies
//! `.dockerignore` to it as to any folder). Nothing ignored, untracked,
//! skip-worktree or assume-unchanged can enter, and no local git setting
//! changes a byte of it.
//!
//! A clean build's context is the commit's tree under the project's folder
//! (`git ls-tree`), each file written from its blob's raw bytes (`git
//! cat-file --batch`: no filter, no end-of-line or `ident` conversion, no
//! `git replace`), modes 0644/0755 and folders 0755 whatever the umask. It
//! is kept per commit (`contexts/<commit>`) and verified against the commit
//! each time it is used: the same file set, kinds and modes, and each
//! file's bytes hashed by `git hash-object --no-filters` to its blob id; a
//! context that differs is written again. A dirty development build's
//! context is the working tree's tracked files (files git is told not to
//! look at as the index holds them), copied afresh and removed after it.
//!
//! Each build holds a shared lock on its context for as long as it runs;
//! pruning takes only what it can lock exclusively (`store.rs`).

mod store;
mod verify;
mod write;

pub use store::{fresh, fresh_in, key, make_locked, of_key, open_locked, prune, root, take_over};
pub use verify::{compare_hashes, compare_links, survey};
pub use write::{copy_tracked, write_blobs, Writer};

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub use crate::model::git::capped;
use crate::model::git::{shown_path, unquote_path};

/// What a tree entry is, from its git mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file (mode 100644, or 100755 when executable).
    File { executable: bool },
    /// A symbolic link (120000): its blob is the target.
    Link,
    /// A submodule (160000): a commit of another repository, no files.
    Submodule,
}

impl Kind {
    fn of_mode(mode: u32) -> Option<Kind> {
        match mode & 0o170000 {
            0o100000 => Some(Kind::File {
                executable: mode & 0o111 != 0,
            }),
            0o120000 => Some(Kind::Link),
            0o160000 => Some(Kind::Submodule),
            _ => None,
        }
    }
}

/// One file of a commit's tree or of the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    /// Its blob (a submodule: the commit it records).
    pub oid: String,
    /// Relative to the project's folder, any bytes but `/`-separated.
    pub path: Vec<u8>,
    /// Flagged skip-worktree or assume-unchanged in the index: `git
    /// status` does not look at it, so its working-tree file may hold
    /// anything.
    pub flagged: bool,
}

impl Entry {
    /// The path, relative, as the file system takes it.
    pub fn rel(&self) -> &Path {
        Path::new(OsStr::from_bytes(&self.path))
    }

    /// The path for messages (git's quoting where it is not plain ASCII).
    pub fn shown(&self) -> String {
        shown_path(&self.path)
    }
}

/// A relative path that stays inside the tree: no empty, `.` or `..`
/// component, not absolute.
fn check_path(path: &[u8], line: &str) -> Result<(), String> {
    let inside = !path.is_empty()
        && path
            .split(|b| *b == b'/')
            .all(|c| !c.is_empty() && c != b"." && c != b"..");
    if inside {
        Ok(())
    } else {
        Err(format!(
            "git listed the path of {line:?}, which is not inside the tree"
        ))
    }
}

fn check_oid(oid: &str, line: &str) -> Result<(), String> {
    let ok =
        matches!(oid.len(), 40 | 64) && oid.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if ok {
        Ok(())
    } else {
        Err(format!("git listed {line:?}, whose object id is not hex"))
    }
}

/// One line of a git listing, `<fields> <mode> <object>…\t<path>`:
/// its fields (split at spaces, `want` of them) and its entry (`mode`
/// and `oid` the positions of those fields), not flagged.
fn listed<'l>(
    line: &'l str,
    program: &str,
    want: usize,
    (mode, oid): (usize, usize),
) -> Result<(Vec<&'l str>, Entry), String> {
    let (meta, path) = line
        .split_once('\t')
        .ok_or_else(|| format!("{program} printed {line:?}"))?;
    let fields: Vec<&str> = meta.split(' ').collect();
    if fields.len() != want {
        return Err(format!("{program} printed {line:?}"));
    }
    let kind = u32::from_str_radix(fields[mode], 8)
        .ok()
        .and_then(Kind::of_mode)
        .ok_or_else(|| format!("{program} printed the mode of {line:?}"))?;
    check_oid(fields[oid], line)?;
    let path = unquote_path(path)?;
    check_path(&path, line)?;
    let entry = Entry {
        kind,
        oid: fields[oid].to_string(),
        path,
        flagged: false,
    };
    Ok((fields, entry))
}

/// Parse `git ls-tree -r --full-tree` (paths quoted):
/// `<mode> <type> <object>\t<path>` a line.
pub fn parse_tree(text: &str) -> Result<Vec<Entry>, String> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|line| listed(line, "git ls-tree", 3, (0, 2)).map(|(_, e)| e))
        .collect()
}

/// Parse `git ls-files --stage -v` (paths quoted):
/// `<tag> <mode> <object> <stage>\t<path>` a line. The tag says the flags:
/// `S` skip-worktree, a lowercase letter assume-unchanged. A path in
/// conflict is listed once per stage: kept once.
pub fn parse_index(text: &str) -> Result<Vec<Entry>, String> {
    let mut out: Vec<Entry> = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let (fields, mut entry) = listed(line, "git ls-files", 4, (1, 2))?;
        if out.last().is_some_and(|e| e.path == entry.path) {
            continue;
        }
        let tag = fields[0];
        entry.flagged =
            tag == "S" || (!tag.is_empty() && tag.bytes().all(|b| b.is_ascii_lowercase()));
        out.push(entry);
    }
    Ok(out)
}

/// A path as a list compares it: its components, without `.` or empty ones.
pub fn normalized(rel: &str) -> Vec<u8> {
    rel.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
        .into_bytes()
}

/// The paths `git check-attr --stdin filter` says have a filter, with its
/// name: `<path>: filter: <value>` a line, `unspecified`/`unset` for none.
pub fn parse_filters(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let (path, value) = line
            .rsplit_once(": filter: ")
            .ok_or_else(|| format!("git check-attr printed {line:?}"))?;
        if !matches!(value, "unspecified" | "unset") {
            out.push((shown_path(&unquote_path(path)?), value.to_string()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trees_and_indexes_are_read_exactly() {
        let a = "a".repeat(40);
        let tree = format!(
            "100644 blob {a}\tpyproject.toml\n100755 blob {a}\tbin/run me\n120000 blob {a}\tlink\n160000 commit {a}\tsub\n100644 blob {a}\t\"d/caf\\351\"\n"
        );
        let got = parse_tree(&tree).unwrap();
        let kinds: Vec<(Kind, &[u8])> = got.iter().map(|e| (e.kind, &e.path[..])).collect();
        assert_eq!(
            kinds,
            [
                (Kind::File { executable: false }, &b"pyproject.toml"[..]),
                (Kind::File { executable: true }, b"bin/run me"),
                (Kind::Link, b"link"),
                (Kind::Submodule, b"sub"),
                (Kind::File { executable: false }, b"d/caf\xe9"),
            ]
        );
        assert_eq!(got[4].shown(), "\"d/caf\\351\"");
        let index = format!(
            "H 100644 {a} 0\ta\nS 100644 {a} 0\tb\nh 100755 {a} 0\tc\ns 100644 {a} 0\td\nM 100644 {a} 1\te\nM 100644 {a} 2\te\n"
        );
        let got = parse_index(&index).unwrap();
        let flags: Vec<(&[u8], bool)> = got.iter().map(|e| (&e.path[..], e.flagged)).collect();
        assert_eq!(
            flags,
            [
                (&b"a"[..], false),
                (b"b", true),
                (b"c", true),
                (b"d", true),
                (b"e", false)
            ]
        );
        for bad in [
            format!("100644 blob {a}\t../x\n"),
            format!("100644 blob {a}\t/etc/x\n"),
            format!("100644 blob {a}\ta//b\n"),
            format!("040000 tree {a}\tdir\n"),
            "100644 blob zz\tx\n".to_string(),
            format!("100644 blob {a} x\n"),
            "x blob a\ty\n".to_string(),
        ] {
            assert!(parse_tree(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn long_lists_are_capped_in_messages() {
        let items: Vec<String> = (1..=5000).map(|i| format!("data/f{i}")).collect();
        assert_eq!(capped(&items), "data/f1, data/f2, data/f3 and 4997 more");
        assert_eq!(capped(&items[..2]), "data/f1, data/f2");
        assert_eq!(
            normalized("./env-files//x/Dockerfile"),
            b"env-files/x/Dockerfile"
        );
    }

    #[test]
    fn filters_are_read_from_check_attr() {
        let text = "a.bin: filter: lfs\nb.txt: filter: unspecified\n\"c\\351\": filter: swap\nd: filter: unset\n";
        assert_eq!(
            parse_filters(text).unwrap(),
            [
                ("a.bin".to_string(), "lfs".to_string()),
                ("\"c\\351\"".to_string(), "swap".to_string())
            ]
        );
        assert!(parse_filters("garbage\n").is_err());
    }
}
