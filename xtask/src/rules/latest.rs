//! The `-latest` budget. Every `itwinai:*-latest` tag is mirrored to CVMFS,
//! so the catalog is the allowlist (each flavour declares at most one alias)
//! and an alias only moves forward, to a release:
//! - never to a pre-release (PEP 440 a/b/rc/dev) without `--force`;
//! - never to a version lower than the `org.opencontainers.image.version`
//!   label of the image it points at now without `--force`;
//! - never away from an image whose version cannot be read, without `--force`.

use crate::model::version::Version;

/// What an alias points at now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Current {
    /// The alias does not exist yet.
    Absent,
    /// It exists; its image's version label (None when the label is missing).
    Labelled(Option<String>),
}

/// Whether `alias` may point at an image of version `new`. `Ok(Some(note))`
/// when `--force` overrode a rule, so the caller can say so.
pub fn check_move(
    alias: &str,
    new: &Version,
    current: &Current,
    force: bool,
) -> Result<Option<String>, String> {
    let mut broken = Vec::new();
    if new.is_prerelease() {
        broken.push(format!("{new} is a pre-release"));
    }
    if let Current::Labelled(label) = current {
        match label.as_deref().map(Version::parse) {
            Some(Ok(old)) if old > *new => {
                broken.push(format!("it would move backwards from {old} to {new}"));
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => broken.push(format!(
                "it points at an image whose {} label is {}, so a backwards move cannot be ruled out",
                crate::model::labels::VERSION,
                label.as_deref().map_or("missing".to_string(), |l| format!("'{l}'"))
            )),
        }
    }
    if broken.is_empty() {
        Ok(None)
    } else if force {
        Ok(Some(format!(
            "--force: moving {alias} although {}",
            broken.join(" and ")
        )))
    } else {
        Err(format!(
            "refusing to move {alias}: {}; every *-latest tag is mirrored to CVMFS (pass --force if this is really intended)",
            broken.join(" and ")
        ))
    }
}

/// What `release` does with a flavour's alias (it never forces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseAlias {
    /// A pre-release is published, its alias is left where it is.
    PreRelease,
    /// It already names the release.
    AlreadyThere,
    /// It names a newer release: it stays (a hotfix of an older line).
    Newer(Version),
    /// Move it to the release.
    Move,
    /// It cannot be moved safely: why, in one line.
    Refused(String),
}

/// The alias rule of `release` (pure): `here` when the alias already names
/// the release's manifest; `current` what it names now.
pub fn release_alias(alias: &str, new: &Version, here: bool, current: &Current) -> ReleaseAlias {
    if new.is_prerelease() {
        return ReleaseAlias::PreRelease;
    }
    if here {
        return ReleaseAlias::AlreadyThere;
    }
    if let Current::Labelled(Some(label)) = current {
        if let Ok(old) = Version::parse(label) {
            if old > *new {
                return ReleaseAlias::Newer(old);
            }
        }
    }
    match check_move(alias, new, current, false) {
        Ok(_) => ReleaseAlias::Move,
        Err(why) => ReleaseAlias::Refused(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_aliases() {
        let lab = |s: &str| Current::Labelled(Some(s.to_string()));
        let cases: &[(&str, bool, Current, &str)] = &[
            ("0.2.2", false, Current::Absent, "Move"),
            ("0.2.2", false, lab("0.2.1"), "Move"),
            ("0.2.2", false, lab("0.2.2"), "Move"),
            ("0.2.2", true, lab("0.2.2"), "AlreadyThere"),
            ("0.2.2", false, lab("0.3.0"), "Newer(0.3.0)"),
            ("0.3.0rc1", false, lab("0.2.0"), "PreRelease"),
            ("0.3.0rc1", true, lab("0.3.0rc1"), "PreRelease"),
            ("0.2.2", false, Current::Labelled(None), "Refused"),
            ("0.2.2", false, lab("not-a-version"), "Refused"),
        ];
        for (new, here, current, want) in cases {
            let got = match release_alias("x:t-latest", &v(new), *here, current) {
                ReleaseAlias::Newer(old) => format!("Newer({old})"),
                ReleaseAlias::Refused(why) => {
                    assert!(why.contains("cannot be ruled out"), "{why}");
                    "Refused".to_string()
                }
                other => format!("{other:?}"),
            };
            assert_eq!(got, *want, "{new} (here: {here}) over {current:?}");
        }
    }

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn alias_moves() {
        let lab = |s: &str| Current::Labelled(Some(s.to_string()));
        let cases: &[(&str, Current, bool)] = &[
            ("0.2.2", Current::Absent, true),
            ("0.2.2", lab("0.2.1"), true),
            ("0.2.2", lab("0.2.2"), true),
            ("0.3.0", lab("0.2.10"), true),
            ("0.2.2", lab("0.2.3"), false),
            ("0.2.2", lab("0.2.2.post1"), false),
            ("0.3.0rc1", Current::Absent, false),
            ("0.3.0.dev1", lab("0.2.0"), false),
            ("0.2.2", Current::Labelled(None), false),
            ("0.2.2", lab("not-a-version"), false),
        ];
        for (new, current, ok) in cases {
            let got = check_move("x:t-latest", &v(new), current, false);
            assert_eq!(got.is_ok(), *ok, "{new} over {current:?}: {got:?}");
            // --force always allows, and says what it overrode.
            let forced = check_move("x:t-latest", &v(new), current, true).unwrap();
            assert_eq!(forced.is_some(), !*ok, "{new} over {current:?}");
        }
        let err = check_move("x:t-latest", &v("0.2.2"), &lab("0.3.0"), false).unwrap_err();
        assert!(err.contains("backwards from 0.3.0 to 0.2.2"), "{err}");
        let err = check_move("x:t-latest", &v("1.0.0rc1"), &Current::Absent, false).unwrap_err();
        assert!(err.contains("1.0.0rc1 is a pre-release"), "{err}");
    }
}
