//! The verifier: does an image tell the truth? Run by `image build` after
//! each build, and by `image push` and `image tag` on the exact image ID
//! they are about to publish or build on.
//!
//! For each image: (1) its labels carry this reference's and this tree's
//! values; (2) `/etc/os-release` has the catalog's VERSION_CODENAME; (3) the
//! base's layers are a prefix of its layers; (4) the framework the tag names
//! is installed at that major.minor (read with `importlib.metadata` by the
//! image's own python3), and an installed `itwinai` is at the tag's version.
//!
//! [`differences`] is the pure rule; `engine/verify.rs` gathers the facts
//! through the executor. What the probe read is cached by layer diff IDs and a pass by
//! image ID (`cache.rs`); a cached fact that disagrees is probed again
//! before the check fails.

use std::collections::BTreeMap;

use crate::model::git::check_commit_hash;
use crate::model::image::{ImageInfo, Inside};
use crate::model::labels;
use crate::model::platform::Platform;
use crate::model::reference::{check_repo_digest, AnyRef};
use crate::plan::arg::Slot;
use crate::plan::expectation::{Expectation, Labels, ITWINAI_DIST};

/// What was found out about an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub image: ImageInfo,
    /// The base's layer lists (one per platform of a multi-platform base).
    pub base_layers: Vec<Vec<String>>,
    /// Whether the revision label names a commit of this repository
    /// (asked only for [`Labels::Recorded`]).
    pub revision_is_commit: Option<bool>,
    /// What python3 read inside the image, or why it could not.
    pub inside: Result<Inside, String>,
}

/// Whether the classic builder built the image whose history is `rows`
/// (image IDs, newest first) on the base image it pulled: one of `bases`
/// (each image's ID and how many ONBUILD triggers it holds; the base's
/// image of the platform built). After the `commits` the Dockerfile makes,
/// the history must reach exactly that image. Anything else: the base's
/// local name pointed elsewhere when the build took it (another process
/// retagged or pulled it meanwhile). A base with triggers is refused.
pub fn built_on_base(
    rows: &[&str],
    commits: usize,
    bases: &[(&str, usize)],
    shown: &str,
) -> Result<(), String> {
    if bases.is_empty() {
        return Err(format!(
            "its base {shown} could not be found, so what it was built on cannot be told; build again"
        ));
    }
    // An image built on the base in the meantime (its triggers run there,
    // with any context) sits exactly where the triggers' commits would:
    // the history cannot tell them apart.
    if let Some((_, n)) = bases.iter().find(|(_, n)| *n > 0) {
        return Err(format!(
            "its base {shown} has {n} ONBUILD trigger(s), and the classic builder takes the base by a name another process may move: an image built on the base in between would pass for the triggers' own commits; build with buildx (BuildKit takes the base by digest), or on a base without triggers"
        ));
    }
    if bases.iter().any(|(id, _)| rows.get(commits) == Some(id)) {
        return Ok(());
    }
    let found = rows.get(commits).map_or("no image of its history", |r| {
        if *r == "<missing>" {
            "an image this engine no longer holds"
        } else {
            r
        }
    });
    let ids: Vec<&str> = bases.iter().map(|(id, _)| *id).collect();
    Err(format!(
        "the engine built it on {found}, not on the base pulled as {shown} ({}): that local name was moved to another image while it was built (another build, pull or tag on this engine, or, with --pull, the registry's tag moved since the tool's pull); build again",
        ids.join(", ")
    ))
}

/// Why an image may not go under a release tag, an alias or HEAD's
/// default development tag (`own_build_only`) for want of a clean build by
/// this tool: its labels say clean (no dirty label), but a
/// `docker build` of a working tree by hand says that too. `None` when it
/// may; an image labelled dirty is refused by [`differences`] instead.
pub fn not_built_clean_here(
    release: bool,
    labels: &BTreeMap<String, String>,
    built_clean: bool,
) -> Option<String> {
    let dirty = labels.get(labels::DIRTY).map(String::as_str) == Some("true");
    (release && !dirty && !built_clean).then(|| {
        "this tool's cache holds no record that it built this image from a clean commit (it lists the image IDs it built from a commit's files and checked; a `docker build` of a working tree carries no dirty label either), and only such an image goes under a release tag, an alias, or HEAD's default development tag (which `release` promotes); build it with `cargo xtask image build` using the same cache (XDG_CACHE_HOME or HOME as this run has them; a cached build is quick) and run this again".to_string()
    })
}

