//! `image build`: gather the facts, compute the plan, run or print it.

use anyhow::{Context, Result};
use time::{OffsetDateTime, UtcOffset};

use std::path::{Path, PathBuf};

use crate::cli::BuildArgs;
use crate::engine::executor::Executor;
use crate::model::git::GitState;
use crate::model::labels;
use crate::model::platform::Platform;
use crate::model::reference::{AnyRef, Reference};
use crate::plan::arg::{Arg, Slot};
use crate::plan::check::{Check, Item};
use crate::plan::expectation::{Expectation, Labels};
use crate::plan::provenance::{creation_date, creation_time, Provenance};
use crate::plan::step::{Build, Builder, Source, Step};
use crate::project::context;
use crate::project::workspace::Workspace;
use crate::support::error::invalid;
use crate::support::json::Json;

/// One image to build, with every value it records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub flavour: String,
    pub dockerfile: String,
    /// The reference it is published under (IMAGE_FULL_NAME, ref.name).
    pub reference: Reference,
    /// The platform of a multi-platform flavour this image is (None: a
    /// flavour without `platforms`, one plain image).
    pub platform: Option<Platform>,
    /// What it is built for and checked against: `platform`, else the
    /// engine's own, named explicitly whatever DOCKER_DEFAULT_PLATFORM says.
    pub built_for: Platform,
    /// Its name in the local engine: the reference, or one platform's name.
    pub local: Reference,
    /// The name it is built under, which only this run makes: `local`
    /// moves to the image only once it passed every check, so a build that
    /// fails them leaves the previous image's name where it was.
    pub staging: Reference,
    pub distro: String,
    pub framework: crate::model::image::Framework,
    pub provenance: Provenance,
    pub extra_args: Vec<(String, String)>,
    /// Built from a tree with uncommitted changes (recorded as a label).
    pub dirty: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub builder: Builder,
    pub no_cache: bool,
    pub pull: bool,
}

/// The slot that holds a base image's digest.
pub fn digest_slot(base: &str) -> Slot {
    Slot::BaseDigest {
        image: base.to_string(),
    }
}

impl Target {
    /// What the built image must show: exactly the values passed.
    pub fn expectation(&self) -> Expectation {
        let mut labels = self.provenance.labels();
        if self.dirty {
            labels.push((labels::DIRTY.to_string(), Arg::Lit("true".into())));
        }
        Expectation {
            image: self.staging.to_string(),
            ref_name: Some(self.reference.to_string()),
            version: self.provenance.itwinai_version.clone(),
            labels: Labels::Exact(labels),
            distro: self.distro.clone(),
            framework: self.framework.clone(),
            release: false,
            revision: None,
            base_name: None,
            source_of: None,
            dirty: None,
            built: Some(self.staging.clone()),
            becomes: Some(self.local.clone()),
            platform: Some(self.built_for.clone()),
        }
    }
}

/// The plan that builds `targets` from the tree `tree`, one image per
/// platform, each item with the index of its target. Without buildx the
/// base is pulled right before each build, as that build's platform: the
/// classic builder builds `FROM` the local tag whatever platform it holds,
/// so the pull decides the platform; its digest (the index digest of a
/// multi-platform base) is kept, and every pull of a base must find the
/// same. With buildx the digests were looked up (no layer download) before
/// planning and the build pulls by itself. Each image is built under its
/// staging name; then the tree must be as it was, and the image must pass
/// every check, its platform included; only then does its local name move
/// to the checked image ID, and the staging name goes.
pub fn plan(
    targets: &[Target],
    opts: &Options,
    tree: &GitState,
    context: &str,
) -> Vec<(usize, Item)> {
    let mut items = Vec::new();
    for (k, t) in targets.iter().enumerate() {
        let mut add = |i: Item| items.push((k, i));
        if opts.builder == Builder::Classic {
            add(Item::Run(Step::Pull {
                image: t.provenance.base_img_name.clone(),
                platform: Some(t.built_for.clone()),
                capture: true,
            }));
        }
        add(Item::Run(Step::Build(Box::new(Build {
            builder: opts.builder.clone(),
            platform: Some(t.built_for.clone()),
            source: Source::Context {
                dir: context.to_string(),
                dockerfile: t.dockerfile.clone(),
            },
            tag: t.staging.to_string(),
            no_cache: opts.no_cache,
            pull: opts.pull,
            build_args: t.provenance.build_args(&t.extra_args),
            // Only when dirty: a `--label` costs the classic builder an
            // extra commit (measured 50 to 100 ms on a cached build).
            labels: if t.dirty {
                vec![(labels::DIRTY.to_string(), "true".to_string())]
            } else {
                Vec::new()
            },
            becomes: Some(t.local.clone()),
        }))));
        add(Item::Check(Check::TreeUnchanged {
            head: tree.head.clone(),
            status: tree.status.clone(),
            reference: t.staging.clone(),
            name: t.local.clone(),
        }));
        add(Item::Check(Check::Image(Box::new(t.expectation()))));
        add(Item::Run(Step::Tag {
            source: Arg::slot(Slot::ImageId {
                reference: t.staging.to_string(),
            }),
            target: t.local.clone(),
        }));
        add(Item::Run(Step::Untag {
            reference: t.staging.clone(),
        }));
    }
    items
}

