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
//! [`differences`] is the pure rule; [`check`] gathers the facts through the
//! executor. What the probe read is cached by layer diff IDs and a pass by
//! image ID (`cache.rs`); a cached fact that disagrees is probed again
//! before the check fails.

use std::collections::BTreeMap;

use anyhow::{Context, Result};

use crate::engine::executor::Executor;
use crate::exec::docker_output::{self, ImageInfo, Inside};
use crate::exec::git::check_commit_hash;
use crate::model::labels;
use crate::model::platform::Platform;
use crate::model::reference::{check_repo_digest, AnyRef};
use crate::plan::step::{Arg, Slot};
use crate::support::cache;

/// What the labels must say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Labels {
    /// Right after a build: each label equals what was passed.
    Exact(Vec<(String, Arg)>),
    /// An image made earlier or elsewhere: version and ref.name as
    /// expected, revision a commit of this repository, base.name and
    /// base.digest consistent, a creation date.
    Recorded,
}

/// The framework the tag names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Framework {
    /// The distribution to look up (`torch`, `tensorflow`, or the catalog's
    /// `framework-package`).
    pub package: String,
    /// `x.y` from the tag.
    pub version: String,
}

/// What one image must show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    /// The local name to check.
    pub image: String,
    /// What its ref.name label must hold; None for a promotion's source.
    pub ref_name: Option<String>,
    /// What its version label, and an installed itwinai, must hold.
    pub version: String,
    pub labels: Labels,
    pub distro: String,
    pub framework: Framework,
    /// Published under a release tag or alias: an image built from a dirty
    /// tree is refused.
    pub release: bool,
    /// The commit its revision label must name: a default development tag
    /// carries HEAD's hash, so the image must be HEAD's build.
    pub revision: Option<String>,
    /// The base its base.name label must name (a promotion's source must
    /// be built on its flavour's base, not be another flavour's image).
    pub base_name: Option<String>,
    /// A promotion's source: its ref.name must name a development image of
    /// the flavour at this version.
    pub source_of: Option<crate::rules::promotion::DevelopmentOf>,
    /// Whether it must carry the dirty label: a default development tag
    /// says `-dirty` exactly when it does.
    pub dirty: Option<bool>,
    /// Built by this very plan under this name: removed when it fails, so
    /// an image that lies keeps no name.
    pub built: Option<crate::model::reference::Reference>,
    /// The name the image takes once it passes (a build's local name; it
    /// is checked under its staging name `image`), for messages.
    pub becomes: Option<crate::model::reference::Reference>,
    /// The one platform of a multi-platform reference this image is: its
    /// config must say so, it runs as that platform (under emulation when
    /// foreign), and its base layers are that platform's of the base.
    pub platform: Option<Platform>,
}

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

/// Distributions the probe is asked about.
pub const ITWINAI_DIST: &str = "itwinai";

impl Expectation {
    /// The image as messages name it: `image`, or, for a build, the name it
    /// takes and the one it was built under.
    pub fn shown(&self) -> String {
        match &self.becomes {
            Some(name) => format!("{name} (built as {})", self.image),
            None => self.image.clone(),
        }
    }

    pub fn dists(&self) -> Vec<String> {
        vec![self.framework.package.clone(), ITWINAI_DIST.to_string()]
    }

    /// One line for `--dry-run`.
    pub fn describe(&self) -> String {
        format!(
            "check {}: {}its labels, VERSION_CODENAME={} in /etc/os-release, {} {} (and {ITWINAI_DIST} {}, if installed) inside, built on its recorded base{}",
            self.image,
            self.platform
                .as_ref()
                .map_or(String::new(), |p| format!("a {p} image (run as {p}), ")),
            self.distro,
            self.framework.package,
            self.framework.version,
            self.version,
            if self.release { ", from a clean tree" } else { "" }
        )
    }

