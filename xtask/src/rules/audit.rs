//! The CVMFS `-latest` audit, as rules: which tags of the production
//! repository CVMFS unpacks (every `*-latest`), which flavour declares each,
//! and whether each points at its flavour's newest release. Pure: the
//! command reads the tags, digests and version labels from the registry.

use std::collections::BTreeMap;

use crate::model::version::Version;
use crate::project::catalog::Catalog;

/// The tags CVMFS's unpacker would expand `itwinai:*-latest` to.
pub fn unpacked(tags: &[String]) -> Vec<&str> {
    let mut out: Vec<&str> = tags
        .iter()
        .map(String::as_str)
        .filter(|t| t.ends_with("-latest"))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Each flavour's newest release (not a pre-release) among `tags`: the
/// release tags that parse back to exactly that flavour.
pub fn newest_releases(catalog: &Catalog, tags: &[String]) -> BTreeMap<String, Version> {
    let mut newest: BTreeMap<String, Version> = BTreeMap::new();
    for tag in tags {
        let parsed = catalog.parse_tag(tag);
        let [(flavour, version)] = parsed.as_slice() else {
            continue;
        };
        if version.is_prerelease() {
            continue;
        }
        let slot = newest
            .entry(flavour.name.clone())
            .or_insert(version.clone());
        if version > slot {
            *slot = version.clone();
        }
    }
    newest
}

/// What the audit says of one `*-latest` tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Declared, and at its flavour's newest release (or newer).
    Current,
    /// No flavour of the catalog declares it.
    Undeclared,
    /// Declared, and older than its flavour's newest release.
    Behind { newest: Version },
    /// Declared, and pointing at a pre-release.
    PreRelease,
    /// The version label of what it points at is missing, not a version,
    /// or not the same on every platform.
    Unlabelled(String),
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Current => "current",
            Status::Undeclared => "undeclared",
            Status::Behind { .. } => "behind",
            Status::PreRelease => "pre-release",
            Status::Unlabelled(_) => "unlabelled",
        }
    }
}

/// One `*-latest` tag as judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judged {
    pub tag: String,
    /// The flavour whose `latest` it is.
    pub declared_by: Option<String>,
    pub status: Status,
}

/// Judge `tag`, whose image's version label reads `label` (`Err`: the
/// platforms of an index disagree).
pub fn judge(
    catalog: &Catalog,
    tag: &str,
    label: &Result<Option<String>, String>,
    newest: &BTreeMap<String, Version>,
) -> Judged {
    let declared_by = catalog
        .flavours
        .iter()
        .find(|f| f.latest.as_deref() == Some(tag))
        .map(|f| f.name.clone());
    let status = match (&declared_by, label) {
        (None, _) => Status::Undeclared,
        (Some(_), Err(why)) => Status::Unlabelled(why.clone()),
        (Some(_), Ok(None)) => Status::Unlabelled(format!(
            "its image has no {} label",
            crate::model::labels::VERSION
        )),
        (Some(flavour), Ok(Some(text))) => match Version::parse(text) {
            Err(_) => Status::Unlabelled(format!(
                "its {} label '{text}' is not a version",
                crate::model::labels::VERSION
            )),
            Ok(v) if v.is_prerelease() => Status::PreRelease,
            Ok(v) => match newest.get(flavour) {
                Some(n) if *n > v => Status::Behind { newest: n.clone() },
                _ => Status::Current,
            },
        },
    };
    Judged {
        tag: tag.to_string(),
        declared_by,
        status,
    }
}

