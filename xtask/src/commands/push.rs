//! `image push`: publish what `image build` (or a promotion) made.
//!
//! Gather: under a lock per repository, every local image is checked on its
//! exact image ID (`verify.rs`), and the registry is read for each release
//! tag and alias. Decide: the no-clobber and alias rules (`publish.rs`) for
//! every selected flavour before the first push, so a refusal leaves the
//! registry as it was. Plan: each write is preceded by a read (nobody
//! changed the tag since), a check that the local name still names the
//! checked image, and followed by a read-back (the registry serves that
//! image). Versioned references go first, aliases only after all of them.

use anyhow::Result;

use crate::cli::PushArgs;
use crate::error::invalid;
use crate::executor::Executor;
use crate::json::Json;
use crate::labels;
use crate::lock;
use crate::plan::{Arg, Check, RemoteExpect, Step};
use crate::publish::{self, AliasMove, Release};
use crate::reference::Reference;
use crate::registry::{is_image, Remote};
use crate::verify::{self, Expectation, Labels};
use crate::workspace::Workspace;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pushed,
    AlreadyPublished,
    Skipped,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pushed => "pushed",
            Status::AlreadyPublished => "already-published",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
        }
    }
}

/// One reference to publish, what was decided and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub flavour: String,
    pub reference: Reference,
    /// The checked local image.
    pub id: String,
    /// What the registry served under the reference when it was read
    /// (`None`: nothing, or not read for a development tag).
    pub seen: Option<Remote>,
    /// Push it (false: already published).
    pub push: bool,
    /// Read the tag before pushing (release tags: no-clobber).
    pub guard: bool,
    /// The alias that is to point at this image after all versioned pushes.
    pub alias: Option<Alias>,
    /// The flavour's test, which must have passed on this image before a
    /// release tag or alias is published.
    pub test: Option<Vec<String>>,
    pub status: Status,
    pub digest: Option<String>,
    pub alias_done: bool,
}

/// A declared alias and what the registry served under it when read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    pub reference: Reference,
    pub seen: Option<Remote>,
    /// False when it already points at the image.
    pub move_it: bool,
}

/// Whose step a plan entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Version(usize),
    Alias(usize),
}

fn expect_of(seen: &Option<Remote>) -> RemoteExpect {
    match seen {
        None => RemoteExpect::Absent,
        Some(r) => RemoteExpect::Digest(r.digest.clone()),
    }
}

/// The steps that publish, and whose each is: every versioned push, then
/// every alias move; each write between a read of what is there and a
/// read-back of what was written.
pub fn plan(items: &[Entry], buildx: bool) -> Vec<(Owner, crate::plan::Item)> {
    let mut out = Vec::new();
    // The test gate first: a failing test publishes nothing.
    for (n, i) in items.iter().enumerate() {
        let publishes = i.push || i.alias.as_ref().is_some_and(|a| a.move_it);
        if let (Some(argv), true) = (&i.test, publishes) {
            out.push((
                Owner::Version(n),
                crate::plan::Item::Check(Check::Tested {
                    flavour: i.flavour.clone(),
                    reference: i.reference.to_string(),
                    id: Arg::Lit(i.id.clone()),
                    argv: argv.clone(),
                }),
            ));
        }
    }
    let registry = |reference: &Reference, expect: RemoteExpect| {
        crate::plan::Item::Check(Check::Registry {
            reference: reference.clone(),
            buildx,
            expect,
        })
    };
    for (n, i) in items.iter().enumerate().filter(|(_, i)| i.push) {
        let o = Owner::Version(n);
        if i.guard {
            out.push((o, registry(&i.reference, expect_of(&i.seen))));
        }
        out.push((
            o,
            crate::plan::Item::Check(Check::LocalIs {
                reference: i.reference.clone(),
                id: Arg::Lit(i.id.clone()),
            }),
        ));
        out.push((
            o,
            crate::plan::Item::Run(Step::Push {
                reference: i.reference.clone(),
            }),
        ));
        out.push((o, registry(&i.reference, RemoteExpect::Image(i.id.clone()))));
    }
    for (n, i) in items.iter().enumerate() {
        let Some(Alias {
            reference: alias,
            seen,
            move_it: true,
        }) = &i.alias
        else {
            continue;
        };
        let o = Owner::Alias(n);
        out.push((o, registry(alias, expect_of(seen))));
        out.push((
            o,
            crate::plan::Item::Run(Step::Tag {
                source: Arg::Lit(i.id.clone()),
                target: alias.clone(),
            }),
        ));
        out.push((
            o,
            crate::plan::Item::Run(Step::Push {
                reference: alias.clone(),
            }),
        ));
        out.push((o, registry(alias, RemoteExpect::Image(i.id.clone()))));
    }
    out
}

