//! The push rules, as pure functions over what was read: a release tag is
//! never overwritten (no-clobber), and the decision on each alias
//! (`latest.rs` holds the budget itself).

use crate::model::remote::{is_image, Remote};
use crate::model::version::Version;
use crate::plan::check::RemoteExpect;
use crate::rules::latest::{self, Current};

/// What to do with one versioned reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Release {
    /// Not published yet (or a development tag): push it.
    Push,
    /// The registry already serves this very image under the tag.
    AlreadyPublished { digest: Option<String> },
    /// Other content, replaced because of `--force`; the note says so.
    Overwrite { note: String },
}

/// The no-clobber rule for a release tag. `remote` is what the registry
/// serves under it; `same` whether that is the checked local image (for
/// an index: an index of exactly the checked per-platform images).
pub fn decide_release(
    reference: &str,
    remote: Option<&Remote>,
    same: bool,
    force: bool,
) -> Result<Release, String> {
    match remote {
        None => Ok(Release::Push),
        Some(r) if same => Ok(Release::AlreadyPublished {
            digest: r.digest.clone(),
        }),
        Some(r) if force => Ok(Release::Overwrite {
            note: format!(
                "--force: overwriting {reference} ({}) with different content",
                r.shown()
            ),
        }),
        Some(r) => Err(format!(
            "{reference} is already published with other content ({}); a release is never overwritten without --force (to move its alias to what is published: `cargo xtask release` at the commit it was built from, for a release promoted in the registry; `docker pull {reference}` and push again, for one this machine built and pushed)",
            r.shown()
        )),
    }
}

/// Whether `remote` is what is about to be published: the image `id`
/// (single), or an index of exactly `images` (multi-platform).
pub fn serves(
    remote: &Remote,
    id: &str,
    images: &[(crate::model::platform::Platform, String)],
    repo_digests: &[String],
    repository: &str,
) -> bool {
    if images.is_empty() {
        is_image(remote, id, repo_digests, repository)
    } else {
        remote.is_index_of(images)
    }
}

/// The images of one index must be one build: the same commit, the same
/// base (digest) and version. `images` are each platform and its labels.
pub fn one_build(
    reference: &str,
    images: &[(
        crate::model::platform::Platform,
        &std::collections::BTreeMap<String, String>,
    )],
) -> Result<(), String> {
    use crate::model::labels;
    for key in [labels::REVISION, labels::BASE_DIGEST, labels::VERSION] {
        let value = |l: &std::collections::BTreeMap<String, String>| {
            l.get(key).cloned().unwrap_or_default()
        };
        let Some((_, first)) = images.first() else {
            return Ok(());
        };
        if images.iter().any(|(_, l)| value(l) != value(first)) {
            let seen: Vec<String> = images
                .iter()
                .map(|(p, l)| format!("{p}: '{}'", value(l)))
                .collect();
            return Err(format!(
                "the images of {reference} are not one build: their {key} labels differ ({}); build all its platforms together and push again",
                seen.join(", ")
            ));
        }
    }
    Ok(())
}

/// What to do with an alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AliasMove {
    /// It already points at this image.
    AlreadyThere,
    /// Move it; a note when `--force` overrode a rule.
    Move { note: Option<String> },
}

/// The alias rule: `remote` is what the alias serves now and `labels_version`
/// the version label of that image (read only when it is another image).
pub fn decide_alias(
    alias: &str,
    new: &Version,
    remote: Option<&Remote>,
    points_here: bool,
    labels_version: Option<String>,
    force: bool,
) -> Result<AliasMove, String> {
    if remote.is_some() && points_here {
        return Ok(AliasMove::AlreadyThere);
    }
    let current = match remote {
        None => Current::Absent,
        Some(_) => Current::Labelled(labels_version),
    };
    latest::check_move(alias, new, &current, force).map(|note| AliasMove::Move { note })
}

/// A release tag is first written only from HEAD's build: a build of an
/// earlier commit at the same version (a fix committed but not built yet)
/// would otherwise go out as the release. An alias may still move to a
/// release published earlier from another commit (it is not written then).
pub fn written_from_head(
    reference: &str,
    revision: Option<&str>,
    head: &str,
    rebuild: &str,
) -> Result<(), String> {
    match revision {
        Some(r) if r == head => Ok(()),
        Some(r) => Err(format!(
            "{reference} would be published from commit {r} (its revision label), but HEAD is {head}: a release is published from the commit it is built at; build it at HEAD with `{rebuild}`, or check out {r} to publish that build"
        )),
        None => Err(format!(
            "{reference}: the image carries no revision label, so it cannot be shown to be HEAD's ({head}) build; build it with `{rebuild}`"
        )),
    }
}