/// The folder docker reads as the context, and whether it goes after the
/// build (a dirty build's copy of the working tree).
pub struct BuildContext {
    pub dir: PathBuf,
    temporary: bool,
}

impl Drop for BuildContext {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The context of a build from `tree`: the commit's files as a clean
/// checkout holds them (kept per commit), or, for a tree with changes, its
/// tracked files as they are now (a fresh copy). A dry run writes nothing:
/// it shows the steps and names the folder.
pub fn build_context(exec: &mut Executor, root: &Path, tree: &GitState) -> Result<BuildContext> {
    let cache = crate::support::cache::dir().ok_or_else(|| {
        invalid("cannot name a cache directory for the build context: set HOME or an absolute XDG_CACHE_HOME")
    })?;
    let io = |what: &str, dir: &Path, e: std::io::Error| {
        anyhow::anyhow!("cannot {what} the build context {}: {e}", dir.display())
    };
    if !exec.dry_run() {
        std::fs::create_dir_all(context::root(&cache))
            .map_err(|e| io("make the folder of", &context::root(&cache), e))?;
    }
    if tree.dirty() {
        let dir = context::fresh(&cache, "dirty");
        let listed = exec.must(&Step::GitTracked)?.unwrap_or_default();
        let files = context::parse_tracked(&listed).map_err(anyhow::Error::msg)?;
        let made = BuildContext {
            dir: dir.clone(),
            temporary: true,
        };
        if !exec.dry_run() {
            context::copy_tracked(root, &files, &dir).map_err(|e| io("copy", &dir, e))?;
        }
        return Ok(made);
    }
    let dir = context::of_commit(&cache, &tree.head);
    if dir.is_dir() {
        // Used now: kept by the pruning below.
        let _ =
            std::fs::File::open(&dir).and_then(|f| f.set_modified(std::time::SystemTime::now()));
    } else {
        let new = context::fresh(&cache, "new");
        let index = context::fresh(&cache, "index");
        let shown = |p: &Path| p.to_string_lossy().into_owned();
        let steps = [
            Step::ContextIndex {
                commit: tree.head.clone(),
                index: shown(&index),
            },
            Step::ContextCheckout {
                index: shown(&index),
                dir: shown(&new),
            },
        ];
        let written = steps.iter().try_for_each(|s| exec.must(s).map(|_| ()));
        let _ = std::fs::remove_file(&index);
        if let Err(e) = written {
            let _ = std::fs::remove_dir_all(&new);
            return Err(e);
        }
        if !exec.dry_run() && std::fs::rename(&new, &dir).is_err() {
            // Another build of the same commit made it meanwhile.
            let _ = std::fs::remove_dir_all(&new);
        }
    }
    context::prune(&cache, CONTEXTS_KEPT);
    Ok(BuildContext {
        dir,
        temporary: false,
    })
}

/// How many commits' contexts are kept (the most recently used).
const CONTEXTS_KEPT: usize = 3;

/// The name an image is built under before its checks pass: in its own
/// repository, a tag only this process makes (`xtask-build-<pid>-<n>`).
pub fn staging_name(local: &Reference, n: usize) -> Result<Reference> {
    local
        .with_tag(&format!("xtask-build-{}-{n}", std::process::id()))
        .map_err(|e| invalid(format!("{local}: {e}")))
}

/// Every platform the targets on `base` are built for must be one the base
/// serves: an index with an entry for each, or (one platform) any image.
fn check_base_platforms(
    base: &str,
    targets: &[Target],
    served: &[Platform],
    index: bool,
) -> Result<()> {
    let wanted: Vec<&Platform> = targets
        .iter()
        .filter(|t| t.provenance.base_img_name == base)
        .filter_map(|t| t.platform.as_ref())
        .collect();
    if !index {
        if wanted.len() > 1 {
            anyhow::bail!(
                "base image {base} is a single image, not an index, so it cannot be the base of {} images ({}); use a multi-platform base or narrow with --platform",
                wanted.len(),
                wanted.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ")
            );
        }
        return Ok(());
    }
    let missing: Vec<String> = wanted
        .iter()
        .filter(|p| !served.contains(p))
        .map(|p| p.to_string())
        .collect();
    if !missing.is_empty() {
        anyhow::bail!(
            "base image {base} has no {} image (it serves {}); nothing was built",
            missing.join(", "),
            served
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

/// A buildx builder name: `[A-Za-z0-9][A-Za-z0-9_.-]*`.
pub fn check_builder(b: &str) -> Result<(), String> {
    let ok = b.len() <= 128
        && b.bytes().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && b.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(&c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "--builder '{b}' is not a builder name (letters, digits, '_', '.', '-')"
        ))
    }
}

pub fn run(ws: &Workspace, args: &BuildArgs, local_offset: Option<UtcOffset>) -> Result<()> {
    let project = ws.load()?;
    let catalog = &project.catalog;
    let sel = &args.select;
    let naming = &sel.naming;
    let flavours = super::select(&project, sel)?;
    let registry = super::registry(catalog, naming)?;
    if let Some(b) = &args.base_image {
        if flavours.len() > 1 {
            return Err(invalid(format!(
                "--base-image rebases one flavour but {} were selected; name one flavour (or set 'base-image' per flavour in {})",
                flavours.len(),
                crate::project::catalog::FILE
            )));
        }
        let r = AnyRef::parse(b).map_err(|e| invalid(format!("--base-image: {e}")))?;
        if r.is_scratch() {
            return Err(invalid(
                "--base-image scratch: scratch has no digest to record",
            ));
        }
    }
    let platforms = super::chosen_platforms(&flavours, naming)?;
    if let Some(b) = &args.builder {
        check_builder(b).map_err(invalid)?;
    }
    let sde = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => Some(v),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(invalid(
                "SOURCE_DATE_EPOCH is not valid UTF-8; unset it or give whole seconds",
            ))
        }
    };
    let offset = match (&sde, local_offset) {
        (Some(_), _) => UtcOffset::UTC,
        (None, Some(o)) => o,
        (None, None) => {
            return Err(invalid(
                "cannot determine the local time zone offset for CREATION_DATE; set TZ or SOURCE_DATE_EPOCH",
            ))
        }
    };
    let created = creation_date(creation_time(
        sde.as_deref(),
        OffsetDateTime::now_utc(),
        offset,
    )?);

