//! What git says of the tree being built: HEAD, and whether anything
//! differs from it (the executor runs git; `exec/git.rs` parses); and git's
//! quoting of paths (`core.quotePath`), which the context steps read and write.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitState {
    /// Full 40-hex HEAD commit.
    pub head: String,
    /// The status lines (uncommitted changes, untracked files), as git
    /// printed them; empty for a clean tree.
    pub status: String,
    /// The index as `git ls-files --stage -v` printed it when the state
    /// was read (`None`: not read), so that the build context lists it
    /// from the same reading.
    pub index: Option<String>,
}

impl GitState {
    /// Uncommitted changes or untracked (not ignored) files.
    pub fn dirty(&self) -> bool {
        !self.status.is_empty()
    }

    /// The status lines of tracked files only (untracked ones left out):
    /// what a clean build's result depends on, its context being the commit.
    pub fn tracked_status(&self) -> String {
        self.status
            .lines()
            .filter(|l| !l.starts_with("? "))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// With the tracked files flagged skip-worktree or assume-unchanged
    /// (their paths as shown) as changes: `git status` does not look at
    /// them, so their working-tree files may hold anything.
    pub fn with_flagged(mut self, flagged: &[String]) -> GitState {
        for f in flagged {
            if !self.status.is_empty() {
                self.status.push('\n');
            }
            self.status.push_str(&format!("{FLAGGED}{f}"));
        }
        self
    }

    /// What makes the tree dirty, in a few words (one line, however many
    /// files: a sparse checkout flags thousands).
    pub fn dirt(&self) -> String {
        let lines: Vec<&str> = self.status.lines().collect();
        let flagged: Vec<String> = lines
            .iter()
            .filter_map(|l| l.strip_prefix(FLAGGED))
            .map(str::to_string)
            .collect();
        let untracked = lines.iter().filter(|l| l.starts_with("? ")).count();
        let changed = lines.len() - untracked - flagged.len();
        let mut out = format!("{changed} changed, {untracked} untracked");
        if !flagged.is_empty() {
            out.push_str(&format!(
                ", and {} tracked file{} git status does not look at, flagged skip-worktree or assume-unchanged ({}); `git sparse-checkout disable` ends a sparse checkout, `git update-index --no-skip-worktree --no-assume-unchanged -- PATH` clears a file's flags",
                flagged.len(),
                if flagged.len() == 1 { "" } else { "s" },
                capped(&flagged)
            ));
        }
        out
    }
}

/// How a flagged file's line starts in [`GitState::status`].
const FLAGGED: &str = "flagged ";

/// The first few of `items`, then how many more: for one-line messages
/// about lists that may be thousands long.
pub fn capped(items: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut out = items
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > SHOWN {
        out.push_str(&format!(" and {} more", items.len() - SHOWN));
    }
    out
}

/// 40 lowercase hex digits.
pub fn check_commit_hash(s: &str) -> Result<(), String> {
    if s.len() == 40 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(format!("'{s}', which is not a 40-hex commit hash"))
    }
}

/// A path as git prints it without `-z`: as it is, or, when it holds a
/// byte git quotes (with `core.quotePath`: a control character, `"`, `\`,
/// any byte past ASCII), in double quotes with C escapes. Any byte
/// string comes back exactly.
pub fn unquote_path(text: &str) -> Result<Vec<u8>, String> {
    let Some(inner) = text.strip_prefix('"') else {
        return Ok(text.as_bytes().to_vec());
    };
    let inner = inner
        .strip_suffix('"')
        .ok_or_else(|| format!("a quoted path without its closing quote: {text:?}"))?;
    let bytes = inner.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        i += 1;
        if b == b'"' {
            return Err(format!("an unescaped quote inside the path {text:?}"));
        }
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let e = *bytes
            .get(i)
            .ok_or_else(|| format!("a path that ends in a backslash: {text:?}"))?;
        i += 1;
        out.push(match e {
            b'a' => 7,
            b'b' => 8,
            b'f' => 12,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'v' => 11,
            b'\\' | b'"' => e,
            b'0'..=b'3' => {
                let digits = bytes
                    .get(i..i + 2)
                    .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)))
                    .ok_or_else(|| format!("a bad octal escape in the path {text:?}"))?;
                i += 2;
                (e - b'0') * 64 + (digits[0] - b'0') * 8 + (digits[1] - b'0')
            }
            _ => return Err(format!("an unknown escape in the path {text:?}")),
        });
    }
    Ok(out)
}

