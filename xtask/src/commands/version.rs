//! `version`: show, set or bump `[project].version` in pyproject.toml.

use anyhow::Result;

use crate::cli::{BumpPart, VersionAction, VersionArgs};
use crate::model::version::{Bump, Version};
use crate::project::catalog::{self, Catalog};
use crate::project::pyproject;
use crate::project::workspace::Workspace;
use crate::support::error::invalid;

pub fn run(ws: &Workspace, args: &VersionArgs) -> Result<()> {
    // A change reads and writes under a lock: concurrent bumps each apply.
    let changes = !matches!(args.action, None | Some(VersionAction::Show));
    let _lock = if changes && !args.dry_run {
        Some(crate::support::lock::acquire_edit(
            &ws.path_inside(pyproject::FILE)?,
        )?)
    } else {
        None
    };
    let text = ws.read(pyproject::FILE)?;
    let new = match &args.action {
        None | Some(VersionAction::Show) => {
            crate::support::output::stdout_line(&format!("{}", pyproject::read_version(&text)?));
            return Ok(());
        }
        Some(VersionAction::Set { version }) => {
            Version::parse(version).map_err(|e| invalid(format!("version set: {e}")))?
        }
        Some(VersionAction::Bump { part }) => {
            let part = match part {
                BumpPart::Major => Bump::Major,
                BumpPart::Minor => Bump::Minor,
                BumpPart::Patch => Bump::Patch,
            };
            pyproject::read_version(&text)?
                .bump(part)
                .map_err(invalid)?
        }
    };
    new.check_taggable()
        .map_err(|e| invalid(format!("version set: {e}")))?;
    // The new version must make valid tags for every flavour.
    let catalog = Catalog::parse(&ws.read(catalog::FILE)?)?;
    catalog.check_tags(&new)?;
    let edited = pyproject::set_version(&text, &new)?;
    if args.dry_run {
        crate::support::output::stdout_text(&line_diff(pyproject::FILE, &text, &edited));
        return Ok(());
    }
    if edited == text {
        crate::support::output::stderr_line(&format!(
            "{} already says version {new}",
            pyproject::FILE
        ));
        return Ok(());
    }
    ws.write_atomic(pyproject::FILE, &edited)?;
    crate::support::output::stderr_line(&format!("{}: version = \"{new}\"", pyproject::FILE));
    crate::support::output::stdout_line(&new.to_string());
    Ok(())
}

/// A unified diff of two texts that differ only within lines (the same
/// number of lines): one hunk per changed line.
pub fn line_diff(file: &str, old: &str, new: &str) -> String {
    let mut out = format!("--- a/{file}\n+++ b/{file}\n");
    for (i, (a, b)) in old.lines().zip(new.lines()).enumerate() {
        if a != b {
            out.push_str(&format!("@@ -{n} +{n} @@\n-{a}\n+{b}\n", n = i + 1));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_shows_changed_lines_only() {
        let old = "[project]\nname = \"x\"\nversion = \"0.2.2\"\n";
        let new = "[project]\nname = \"x\"\nversion = \"0.2.3\"\n";
        assert_eq!(
            line_diff("pyproject.toml", old, new),
            "--- a/pyproject.toml\n+++ b/pyproject.toml\n@@ -3 +3 @@\n-version = \"0.2.2\"\n+version = \"0.2.3\"\n"
        );
        assert_eq!(line_diff("f", old, old), "--- a/f\n+++ b/f\n");
    }
}
