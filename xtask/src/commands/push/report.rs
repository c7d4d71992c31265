//! The end of a push: what became of each entry and alias (from where the
//! plan stopped), the report (text or `--json`), and the error that says
//! what was pushed and what was not.

use super::entry::{AliasStatus, Entry, Owner, Status};
use crate::engine::executor::Executor;
use crate::model::remote::Remote;
use crate::support::json::Json;

pub(super) fn report(
    items: &[Entry],
    served: &[Option<Remote>],
    error: Option<&str>,
    dry_run: bool,
    json: bool,
) {
    if json {
        let rows = items
            .iter()
            .zip(served)
            .map(|(i, served)| {
                let platforms = i.parts.iter().map(|p| {
                    let digest = served.as_ref().and_then(|r| {
                        r.members
                            .iter()
                            .find(|m| m.platform == p.platform)
                            .map(|m| m.digest.clone())
                    });
                    crate::commands::build::platform_row(
                        Some(&p.platform),
                        &p.local,
                        digest,
                        Some(p.id.shown()),
                    )
                });
                // The failure, on the reference (or alias) it stopped.
                let failed = i.status == Status::Failed
                    || i.alias
                        .as_ref()
                        .is_some_and(|a| a.status == AliasStatus::Failed);
                Json::object([
                    (
                        "error",
                        Json::opt_str(error.filter(|_| failed).map(str::to_string)),
                    ),
                    ("platforms", Json::Array(platforms.collect())),
                    ("flavour", Json::str(&i.flavour)),
                    ("reference", Json::str(i.reference.to_string())),
                    ("digest", Json::opt_str(i.digest.clone())),
                    ("status", Json::str(i.status.as_str())),
                    (
                        "latest",
                        i.alias.as_ref().map_or(Json::Null, |a| {
                            Json::object([
                                ("reference", Json::str(a.reference.to_string())),
                                ("status", Json::str(a.status.as_str())),
                                ("from", Json::opt_str(a.from.clone())),
                                ("to", Json::str(i.version.clone())),
                            ])
                        }),
                    ),
                ])
            })
            .collect();
        crate::support::json::emit(&Json::Array(rows));
    }
    if dry_run {
        return;
    }
    for i in items {
        crate::support::output::stderr_line(&format!(
            "{:<17} {} {}",
            i.status.as_str(),
            i.reference,
            i.digest.as_deref().unwrap_or("")
        ));
        if let Some(alias) = &i.alias {
            let what = match (alias.status, &alias.from) {
                (AliasStatus::Moved, Some(from)) => format!("moved from {from} to {}", i.version),
                (AliasStatus::Moved, None) => format!(
                    "moved to {} from an image without a version label",
                    i.version
                ),
                (status, _) => status.as_str().to_string(),
            };
            crate::support::output::stderr_line(&format!(
                "{:<17} {} -> {} ({what})",
                "latest", alias.reference, i.reference
            ));
        }
    }
}

/// What became of each entry and alias once the plan `steps` ran (or, a
/// dry run, was printed) and stopped at `failure`: the report, and the
/// error that says what was pushed and what was not.
pub(super) fn finish(
    exec: &Executor,
    mut items: Vec<Entry>,
    steps: &[(Owner, crate::plan::check::Item)],
    failure: Option<(usize, anyhow::Error)>,
    dry_run: bool,
    json: bool,
) -> anyhow::Result<()> {
    if !dry_run {
        settle(exec, &mut items, steps, failure.as_ref().map(|(at, _)| *at));
    }
    // What the registry serves under each reference now (an index's entries).
    let served: Vec<Option<Remote>> = items
        .iter()
        .map(|i| {
            exec.served(&i.reference).cloned().or_else(|| {
                i.seen
                    .clone()
                    .filter(|_| i.status == Status::AlreadyPublished)
            })
        })
        .collect();
    let error = failure.as_ref().map(|(_, e)| format!("{e:#}"));
    report(&items, &served, error.as_deref(), dry_run, json);
    match failure {
        None => Ok(()),
        Some((_, e)) => {
            let msg = format!("push stopped: {e:#}. {}", stopped(&items));
            Err(crate::support::error::restate(&e, msg))
        }
    }
}

/// The status of each entry and alias, from how far its part of the plan
/// got (`plan::check::progress`).
fn settle(
    exec: &Executor,
    items: &mut [Entry],
    steps: &[(Owner, crate::plan::check::Item)],
    failed_at: Option<usize>,
) {
    use crate::plan::check::{progress, Progress};
    for (n, item) in items.iter_mut().enumerate() {
        if item.push {
            item.status = match progress(steps, failed_at, &Owner::Version(n)) {
                Progress::Done => Status::Pushed,
                Progress::Failed => Status::Failed,
                Progress::NotRun => Status::Skipped,
            };
            if item.status == Status::Pushed {
                item.digest = exec
                    .value(&crate::plan::arg::Slot::IndexDigest {
                        reference: item.reference.clone(),
                    })
                    .cloned()
                    .or_else(|| exec.served(&item.reference).and_then(|r| r.digest.clone()));
            }
        }
        if let Some(alias) = item.alias.as_mut().filter(|a| a.move_it) {
            let how = progress(steps, failed_at, &Owner::Alias(n));
            item.alias_done = how == Progress::Done;
            alias.status = match how {
                Progress::Done if alias.seen.is_none() => AliasStatus::Created,
                Progress::Done => AliasStatus::Moved,
                Progress::Failed => AliasStatus::Failed,
                Progress::NotRun => AliasStatus::NotMoved,
            };
        }
    }
}

/// `Pushed: …; failed: …; not pushed: …; …`: what a stopped push leaves.
fn stopped(items: &[Entry]) -> String {
    let list = |s: Status| {
        let mut v: Vec<String> = items
            .iter()
            .filter(|i| i.status == s)
            .map(|i| i.reference.to_string())
            .collect();
        // An alias whose move failed (or never started) is named too.
        let alias_status = match s {
            Status::Failed => Some(AliasStatus::Failed),
            Status::Skipped => Some(AliasStatus::NotMoved),
            _ => None,
        };
        v.extend(
            items
                .iter()
                .filter_map(|i| i.alias.as_ref())
                .filter(|a| Some(a.status) == alias_status)
                .map(|a| a.reference.to_string()),
        );
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    let moved = items
        .iter()
        .any(|i| i.alias.as_ref().is_some_and(|a| a.move_it) && i.alias_done);
    format!(
        "Pushed: {}; failed: {}; not pushed: {}; {}. Run the same command again to finish (published tags are skipped)",
        list(Status::Pushed),
        list(Status::Failed),
        list(Status::Skipped),
        if moved { "some -latest aliases were moved" } else { "no -latest alias was moved" }
    )
}
