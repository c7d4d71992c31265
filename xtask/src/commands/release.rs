//! `release`: the release of HEAD's version in one command, resumable. For
//! each flavour: gather (HEAD's development image and what the release tag
//! and alias serve, from the registry) → decide (the promotion of
//! `promote.rs`, the alias rule of `latest.rs`) → plan (the evidence gate,
//! the writes, the read-backs) → execute (this flavour alone: one failure
//! stops no other) → report (a row per flavour, then the audit of the
//! aliases it touched). What is already there is not written again, so a
//! run after any failure does only what is missing; nothing is built,
//! nothing is forced.

use anyhow::Result;

use crate::cli::ReleaseArgs;
use crate::engine::executor::Executor;
use crate::model::reference::{Reference, Registry};
use crate::model::remote::Remote;
use crate::plan::arg::Arg;
use crate::plan::check::{Check, Item, RemoteExpect};
use crate::plan::write::Write;
use crate::project::catalog::{Channel, Flavour};
use crate::project::workspace::{Project, Workspace};
use crate::rules::latest::{self, Current, ReleaseAlias};
use crate::support::error::invalid;
use crate::support::json::Json;

/// What became of one flavour's release (or alias).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Written by this run (or, in a dry run, to be written).
    Published,
    /// The registry serves it already.
    AlreadyThere,
    /// The alias is left where it is (a pre-release; a newer release).
    Kept(String),
    /// Not published: why, in one line.
    Failed(String),
}

impl Status {
    fn word(&self, dry_run: bool) -> &'static str {
        match self {
            Status::Published if dry_run => "planned",
            Status::Published => "published",
            Status::AlreadyThere => "already there",
            Status::Kept(_) => "kept",
            Status::Failed(_) => "failed",
        }
    }

    fn why(&self) -> Option<&str> {
        match self {
            Status::Kept(w) | Status::Failed(w) => Some(w),
            _ => None,
        }
    }
}

/// One flavour's row.
struct Row {
    flavour: String,
    source: Option<Reference>,
    release: Option<Reference>,
    status: Status,
    alias: Option<(Reference, Status)>,
}

pub fn run(ws: &Workspace, args: &ReleaseArgs) -> Result<()> {
    let project = ws.load()?;
    let flavours = super::named(&project.catalog, &args.flavours, args.all)?;
    let registry = match &args.registry {
        Some(r) => Registry::parse(r).map_err(|e| invalid(format!("--registry: {e}")))?,
        None => project.catalog.registry.clone(),
    };
    if registry.is_local() {
        return Err(invalid(
            "the registry is \"\" (local names only): a release is written in a registry; set 'registry' in env-files/images.toml or pass --registry",
        ));
    }
    let mut exec = Executor::new(&ws.sh, args.output.dry_run, args.output.json);
    let state = exec.git_state()?;
    if state.dirty() {
        return Err(invalid(
            "the working tree has uncommitted changes: a release publishes HEAD's development images at HEAD's version; commit or stash them first",
        ));
    }
    let repositories = vec![
        Reference::new(&registry, &project.catalog.production, "latest")
            .map_err(|e| invalid(format!("{}: {e}", crate::project::catalog::FILE)))?
            .repository(),
    ];
    let _lock = (!args.output.dry_run)
        .then(|| crate::support::lock::acquire(&repositories))
        .transpose()?;
    let mut rows = Vec::new();
    for f in flavours {
        let mut row = Row {
            flavour: f.name.clone(),
            source: None,
            release: None,
            status: Status::Published,
            alias: None,
        };
        if let Err(e) = release_one(&mut exec, &project, f, &registry, &state.head, &mut row) {
            if crate::support::error::is_interrupted(&e) {
                report(&rows, args.output.dry_run, args.output.json);
                return Err(e);
            }
            row.status = Status::Failed(one_line(&e));
            // The declared alias stays where it is: said, not left blank.
            if row.alias.is_none() {
                if let Ok(Some(alias)) = project.catalog.latest_reference(f, &registry) {
                    row.alias = Some((alias, Status::Kept("its release was not published".into())));
                }
            }
        }
        rows.push(row);
    }
    report(&rows, args.output.dry_run, args.output.json);
    if !args.output.dry_run {
        audit_touched(&mut exec, &project, &rows)?;
    }
    let failed = rows
        .iter()
        .filter(|r| {
            matches!(r.status, Status::Failed(_)) || matches!(r.alias, Some((_, Status::Failed(_))))
        })
        .count();
    anyhow::ensure!(
        failed == 0,
        "{failed} of {} flavours {} not released (above); run `cargo xtask release` again once fixed: what is published stays",
        rows.len(),
        if failed == 1 { "was" } else { "were" }
    );
    Ok(())
}