/// Whether what the registry serves under `reference` is what a plan
/// expects; the message says what differs.
pub fn check_expect(
    reference: &str,
    expect: &RemoteExpect,
    got: Option<&Remote>,
) -> Result<(), String> {
    let seen = |r: Option<&Remote>| match r {
        None => "nothing".to_string(),
        Some(r) => r.shown(),
    };
    let ok = match (expect, got) {
        (RemoteExpect::Absent, None) => true,
        (RemoteExpect::Seen(d), Some(r)) => r == d,
        (RemoteExpect::Image(id), Some(r)) => {
            !r.is_index() && r.config.as_deref() == Some(id.as_str())
        }
        (RemoteExpect::Index(images), Some(r)) => r.is_index_of(images),
        _ => false,
    };
    if ok {
        return Ok(());
    }
    let want = expect.shown();
    Err(format!(
        "the registry serves {} under {reference}, where {want} was expected; another push changed it (run the command again to decide anew)",
        seen(got)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::platform::Platform;
    use crate::model::remote::Member;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn at(config: &str) -> Remote {
        Remote::image(A, Some(config))
    }

    #[test]
    fn no_clobber() {
        let cases: Vec<(Option<Remote>, bool, Result<&str, &str>)> = vec![
            (None, false, Ok("push")),
            (Some(at(B)), false, Ok("already")),
            (
                Some(at(A)),
                false,
                Err("already published with other content"),
            ),
            (Some(at(A)), true, Ok("overwrite")),
        ];
        for (remote, force, want) in cases {
            let same = remote
                .as_ref()
                .is_some_and(|r| serves(r, B, &[], &[], "h/r"));
            let got = decide_release("h/r:1", remote.as_ref(), same, force);
            match (got, want) {
                (Ok(Release::Push), Ok("push")) => {}
                (Ok(Release::AlreadyPublished { digest }), Ok("already")) => {
                    assert_eq!(digest.as_deref(), Some(A))
                }
                (Ok(Release::Overwrite { note }), Ok("overwrite")) => {
                    assert!(note.contains("--force"))
                }
                (Err(e), Err(w)) => assert!(e.contains(w), "{e}"),
                (got, want) => panic!("{remote:?} force={force}: {got:?}, wanted {want:?}"),
            }
        }
    }

    #[test]
    fn a_release_is_first_written_from_heads_build() {
        let head = "c".repeat(40);
        let older = "d".repeat(40);
        let cases: Vec<(Option<&str>, Result<(), &str>)> = vec![
            (Some(head.as_str()), Ok(())),
            (
                Some(older.as_str()),
                Err("would be published from commit dddd"),
            ),
            (None, Err("carries no revision label")),
        ];
        for (revision, want) in cases {
            let got = written_from_head("h/r:1", revision, &head, "cargo xtask image build a");
            match (&got, want) {
                (Ok(()), Ok(())) => {}
                (Err(e), Err(w)) => {
                    assert!(e.contains(w), "{e}");
                    assert!(e.contains("cargo xtask image build a"), "{e}");
                }
                _ => panic!("{revision:?}: {got:?}, wanted {want:?}"),
            }
        }
    }

    #[test]
    fn an_index_is_one_build() {
        use crate::model::labels;
        use crate::model::platform::Platform;
        let l = |rev: &str, base: &str| {
            std::collections::BTreeMap::from([
                (labels::REVISION.to_string(), rev.to_string()),
                (labels::BASE_DIGEST.to_string(), base.to_string()),
                (labels::VERSION.to_string(), "0.2.2".to_string()),
                (labels::CREATED.to_string(), rev.to_string()),
            ])
        };
        let (amd, arm) = (
            Platform::parse("linux/amd64").unwrap(),
            Platform::parse("linux/arm64").unwrap(),
        );
        let (a, b, c) = (l("c1", "b@1"), l("c1", "b@1"), l("c2", "b@1"));
        assert!(one_build("r", &[(amd.clone(), &a), (arm.clone(), &b)]).is_ok());
        let err = one_build("r", &[(amd.clone(), &a), (arm.clone(), &c)]).unwrap_err();
        assert!(
            err.contains("revision labels differ (linux/amd64: 'c1', linux/arm64: 'c2')"),
            "{err}"
        );
        let d = l("c1", "b@2");
        assert!(one_build("r", &[(amd, &a), (arm, &d)])
            .unwrap_err()
            .contains("base.digest"));
    }

    #[test]
    fn alias_moves() {
        let v = |s: &str| Version::parse(s).unwrap();
        let r = at(B);
        assert_eq!(
            decide_alias("a", &v("0.2.2"), Some(&r), true, None, false),
            Ok(AliasMove::AlreadyThere)
        );
        assert_eq!(
            decide_alias("a", &v("0.2.2"), None, false, None, false),
            Ok(AliasMove::Move { note: None })
        );
        assert_eq!(
            decide_alias(
                "a",
                &v("0.3.0"),
                Some(&r),
                false,
                Some("0.2.2".into()),
                false
            ),
            Ok(AliasMove::Move { note: None })
        );
        assert!(decide_alias(
            "a",
            &v("0.2.2"),
            Some(&r),
            false,
            Some("0.3.0".into()),
            false
        )
        .unwrap_err()
        .contains("backwards"));
        assert!(decide_alias("a", &v("0.2.2"), Some(&r), false, None, false).is_err());
        assert!(matches!(
            decide_alias(
                "a",
                &v("0.2.2"),
                Some(&r),
                false,
                Some("0.3.0".into()),
                true
            ),
            Ok(AliasMove::Move { note: Some(_) })
        ));
    }

    #[test]
    fn expectations_on_what_the_registry_serves() {
        let at = |d: &str, c: &str| Remote::image(d, Some(c));
        let p = |s: &str| Platform::parse(s).unwrap();
        let member = |platform: &str, d: &str, c: &str| Member {
            platform: p(platform),
            digest: d.into(),
            config: Some(c.into()),
        };
        let index = |members: Vec<Member>| Remote {
            digest: None,
            config: None,
            members,
        };
        let both = index(vec![
            member("linux/amd64", A, A),
            member("linux/arm64", B, B),
        ]);
        let two = vec![
            (p("linux/arm64"), B.to_string()),
            (p("linux/amd64"), A.to_string()),
        ];
        let cases: Vec<(RemoteExpect, Option<Remote>, bool)> = vec![
            (RemoteExpect::Absent, None, true),
            (RemoteExpect::Absent, Some(at(A, B)), false),
            (RemoteExpect::Seen(at(A, B)), Some(at(A, B)), true),
            (RemoteExpect::Seen(at(A, B)), Some(at(B, B)), false),
            (RemoteExpect::Seen(at(A, B)), None, false),
            (RemoteExpect::Image(B.into()), Some(at(A, B)), true),
            (RemoteExpect::Image(A.into()), Some(at(A, B)), false),
            (RemoteExpect::Image(A.into()), None, false),
            (RemoteExpect::Image(A.into()), Some(both.clone()), false),
            (RemoteExpect::Index(two.clone()), Some(both.clone()), true),
            (RemoteExpect::Seen(both.clone()), Some(both.clone()), true),
            // One platform missing, one extra, one config different.
            (
                RemoteExpect::Index(two[..1].to_vec()),
                Some(both.clone()),
                false,
            ),
            (
                RemoteExpect::Index(two.clone()),
                Some(index(vec![member("linux/amd64", A, A)])),
                false,
            ),
            (
                RemoteExpect::Index(two.clone()),
                Some(index(vec![
                    member("linux/amd64", A, A),
                    member("linux/arm64", B, A),
                ])),
                false,
            ),
            (
                RemoteExpect::Index(two.clone()),
                Some(index(vec![
                    member("linux/amd64", A, A),
                    member("linux/arm/v7", B, B),
                ])),
                false,
            ),
            (RemoteExpect::Index(two), Some(at(A, B)), false),
        ];
        for (expect, got, ok) in cases {
            let r = check_expect("h/r:1", &expect, got.as_ref());
            assert_eq!(r.is_ok(), ok, "{expect:?} {got:?}");
        }
        let err = check_expect("h/r:1", &RemoteExpect::Absent, Some(&at(A, B))).unwrap_err();
        assert!(
            err.contains(&format!("serves manifest {A} under h/r:1, where nothing")),
            "{err}"
        );
    }
}
