//! Facts from git: the commit being built and whether the tree is clean.

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

use crate::error::invalid;
use crate::runner;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitFacts {
    /// Full 40-hex HEAD commit.
    pub head: String,
    /// Uncommitted changes or untracked (not ignored) files.
    pub dirty: bool,
}

pub fn facts(sh: &Shell) -> Result<GitFacts> {
    let head = head(sh)?;
    let status =
        runner::output(cmd!(sh, "git status --porcelain")).context("cannot run git status")?;
    anyhow::ensure!(status.ok, "git status failed: {}", status.stderr_line());
    Ok(GitFacts {
        head,
        dirty: !status.stdout.trim().is_empty(),
    })
}

/// The full HEAD commit; invalid input when there is no repository or no commit.
pub fn head(sh: &Shell) -> Result<String> {
    let root = sh.current_dir();
    let out = runner::output(cmd!(sh, "git rev-parse --verify HEAD"))
        .context("cannot run git to read HEAD")?;
    if !out.ok {
        let why = out.stderr_line();
        if why.contains("not a git repository") {
            return Err(invalid(format!(
                "{} is not a git repository; COMMIT_HASH needs one (git init && git commit)",
                root.display()
            )));
        }
        return Err(invalid(format!(
            "git has no commit at HEAD in {} ({why}); commit first: COMMIT_HASH records it",
            root.display()
        )));
    }
    let head = out.stdout.trim().to_string();
    check_commit_hash(&head)
        .map_err(|e| anyhow::anyhow!("git rev-parse --verify HEAD printed {e}"))?;
    Ok(head)
}

/// 40 lowercase hex digits.
pub fn check_commit_hash(s: &str) -> Result<(), String> {
    if s.len() == 40 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(format!("'{s}', which is not a 40-hex commit hash"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_hashes() {
        assert!(check_commit_hash(&"a".repeat(40)).is_ok());
        assert!(check_commit_hash(&"a".repeat(39)).is_err());
        assert!(check_commit_hash(&"A".repeat(40)).is_err());
        assert!(check_commit_hash("").is_err());
    }
}
