//! Facts from git, parsed: the commit being built and whether the tree is
//! clean. The executor runs `git status --porcelain=v2 --branch` (one call
//! for both) and hands the output here.

use crate::model::git::{check_commit_hash, GitState};
use crate::support::error::invalid;

/// Parse `git status --porcelain=v2 --branch`. `own`: the temporary files
/// this very process is writing (relative paths), which describe nothing
/// that is built; any other untracked file, whatever its name, is a change.
pub fn parse_state(text: &str, own: &[String]) -> Result<GitState, String> {
    let mut head = None;
    let mut status = Vec::new();
    for line in text.lines() {
        if let Some(oid) = line.strip_prefix("# branch.oid ") {
            head = Some(oid.trim().to_string());
        } else if !line.starts_with('#')
            && !line.is_empty()
            && !line
                .strip_prefix("? ")
                .is_some_and(|p| own.iter().any(|o| o == p))
        {
            status.push(line);
        }
    }
    let head = head.ok_or("git status printed no branch.oid line")?;
    if head == "(initial)" {
        return Err("no commit".into());
    }
    check_commit_hash(&head).map_err(|e| format!("git status printed a HEAD of {e}"))?;
    Ok(GitState {
        head,
        status: status.join("\n"),
        index: None,
    })
}

/// The error for a failed or empty `git status`, naming what to do.
pub fn state_error(root: &std::path::Path, why: &str) -> anyhow::Error {
    if why.contains("not a git repository") {
        invalid(format!(
            "{} is not a git repository; COMMIT_HASH needs one (git init && git commit)",
            root.display()
        ))
    } else if why.contains("dubious ownership") {
        invalid(format!(
            "git refuses to read {0}: it is owned by another user (git's \"dubious ownership\"); if you trust it, run `git config --global --add safe.directory {0}` and try again",
            root.display()
        ))
    } else if why == "no commit" {
        invalid(format!(
            "git has no commit at HEAD in {}; commit first: COMMIT_HASH records it",
            root.display()
        ))
    } else {
        anyhow::anyhow!(
            "cannot read the state of the git repository {}: {why}",
            root.display()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_processs_own_temp_files_are_not_changes() {
        let head = "a".repeat(40);
        let text = |line: &str| format!("# branch.oid {head}\n{line}\n");
        let own = vec![".pyproject.toml.xtask-123-00ff00ff00ff00ff.tmp".to_string()];
        let left = text("? .pyproject.toml.xtask-123-00ff00ff00ff00ff.tmp");
        assert!(!parse_state(&left, &own).unwrap().dirty());
        // Another process's (or a killed run's) file of the same shape, in
        // any folder, is an untracked file like any other.
        for other in [
            "? .pyproject.toml.xtask-124-00ff00ff00ff00ff.tmp",
            "? env-files/.sitecustomize.xtask-1.tmp",
            "? env-files/.pyproject.toml.xtask-123-00ff00ff00ff00ff.tmp",
            "1 .M N... 100644 100644 100644 a b .pyproject.toml.xtask-123-00ff00ff00ff00ff.tmp",
        ] {
            assert!(parse_state(&text(other), &own).unwrap().dirty(), "{other}");
            assert!(parse_state(&text(other), &[]).unwrap().dirty(), "{other}");
        }
    }

    #[test]
    fn commit_hashes() {
        assert!(check_commit_hash(&"a".repeat(40)).is_ok());
        assert!(check_commit_hash(&"a".repeat(39)).is_err());
        assert!(check_commit_hash(&"A".repeat(40)).is_err());
        assert!(check_commit_hash("").is_err());
    }

    #[test]
    fn status_v2() {
        let h = "a".repeat(40);
        let clean = format!("# branch.oid {h}\n# branch.head main\n");
        assert_eq!(
            parse_state(&clean, &[]).unwrap(),
            GitState {
                head: h.clone(),
                status: String::new(),
                index: None,
            }
        );
        let dirty = format!("# branch.oid {h}\n# branch.head (detached)\n1 .M N... 100644 100644 100644 x y pyproject.toml\n? new.txt\n");
        let s = parse_state(&dirty, &[]).unwrap();
        assert!(s.dirty());
        assert_eq!(s.status.lines().count(), 2);
        assert_eq!(
            parse_state("# branch.oid (initial)\n", &[]).unwrap_err(),
            "no commit"
        );
        assert!(parse_state("", &[]).is_err());
        assert!(parse_state("# branch.oid zz\n", &[]).is_err());
    }
}