    let mut exec = Executor::new(&ws.sh, args.dry_run, args.json);
    let tree = exec.git_state()?;
    if tree.dirty() {
        if !naming.dev && !args.allow_dirty {
            return Err(invalid(format!(
                "the working tree has uncommitted changes ({}), so COMMIT_HASH would not describe what is built; commit them, build with --dev, or pass --allow-dirty",
                tree.dirt()
            )));
        }
        crate::support::output::warn(&format!(
            "building from a tree with uncommitted changes; COMMIT_HASH {} does not include them, so the image is labelled {}=true and `image push` will not publish it as a release",
            tree.head,
            labels::DIRTY
        ));
    }
    let channel = super::channel(naming, || Ok(tree.clone()))?;
    let refs = super::references(catalog, &flavours, &project.version, &channel, &registry)?;
    let native = if platforms.iter().any(Vec::is_empty) {
        Some(exec.engine_platform()?)
    } else {
        None
    };
    let mut targets = Vec::new();
    for ((f, reference), platforms) in flavours.iter().zip(&refs).zip(&platforms) {
        let base = project.base(f, args.base_image.as_deref())?;
        for image in super::images(reference, platforms)? {
            let built_for = image
                .platform
                .clone()
                .or_else(|| native.clone())
                .context("internal error: no platform to build for")?;
            let staging = staging_name(&image.local, targets.len())?;
            targets.push(Target {
                flavour: f.name.clone(),
                dockerfile: f.dockerfile.clone(),
                reference: reference.clone(),
                platform: image.platform,
                built_for,
                staging,
                local: image.local,
                distro: f.distro.clone(),
                framework: f.framework_expect(),
                provenance: Provenance {
                    commit_hash: tree.head.clone(),
                    base_img_digest: Arg::slot(digest_slot(&base.image)),
                    base_img_name: base.image.clone(),
                    itwinai_version: project.version.to_string(),
                    creation_date: created.clone(),
                    image_full_name: reference.to_string(),
                },
                extra_args: project.build_args(f),
                dirty: tree.dirty(),
            });
        }
    }

