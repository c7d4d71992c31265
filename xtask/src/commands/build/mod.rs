//! `image build`: gather (what is asked, the tree, the images to build),
//! decide (the builder, the bases), plan, execute, report.

mod context;
mod decide;
mod report;
mod steps;
mod target;

pub use report::platform_row;
pub use target::{digest_slot, Target};

use anyhow::{Context, Result};
use time::{OffsetDateTime, UtcOffset};

use crate::cli::BuildArgs;
use crate::engine::executor::{Executor, OtherEngine};
use crate::model::git::GitState;
use crate::model::labels;
use crate::model::platform::Platform;
use crate::model::reference::{AnyRef, Registry};
use crate::plan::arg::Arg;
use crate::plan::check::Item;
use crate::plan::provenance::{creation_date, creation_time, Provenance};
use crate::plan::step::Step;
use crate::project::catalog::Flavour;
use crate::project::workspace::{Project, Workspace};
use crate::support::error::invalid;

/// What the command line asks for, checked before anything runs.
pub struct Ask<'p, 'a> {
    pub flavours: Vec<&'p Flavour>,
    pub registry: Registry,
    /// Per flavour: the platforms to build (none: its one native image).
    pub platforms: Vec<Vec<Platform>>,
    /// CREATION_DATE of every image of this run.
    pub created: String,
    pub args: &'a BuildArgs,
}

pub fn run(ws: &Workspace, args: &BuildArgs, local_offset: Option<UtcOffset>) -> Result<()> {
    let project = ws.load()?;
    let ask = ask(&project, args, local_offset)?;
    let mut exec = Executor::new(&ws.sh, args.output.dry_run, args.output.json);
    let tree = tree(&mut exec, &ask)?;
    // The context's git reads run while the engine is asked for its
    // platform and for buildx (started by `tree`), before either is taken.
    let context = context::build_context(&mut exec, &ws.root, &tree, &project, &ask.flavours)?;
    let attempt = |exec: &mut Executor| -> Result<Attempt> {
        let targets = targets(exec, &project, &ask, &tree, &context)?;
        let opts = decide::options(exec, &project, &ask)?;
        decide::bases(exec, &targets, &opts)?;
        let items = steps::plan(&targets, &opts, &tree, &context.dir.to_string_lossy());
        let plain: Vec<Item> = items.iter().map(|(_, i)| i.clone()).collect();
        let failure = exec.execute_partial(&plain);
        Ok((targets, items, failure))
    };
    let (targets, items, failure) = match attempt(&mut exec).and_then(other_engine) {
        // Planned for the platform of an engine docker does not talk to:
        // planned again for docker's (asked by then), once.
        Err(e) => {
            let Some(other) = e.downcast_ref::<OtherEngine>() else {
                return Err(e);
            };
            crate::support::output::note(&format!(
                "{other}; the build is planned again for {}",
                other.actual
            ));
            attempt(&mut exec)?
        }
        Ok(done) => done,
    };
    report::report(&exec, &ask, &targets, &items, failure)
}

/// The images planned, the plan, and the failure that stopped it.
type Attempt = (
    Vec<Target>,
    Vec<(usize, Item)>,
    Option<(usize, anyhow::Error)>,
);

/// An attempt stopped because the engine it was planned for is not
/// docker's, as the error that says so.
fn other_engine(a: Attempt) -> Result<Attempt> {
    match a.2 {
        Some((_, e)) if e.downcast_ref::<OtherEngine>().is_some() => Err(e),
        _ => Ok(a),
    }
}

/// The selection and the flags, checked against the catalog; the
/// creation date of this run's images.
fn ask<'p, 'a>(
    project: &'p Project,
    args: &'a BuildArgs,
    local_offset: Option<UtcOffset>,
) -> Result<Ask<'p, 'a>> {
    let sel = &args.select;
    let flavours = super::select(project, sel)?;
    let registry = super::registry(&project.catalog, &sel.naming)?;
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
    let platforms = super::chosen_platforms(&flavours, &sel.naming)?;
    if let Some(b) = &args.builder {
        decide::check_builder(b).map_err(invalid)?;
    }
    Ok(Ask {
        flavours,
        registry,
        platforms,
        created: created(local_offset)?,
        args,
    })
}

/// CREATION_DATE: `SOURCE_DATE_EPOCH` in UTC when set, else the local
/// time with its offset.
fn created(local_offset: Option<UtcOffset>) -> Result<String> {
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
    Ok(creation_date(creation_time(
        sde.as_deref(),
        OffsetDateTime::now_utc(),
        offset,
    )?))
}

/// HEAD and the tree; a release build refuses a tree with changes.
fn tree(exec: &mut Executor, ask: &Ask) -> Result<GitState> {
    // The builder and the engine's platform are asked for next, and where
    // the project is in its repository: these run while git reads the tree.
    exec.start_probes(ask.platforms.iter().any(Vec::is_empty));
    exec.prefetch(Step::GitPrefix);
    let tree = exec.git_state()?;
    if tree.dirty() {
        if !ask.args.select.naming.dev && !ask.args.allow_dirty {
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
    Ok(tree)
}

/// The images to build: one per flavour, or one per declared platform,
/// each with every value it records.
fn targets(
    exec: &mut Executor,
    project: &Project,
    ask: &Ask,
    tree: &GitState,
    context: &context::BuildContext,
) -> Result<Vec<Target>> {
    let naming = &ask.args.select.naming;
    let channel = super::channel(naming, || Ok(tree.clone()))?;
    let refs = super::references(
        &project.catalog,
        &ask.flavours,
        &project.version,
        &channel,
        &ask.registry,
    )?;
    let native = if ask.platforms.iter().any(Vec::is_empty) {
        Some(exec.engine_platform()?)
    } else {
        None
    };
    let mut targets = Vec::new();
    for ((f, reference), platforms) in ask.flavours.iter().zip(&refs).zip(&ask.platforms) {
        let base = project.base(f, ask.args.base_image.as_deref())?;
        for image in super::images(reference, platforms)? {
            let built_for = image
                .platform
                .clone()
                .or_else(|| native.clone())
                .context("internal error: no platform to build for")?;
            // A declared platform was checked when the files were read.
            if image.platform.is_none() {
                base.fits(f, &built_for)?;
            }
            targets.push(Target {
                flavour: f.name.clone(),
                dockerfile: f.dockerfile.clone(),
                reference: reference.clone(),
                platform: image.platform,
                built_for,
                local: image.local,
                iidfile: context.iid_file(),
                distro: f.distro.clone(),
                framework: f.framework_expect(),
                provenance: Provenance {
                    commit_hash: tree.head.clone(),
                    base_img_digest: Arg::slot(digest_slot(&base.image)),
                    base_img_name: base.image.clone(),
                    itwinai_version: project.version.to_string(),
                    creation_date: ask.created.clone(),
                    image_full_name: reference.to_string(),
                },
                extra_args: project.build_args(f),
                dirty: tree.dirty(),
                steps: base.steps,
                target_args: base.target_args,
            });
        }
    }
    if let (Some(b), false) = (&ask.args.base_image, naming.dev) {
        return Err(invalid(format!(
            "--base-image {b} builds a development image: a release is built on the flavour's declared base (the catalog's 'base-image' or its Dockerfile's), so `image push` would refuse it; add --dev, or declare the base in {}",
            crate::project::catalog::FILE
        )));
    }
    Ok(targets)
}
