//! `image push`: publish what `image build` (or a promotion) made.
//!
//! Gather: every local image is checked on its exact image ID
//! (`verify.rs`), and the registry is read for each release tag and alias.
//! Decide: the no-clobber and alias rules (`publish.rs`) for every selected
//! flavour before the first write, so a refusal leaves the registry as it
//! was. Then the flavours' tests gate what is published, outside the push
//! lock; under the lock the registry is read and decided on again, and
//! written. Plan: each write is preceded by a read (nobody changed the tag
//! since), a check that the local name still names the checked image, and
//! followed by a read-back (the registry serves that image). Versioned
//! references go first, aliases only after all of them.

mod decide;
mod entry;
mod report;
mod steps;

use anyhow::Result;

use crate::cli::{Naming, PushArgs};
use crate::engine::executor::Executor;
use crate::model::platform::Platform;
use crate::model::reference::{Reference, Registry};
use crate::plan::check::{Check, Item};
use crate::project::catalog::{Channel, Flavour};
use crate::project::workspace::{Project, Workspace};
use crate::support::error::invalid;
use crate::support::lock;

/// What the command line asks for, checked against the catalog before
/// anything runs.
pub struct Ask<'p, 'a> {
    pub flavours: Vec<&'p Flavour>,
    /// Per flavour: the platforms to push (none: its one native image).
    pub platforms: Vec<Vec<Platform>>,
    /// Per flavour: the alias `--latest` moves.
    pub aliases: Vec<Option<Reference>>,
    pub registry: Registry,
    pub naming: &'a Naming,
    pub force: bool,
}

impl<'p, 'a> Ask<'p, 'a> {
    fn new(project: &'p Project, args: &'a PushArgs) -> Result<Ask<'p, 'a>> {
        let catalog = &project.catalog;
        let sel = &args.select;
        let naming = &sel.naming;
        let flavours = super::select(project, sel)?;
        let platforms = super::chosen_platforms(&flavours, naming)?;
        for (f, p) in flavours.iter().zip(&platforms) {
            super::release_serves_all(f, p, naming, args.force)?;
        }
        if args.latest && naming.dev {
            return Err(invalid(
                "--latest publishes the production alias and cannot be combined with --dev",
            ));
        }
        let registry = super::registry(catalog, naming)?;
        if registry.is_local() {
            return Err(invalid(
                "the registry is \"\" (local names only); set 'registry' in env-files/images.toml or pass --registry to push",
            ));
        }
        let mut aliases = Vec::new();
        let mut without = Vec::new();
        for f in &flavours {
            let alias = match (args.latest, catalog.latest_reference(f, &registry)?) {
                (false, _) => None,
                (true, Some(a)) => Some(a),
                // --all --latest: every declared alias, and no other.
                (true, None) if sel.all => {
                    without.push(f.name.as_str());
                    None
                }
                (true, None) => {
                    return Err(invalid(format!(
                        "flavour '{}' declares no 'latest' alias in env-files/images.toml; the catalog is the only allowlist of *-latest tags",
                        f.name
                    )))
                }
            };
            aliases.push(alias);
        }
        if !without.is_empty() {
            crate::support::output::note(&format!(
                "--latest moves the declared aliases only; no alias for: {}",
                without.join(", ")
            ));
        }
        Ok(Ask {
            flavours,
            platforms,
            aliases,
            registry,
            naming,
            force: args.force,
        })
    }

    /// The repositories a push writes to: each reference's (its
    /// platforms' images go there too, by digest) and each alias's.
    fn repositories(&self, refs: &[Reference]) -> Vec<String> {
        let mut out: Vec<String> = refs.iter().map(Reference::repository).collect();
        out.extend(self.aliases.iter().flatten().map(Reference::repository));
        out
    }
}