/// The one line a finding prints (None: nothing to report).
pub fn finding(reference: &str, j: &Judged, version: Option<&str>) -> Option<String> {
    let at = version.map_or(String::new(), |v| format!(" (version {v})"));
    match &j.status {
        Status::Current => None,
        Status::Undeclared => Some(format!(
            "{reference}{at} is declared by no flavour of {}, yet CVMFS unpacks it; delete it from the registry, or declare it as a flavour's 'latest'",
            crate::project::catalog::FILE
        )),
        Status::Behind { newest } => Some(format!(
            "{reference}{at} is behind flavour '{}''s newest release {newest}; move it with `cargo xtask image push {} --latest` from a checkout at {newest}",
            j.declared_by.as_deref().unwrap_or(""),
            j.declared_by.as_deref().unwrap_or("")
        )),
        Status::PreRelease => Some(format!(
            "{reference}{at} points at a pre-release; CVMFS users get it as the latest"
        )),
        Status::Unlabelled(why) => Some(format!(
            "{reference}: {why}, so whether it is current cannot be told"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CATALOG: &str = r#"registry = "127.0.0.1:5000"
production = "itwinai"
development = "itwinai-dev"
tag-format = "{version}-{variant}-{framework}{framework-version}-{distro}"

[flavours.skinny]
dockerfile = "a/Dockerfile"
framework = "torch"
framework-version = "2.6"
distro = "noble"
variant = "skinny"
latest = "torch-skinny-latest"

[flavours.slim]
dockerfile = "a/Dockerfile"
framework = "torch"
framework-version = "2.6"
distro = "noble"
variant = "slim"
latest = "torch-slim-latest"
"#;

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn cvmfs_unpacks_every_latest_tag() {
        assert_eq!(
            unpacked(&tags(&[
                "a-latest", "0.4.2-x", "latest", "b-latest", "a-latest"
            ])),
            ["a-latest", "b-latest"]
        );
    }

    #[test]
    fn the_newest_release_of_each_flavour_ignores_pre_releases_and_strangers() {
        let c = Catalog::parse(CATALOG).unwrap();
        let t = tags(&[
            "0.4.1-skinny-torch2.6-noble",
            "0.4.10-skinny-torch2.6-noble",
            "0.5.0rc1-skinny-torch2.6-noble",
            "0.4.2-slim-torch2.6-noble",
            "0.9.9-other",
            "torch-skinny-latest",
        ]);
        let n = newest_releases(&c, &t);
        assert_eq!(n["skinny"].to_string(), "0.4.10");
        assert_eq!(n["slim"].to_string(), "0.4.2");
        assert_eq!(n.len(), 2);
    }

    #[test]
    fn each_latest_tag_is_judged() {
        let c = Catalog::parse(CATALOG).unwrap();
        let newest = newest_releases(
            &c,
            &tags(&["0.4.2-skinny-torch2.6-noble", "0.4.1-slim-torch2.6-noble"]),
        );
        let label = |v: &str| Ok(Some(v.to_string()));
        type Label = Result<Option<String>, String>;
        let cases: [(&str, Label, Status); 8] = [
            ("torch-skinny-latest", label("0.4.2"), Status::Current),
            ("torch-slim-latest", label("0.4.1"), Status::Current),
            // Newer than any release tag left: not behind.
            ("torch-slim-latest", label("0.5.0"), Status::Current),
            (
                "torch-skinny-latest",
                label("0.4.1"),
                Status::Behind {
                    newest: Version::parse("0.4.2").unwrap(),
                },
            ),
            ("torch-skinny-latest", label("0.5.0rc1"), Status::PreRelease),
            ("hand-made-latest", label("0.4.2"), Status::Undeclared),
            (
                "torch-skinny-latest",
                Ok(None),
                Status::Unlabelled(
                    "its image has no org.opencontainers.image.version label".into(),
                ),
            ),
            (
                "torch-skinny-latest",
                Err("disagree".into()),
                Status::Unlabelled("disagree".into()),
            ),
        ];
        for (tag, l, want) in cases {
            let j = judge(&c, tag, &l, &newest);
            assert_eq!(j.status, want, "{tag} {l:?}");
            assert_eq!(j.declared_by.is_some(), tag != "hand-made-latest");
            assert_eq!(
                finding("r", &j, None).is_none(),
                j.status == Status::Current
            );
        }
    }
}