    if let (Some(b), false) = (&args.base_image, naming.dev) {
        return Err(invalid(format!(
            "--base-image {b} builds a development image: a release is built on the flavour's declared base (the catalog's 'base-image' or its Dockerfile's), so `image push` would refuse it; add --dev, or declare the base in {}",
            crate::project::catalog::FILE
        )));
    }
    let buildx = exec.buildx()?;
    if !buildx && args.builder.is_some() {
        return Err(invalid(
            "--builder needs docker buildx, which is not installed here (`docker buildx version` fails); install the buildx plugin or drop it",
        ));
    }
    if !buildx {
        for f in &flavours {
            if let Some(line) = project.heredoc_line(f) {
                return Err(invalid(format!(
                    "{}:{line}: a heredoc, which only BuildKit reads: the classic builder (no buildx here) would run its body as instructions; install the buildx plugin or write the commands without a heredoc (flavour '{}')",
                    f.dockerfile, f.name
                )));
            }
        }
    }
    if buildx {
        for t in &targets {
            let base = &t.provenance.base_img_name;
            let slot = digest_slot(base);
            if exec.value(&slot).is_none() {
                let looked_up = exec.remote_image(base);
                let Some(remote) = lookup_or_note(exec.dry_run(), base, &targets, looked_up)?
                else {
                    continue;
                };
                let served: Vec<Platform> = remote
                    .layers_by_platform
                    .keys()
                    .filter_map(|k| Platform::parse(k).ok())
                    .collect();
                check_base_platforms(base, &targets, &served, remote.layers_by_platform.len() > 1)?;
                exec.learn(slot, remote.repo_digest);
            }
        }
    } else {
        // Before the first build: a base that lacks a declared platform
        // would only be found out after the other platforms' builds.
        let mut bases: Vec<&str> = Vec::new();
        for t in targets.iter().filter(|t| t.platform.is_some()) {
            let base = t.provenance.base_img_name.as_str();
            if !bases.contains(&base) {
                bases.push(base);
                let looked_up =
                    exec.digest_lookup(crate::plan::step::Pinned::Name(base.to_string()));
                let Some(remote) = lookup_or_note(exec.dry_run(), base, &targets, looked_up)?
                else {
                    continue;
                };
                let served: Vec<Platform> =
                    remote.members.iter().map(|m| m.platform.clone()).collect();
                check_base_platforms(base, &targets, &served, remote.is_index())?;
            }
        }
    }
    let opts = Options {
        builder: if buildx {
            Builder::Buildx {
                builder: args.builder.clone(),
            }
        } else {
            Builder::Classic
        },
        no_cache: args.no_cache,
        pull: args.pull,
    };
    let context = build_context(&mut exec, &ws.root, &tree)?;
    let items = plan(&targets, &opts, &tree, &context.dir.to_string_lossy());
    let plain: Vec<Item> = items.iter().map(|(_, i)| i.clone()).collect();
    let failure = exec.execute_partial(&plain);
    let failed_target = failure.as_ref().map(|(at, _)| items[*at].0);
    let status_of = |k: usize| match failed_target {
        _ if args.dry_run => "planned",
        None => "built",
        Some(f) if k < f => "built",
        Some(f) if k == f => "failed",
        Some(_) => "not-built",
    };
    let error = failure.map(|(_, e)| e.context("image build"));

