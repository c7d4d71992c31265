//! `pyproject.toml`: the single source of the project version
//! (`[project].version`, PEP 621). Reading and editing are pure text
//! functions; the file IO lives in the workspace.

use anyhow::Result;
use toml_edit::{Document, Item};

use crate::model::version::Version;
use crate::support::error::invalid;
use crate::support::tomlfile;

pub const FILE: &str = "pyproject.toml";

/// The `[project].version` item and where it is, refusing a dynamic or
/// missing version.
fn version_item<'d>(doc: &'d Document<&str>, text: &str) -> Result<&'d Item> {
    let project = match doc.get("project") {
        Some(p) => p.as_table_like().ok_or_else(|| {
            invalid(format!(
                "{}: [project] is not a table",
                tomlfile::item_location(FILE, text, p)
            ))
        })?,
        None => {
            return Err(invalid(format!(
            "{FILE}: no [project] table; add one with name = \"itwinai\" and version = \"X.Y.Z\""
        )))
        }
    };
    if let Some(dynamic) = project.get("dynamic") {
        let lists_version = dynamic
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v.as_str() == Some("version")));
        if lists_version {
            return Err(invalid(format!(
                "{}: [project].dynamic lists \"version\"; write a static version = \"X.Y.Z\" in [project] instead",
                tomlfile::item_location(FILE, text, dynamic)
            )));
        }
    }
    let item = project.get("version").ok_or_else(|| {
        invalid(format!(
            "{FILE}: [project].version is missing; add version = \"X.Y.Z\" to [project]"
        ))
    })?;
    if item.as_str().is_none() {
        return Err(invalid(format!(
            "{}: [project].version is a {}, not a string; write version = \"X.Y.Z\"",
            tomlfile::item_location(FILE, text, item),
            item.type_name()
        )));
    }
    Ok(item)
}

/// `[project].version` of a pyproject.toml text, checked to be a PEP 440
/// version that can appear in an image tag.
pub fn read_version(text: &str) -> Result<Version> {
    let doc = tomlfile::parse(FILE, text)?;
    let item = version_item(&doc, text)?;
    let raw = item.as_str().unwrap_or_default();
    let at = tomlfile::item_location(FILE, text, item);
    let version =
        Version::parse(raw).map_err(|e| invalid(format!("{at}: [project].version: {e}")))?;
    version
        .check_taggable()
        .map_err(|e| invalid(format!("{at}: [project].version: {e}")))?;
    Ok(version)
}

/// `[project].name` of a pyproject.toml text, when it has one.
pub fn read_name(text: &str) -> Option<String> {
    let doc = tomlfile::parse(FILE, text).ok()?;
    doc.get("project")?
        .get("name")?
        .as_str()
        .map(str::to_string)
}

/// The text with `[project].version` replaced by `new`, every other byte
/// (comments, ordering, quoting style, other tables) unchanged.
pub fn set_version(text: &str, new: &Version) -> Result<String> {
    new.check_taggable().map_err(invalid)?;
    let doc = tomlfile::parse(FILE, text)?;
    let item = version_item(&doc, text)?;
    let span = item
        .span()
        .ok_or_else(|| anyhow::anyhow!("{FILE}: cannot locate [project].version in the text"))?;
    let old = &text[span.clone()];
    // Keep the quoting style: basic "…" or literal '…' (single-line forms;
    // a version needs no escapes).
    let quote = if old.starts_with('\'') { "'" } else { "\"" };
    let edited = format!(
        "{}{quote}{new}{quote}{}",
        &text[..span.start],
        &text[span.end..]
    );
    let check = read_version(&edited)?;
    anyhow::ensure!(
        check == *new,
        "{FILE}: the edited version reads back as {check}, not {new}"
    );
    Ok(edited)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"# itwinai
[build-system]
version = "9.9.9"   # not this one
requires = ["setuptools"]

[project]
name = "itwinai"
# the release
version = '0.2.2'   # keep me
description = "x"

[tool.other]
version = "1.0.0"
"#;

    #[test]
    fn reads_project_version_not_others() {
        assert_eq!(read_version(SAMPLE).unwrap().to_string(), "0.2.2");
        let other_only = "[tool.x]\nversion = \"1.0.0\"\n[project]\nname = \"itwinai\"\n";
        let err = format!("{:#}", read_version(other_only).unwrap_err());
        assert!(err.contains("[project].version is missing"), "{err}");
    }

    #[test]
    fn refusals() {
        let cases = [
            ("not toml = = 1", "not valid TOML"),
            ("[tool]\nx = 1\n", "no [project] table"),
            ("project = 1\n", "[project] is not a table"),
            ("[project]\nname = \"x\"\n", "version is missing"),
            (
                "[project]\ndynamic = [\"version\"]\n",
                "dynamic lists \"version\"",
            ),
            ("[project]\nversion = 1\n", "is a integer, not a string"),
            ("[project]\nversion = \"one\"\n", "is not a PEP 440 version"),
            ("[project]\nversion = \"1.0.0+abc\"\n", "local label '+abc'"),
            ("[project]\nversion = \"1.0\"\n", "not X.Y.Z"),
        ];
        for (text, want) in cases {
            let err = format!("{:#}", read_version(text).unwrap_err());
            assert!(err.contains(want), "{text:?}: {err}");
            assert!(err.starts_with("pyproject.toml"), "{err}");
            assert_eq!(
                crate::support::error::exit_code(&read_version(text).unwrap_err()),
                2
            );
        }
    }

    #[test]
    fn set_version_changes_only_the_value() {
        let new = Version::parse("0.3.0").unwrap();
        let edited = set_version(SAMPLE, &new).unwrap();
        assert_eq!(edited, SAMPLE.replace("'0.2.2'", "'0.3.0'"));
        let double = SAMPLE.replace("'0.2.2'", "\"0.2.2\"");
        assert_eq!(
            set_version(&double, &new).unwrap(),
            SAMPLE.replace("'0.2.2'", "\"0.3.0\"")
        );
    }

    #[test]
    fn set_version_refuses_untaggable() {
        let bad = Version::parse("1.0.0+abc").unwrap();
        assert!(set_version(SAMPLE, &bad).is_err());
    }
}