/// Why an image is not the `p` image it is named as.
pub fn platform_mismatch(image: &ImageInfo, p: &Platform) -> String {
    format!(
        "its config says platform {}, but it must be the {p} image",
        image.platform_shown()
    )
}

/// `x.y` of a version string (`2.6.0+cu124` → `2.6`).
pub fn major_minor(v: &str) -> Option<String> {
    let mut parts = v.split('.');
    let major = parts.next()?;
    let minor: String = parts
        .next()?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(major) && digits(&minor)).then(|| format!("{major}.{minor}"))
}

/// Everything that differs from what the image must show; empty when it
/// tells the truth.
pub fn differences(e: &Expectation, values: &BTreeMap<Slot, String>, f: &Facts) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(p) = e.platform.as_ref().filter(|p| !f.image.is_platform(p)) {
        out.push(platform_mismatch(&f.image, p));
    }
    let label = |k: &str| f.image.labels.get(k).map(String::as_str);
    if let Some(shape) = e.source_of.as_ref() {
        let ref_name = label(labels::REF_NAME).unwrap_or("");
        let revision = label(labels::REVISION).unwrap_or("");
        if let Err(why) = shape.check(ref_name).and_then(|hex| {
            use crate::rules::promotion::{dev_tag_names_its_commit, TagSeen};
            dev_tag_names_its_commit(TagSeen::Label(ref_name), hex, revision)
        }) {
            out.push(why);
        }
    }
    labels_differ(e, values, f, &mut out);
    if e.release && label(labels::DIRTY) == Some("true") {
        out.push(format!(
            "it was built from a working tree with uncommitted changes (label {}=true, set by a dirty build of it or of its base); only a clean build is published under a release tag or alias",
            labels::DIRTY
        ));
    }
    match &f.inside {
        Err(why) => out.push(why.clone()),
        Ok(inside) => inside_differs(e, inside, &mut out),
    }
    if !f
        .base_layers
        .iter()
        .any(|b| !b.is_empty() && f.image.layers.starts_with(b))
    {
        out.push(
            "the layers of its recorded base are not a prefix of its layers: it was not built on the recorded base"
                .to_string(),
        );
    }
    out
}

/// The labels' part of [`differences`].
fn labels_differ(
    e: &Expectation,
    values: &BTreeMap<Slot, String>,
    f: &Facts,
    out: &mut Vec<String>,
) {
    let label = |k: &str| f.image.labels.get(k).map(String::as_str);
    let mut want = |k: &str, expected: &str| {
        match label(k) {
        Some(got) if got == expected => {}
        Some(got) if k == labels::BASE_NAME => out.push(format!(
            "label {k} is '{got}', expected '{expected}', the flavour's declared base: an image built on another base (--base-image) is published under development tags only"
        )),
        Some(got) => out.push(format!("label {k} is '{got}', expected '{expected}'")),
        None => out.push(format!(
            "label {k} is missing, expected '{expected}' (set it in the Dockerfile from its build arg)"
        )),
    }
    };
    match &e.labels {
        Labels::Exact(list) => {
            for (k, v) in list {
                want(k, &v.resolve(values));
            }
        }
        Labels::Recorded => {
            want(labels::VERSION, &e.version);
            if let Some(r) = &e.ref_name {
                want(labels::REF_NAME, r);
            }

            if let Some(head) = &e.revision {
                want(labels::REVISION, head);
            }
            if let Some(base) = &e.base_name {
                want(labels::BASE_NAME, &base.to_string());
            }
            if let Some(dirty) = e.dirty {
                let labelled = label(labels::DIRTY) == Some("true");
                if labelled != dirty {
                    out.push(format!(
                        "its {} label says {labelled}, but its development tag says the tree was {}",
                        labels::DIRTY,
                        if dirty { "dirty (-dirty)" } else { "clean (no -dirty)" }
                    ));
                }
            }
            let rev = label(labels::REVISION).unwrap_or("");
            if check_commit_hash(rev).is_err() || f.revision_is_commit != Some(true) {
                out.push(format!(
                    "label {} is '{rev}', which is not a commit of this repository",
                    labels::REVISION
                ));
            }
            if label(labels::CREATED).unwrap_or("").is_empty() {
                out.push(format!("label {} is missing", labels::CREATED));
            }
            let name = label(labels::BASE_NAME).unwrap_or("");
            let digest = label(labels::BASE_DIGEST).unwrap_or("");
            match AnyRef::parse(name) {
                Err(why) => out.push(format!("label {} is '{name}': {why}", labels::BASE_NAME)),
                Ok(base) => {
                    let repo = base.familiar_repository();
                    let consistent = check_repo_digest(digest).is_ok()
                        && digest.split_once('@').is_some_and(|(r, _)| r == repo);
                    if !consistent {
                        out.push(format!(
                            "label {} is '{digest}', not a digest of {repo}",
                            labels::BASE_DIGEST
                        ));
                    }
                }
            }
        }
    }
}

