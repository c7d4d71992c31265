//! Checking an image: gather its facts (the engine's inspect, the base's
//! layers, what its own python3 reads inside it, from the cache where it
//! can) and hold them to the expectation (`rules/verify.rs`).

use anyhow::{Context, Result};

use crate::engine::executor::Executor;
use crate::exec::docker_output;
use crate::model::git::check_commit_hash;
use crate::model::image::{ImageInfo, Inside};
use crate::model::labels;
use crate::model::platform::Platform;
use crate::plan::arg::Arg;
use crate::plan::expectation::{Expectation, Labels};
use crate::plan::step::Step;
use crate::rules::verify::{
    built_on_base, differences, not_built_clean_here, platform_mismatch, Facts,
};
use crate::support::cache;

/// Check the image `e.image` names now (a build's: the image it wrote the
/// ID of); its image ID when it passes.
/// The image and, when its digest is already known, its base are
/// inspected in one call.
pub fn check(exec: &mut Executor, e: &Expectation) -> Result<String> {
    // The history is read beside the inspect: both only read.
    let history = e
        .commits_on_base
        .map(|_| Step::History { image: e.subject() });
    if let Some(h) = &history {
        exec.prefetch(h.clone());
    }
    let mut images = vec![e.subject()];
    let known_base = e.passed_base_digest(exec.values());
    if let Some(b) = &known_base {
        images.push(Arg::Lit(b.clone()));
    }
    let mut found = exec.inspect(&images)?.into_iter();
    let info = found
        .next()
        .flatten()
        .ok_or_else(|| match &e.built {
            Some(_) => anyhow::anyhow!(
                "{} ({}, the ID docker build wrote) is not in the local engine: an image prune may have removed it, or buildx wrote a digest this engine does not know images by (some buildx versions with the containerd image store); build again, or update buildx",
                e.shown(),
                e.subject().resolve(exec.values())
            ),
            None => anyhow::anyhow!("{} is not in the local engine", e.shown()),
        })?;
    let base = found.next().flatten();
    let history = match &history {
        Some(step) => Some(
            exec.must(step)?
                .context("the history of an image just inspected")?,
        ),
        None => None,
    };
    check_with(exec, e, info, base, history.as_deref())
}

/// [`check_facts`]; then a clean build that passed is recorded as this
/// tool's, and an image that tells the truth must be one where only such
/// an image may go ([`Expectation::needs_own_build`]; after the facts, so
/// a lying image is told what it lies about; outside the verdict cache,
/// so no earlier pass skips it).
fn check_with(
    exec: &mut Executor,
    e: &Expectation,
    info: ImageInfo,
    base: Option<ImageInfo>,
    history: Option<&str>,
) -> Result<String> {
    let labels = info.labels.clone();
    let id = check_facts(exec, e, info, base, history)?;
    // A dry run writes nothing, the cache included.
    if e.is_clean_build() && !exec.dry_run() {
        cache::store_built_clean(&id);
    }
    // The cache is read only where its record decides.
    let own = e.needs_own_build();
    if let Some(why) = not_built_clean_here(own, &labels, own && cache::built_clean(&id)) {
        anyhow::bail!("{} ({id}) tells the truth, but {why}", e.shown());
    }
    Ok(id)
}

/// [`check`], for an image the caller has just inspected: everything after
/// is bound to `info.id`.
pub fn check_inspected(exec: &mut Executor, e: &Expectation, info: ImageInfo) -> Result<String> {
    check_with(exec, e, info, None, None)
}

/// A failed check's line: for a build, which image (its ID: it has no
/// name) and that its name stays where it was.
fn untrue(e: &Expectation, id: &str, what: &str) -> anyhow::Error {
    match &e.built {
        Some(name) => anyhow::anyhow!(
            "the image built for {name} ({id}, left unnamed: {name} was not moved to it) does not tell the truth: {what}"
        ),
        None => anyhow::anyhow!("{} does not tell the truth: {what}", e.shown()),
    }
}