pub fn run(ws: &Workspace, args: &PushArgs) -> Result<()> {
    let project = ws.load()?;
    let catalog = &project.catalog;
    let sel = &args.select;
    let naming = &sel.naming;
    let flavours = super::select(catalog, sel)?;
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
        eprintln!(
            "note: --latest moves the declared aliases only; no alias for: {}",
            without.join(", ")
        );
    }
    let mut exec = Executor::new(&ws.sh, args.dry_run, args.json);
    let channel = super::channel(naming, || exec.git_state())?;
    let refs = super::references(catalog, &flavours, &project.version, &channel, &registry)?;

    // One push to these repositories at a time on this machine, from the
    // first registry read to the last write.
    let mut repositories: Vec<String> = refs.iter().map(Reference::repository).collect();
    repositories.extend(aliases.iter().flatten().map(Reference::repository));
    let _lock = if args.dry_run {
        None
    } else {
        Some(lock::acquire(&repositories)?)
    };
    let buildx = exec.buildx()?;

    let present = super::local_images(&mut exec, &refs, naming, &flavours)?;

    let mut items = Vec::new();
    let mut conflicts = Vec::new();
    for ((f, r), (local, alias)) in flavours
        .iter()
        .zip(&refs)
        .zip(present.into_iter().zip(aliases))
    {
        let reference = r.to_string();
        let id = verify::check_inspected(
            &mut exec,
            &Expectation {
                image: reference.clone(),
                ref_name: Some(reference.clone()),
                version: project.version.to_string(),
                labels: Labels::Recorded,
                distro: f.distro.clone(),
                framework: f.framework_expect(),
                release: !naming.dev,
                revision: super::required_revision(&channel),
                base_name: None,
                dirty: super::required_dirty(&channel),
                built: None,
            },
            local.clone(),
        )
        .map_err(|e| {
            anyhow::anyhow!(
                "{e:#}; nothing pushed. Rebuild with `{}`",
                super::build_command(naming, &flavours)
            )
        })?;
        let mut item = Entry {
            flavour: f.name.clone(),
            reference: r.clone(),
            id: id.clone(),
            seen: None,
            push: true,
            guard: !naming.dev,
            alias: None,
            test: if naming.dev { None } else { f.test.clone() },
            status: Status::Skipped,
            digest: None,
            alias_done: false,
        };
        if !naming.dev {
            item.seen = exec.registry(r)?;
            match publish::decide_release(
                &reference,
                &r.repository(),
                item.seen.as_ref(),
                &id,
                &local.repo_digests,
                args.force,
            ) {
                Ok(Release::Push) => {}
                Ok(Release::AlreadyPublished { digest }) => {
                    item.push = false;
                    item.status = Status::AlreadyPublished;
                    item.digest = Some(digest);
                }
                Ok(Release::Overwrite { note }) => eprintln!("warning: {note}"),
                Err(e) => conflicts.push(e),
            }
        }
        if let Some(alias) = alias {
            let a = alias.to_string();
            let seen = exec.registry(&alias)?;
            let here = seen
                .as_ref()
                .is_some_and(|s| is_image(s, &id, &local.repo_digests, &alias.repository()));
            // Without buildx the alias's version label is read by a pull,
            // which a dry run does not do: the backwards check waits.
            let deferred = seen.is_some() && !here && exec.dry_run() && !buildx;
            let decided = if deferred {
                eprintln!("note: the backwards check of {a} reads its version label by a pull; it runs without --dry-run");
                Ok(AliasMove::Move { note: None })
            } else {
                let version = match &seen {
                    Some(_) if !here => exec.remote_labels(&a)?.get(labels::VERSION).cloned(),
                    _ => None,
                };
                publish::decide_alias(
                    &a,
                    &project.version,
                    seen.as_ref(),
                    here,
                    version,
                    args.force,
                )
            };
            match decided {
                Ok(AliasMove::AlreadyThere) => {
                    item.alias_done = true;
                    item.alias = Some(Alias {
                        reference: alias,
                        seen,
                        move_it: false,
                    });
                }
                Ok(AliasMove::Move { note }) => {
                    if let Some(n) = note {
                        eprintln!("warning: {n}");
                    }
                    item.alias = Some(Alias {
                        reference: alias,
                        seen,
                        move_it: true,
                    });
                }
                Err(e) => conflicts.push(e),
            }
        }
        items.push(item);
    }
    if !conflicts.is_empty() {
        anyhow::bail!("nothing pushed: {}", conflicts.join("; "));
    }

    let steps = plan(&items, buildx);
    let plan_items: Vec<crate::plan::Item> = steps.iter().map(|(_, s)| s.clone()).collect();
    let failure = exec.execute_partial(&plan_items);
    let failed_owner = failure.as_ref().map(|(i, _)| steps[*i].0);
    // Everything of `o` ran: it has entries, all before the failure.
    let done = |o: Owner| {
        let at = failure.as_ref().map_or(steps.len(), |(at, _)| *at);
        steps.iter().any(|(owner, _)| *owner == o)
            && steps
                .iter()
                .enumerate()
                .all(|(k, (owner, _))| *owner != o || k < at)
    };
    if !args.dry_run {
        for (n, item) in items.iter_mut().enumerate() {
            if item.push {
                let o = Owner::Version(n);
                item.status = if done(o) {
                    Status::Pushed
                } else if failed_owner == Some(o) {
                    Status::Failed
                } else {
                    Status::Skipped
                };
                if item.status == Status::Pushed {
                    item.digest = exec
                        .served
                        .get(&item.reference.to_string())
                        .map(|r| r.digest.clone());
                }
            }
            if item.alias.as_ref().is_some_and(|a| a.move_it) {
                item.alias_done = done(Owner::Alias(n));
            }
        }
    }
    report(&items, args.dry_run, args.json);
    if let Some((_, e)) = failure {
        let list = |s: Status| {
            let v: Vec<String> = items
                .iter()
                .filter(|i| i.status == s)
                .map(|i| i.reference.to_string())
                .collect();
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        let moved = items
            .iter()
            .any(|i| i.alias.as_ref().is_some_and(|a| a.move_it) && i.alias_done);
        anyhow::bail!(
            "push stopped: {e:#}. Pushed: {}; failed: {}; not pushed: {}; {}. Run the same command again to finish (published tags are skipped)",
            list(Status::Pushed),
            list(Status::Failed),
            list(Status::Skipped),
            if moved { "some -latest aliases were moved" } else { "no -latest alias was moved" }
        );
    }
    Ok(())
}