/// Gather, decide, plan and execute one flavour's release; `row` says how
/// far it got.
fn release_one(
    exec: &mut Executor,
    project: &Project,
    f: &Flavour,
    registry: &Registry,
    head: &str,
    row: &mut Row,
) -> Result<()> {
    let catalog = &project.catalog;
    let version = &project.version;
    let target = catalog.reference(f, version, &Channel::Production, registry)?;
    let dev = Channel::Dev {
        head: head.to_string(),
        tag: None,
        dirty: false,
    };
    let source = catalog.reference(f, version, &dev, registry)?;
    row.release = Some(target.clone());
    row.source = Some(source.clone());
    let platforms = super::platforms_of(f, None)?;
    let remedy = |p: &crate::model::platform::Platform| {
        format!(
            "on a {p} runner (or under emulation), `cargo xtask image build {n} --dev --platform {p}`, then `image test` and `image push` with the same flags, and release again",
            n = f.name
        )
    };
    let Some(images) = super::promote::gather(exec, &source, &platforms, &remedy)? else {
        anyhow::bail!(
            "HEAD's development image {source} is not in its registry; build, test and push it on any runner (`cargo xtask image build {n} --dev`, `image test {n} --dev`, `image push {n} --dev`): a release never builds",
            n = f.name
        );
    };
    let rules = super::promote::Rules::of(project, f, &source, Some(head))?;
    let planned =
        super::promote::decide(&images, &source, &target, &rules).map_err(anyhow::Error::msg)?;
    let seen = exec.registry(&target)?;
    let there = super::promote::already_there(seen.as_ref(), &planned);
    let mut items = Vec::new();
    if there {
        row.status = Status::AlreadyThere;
    } else if let Some(r) = &seen {
        anyhow::bail!(
            "{target} is already published with other content ({}); a release never overwrites one: see `cargo xtask image audit`, or promote deliberately with `cargo xtask image tag {} --from {source} --force`",
            r.shown(),
            f.name
        );
    } else {
        items.push(Item::Check(Check::Registry {
            reference: target.clone(),
            expect: RemoteExpect::Absent,
        }));
        items.extend(super::promote::plan(
            &planned,
            &source,
            &target,
            &f.name,
            f.test.as_ref(),
        ));
    }
    let alias = alias_items(
        exec,
        project,
        f,
        &target,
        seen.as_ref().filter(|_| there),
        &planned,
    )?;
    if let Some((alias, status, writes)) = alias {
        row.alias = Some((alias, status));
        items.extend(writes);
    }
    if let Err(e) = exec.execute(&items) {
        if let Some((_, s)) = &mut row.alias {
            if *s == Status::Published {
                *s = Status::Failed("not moved: the release failed".into());
            }
        }
        return Err(e);
    }
    Ok(())
}

/// The alias's decision and writes: to the release's manifest (read back
/// after this run's writes, or as served when already there).
fn alias_items(
    exec: &mut Executor,
    project: &Project,
    f: &Flavour,
    target: &Reference,
    served: Option<&Remote>,
    planned: &[super::promote::Planned],
) -> Result<Option<(Reference, Status, Vec<Item>)>> {
    let Some(alias) = project.catalog.latest_reference(f, target.registry())? else {
        return Ok(None);
    };
    let seen = exec.registry(&alias)?;
    let release_digest = served.and_then(|r| r.digest.clone());
    let here = match (&seen, &release_digest) {
        (Some(s), Some(d)) => s.digest.as_deref() == Some(d.as_str()),
        _ => false,
    };
    let current = match &seen {
        None => Current::Absent,
        Some(_) if here => Current::Absent,
        Some(s) => match exec.remote_version(&alias, s)? {
            Ok(v) => Current::Labelled(v),
            Err(why) => {
                let status = Status::Failed(format!("not moved: {alias}: {why}"));
                return Ok(Some((alias, status, Vec::new())));
            }
        },
    };
    let decided = latest::release_alias(&alias.to_string(), &project.version, here, &current);
    let status = match decided {
        ReleaseAlias::PreRelease => Status::Kept(format!(
            "{} is a pre-release: the alias is not moved",
            project.version
        )),
        ReleaseAlias::AlreadyThere => Status::AlreadyThere,
        ReleaseAlias::Newer(v) => Status::Kept(format!("it names {v}, a newer release")),
        ReleaseAlias::Refused(why) => Status::Failed(why),
        ReleaseAlias::Move => Status::Published,
    };
    if status != Status::Published {
        return Ok(Some((alias, status, Vec::new())));
    }
    let digest = match release_digest {
        Some(d) => Arg::Lit(d),
        None => Write::image_digest(target),
    };
    let expect = super::promote::expect_of(planned);
    let writes = vec![
        Item::Check(Check::Registry {
            reference: alias.clone(),
            expect: RemoteExpect::seen(seen.as_ref()),
        }),
        Item::Write(Write::Tag {
            digest,
            target: alias.clone(),
        }),
        Item::Check(Check::Registry {
            reference: alias.clone(),
            expect,
        }),
    ];
    Ok(Some((alias, Status::Published, writes)))
}