fn check_facts(
    exec: &mut Executor,
    e: &Expectation,
    info: ImageInfo,
    base: Option<ImageInfo>,
    history: Option<&str>,
) -> Result<String> {
    // An image of another platform would not even run as this one.
    if let Some(p) = e.platform.as_ref().filter(|p| !info.is_platform(p)) {
        return Err(untrue(e, &info.id, &platform_mismatch(&info, p)));
    }
    let mut base = base;
    let mut bases = None;
    if let (Some(rows), Some(commits)) = (history, e.commits_on_base) {
        let found = base_images(exec, e, &info, base.take())?;
        let rows: Vec<&str> = rows.lines().map(str::trim).collect();
        let candidates: Vec<(&str, usize)> =
            found.iter().map(|b| (b.id.as_str(), b.triggers)).collect();
        let shown = e.base_shown().resolve(exec.values());
        if let Err(why) = built_on_base(&rows, commits, &candidates, &shown) {
            return Err(untrue(e, &info.id, &why));
        }
        bases = Some(found);
    }
    let fp = e.fingerprint(exec.values(), &exec.root());
    if cache::passed(&info.id, &fp) {
        crate::support::output::stderr_line(&format!(
            "checked {}: image {} passed these checks before (cached by image ID)",
            e.shown(),
            info.id
        ));
        return Ok(info.id);
    }
    let bases = match bases {
        Some(b) => b,
        None => base_images(exec, e, &info, base)?,
    };
    let base_layers = bases.into_iter().map(|b| b.layers).collect();
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
    let mut diffs = differences(e, exec.values(), &facts);
    if !diffs.is_empty() && from_cache {
        // The cache only saves work: ask the image itself before failing.
        facts.inside = probe(exec, &facts.image, e.platform.as_ref(), &dists)?;
        diffs = differences(e, exec.values(), &facts);
    }
    if !diffs.is_empty() {
        return Err(untrue(e, &facts.image.id, &diffs.join("; ")));
    }
    if !exec.dry_run() {
        cache::store_pass(&facts.image.id, &fp);
    }
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
    if inside.is_ok() && !exec.dry_run() {
        cache::store_inside(&info.layers, &info.runtime, dists, &text);
    }
    Ok(inside)
}

/// A base image the checked one may be built on: its ID (the local
/// image's, or its config's digest as a registry serves it: what a pull
/// makes the ID), layers and ONBUILD triggers.
struct BaseImage {
    id: String,
    layers: Vec<String>,
    triggers: usize,
}

impl BaseImage {
    fn local(info: ImageInfo) -> BaseImage {
        BaseImage {
            id: info.id,
            layers: info.layers,
            triggers: info.onbuild.len(),
        }
    }
}

/// The images of the base `info` records (or `base`, inspected with it),
/// of the platform it is (or was meant to be) built for.
fn base_images(
    exec: &mut Executor,
    e: &Expectation,
    info: &ImageInfo,
    base: Option<ImageInfo>,
) -> Result<Vec<BaseImage>> {
    let base = base.filter(|b| e.platform.as_ref().is_none_or(|p| b.is_platform(p)));
    Ok(match (base, e.base_digest(info, exec.values())) {
        (Some(b), _) => vec![BaseImage::local(b)],
        (None, Some(d)) => {
            let platform = e
                .platform
                .clone()
                .or_else(|| Platform::parse(&info.platform_shown()).ok());
            recorded_base(exec, &d, platform.as_ref())?
        }
        (None, None) => Vec::new(),
    })
}

/// The images of the base `digest_ref` (`repository@sha256:…`), of
/// `platform` when given (a multi-platform base's entry for it): from the
/// engine when it has that image, else from its registry's API (the
/// manifest and the config blob: no layer is read and nothing is pulled,
/// so a dry run changes nothing in the engine either).
fn recorded_base(
    exec: &mut Executor,
    digest_ref: &str,
    platform: Option<&Platform>,
) -> Result<Vec<BaseImage>> {
    let arg = Arg::Lit(digest_ref.into());
    let fits = |info: &ImageInfo| platform.is_none_or(|p| info.is_platform(p));
    if let Some(Some(info)) = exec.inspect(std::slice::from_ref(&arg))?.pop() {
        if fits(&info) {
            return Ok(vec![BaseImage::local(info)]);
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
    let mut images = Vec::new();
    for config in configs {
        let body = exec.config_blob(&endpoint, &name, &config, digest_ref)?;
        let served = |e: String| anyhow::anyhow!("{digest_ref}: its registry served {e}");
        images.push(BaseImage {
            layers: crate::oci::distribution::config_diff_ids(&body).map_err(served)?,
            triggers: crate::oci::distribution::config_triggers(&body).map_err(served)?,
            id: config,
        });
    }
    Ok(images)
}