fn report(items: &[Entry], dry_run: bool, json: bool) {
    if json {
        let rows = items
            .iter()
            .map(|i| {
                Json::object([
                    ("flavour", Json::str(&i.flavour)),
                    ("reference", Json::str(i.reference.to_string())),
                    ("digest", Json::opt_str(i.digest.clone())),
                    ("status", Json::str(i.status.as_str())),
                    (
                        "latest",
                        Json::opt_str(
                            i.alias
                                .as_ref()
                                .filter(|_| i.alias_done)
                                .map(|a| a.reference.to_string()),
                        ),
                    ),
                ])
            })
            .collect();
        println!("{}", Json::Array(rows).render());
    }
    if dry_run {
        return;
    }
    for i in items {
        eprintln!(
            "{:<17} {} {}",
            i.status.as_str(),
            i.reference,
            i.digest.as_deref().unwrap_or("")
        );
        if let (Some(alias), true) = (&i.alias, i.alias_done) {
            eprintln!("{:<17} {} -> {}", "latest", alias.reference, i.reference);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::Registry;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn item(tag: &str, push: bool, alias: Option<&str>) -> Entry {
        let reg = Registry::parse("127.0.0.1:5000").unwrap();
        Entry {
            flavour: tag.into(),
            reference: Reference::new(&reg, "itwinai", tag).unwrap(),
            id: format!("sha256:{}", tag.len()),
            seen: None,
            push,
            guard: true,
            test: None,
            alias: alias.map(|a| Alias {
                reference: Reference::new(&reg, "itwinai", a).unwrap(),
                seen: None,
                move_it: true,
            }),
            status: Status::Skipped,
            digest: None,
            alias_done: false,
        }
    }

    #[test]
    fn versioned_pushes_come_before_any_alias_and_every_write_is_guarded() {
        let mut items = vec![
            item("0.2.2-torch2.6-jammy", true, Some("torch-latest")),
            item("0.2.2-tf2.16-jammy", false, Some("tf-latest")),
        ];
        items[1].alias.as_mut().unwrap().seen = Some(Remote {
            digest: A.into(),
            config: None,
        });
        let reg = Registry::parse("127.0.0.1:5000").unwrap();
        let rf = |tag: &str| Reference::new(&reg, "itwinai", tag).unwrap();
        let id0 = items[0].id.clone();
        let id1 = items[1].id.clone();
        let got: Vec<(Owner, crate::plan::Item)> = plan(&items, false);
        let check = |t: &str, expect: RemoteExpect| {
            crate::plan::Item::Check(Check::Registry {
                reference: rf(t),
                buildx: false,
                expect,
            })
        };
        let run = |s: Step| crate::plan::Item::Run(s);
        let v0 = Owner::Version(0);
        assert_eq!(
            got,
            vec![
                (v0, check("0.2.2-torch2.6-jammy", RemoteExpect::Absent)),
                (
                    v0,
                    crate::plan::Item::Check(Check::LocalIs {
                        reference: rf("0.2.2-torch2.6-jammy"),
                        id: Arg::Lit(id0.clone())
                    })
                ),
                (
                    v0,
                    run(Step::Push {
                        reference: rf("0.2.2-torch2.6-jammy")
                    })
                ),
                (
                    v0,
                    check("0.2.2-torch2.6-jammy", RemoteExpect::Image(id0.clone()))
                ),
                (Owner::Alias(0), check("torch-latest", RemoteExpect::Absent)),
                (
                    Owner::Alias(0),
                    run(Step::Tag {
                        source: Arg::Lit(id0.clone()),
                        target: rf("torch-latest")
                    })
                ),
                (
                    Owner::Alias(0),
                    run(Step::Push {
                        reference: rf("torch-latest")
                    })
                ),
                (
                    Owner::Alias(0),
                    check("torch-latest", RemoteExpect::Image(id0))
                ),
                (
                    Owner::Alias(1),
                    check("tf-latest", RemoteExpect::Digest(A.into()))
                ),
                (
                    Owner::Alias(1),
                    run(Step::Tag {
                        source: Arg::Lit(id1.clone()),
                        target: rf("tf-latest")
                    })
                ),
                (
                    Owner::Alias(1),
                    run(Step::Push {
                        reference: rf("tf-latest")
                    })
                ),
                (
                    Owner::Alias(1),
                    check("tf-latest", RemoteExpect::Image(id1))
                ),
            ]
        );
    }

    #[test]
    fn development_pushes_are_not_guarded_but_read_back() {
        let mut i = item("0.2.2-torch2.6-jammy-0123456789ab", true, None);
        i.guard = false;
        let got = plan(&[i.clone()], true);
        assert_eq!(got.len(), 3);
        assert!(matches!(
            got[0].1,
            crate::plan::Item::Check(Check::LocalIs { .. })
        ));
        assert_eq!(
            got[2].1,
            crate::plan::Item::Check(Check::Registry {
                reference: i.reference.clone(),
                buildx: true,
                expect: RemoteExpect::Image(i.id.clone())
            })
        );
    }
}
