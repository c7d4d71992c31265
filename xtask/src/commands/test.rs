//! `image test`: run each flavour's test inside its image, and record a
//! pass by image ID, which `image push` (release tags and aliases) and
//! `image tag --from` require before they publish or promote.

use anyhow::{Context, Result};

use crate::cli::TestArgs;
use crate::engine::executor::Executor;
use crate::project::workspace::Workspace;
use crate::support::error::invalid;
use crate::support::json::Json;

/// One test run and its result.
struct Run {
    flavour: String,
    reference: String,
    platform: Option<crate::model::platform::Platform>,
    id: String,
    outcome: Outcome,
}

enum Outcome {
    /// `--dry-run`: printed, not run.
    Planned,
    Exited(i32),
    /// The test could not be run.
    Error(String),
    /// Not run: an earlier one could not be.
    NotRun,
}

impl Run {
    fn exit_code(&self) -> Option<i32> {
        match self.outcome {
            Outcome::Exited(c) => Some(c),
            _ => None,
        }
    }
}

pub fn run(ws: &Workspace, args: &TestArgs) -> Result<()> {
    let project = ws.load()?;
    let catalog = &project.catalog;
    let naming = &args.select.naming;
    let mut flavours = super::select(&project, &args.select)?;
    gated(&mut flavours, args.select.all)?;
    let platforms = super::chosen_platforms(&flavours, naming)?;
    let registry = super::registry(catalog, naming)?;
    let mut exec = Executor::new(&ws.sh, args.output.dry_run, args.output.json);
    let channel = super::channel(naming, || exec.git_state())?;
    let refs = super::references(catalog, &flavours, &project.version, &channel, &registry)?;
    // Every image of every flavour: one per declared (or chosen) platform.
    let mut images = Vec::new();
    for ((f, r), platforms) in flavours.iter().zip(&refs).zip(&platforms) {
        for image in super::images(r, platforms)? {
            images.push((*f, image));
        }
    }
    let locals: Vec<_> = images.iter().map(|(_, i)| i.local.clone()).collect();
    let owners: Vec<_> = images.iter().map(|(f, _)| *f).collect();
    let found = super::local_images(&mut exec, &locals, &owners, naming, super::LocalFor::Test)?;
    for ((_, image), info) in images.iter().zip(&found) {
        check_platform(&mut exec, image, info, naming, &flavours)?;
    }
    let (runs, stopped) = run_all(&mut exec, images, found);
    if args.output.json {
        crate::support::json::emit(&Json::Array(runs.iter().map(json_of).collect()));
    }
    if let Some(e) = stopped {
        return Err(e);
    }
    if args.output.dry_run {
        return Ok(());
    }
    report(&runs)
}

/// Keep the flavours that declare a test: with --all the others are
/// named and skipped; a flavour named on its own without one is refused.
fn gated(flavours: &mut Vec<&crate::project::catalog::Flavour>, all: bool) -> Result<()> {
    let untested: Vec<&str> = flavours
        .iter()
        .filter(|f| f.test.is_none())
        .map(|f| f.name.as_str())
        .collect();
    if !untested.is_empty() {
        if !all {
            return Err(invalid(format!(
                "flavour '{}' declares no 'test' in {}; add one (an argv run inside the image, e.g. test = [\"python3\", \"-m\", \"pytest\"])",
                untested[0],
                crate::project::catalog::FILE
            )));
        }
        crate::support::output::stderr_line(&format!(
            "not gated (no 'test'): {}",
            untested.join(", ")
        ));
        flavours.retain(|f| f.test.is_some());
    }
    Ok(())
}

/// Refuse an image that is not the platform it is tested as (a flavour
/// without platforms is the engine's own).
fn check_platform(
    exec: &mut Executor,
    image: &super::Image,
    info: &crate::model::image::ImageInfo,
    naming: &crate::cli::Naming,
    flavours: &[&crate::project::catalog::Flavour],
) -> Result<()> {
    let meant = match &image.platform {
        Some(p) => p.clone(),
        None => exec.engine_platform()?,
    };
    if !info.is_platform(&meant) {
        anyhow::bail!(
            "{} is not the {meant} image: {}; build it again with `{}`",
            image.local,
            crate::rules::verify::platform_mismatch(info, &meant),
            super::build_command(naming, flavours)
        );
    }
    Ok(())
}

/// Run every test in turn. A test that could not be run at all (no
/// emulator, docker failing) stops the run: its error is returned with
/// the rows, those after it marked not run, so --json still lists them.
fn run_all(
    exec: &mut Executor,
    images: Vec<(&crate::project::catalog::Flavour, super::Image)>,
    found: Vec<crate::model::image::ImageInfo>,
) -> (Vec<Run>, Option<anyhow::Error>) {
    let mut runs = Vec::new();
    let mut stopped: Option<anyhow::Error> = None;
    for ((f, image), info) in images.into_iter().zip(found) {
        let Some(test) = &f.test else {
            continue;
        };
        let outcome = if stopped.is_some() {
            Outcome::NotRun
        } else {
            let ran = exec
                .run_test(&info.id, image.platform.as_ref(), test)
                .with_context(|| format!("flavour '{}' on {}", f.name, image.local));
            match ran {
                Ok(None) => Outcome::Planned,
                Ok(Some(o)) => Outcome::Exited(o.code.unwrap_or(-1)),
                Err(e) => {
                    let msg = format!("{e:#}");
                    stopped = Some(e);
                    Outcome::Error(msg)
                }
            }
        };
        runs.push(Run {
            flavour: f.name.clone(),
            reference: image.local.to_string(),
            platform: image.platform,
            id: info.id,
            outcome,
        });
    }
    (runs, stopped)
}

fn json_of(r: &Run) -> Json {
    Json::object([
        ("flavour", Json::str(&r.flavour)),
        ("reference", Json::str(&r.reference)),
        (
            "platform",
            Json::opt_str(r.platform.as_ref().map(ToString::to_string)),
        ),
        ("image_id", Json::str(&r.id)),
        (
            "status",
            match r.outcome {
                Outcome::Planned => Json::Null,
                Outcome::Exited(0) => Json::str("passed"),
                Outcome::Exited(_) | Outcome::Error(_) => Json::str("failed"),
                Outcome::NotRun => Json::str("not-run"),
            },
        ),
        (
            "exit_code",
            r.exit_code()
                .map_or(Json::Null, |c| Json::Number(f64::from(c))),
        ),
        (
            "error",
            match &r.outcome {
                Outcome::Error(msg) => Json::str(msg),
                _ => Json::Null,
            },
        ),
    ])
}

/// One line per test; every failure named in the error.
fn report(runs: &[Run]) -> Result<()> {
    for r in runs {
        let status = if r.exit_code() == Some(0) {
            "passed"
        } else {
            "failed"
        };
        crate::support::output::stderr_line(&format!("{status:<7} {} ({})", r.reference, r.id));
    }
    let failed: Vec<String> = runs
        .iter()
        .filter(|r| r.exit_code() != Some(0))
        .map(|r| {
            format!(
                "the test of flavour '{}' failed on {} ({}): exit status {}",
                r.flavour,
                r.reference,
                r.id,
                r.exit_code().unwrap_or(-1)
            )
        })
        .collect();
    if !failed.is_empty() {
        anyhow::bail!("{}", failed.join("; "));
    }
    Ok(())
}