/// A path (any bytes) quoted as git reads a quoted line of `--stdin-paths`
/// or `check-attr --stdin`: always in double quotes, printable ASCII as it
/// is, `"` and `\` escaped, every other byte in octal. Plain ASCII text.
pub fn quote_path(path: &[u8]) -> String {
    let mut out = String::with_capacity(path.len() + 2);
    out.push('"');
    for &b in path {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\{b:03o}")),
        }
    }
    out.push('"');
    out
}

/// A path for messages: printable, its other bytes escaped (git's quoting).
pub fn shown_path(path: &[u8]) -> String {
    if path
        .iter()
        .all(|b| (0x20..=0x7e).contains(b) && *b != b'"' && *b != b'\\')
    {
        String::from_utf8_lossy(path).into_owned()
    } else {
        quote_path(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_quoted_and_unquoted_as_git_does() {
        // As `git ls-tree` prints them (core.quotePath=true).
        for (printed, bytes) in [
            ("plain name.txt", &b"plain name.txt"[..]),
            (r#""d/caf\351""#, b"d/caf\xe9"),
            (r#""we\"ird\nname""#, b"we\"ird\nname"),
            (r#""tab\there\\""#, b"tab\there\\"),
            (r#""\a\b\f\r\v\001\177""#, b"\x07\x08\x0c\r\x0b\x01\x7f"),
        ] {
            assert_eq!(unquote_path(printed).unwrap(), bytes, "{printed}");
            // Quoted by us, read back the same.
            assert_eq!(unquote_path(&quote_path(bytes)).unwrap(), bytes);
        }
        assert_eq!(quote_path(b"a\"b\\c\xff"), r#""a\"b\\c\377""#);
        for bad in [
            r#""open"#,
            r#""a\q""#,
            r#""a\4000""#,
            r#""a\1""#,
            r#""a"b""#,
            r#""a\"#,
        ] {
            assert!(unquote_path(bad).is_err(), "{bad}");
        }
        assert_eq!(shown_path(b"env-files/x"), "env-files/x");
        assert_eq!(shown_path(b"caf\xe9"), r#""caf\351""#);
    }

    #[test]
    fn untracked_files_are_not_the_tracked_state() {
        let s = GitState {
            head: "a".repeat(40),
            status: "1 .M N... 100644 100644 100644 x y a.txt\n? notes.txt".into(),
            index: None,
        };
        assert_eq!(
            s.tracked_status(),
            "1 .M N... 100644 100644 100644 x y a.txt"
        );
        assert_eq!(s.dirt(), "1 changed, 1 untracked");
        let only_untracked = GitState {
            head: s.head.clone(),
            status: "? notes.txt".into(),
            index: None,
        };
        assert!(only_untracked.dirty());
        assert_eq!(only_untracked.tracked_status(), "");
    }

    #[test]
    fn flagged_files_make_the_tree_dirty_in_one_short_line() {
        let clean = GitState {
            head: "a".repeat(40),
            status: String::new(),
            index: None,
        };
        let many: Vec<String> = (1..=5000).map(|i| format!("data/f{i}")).collect();
        let sparse = clean.clone().with_flagged(&many);
        assert!(sparse.dirty());
        // Flagged files are tracked: they count for a clean build too.
        assert_eq!(sparse.tracked_status(), sparse.status);
        let dirt = sparse.dirt();
        assert!(
            dirt.starts_with("0 changed, 0 untracked, and 5000 tracked files")
                && dirt.contains("(data/f1, data/f2, data/f3 and 4997 more)")
                && dirt.contains("git sparse-checkout disable"),
            "{dirt}"
        );
        assert!(dirt.len() < 400, "{}", dirt.len());
        assert!(!clean.with_flagged(&[]).dirty());
        assert_eq!(capped(&many[..2]), "data/f1, data/f2");
    }
}