/// The error's message on one line (its causes joined).
fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").replace('\n', " ")
}

/// The rows: a table on stdout, or one JSON document.
fn report(rows: &[Row], dry_run: bool, json: bool) {
    let shown = |r: &Option<Reference>| r.as_ref().map_or("-".to_string(), ToString::to_string);
    if json {
        let doc = rows.iter().map(|r| {
            Json::object([
                ("flavour", Json::str(&r.flavour)),
                (
                    "reference",
                    Json::opt_str(r.release.as_ref().map(ToString::to_string)),
                ),
                (
                    "source",
                    Json::opt_str(r.source.as_ref().map(ToString::to_string)),
                ),
                ("status", Json::str(r.status.word(dry_run))),
                ("error", Json::opt_str(r.status.why().map(str::to_string))),
                (
                    "alias",
                    Json::opt_str(r.alias.as_ref().map(|(a, _)| a.to_string())),
                ),
                (
                    "alias_status",
                    Json::opt_str(r.alias.as_ref().map(|(_, s)| s.word(dry_run).to_string())),
                ),
                (
                    "alias_reason",
                    Json::opt_str(
                        r.alias
                            .as_ref()
                            .and_then(|(_, s)| s.why())
                            .map(str::to_string),
                    ),
                ),
            ])
        });
        crate::support::json::emit(&Json::Array(doc.collect()));
        return;
    }
    let mut lines = vec![[
        "FLAVOUR".to_string(),
        "RELEASE".into(),
        "STATUS".into(),
        "ALIAS".into(),
        "ALIAS STATUS".into(),
    ]];
    for r in rows {
        lines.push([
            r.flavour.clone(),
            shown(&r.release),
            r.status.word(dry_run).to_string(),
            r.alias
                .as_ref()
                .map_or("-".to_string(), |(a, _)| a.to_string()),
            r.alias
                .as_ref()
                .map_or("-".to_string(), |(_, s)| s.word(dry_run).to_string()),
        ]);
    }
    for line in super::text_table(&lines) {
        crate::support::output::stdout_line(&line);
    }
    // Why, a line each (it may quote what the registry sent: never raw).
    let said = crate::support::output::printable;
    for r in rows {
        if let Some(why) = r.status.why() {
            crate::support::output::stderr_line(&format!("{}: {}", r.flavour, said(why)));
        }
        if let Some((alias, s)) = &r.alias {
            if let Some(why) = s.why() {
                crate::support::output::stderr_line(&format!(
                    "{}: {alias}: {}",
                    r.flavour,
                    said(why)
                ));
            }
        }
    }
}

/// The audit of the aliases this run moved or found in place: each read
/// back and judged as `image audit` judges it; a finding fails the run.
fn audit_touched(exec: &mut Executor, project: &Project, rows: &[Row]) -> Result<()> {
    let touched: Vec<&Reference> = rows
        .iter()
        .filter_map(|r| r.alias.as_ref())
        .filter(|(_, s)| matches!(s, Status::Published | Status::AlreadyThere))
        .map(|(a, _)| a)
        .collect();
    let Some(first) = touched.first() else {
        return Ok(());
    };
    let page = super::audit::page_size()?;
    let tags = exec.read_tags(first, page)?;
    let newest = crate::rules::audit::newest_releases(&project.catalog, &tags);
    let mut findings = Vec::new();
    for alias in touched {
        match super::audit::read_one(exec, &project.catalog, alias, alias.tag(), &newest)? {
            None => findings.push(format!("{alias} is not served after the release")),
            Some(row) => match row.finding {
                Some(f) => findings.push(f),
                None => crate::support::output::stderr_line(&format!(
                    "audit: {alias} is current ({})",
                    crate::support::output::printable(&row.version.unwrap_or_default())
                )),
            },
        }
    }
    for f in &findings {
        // A version label is the registry's text: never shown raw.
        crate::support::output::stderr_line(&format!(
            "finding: {}",
            crate::support::output::printable(f)
        ));
    }
    anyhow::ensure!(
        findings.is_empty(),
        "the audit of the aliases this release touched found {} problem{} (above)",
        findings.len(),
        if findings.len() == 1 { "" } else { "s" }
    );
    Ok(())
}