    /// The base as `--dry-run` shows its lookup: the digest passed, or a
    /// note that it comes from the image's label.
    pub fn base_shown(&self) -> Arg {
        match &self.labels {
            Labels::Exact(list) => list
                .iter()
                .find(|(k, _)| k == labels::BASE_DIGEST)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| Arg::Lit(String::new())),
            Labels::Recorded => Arg::Lit(format!("<{} of {}>", labels::BASE_DIGEST, self.image)),
        }
    }

    /// The base digest passed to the build, once known (`Exact` only).
    fn passed_base_digest(&self, values: &BTreeMap<Slot, String>) -> Option<String> {
        match &self.labels {
            Labels::Exact(list) => {
                let (_, v) = list.iter().find(|(k, _)| k == labels::BASE_DIGEST)?;
                if let Arg::Slot { slot, .. } = v {
                    values.get(slot)?;
                }
                let d = v.resolve(values);
                check_repo_digest(&d).ok().map(|()| d)
            }
            Labels::Recorded => None,
        }
    }

    /// The `repository@sha256:…` of the base, from what was passed or,
    /// for a recorded image, from its label.
    fn base_digest(&self, image: &ImageInfo, values: &BTreeMap<Slot, String>) -> Option<String> {
        let d = match &self.labels {
            Labels::Exact(list) => list
                .iter()
                .find(|(k, _)| k == labels::BASE_DIGEST)
                .map(|(_, v)| v.resolve(values))?,
            Labels::Recorded => image.labels.get(labels::BASE_DIGEST)?.clone(),
        };
        check_repo_digest(&d).ok().map(|()| d)
    }

    /// A canonical text of everything a pass depends on besides the image.
    fn fingerprint(&self, values: &BTreeMap<Slot, String>, root: &std::path::Path) -> String {
        let labels: Vec<(String, String)> = match &self.labels {
            Labels::Exact(list) => list
                .iter()
                .map(|(k, v)| (k.clone(), v.resolve(values)))
                .collect(),
            Labels::Recorded => Vec::new(),
        };
        format!(
            "v1 {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
            self.platform,
            self.base_name,
            self.source_of,
            self.dirty,
            self.revision,
            self.ref_name,
            self.version,
            labels,
            self.distro,
            self.framework.package,
            self.framework.version,
            self.release,
            root
        )
    }
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
    if let Some(Err(why)) = e
        .source_of
        .as_ref()
        .map(|s| s.check(label(labels::REF_NAME).unwrap_or("")))
    {
        out.push(why);
    }
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
                want(labels::BASE_NAME, base);
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
    if e.release && label(labels::DIRTY) == Some("true") {
        out.push(format!(
            "it was built from a working tree with uncommitted changes (label {}=true, set by a dirty build of it or of its base); only a clean build is published under a release tag or alias",
            labels::DIRTY
        ));
    }
    match &f.inside {
        Err(why) => out.push(why.clone()),
        Ok(inside) => {
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

/// Check the image `e.image` names now; its image ID when it passes.
/// The image and, when its digest is already known, its base are
/// inspected in one call.
pub fn check(exec: &mut Executor, e: &Expectation) -> Result<String> {
    let mut images = vec![Arg::Lit(e.image.clone())];
    let known_base = e.passed_base_digest(&exec.values);
    if let Some(b) = &known_base {
        images.push(Arg::Lit(b.clone()));
    }
    let mut found = exec.inspect(&images)?.into_iter();
    let info = found
        .next()
        .flatten()
        .ok_or_else(|| anyhow::anyhow!("{} is not in the local engine", e.shown()))?;
    let base = found.next().flatten();
    check_with(exec, e, info, base)
}

/// [`check`], for an image the caller has just inspected: everything after
/// is bound to `info.id`.
pub fn check_inspected(exec: &mut Executor, e: &Expectation, info: ImageInfo) -> Result<String> {
    check_with(exec, e, info, None)
}

fn check_with(
    exec: &mut Executor,
    e: &Expectation,
    info: ImageInfo,
    base: Option<ImageInfo>,
) -> Result<String> {
    // An image of another platform would not even run as this one.
    if let Some(p) = e.platform.as_ref().filter(|p| !info.is_platform(p)) {
        anyhow::bail!(
            "{} does not tell the truth: {}",
            e.shown(),
            platform_mismatch(&info, p)
        );
    }
    let fp = e.fingerprint(&exec.values, &exec.root());
    if cache::passed(&info.id, &fp) {
        crate::support::output::stderr_line(&format!(
            "checked {}: image {} passed these checks before (cached by image ID)",
            e.shown(),
            info.id
        ));
        return Ok(info.id);
    }
    let base = base.filter(|b| e.platform.as_ref().is_none_or(|p| b.is_platform(p)));
    let base_layers = match (base, e.base_digest(&info, &exec.values)) {
        (Some(b), _) => vec![b.layers],
        (None, Some(d)) => {
            // The base's image of the platform this image is (or was
            // meant to be) built for.
            let platform = e
                .platform
                .clone()
                .or_else(|| Platform::parse(&info.platform_shown()).ok());
            base_layers(exec, &d, platform.as_ref())?
        }
        (None, None) => Vec::new(),
    };
    let revision_is_commit = match e.labels {
        Labels::Exact(_) => None,
        Labels::Recorded => {
            let rev = info
                .labels
                .get(labels::REVISION)
                .cloned()
                .unwrap_or_default();
            Some(check_commit_hash(&rev).is_ok() && exec.is_commit(&rev)?)
        }
    };
    let dists = e.dists();
    let cached = cache::inside(&info.layers, &info.runtime, &dists)
        .and_then(|t| docker_output::parse_probe(&t).ok());
    let from_cache = cached.is_some();
    let inside = match cached {
        Some(i) => Ok(i),
        None => probe(exec, &info, e.platform.as_ref(), &dists)?,
    };
    let mut facts = Facts {
        image: info,
        base_layers,
        revision_is_commit,
        inside,
    };
    let mut diffs = differences(e, &exec.values, &facts);
    if !diffs.is_empty() && from_cache {
        // The cache only saves work: ask the image itself before failing.
        facts.inside = probe(exec, &facts.image, e.platform.as_ref(), &dists)?;
        diffs = differences(e, &exec.values, &facts);
    }
    if !diffs.is_empty() {
        anyhow::bail!(
            "{} does not tell the truth: {}",
            e.shown(),
            diffs.join("; ")
        );
    }
    cache::store_pass(&facts.image.id, &fp);
    crate::support::output::stderr_line(&format!(
        "checked {} ({}): labels, distro {}, {} {} inside, base layers",
        e.shown(),
        facts.image.id,
        e.distro,
        e.framework.package,
        e.framework.version
    ));
    Ok(facts.image.id)
}

fn probe(
    exec: &mut Executor,
    info: &ImageInfo,
    platform: Option<&Platform>,
    dists: &[String],
) -> Result<Result<Inside, String>> {
    let (text, inside) = exec.probe(&info.id, platform, dists)?;
    if inside.is_ok() {
        cache::store_inside(&info.layers, &info.runtime, dists, &text);
    }
    Ok(inside)
}

/// The layer lists of the base `digest_ref` (`repository@sha256:…`), of
/// `platform` when given (a multi-platform base's entry for it): from the
/// engine when it has that image, else from its registry's API (the
/// manifest and the config blob: no layer is read and nothing is pulled,
/// so a dry run changes nothing in the engine either).
fn base_layers(
    exec: &mut Executor,
    digest_ref: &str,
    platform: Option<&Platform>,
) -> Result<Vec<Vec<String>>> {
    let arg = Arg::Lit(digest_ref.into());
    let fits = |info: &ImageInfo| platform.is_none_or(|p| info.is_platform(p));
    if let Some(Some(info)) = exec.inspect(std::slice::from_ref(&arg))?.pop() {
        if fits(&info) {
            return Ok(vec![info.layers]);
        }
    }
    let base = crate::model::reference::AnyRef::parse(digest_ref)
        .map_err(|e| anyhow::anyhow!("the recorded base {digest_ref}: {e}"))?;
    let digest = base
        .digest
        .clone()
        .with_context(|| format!("the recorded base {digest_ref} names no digest"))?;
    let (host, name) = base.api_location();
    let endpoint = crate::oci::distribution::Endpoint::of_host(&host);
    let (_, manifest) = exec
        .manifest(&endpoint, &name, &digest, digest_ref)?
        .with_context(|| format!("the registry of the base {digest_ref} does not serve it"))?;
    let configs = match manifest {
        crate::oci::distribution::Manifest::Image { config } => vec![config],
        crate::oci::distribution::Manifest::Index(entries) => {
            let mine: Vec<&(Platform, String)> = entries
                .iter()
                .filter(|(p, _)| platform.is_none_or(|want| want == p))
                .collect();
            anyhow::ensure!(
                !mine.is_empty(),
                "the base {digest_ref} has no {} image (it serves {})",
                platform.map_or(String::new(), ToString::to_string),
                entries
                    .iter()
                    .map(|(p, _)| p.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let mut configs = Vec::new();
            for (p, member) in mine {
                configs.push(exec.member_config(&endpoint, &name, digest_ref, p, member)?);
            }
            configs
        }
    };
    let mut layers = Vec::new();
    for config in configs {
        let body = exec.config_blob(&endpoint, &name, &config, digest_ref)?;
        layers.push(
            crate::oci::distribution::config_diff_ids(&body)
                .map_err(|e| anyhow::anyhow!("{digest_ref}: its registry served {e}"))?,
        );
    }
    Ok(layers)
}

#[cfg(test)]
mod tests {
    use super::*;

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
            image: "r:t".into(),
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
            becomes: None,
            platform: None,
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
            image: "b:1".into(),
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
                image: "b:1".into(),
            },
            "x@sha256:1".into(),
        );
        let diffs = differences(&e, &values, &f);
        assert_eq!(diffs.len(), 1, "{diffs:?}");
        assert!(diffs[0].contains("expected 'x@sha256:1'"));
    }
}