/// What python3 read inside the image, held to the expectation.
fn inside_differs(e: &Expectation, inside: &Inside, out: &mut Vec<String>) {
    match inside.codename() {
        Some(c) if c == e.distro => {}
        Some(c) => out.push(format!(
            "/etc/os-release says VERSION_CODENAME={c}, but the catalog's distro is '{}'",
            e.distro
        )),
        None => out.push(format!(
            "/etc/os-release has no VERSION_CODENAME; the catalog's distro is '{}'",
            e.distro
        )),
    }
    let fw = &e.framework;
    match inside.dists.get(&fw.package).cloned().flatten() {
        None => out.push(format!(
            "the distribution '{}' is not installed (python3 -c 'import importlib.metadata' finds none), but the tag names {} {}",
            fw.package, fw.package, fw.version
        )),
        Some(v) if major_minor(&v).as_deref() == Some(fw.version.as_str()) => {}
        Some(v) => out.push(format!(
            "{} {v} is installed, but the tag says {} {}",
            fw.package, fw.package, fw.version
        )),
    }
    if let Some(Some(v)) = inside.dists.get(ITWINAI_DIST) {
        let same = *v == e.version
            || matches!((crate::model::version::Version::parse(v), crate::model::version::Version::parse(&e.version)), (Ok(a), Ok(b)) if a == b);
        if !same {
            out.push(format!(
                "{ITWINAI_DIST} {v} is installed, but the image is labelled version {}",
                e.version
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_history_reaches_the_pulled_base_after_exactly_the_dockerfile_s_commits() {
        let rows = ["sha256:c2", "sha256:c1", "sha256:base", "<missing>"];
        let evil = [
            "sha256:c2",
            "sha256:c1",
            "sha256:evil",
            "sha256:base",
            "<missing>",
        ];
        type Bases<'a> = &'a [(&'a str, usize)];
        let base: Bases = &[("sha256:base", 0)];
        let cases: [(&[&str], usize, Bases, Option<&str>); 8] = [
            (&rows, 2, base, None),
            // A base with ONBUILD triggers cannot be told from an image
            // built on it meanwhile.
            (
                &rows,
                1,
                &[("sha256:base", 1)],
                Some("has 1 ONBUILD trigger(s)"),
            ),
            // Any of the base's images of the platform (local, or as served).
            (&rows, 2, &[("sha256:other", 0), ("sha256:base", 0)], None),
            // One layer more between the build and the base.
            (&evil, 2, base, Some("built it on sha256:evil")),
            (&rows, 1, base, Some("built it on sha256:c1")),
            (&rows, 3, base, Some("an image this engine no longer holds")),
            (&rows, 9, base, Some("no image of its history")),
            (&rows, 2, &[], Some("could not be found")),
        ];
        for (rows, commits, base, want) in cases {
            let got = built_on_base(rows, commits, base, "b@sha256:d");
            match want {
                None => assert_eq!(got, Ok(()), "{rows:?} {commits} {base:?}"),
                Some(w) => {
                    let why = got.unwrap_err();
                    assert!(why.contains(w), "{why}");
                }
            }
        }
    }

    #[test]
    fn a_release_needs_a_clean_build_of_this_tool() {
        let with = |v: Option<&str>| -> BTreeMap<String, String> {
            v.map(|v| (labels::DIRTY.to_string(), v.to_string()))
                .into_iter()
                .collect()
        };
        // (release, dirty label, built clean here, refused for want of it)
        let cases = [
            (true, None, true, false),
            (true, None, false, true),
            (true, Some("false"), false, true),
            (true, Some("true"), false, false),
            (true, Some("true"), true, false),
            (false, None, false, false),
            (false, Some("false"), false, false),
        ];
        for (release, dirty, built, refused) in cases {
            let got = not_built_clean_here(release, &with(dirty), built);
            assert_eq!(
                got.is_some(),
                refused,
                "{release} {dirty:?} {built}: {got:?}"
            );
        }
    }
    use crate::model::image::Framework;
    use crate::plan::arg::Arg;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn inside(codename: &str, dists: &[(&str, Option<&str>)]) -> Inside {
        Inside {
            os_release: Some(format!("ID=ubuntu\nVERSION_CODENAME={codename}\n")),
            dists: dists
                .iter()
                .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
                .collect(),
        }
    }

    fn expectation(labels: Labels) -> Expectation {
        Expectation {
            image: crate::model::reference::AnyRef::parse("r:t").unwrap(),
            ref_name: Some("r:t".into()),
            version: "0.2.2".into(),
            labels,
            distro: "jammy".into(),
            framework: Framework {
                package: "torch".into(),
                version: "2.6".into(),
            },
            release: true,
            revision: None,
            base_name: None,
            source_of: None,
            dirty: None,
            built: None,
            platform: None,
            commits_on_base: None,
        }
    }

    fn recorded_image() -> ImageInfo {
        let l = |k: &str, v: &str| (k.to_string(), v.to_string());
        ImageInfo {
            id: format!("sha256:{HEX}"),
            repo_digests: vec![],
            labels: [
                l(labels::VERSION, "0.2.2"),
                l(labels::REF_NAME, "r:t"),
                l(labels::REVISION, &"a".repeat(40)),
                l(labels::CREATED, "2026-11-24T12:05:09+00:00"),
                l(labels::BASE_NAME, "127.0.0.1:5000/base:1"),
                l(
                    labels::BASE_DIGEST,
                    &format!("127.0.0.1:5000/base@sha256:{HEX}"),
                ),
            ]
            .into(),
            layers: vec!["l1".into(), "l2".into()],
            ..ImageInfo::default()
        }
    }

    fn facts(image: ImageInfo) -> Facts {
        Facts {
            image,
            base_layers: vec![vec!["l1".into()]],
            revision_is_commit: Some(true),
            inside: Ok(inside(
                "jammy",
                &[("torch", Some("2.6.0+cu124")), ("itwinai", Some("0.2.2"))],
            )),
        }
    }

    #[test]
    fn framework_versions() {
        for (v, want) in [
            ("2.6.0", Some("2.6")),
            ("2.6.0+cu124", Some("2.6")),
            ("2.16.1", Some("2.16")),
            ("2.6rc1", Some("2.6")),
            ("2", None),
            ("x.y", None),
            ("", None),
        ] {
            assert_eq!(major_minor(v).as_deref(), want, "{v}");
        }
    }

    #[test]
    fn a_truthful_recorded_image_passes() {
        let e = expectation(Labels::Recorded);
        assert_eq!(
            differences(&e, &BTreeMap::new(), &facts(recorded_image())),
            Vec::<String>::new()
        );
    }

    #[test]
    fn every_lie_is_named() {
        let e = expectation(Labels::Recorded);
        type Change = Box<dyn Fn(&mut Facts)>;
        let cases: Vec<(&str, Change)> = vec![
            (
                "label org.opencontainers.image.version is '0.2.1', expected '0.2.2'",
                Box::new(|f: &mut Facts| {
                    f.image
                        .labels
                        .insert(labels::VERSION.into(), "0.2.1".into());
                }),
            ),
            (
                "label org.opencontainers.image.ref.name is missing",
                Box::new(|f: &mut Facts| {
                    f.image.labels.remove(labels::REF_NAME);
                }),
            ),
            (
                "which is not a commit of this repository",
                Box::new(|f: &mut Facts| {
                    f.revision_is_commit = Some(false);
                }),
            ),
            (
                "not a digest of 127.0.0.1:5000/base",
                Box::new(|f: &mut Facts| {
                    f.image
                        .labels
                        .insert(labels::BASE_DIGEST.into(), format!("other@sha256:{HEX}"));
                }),
            ),
            (
                "built from a working tree with uncommitted changes",
                Box::new(|f: &mut Facts| {
                    f.image.labels.insert(labels::DIRTY.into(), "true".into());
                }),
            ),
            (
                "VERSION_CODENAME=noble, but the catalog's distro is 'jammy'",
                Box::new(|f: &mut Facts| {
                    f.inside = Ok(inside("noble", &[("torch", Some("2.6.0"))]));
                }),
            ),
            (
                "torch 2.5.1 is installed, but the tag says torch 2.6",
                Box::new(|f: &mut Facts| {
                    f.inside = Ok(inside("jammy", &[("torch", Some("2.5.1"))]));
                }),
            ),
            (
                "the distribution 'torch' is not installed",
                Box::new(|f: &mut Facts| {
                    f.inside = Ok(inside("jammy", &[("torch", None)]));
                }),
            ),
            (
                "itwinai 0.2.1 is installed, but the image is labelled version 0.2.2",
                Box::new(|f: &mut Facts| {
                    f.inside = Ok(inside(
                        "jammy",
                        &[("torch", Some("2.6.0")), ("itwinai", Some("0.2.1"))],
                    ));
                }),
            ),
            (
                "there is no python3",
                Box::new(|f: &mut Facts| {
                    f.inside = Err("there is no python3 in the image".into());
                }),
            ),
            (
                "not built on the recorded base",
                Box::new(|f: &mut Facts| {
                    f.base_layers = vec![vec!["l9".into()]];
                }),
            ),
            (
                "not built on the recorded base",
                Box::new(|f: &mut Facts| {
                    f.base_layers = vec![];
                }),
            ),
        ];
        for (want, change) in cases {
            let mut f = facts(recorded_image());
            change(&mut f);
            let diffs = differences(&e, &BTreeMap::new(), &f);
            assert_eq!(diffs.len(), 1, "{want}: {diffs:?}");
            assert!(diffs[0].contains(want), "{want}: {diffs:?}");
        }
        // A default development tag names HEAD: the image must be its build.
        let mut at_head = expectation(Labels::Recorded);
        at_head.revision = Some("b".repeat(40));
        let diffs = differences(&at_head, &BTreeMap::new(), &facts(recorded_image()));
        assert_eq!(diffs.len(), 1, "{diffs:?}");
        assert!(
            diffs[0].contains(&format!("expected '{}'", "b".repeat(40))),
            "{diffs:?}"
        );
        // A default development tag's -dirty must match the label.
        let mut clean_tag = expectation(Labels::Recorded);
        clean_tag.release = false;
        clean_tag.dirty = Some(false);
        let mut f = facts(recorded_image());
        f.image.labels.insert(labels::DIRTY.into(), "true".into());
        let diffs = differences(&clean_tag, &BTreeMap::new(), &f);
        assert_eq!(diffs.len(), 1, "{diffs:?}");
        assert!(diffs[0].contains("the tree was clean"), "{diffs:?}");
        clean_tag.dirty = Some(true);
        assert!(differences(&clean_tag, &BTreeMap::new(), &f).is_empty());
        // A development image may carry the dirty label.
        let mut dev = expectation(Labels::Recorded);
        dev.release = false;
        let mut f = facts(recorded_image());
        f.image.labels.insert(labels::DIRTY.into(), "true".into());
        assert!(differences(&dev, &BTreeMap::new(), &f).is_empty());
    }

    #[test]
    fn exact_labels_use_the_values_passed() {
        let slot = Slot::BaseDigest {
            image: crate::model::reference::AnyRef::parse("b:1").unwrap(),
        };
        let e = expectation(Labels::Exact(vec![
            (labels::VERSION.into(), Arg::Lit("0.2.2".into())),
            (labels::BASE_DIGEST.into(), Arg::slot(slot.clone())),
        ]));
        let mut values = BTreeMap::new();
        values.insert(slot, format!("127.0.0.1:5000/base@sha256:{HEX}"));
        let f = facts(recorded_image());
        assert!(differences(&e, &values, &f).is_empty());
        assert_eq!(
            e.base_digest(&f.image, &values),
            values.values().next().cloned()
        );
        values.insert(
            Slot::BaseDigest {
                image: crate::model::reference::AnyRef::parse("b:1").unwrap(),
            },
            "x@sha256:1".into(),
        );
        let diffs = differences(&e, &values, &f);
        assert_eq!(diffs.len(), 1, "{diffs:?}");
        assert!(diffs[0].contains("expected 'x@sha256:1'"));
    }
}