    // The checked image of each target (recorded under its staging name),
    // once its local name moved to it.
    let id_of = |t: &Target| {
        exec.value(&Slot::ImageId {
            reference: t.staging.to_string(),
        })
        .cloned()
    };
    if args.json {
        // One row per flavour; a multi-platform one lists its images.
        let mut rows = Vec::new();
        for f in &flavours {
            let mine: Vec<(usize, &Target)> = targets
                .iter()
                .enumerate()
                .filter(|(_, t)| t.flavour == f.name)
                .collect();
            let Some(&(_, first)) = mine.first() else {
                continue;
            };
            // A flavour is as far as its least advanced image.
            let statuses: Vec<&str> = mine.iter().map(|(k, _)| status_of(*k)).collect();
            let status = ["failed", "not-built", "planned", "built"]
                .into_iter()
                .find(|s| statuses.contains(s))
                .unwrap_or("built");
            let failed_here = mine.iter().any(|(k, _)| Some(*k) == failed_target);
            let mine: Vec<&Target> = mine.into_iter().map(|(_, t)| t).collect();
            let build_args = first
                .provenance
                .build_args(&first.extra_args)
                .into_iter()
                .map(|(k, v)| (k, Json::Str(v.resolve(exec.values()))));
            let single = mine.len() == 1 && first.platform.is_none();
            rows.push(Json::object([
                ("flavour", Json::str(&f.name)),
                ("reference", Json::str(first.reference.to_string())),
                ("build_args", Json::object(build_args)),
                ("image_id", Json::opt_str(id_of(first).filter(|_| single))),
                ("status", Json::str(status)),
                (
                    "error",
                    Json::opt_str(
                        error
                            .as_ref()
                            .filter(|_| failed_here)
                            .map(|e| format!("{e:#}")),
                    ),
                ),
                (
                    "platforms",
                    Json::Array(
                        mine.iter()
                            .filter(|t| t.platform.is_some())
                            .map(|t| platform_row(t.platform.as_ref(), &t.local, None, id_of(t)))
                            .collect(),
                    ),
                ),
            ]));
        }
        crate::support::json::emit(&Json::Array(rows));
    }
    if let Some(e) = error {
        return Err(e);
    }
    if !args.dry_run {
        for t in &targets {
            if let Some(id) = id_of(t) {
                match &t.platform {
                    None => crate::support::output::stderr_line(&format!(
                        "built {} ({id})",
                        t.reference
                    )),
                    Some(p) => crate::support::output::stderr_line(&format!(
                        "built {} for {p} as {} ({id})",
                        t.reference, t.local
                    )),
                }
            }
        }
    }
    Ok(())
}

/// A base's registry lookup. A dry run goes on without it (an offline
/// machine, a registry that needs a login), saying what it could not
/// decide; a real build stops, naming the flavours built on that base and
/// its registry.
fn lookup_or_note<T>(
    dry_run: bool,
    base: &str,
    targets: &[Target],
    looked_up: Result<T>,
) -> Result<Option<T>> {
    match looked_up {
        Ok(remote) => Ok(Some(remote)),
        Err(e) if dry_run && !crate::support::error::is_interrupted(&e) => {
            crate::support::output::note(&format!(
                "{base} could not be looked up in its registry ({}); the plan shows its digest as a placeholder and does not check its platforms, which a real build does first",
                crate::support::output::printable(&format!("{e:#}"))
            ));
            Ok(None)
        }
        Err(e) if crate::support::error::is_interrupted(&e) => Err(e),
        Err(e) => {
            let mut flavours: Vec<&str> = targets
                .iter()
                .filter(|t| t.provenance.base_img_name == base)
                .map(|t| t.flavour.as_str())
                .collect();
            flavours.dedup();
            let host =
                AnyRef::parse(base).map_or_else(|_| base.to_string(), |r| r.api_location().0);
            Err(e.context(format!(
                "flavour '{}': its base image {base} cannot be looked up in its registry {host} (is {host} reachable from here? does it need `docker login {host}`?); nothing was built",
                flavours.join("', '")
            )))
        }
    }
}

