//! The end of a build: each flavour's row (`--json`) and what was built.

use anyhow::Result;

use crate::engine::executor::Executor;
use crate::model::platform::Platform;
use crate::model::reference::Reference;
use crate::plan::arg::Slot;
use crate::plan::check::{progress, Item, Progress};
use crate::support::json::Json;

use super::target::Target;
use super::Ask;

/// Where one image or flavour got to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// Failed (the `error` is on its row).
    Failed,
    /// Not started: an earlier build failed.
    NotBuilt,
    /// `--dry-run`: printed only.
    Planned,
    Built,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Failed => "failed",
            Status::NotBuilt => "not-built",
            Status::Planned => "planned",
            Status::Built => "built",
        }
    }
}

/// Each flavour's row (`--json`), what was built, and the failure, if
/// any, as the command's error.
pub fn report(
    exec: &Executor,
    ask: &Ask,
    targets: &[Target],
    items: &[(usize, Item)],
    failure: Option<(usize, anyhow::Error)>,
) -> Result<()> {
    let failed_at = failure.as_ref().map(|(at, _)| *at);
    let status_of = |k: usize| match progress(items, failed_at, &k) {
        _ if ask.args.output.dry_run => Status::Planned,
        Progress::Done => Status::Built,
        Progress::Failed => Status::Failed,
        Progress::NotRun => Status::NotBuilt,
    };
    let error = failure.map(|(_, e)| e.context("image build"));
    // The image of each target whose local name moved to it (checked).
    let id_of = |k: usize, t: &Target| {
        if status_of(k) != Status::Built {
            return None;
        }
        exec.value(&Slot::Built {
            name: t.local.clone(),
        })
        .cloned()
    };
    if ask.args.output.json {
        let rows = ask
            .flavours
            .iter()
            .filter_map(|f| {
                let mine: Vec<(usize, &Target)> = targets
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| t.flavour == f.name)
                    .collect();
                flavour_row(exec, &mine, &status_of, &id_of, error.as_ref())
            })
            .collect();
        crate::support::json::emit(&Json::Array(rows));
    }
    if let Some(e) = error {
        return Err(e);
    }
    if !ask.args.output.dry_run {
        for (k, t) in targets.iter().enumerate() {
            if let Some(id) = id_of(k, t) {
                crate::support::output::stderr_line(&match &t.platform {
                    None => format!("built {} ({id})", t.reference),
                    Some(p) => format!("built {} for {p} as {} ({id})", t.reference, t.local),
                });
            }
        }
    }
    Ok(())
}

/// One flavour's row: as far as its least advanced image; a
/// multi-platform one lists its images.
fn flavour_row(
    exec: &Executor,
    mine: &[(usize, &Target)],
    status_of: &dyn Fn(usize) -> Status,
    id_of: &dyn Fn(usize, &Target) -> Option<String>,
    error: Option<&anyhow::Error>,
) -> Option<Json> {
    let &(first_k, first) = mine.first()?;
    let status = mine
        .iter()
        .map(|(k, _)| status_of(*k))
        .min()
        .unwrap_or(Status::Built);
    let failed_here = mine.iter().any(|(k, _)| status_of(*k) == Status::Failed);
    let build_args = first
        .provenance
        .build_args(&first.extra_args)
        .into_iter()
        .map(|(k, v)| (k, Json::Str(v.resolve(exec.values()))));
    let single = mine.len() == 1 && first.platform.is_none();
    Some(Json::object([
        ("flavour", Json::str(&first.flavour)),
        ("reference", Json::str(first.reference.to_string())),
        ("build_args", Json::object(build_args)),
        (
            "image_id",
            Json::opt_str(id_of(first_k, first).filter(|_| single)),
        ),
        ("status", Json::str(status.as_str())),
        (
            "error",
            Json::opt_str(error.filter(|_| failed_here).map(|e| format!("{e:#}"))),
        ),
        (
            "platforms",
            Json::Array(
                mine.iter()
                    .filter(|(_, t)| t.platform.is_some())
                    .map(|(k, t)| platform_row(t.platform.as_ref(), &t.local, None, id_of(*k, t)))
                    .collect(),
            ),
        ),
    ]))
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