pub fn run(ws: &Workspace, args: &PushArgs) -> Result<()> {
    let project = ws.load()?;
    let ask = Ask::new(&project, args)?;
    let mut exec = Executor::new(&ws.sh, args.output.dry_run, args.output.json);
    let channel = super::channel(ask.naming, || exec.git_state())?;
    let head = release_head(&mut exec, &channel, args.latest)?;
    let refs = super::references(
        &project.catalog,
        &ask.flavours,
        &project.version,
        &channel,
        &ask.registry,
    )?;
    let (candidates, built_apart) =
        decide::check_images(&mut exec, &project, &ask, &refs, &channel)?;
    let first = decided(
        &mut exec,
        &project,
        &candidates,
        &ask,
        built_apart.clone(),
        head.as_deref(),
        None,
    )?;
    let steps = steps::plan(&first.items);
    if args.output.dry_run {
        let failure = exec.execute_partial(&items_of(&steps));
        return report::finish(&exec, first.items, &steps, failure, true, args.output.json);
    }
    // The tests run outside the lock: a test that hangs never holds up
    // another flavour's push. The lock covers the registry reads the
    // writes rest on, and the writes.
    let gate = gate_len(&steps);
    if let Some(failure) = exec.execute_partial(&items_of(&steps[..gate])) {
        return report::finish(
            &exec,
            first.items,
            &steps,
            Some(failure),
            false,
            args.output.json,
        );
    }
    let _lock = lock::acquire(&ask.repositories(&refs))?;
    // HEAD again: a fix committed while the tests ran makes the build
    // another commit's.
    let head = release_head(&mut exec, &channel, args.latest)?;
    let again = decided(
        &mut exec,
        &project,
        &candidates,
        &ask,
        built_apart,
        head.as_deref(),
        Some(&first),
    )?;
    let steps_again = steps::plan(&again.items);
    let gate_again = gate_len(&steps_again);
    if let Some(untested) = steps_again[..gate_again]
        .iter()
        .find(|s| !steps[..gate].iter().any(|t| t.1 == s.1))
    {
        anyhow::bail!(
            "the registry changed while the tests ran, so {} would now be published without its test having run; nothing pushed, run the command again",
            owner_reference(&again.items, untested.0)
        );
    }
    let failure = exec
        .execute_partial(&items_of(&steps_again[gate_again..]))
        .map(|(at, e)| (at + gate_again, e));
    report::finish(
        &exec,
        again.items,
        &steps_again,
        failure,
        false,
        args.output.json,
    )
}

/// HEAD, for a release push: a release tag is written only from HEAD's
/// build (`publish::written_from_head`); an alias (`alias`) moves from a
/// clean tree only.
fn release_head(exec: &mut Executor, channel: &Channel, alias: bool) -> Result<Option<String>> {
    Ok(match channel {
        Channel::Production if alias => Some(super::clean_head(exec, super::ALIAS_FROM_HEAD)?),
        Channel::Production => Some(exec.git_state()?.head),
        Channel::Dev { .. } => None,
    })
}

/// Decide, refusing the whole push on any conflict; the warnings and notes
/// are said once (again only when a second decision differs).
fn decided(
    exec: &mut Executor,
    project: &Project,
    candidates: &[decide::Candidate],
    ask: &Ask,
    built_apart: Vec<String>,
    head: Option<&str>,
    before: Option<&decide::Decision>,
) -> Result<decide::Decision> {
    let mut d = decide::decide(exec, project, candidates, ask, head)?;
    d.conflicts.splice(0..0, built_apart);
    if !d.conflicts.is_empty() {
        anyhow::bail!("nothing pushed: {}", d.conflicts.join("; "));
    }
    if before.is_none_or(|b| b.items != d.items) {
        for n in &d.notes {
            crate::support::output::note(n);
        }
        for w in &d.warnings {
            crate::support::output::warn(w);
        }
    }
    Ok(d)
}

/// The plan's leading test gate: its `Tested` checks.
fn gate_len(steps: &[(entry::Owner, Item)]) -> usize {
    steps
        .iter()
        .take_while(|(_, i)| matches!(i, Item::Check(Check::Tested { .. })))
        .count()
}

fn items_of(steps: &[(entry::Owner, Item)]) -> Vec<Item> {
    steps.iter().map(|(_, i)| i.clone()).collect()
}

/// The reference (or alias) a step of the plan is for.
fn owner_reference(items: &[entry::Entry], owner: entry::Owner) -> String {
    match owner {
        entry::Owner::Version(n) => items[n].reference.to_string(),
        entry::Owner::Alias(n) => items[n].alias.as_ref().map_or_else(
            || items[n].reference.to_string(),
            |a| a.reference.to_string(),
        ),
    }
}
