//! What git says of the tree being built: HEAD, and whether anything
//! differs from it (the executor runs git; `exec/git.rs` parses).

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitState {
    /// Full 40-hex HEAD commit.
    pub head: String,
    /// The status lines (uncommitted changes, untracked files), as git
    /// printed them; empty for a clean tree.
    pub status: String,
}

impl GitState {
    /// Uncommitted changes or untracked (not ignored) files.
    pub fn dirty(&self) -> bool {
        !self.status.is_empty()
    }
}

impl GitState {
    /// With the flagged files (`git ls-files -v`) as changes: a file git
    /// is told not to look at may hold anything.
    pub fn with_flagged(mut self, flagged: &[String]) -> GitState {
        for f in flagged {
            if !self.status.is_empty() {
                self.status.push('\n');
            }
            self.status.push_str(&format!("flagged {f}"));
        }
        self
    }

    /// What makes the tree dirty, in a few words: how many changes, and
    /// the flagged files git status does not show.
    pub fn dirt(&self) -> String {
        let lines: Vec<&str> = self.status.lines().collect();
        let flagged: Vec<&str> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("flagged "))
            .filter_map(|l| l.split_once(' ').map(|(_, p)| p))
            .collect();
        let mut out = format!("{} changed or untracked", lines.len() - flagged.len());
        if !flagged.is_empty() {
            out.push_str(&format!(
                ", and {} tracked file{} git status does not look at (skip-worktree or assume-unchanged: {}; `git update-index --no-skip-worktree --no-assume-unchanged -- PATH` clears that)",
                flagged.len(),
                if flagged.len() == 1 { "" } else { "s" },
                flagged.join(", ")
            ));
        }
        out
    }
}

/// 40 lowercase hex digits.
pub fn check_commit_hash(s: &str) -> Result<(), String> {
    if s.len() == 40 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(format!("'{s}', which is not a 40-hex commit hash"))
    }
}