/// One platform's image in `--json`: `{platform, local, digest, image_id}`.
pub fn platform_row(
    platform: Option<&Platform>,
    local: &Reference,
    digest: Option<String>,
    id: Option<String>,
) -> Json {
    Json::object([
        ("platform", Json::opt_str(platform.map(ToString::to_string))),
        ("local", Json::str(local.to_string())),
        ("digest", Json::opt_str(digest)),
        ("image_id", Json::opt_str(id)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn target(flavour: &str, base: &str) -> Target {
        let reference = Reference::new(
            &crate::model::reference::Registry::parse("ghcr.io/intertwin-eu").unwrap(),
            "itwinai",
            &format!("0.2.2-{flavour}2.4-jammy"),
        )
        .unwrap();
        Target {
            flavour: flavour.into(),
            dockerfile: format!("env-files/{flavour}/Dockerfile"),
            local: reference.clone(),
            staging: reference
                .with_tag(&format!("xtask-build-{flavour}"))
                .unwrap(),
            platform: None,
            built_for: Platform::parse("linux/amd64").unwrap(),
            reference,
            distro: "jammy".into(),
            framework: crate::model::image::Framework {
                package: "torch".into(),
                version: "2.4".into(),
            },
            provenance: Provenance {
                commit_hash: "c".repeat(40),
                base_img_name: base.into(),
                base_img_digest: Arg::slot(digest_slot(base)),
                itwinai_version: "0.2.2".into(),
                creation_date: "2026-11-24T12:05:09+00:00".into(),
                image_full_name: format!("ghcr.io/intertwin-eu/itwinai:0.2.2-{flavour}2.4-jammy"),
            },
            extra_args: vec![("EXTRA".into(), "v".into())],
            dirty: false,
        }
    }

    fn tree() -> GitState {
        GitState {
            head: "c".repeat(40),
            status: String::new(),
        }
    }

    fn rendered(items: &[(usize, Item)]) -> Vec<String> {
        items
            .iter()
            .map(|(k, i)| match i {
                Item::Run(s) => format!(
                    "{k} {}",
                    crate::plan::step::render_step(s, &BTreeMap::new())
                ),
                Item::Check(Check::Image(e)) => format!("{k} check {}", e.image),
                Item::Check(Check::TreeUnchanged { reference, .. }) => {
                    format!("{k} tree unchanged for {reference}")
                }
                Item::Check(c) => format!("{k} {c:?}"),
            })
            .collect()
    }

    #[test]
    fn classic_plan_pulls_the_base_right_before_each_build() {
        let targets = [target("torch", "u:22.04"), target("tf", "u:22.04")];
        let opts = Options {
            builder: Builder::Classic,
            no_cache: false,
            pull: false,
        };
        let items = plan(&targets, &opts, &tree(), "/ctx");
        let build = |f: &str| {
            format!(
            "docker build --force-rm --platform linux/amd64 -f /ctx/env-files/{f}/Dockerfile -t ghcr.io/intertwin-eu/itwinai:xtask-build-{f} \
             --build-arg COMMIT_HASH={c} --build-arg BASE_IMG_NAME=u:22.04 \
             --build-arg 'BASE_IMG_DIGEST=<BASE_IMG_DIGEST of u:22.04, known after the pull>' \
             --build-arg ITWINAI_VERSION=0.2.2 --build-arg CREATION_DATE=2026-11-24T12:05:09+00:00 \
             --build-arg IMAGE_FULL_NAME=ghcr.io/intertwin-eu/itwinai:0.2.2-{f}2.4-jammy \
             --build-arg EXTRA=v -- /ctx",
            c = "c".repeat(40)
        )
        };
        let r = |f: &str| format!("ghcr.io/intertwin-eu/itwinai:0.2.2-{f}2.4-jammy");
        let staged = |f: &str| format!("ghcr.io/intertwin-eu/itwinai:xtask-build-{f}");
        let steps = |k: usize, f: &str| {
            vec![
                format!("{k} docker pull --platform linux/amd64 -- u:22.04"),
                format!("{k} {}", build(f)),
                format!("{k} tree unchanged for {}", staged(f)),
                format!("{k} check {}", staged(f)),
                // Named only once its checks passed.
                format!("{k} docker tag -- '<image ID of {}>' {}", staged(f), r(f)),
                format!("{k} docker image rm --no-prune -- {}", staged(f)),
            ]
        };
        let mut want = steps(0, "torch");
        want.extend(steps(1, "tf"));
        assert_eq!(rendered(&items), want);
        assert_eq!(
            items[0].1,
            Item::Run(Step::Pull {
                image: "u:22.04".into(),
                platform: Some(Platform::parse("linux/amd64").unwrap()),
                capture: true
            })
        );
        assert_eq!(
            items[3].1,
            Item::Check(Check::Image(Box::new(targets[0].expectation())))
        );
    }

    #[test]
    fn the_check_after_a_build_expects_exactly_what_was_passed() {
        let mut t = target("torch", "u:22.04");
        t.dirty = true;
        let e = t.expectation();
        let Labels::Exact(labels) = &e.labels else {
            panic!("a build's check is exact")
        };
        let keys: Vec<&str> = labels.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                labels::CREATED,
                labels::VERSION,
                labels::REVISION,
                labels::REF_NAME,
                labels::BASE_NAME,
                labels::BASE_DIGEST,
                labels::DIRTY
            ]
        );
        assert_eq!(labels[6].1, Arg::Lit("true".into()));
        assert_eq!(e.framework.version, "2.4");
        assert!(!e.release);
    }

    #[test]
    fn buildx_plan_passes_builder_platform_and_flags() {
        let opts = Options {
            builder: Builder::Buildx {
                builder: Some("k8s".into()),
            },
            no_cache: true,
            pull: true,
        };
        let mut t = target("torch", "u:22.04");
        t.platform = Some(Platform::parse("linux/arm64").unwrap());
        t.built_for = Platform::parse("linux/arm64").unwrap();
        t.local = t
            .reference
            .for_platform(t.platform.as_ref().unwrap())
            .unwrap();
        let items = plan(&[t.clone()], &opts, &tree(), "/ctx");
        assert_eq!(items.len(), 5);
        let Item::Run(step) = &items[0].1 else {
            panic!("a build first")
        };
        let argv: Vec<String> = step
            .argv()
            .iter()
            .map(|a| a.resolve(&BTreeMap::new()))
            .collect();
        assert_eq!(
            argv[..13],
            [
                "docker",
                "buildx",
                "build",
                "--load",
                "--builder",
                "k8s",
                "--platform",
                "linux/arm64",
                "--no-cache",
                "--pull",
                "-f",
                "/ctx/env-files/torch/Dockerfile",
                "-t"
            ]
        );
        assert_eq!(argv[13], "ghcr.io/intertwin-eu/itwinai:xtask-build-torch");
        assert_eq!(argv[argv.len() - 2..], ["--", "/ctx"]);
        // The checked image takes its platform's local name.
        assert_eq!(
            items[3].1,
            Item::Run(Step::Tag {
                source: Arg::slot(Slot::ImageId {
                    reference: "ghcr.io/intertwin-eu/itwinai:xtask-build-torch".into()
                }),
                target: t.local.clone(),
            })
        );
        assert_eq!(
            t.local.to_string(),
            "ghcr.io/intertwin-eu/itwinai:0.2.2-torch2.4-jammy-linux-arm64"
        );
        let mut values = BTreeMap::new();
        values.insert(digest_slot("u:22.04"), "u@sha256:ab".to_string());
        assert!(step
            .argv()
            .iter()
            .any(|a| a.resolve(&values) == "BASE_IMG_DIGEST=u@sha256:ab"));
    }

    #[test]
    fn builder_values() {
        assert!(check_builder("k8s-builder.1").is_ok());
        for bad in ["", "-x", "a b", "a/b"] {
            assert!(check_builder(bad).is_err(), "{bad}");
        }
    }
}
