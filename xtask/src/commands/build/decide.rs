//! What a build decides before its first step: the builder, and whether
//! each base serves every platform built on it (a base's lookup that fails
//! stops a build and is noted by a dry run).

use anyhow::Result;

use crate::engine::executor::Executor;
use crate::model::platform::Platform;
use crate::model::reference::AnyRef;

use super::target::{digest_slot, Options, Target};
use super::Ask;
use crate::plan::step::Builder;
use crate::project::workspace::Project;
use crate::support::error::invalid;

/// The builder: buildx when `docker buildx version` works (with
/// `--builder`), else the classic one, which refuses `--builder` and the
/// heredocs only BuildKit reads.
pub fn options(exec: &mut Executor, project: &Project, ask: &Ask) -> Result<Options> {
    let args = ask.args;
    let buildx = exec.buildx()?;
    if !buildx && args.builder.is_some() {
        return Err(invalid(
            "--builder needs docker buildx, which is not installed here (`docker buildx version` fails); install the buildx plugin or drop it",
        ));
    }
    if !buildx {
        for f in &ask.flavours {
            if let Some(line) = project.heredoc_line(f) {
                return Err(invalid(format!(
                    "{}:{line}: a heredoc, which only BuildKit reads: the classic builder (no buildx here) would run its body as instructions; install the buildx plugin or write the commands without a heredoc (flavour '{}')",
                    f.dockerfile, f.name
                )));
            }
            if let Some((line, why)) = project.classic_platform_arg(f) {
                return Err(invalid(format!(
                    "{}:{line}: {why} (flavour '{}')",
                    f.dockerfile, f.name
                )));
            }
        }
    }
    Ok(Options {
        builder: if buildx {
            Builder::Buildx {
                builder: args.builder.clone(),
            }
        } else {
            Builder::Classic
        },
        no_cache: args.no_cache,
        pull: args.pull,
    })
}

/// Each base, looked up in its registry before the first build: with
/// buildx its digest and layers (no download), which the builds then
/// record; without it, whether a multi-platform flavour's base serves each
/// platform (a base that lacks one would be found out only after the
/// other platforms' builds).
pub fn bases(exec: &mut Executor, targets: &[Target], opts: &Options) -> Result<()> {
    let buildx = opts.builder != Builder::Classic;
    let mut bases: Vec<&AnyRef> = Vec::new();
    for t in targets.iter().filter(|t| buildx || t.platform.is_some()) {
        let base = &t.provenance.base_img_name;
        if bases.contains(&base) {
            continue;
        }
        bases.push(base);
        let looked_up = exec.base_served(base);
        let Some(served) = lookup_or_note(exec.dry_run(), base, targets, looked_up)? else {
            continue;
        };
        let platforms = served.platforms.clone().unwrap_or_default();
        check_base_platforms(base, targets, &platforms, served.platforms.is_some())?;
        if buildx {
            // buildx does not pull the base into the engine: the digest
            // the build records is the one read here.
            exec.learn(digest_slot(base), served.repo_digest);
        }
    }
    Ok(())
}

/// Every platform the targets on `base` are built for must be one the base
/// serves: an index with an entry for each, or (one platform) any image.
fn check_base_platforms(
    base: &AnyRef,
    targets: &[Target],
    served: &[Platform],
    index: bool,
) -> Result<()> {
    let wanted: Vec<&Platform> = targets
        .iter()
        .filter(|t| t.provenance.base_img_name == *base)
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

/// A base's registry lookup. A dry run goes on without it (an offline
/// machine, a registry that needs a login), saying what it could not
/// decide; a real build stops, naming the flavours built on that base and
/// its registry.
fn lookup_or_note<T>(
    dry_run: bool,
    base: &AnyRef,
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
                .filter(|t| t.provenance.base_img_name == *base)
                .map(|t| t.flavour.as_str())
                .collect();
            flavours.dedup();
            let host = base.api_location().0;
            Err(e.context(format!(
                "flavour '{}': its base image {base} cannot be looked up in its registry {host} (is {host} reachable from here? does it need `docker login {host}`?); nothing was built",
                flavours.join("', '")
            )))
        }
    }
}
