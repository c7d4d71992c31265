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
use crate::lock;
use crate::plan::{Arg, Check, Pinned, RemoteExpect, Step};
use crate::platform::Platform;
use crate::publish::{self, AliasMove, Release};
use crate::reference::Reference;
use crate::registry::Remote;
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

/// One platform's image of a multi-platform reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub platform: Platform,
    /// Its name in the local engine.
    pub local: Reference,
    /// Where it is pushed before the index is written: the development
    /// repository, under the platform-suffixed tag.
    pub staged: Reference,
    /// The checked local image (a placeholder when a dry run plans a
    /// push of an image not built yet).
    pub id: Arg,
}

impl Part {
    /// `repository@sha256:…` of its staged image as the registry served it
    /// back after the push: the index names exactly the checked image,
    /// whatever the staged tag points at by the time it is written.
    fn staged_digest(&self) -> Arg {
        Arg::Slot {
            prefix: format!("{}@", self.staged.repository()),
            slot: crate::plan::Slot::ManifestDigest {
                reference: self.staged.to_string(),
            },
        }
    }
}

/// One reference to publish, what was decided and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub flavour: String,
    pub reference: Reference,
    /// The project version it is published at.
    pub version: String,
    /// The checked local image (single-platform references; a placeholder
    /// when a dry run plans a push of an image not built yet).
    pub id: Arg,
    /// A multi-platform reference's images, published as one index.
    pub parts: Vec<Part>,
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
    /// The version of what it pointed at (when another image was there
    /// and its label was read).
    pub from: Option<String>,
    /// What became of it: created, moved, already-there, failed, not-moved
    /// (a failure before it), planned (dry run).
    pub status: &'static str,
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
        Some(r) => RemoteExpect::Seen(r.clone()),
    }
}

impl Entry {
    /// `(platform, image ID)` of each part.
    pub fn images(&self) -> Vec<(Platform, String)> {
        self.parts
            .iter()
            .map(|p| (p.platform.clone(), p.id.shown()))
            .collect()
    }

    /// What the registry must serve under its tag (and alias) once written.
    fn written(&self) -> RemoteExpect {
        if self.parts.is_empty() {
            RemoteExpect::Image(self.id.shown())
        } else {
            RemoteExpect::Index(self.images())
        }
    }
}

/// The platforms an index serves that `ours` (the images about to take
/// its place; none: one single-platform image) does not: what the users of
/// an alias lose when it moves.
fn lost_platforms(seen: &Remote, ours: &[Platform]) -> Option<String> {
    let lost: Vec<String> = seen
        .members
        .iter()
        .filter(|m| !ours.contains(&m.platform))
        .map(|m| m.platform.to_string())
        .collect();
    (!lost.is_empty()).then(|| lost.join(", "))
}

/// The steps that write the index `target` from `sources`: forget a list
/// an earlier run left, create, annotate each variant, push. With buildx,
/// one `imagetools create`.
fn write_index(
    target: &Reference,
    sources: &[(Platform, Arg)],
    buildx: bool,
) -> Vec<crate::plan::Item> {
    let run = crate::plan::Item::Run;
    let pinned: Vec<Arg> = sources.iter().map(|(_, s)| s.clone()).collect();
    if buildx {
        return vec![run(Step::ImagetoolsCreate {
            target: target.clone(),
            sources: pinned,
        })];
    }
    let mut out = vec![
        run(Step::ManifestForget {
            target: target.clone(),
        }),
        run(Step::ManifestCreate {
            target: target.clone(),
            sources: pinned,
        }),
    ];
    for (platform, source) in sources.iter().filter(|(p, _)| p.variant.is_some()) {
        out.push(run(Step::ManifestAnnotate {
            target: target.clone(),
            source: source.clone(),
            platform: platform.clone(),
        }));
    }
    out.push(run(Step::ManifestPush {
        target: target.clone(),
    }));
    out
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
            let tested = |reference: &Reference, id: &Arg, platform: Option<&Platform>| {
                crate::plan::Item::Check(Check::Tested {
                    flavour: i.flavour.clone(),
                    reference: reference.to_string(),
                    id: id.clone(),
                    platform: platform.cloned(),
                    argv: argv.clone(),
                })
            };
            if i.parts.is_empty() {
                out.push((Owner::Version(n), tested(&i.reference, &i.id, None)));
            }
            for p in &i.parts {
                out.push((
                    Owner::Version(n),
                    tested(&p.local, &p.id, Some(&p.platform)),
                ));
            }
        }
    }
    let registry = |reference: &Reference, expect: RemoteExpect| {
        crate::plan::Item::Check(Check::Registry {
            reference: reference.clone(),
            expect,
        })
    };
    for (n, i) in items.iter().enumerate().filter(|(_, i)| i.push) {
        let o = Owner::Version(n);
        if i.guard {
            out.push((o, registry(&i.reference, expect_of(&i.seen))));
        }
        if !i.parts.is_empty() {
            // Each platform's image to the development repository, then
            // the index of them under the reference.
            for p in &i.parts {
                for item in publish_image(Some(&p.local), &p.id, &p.staged) {
                    out.push((o, item));
                }
            }
            let sources: Vec<(Platform, Arg)> = i
                .parts
                .iter()
                .map(|p| (p.platform.clone(), p.staged_digest()))
                .collect();
            for step in write_index(&i.reference, &sources, buildx) {
                out.push((o, step));
            }
            out.push((o, registry(&i.reference, i.written())));
            continue;
        }
        for item in publish_image(Some(&i.reference), &i.id, &i.reference) {
            out.push((o, item));
        }
    }
    for (n, i) in items.iter().enumerate() {
        let Some(Alias {
            reference: alias,
            seen,
            move_it: true,
            ..
        }) = &i.alias
        else {
            continue;
        };
        let o = Owner::Alias(n);
        out.push((o, registry(alias, expect_of(seen))));
        if !i.parts.is_empty() {
            // The index again under the alias: from the staged images when
            // they were pushed now, else from the release's own entries.
            let sources: Vec<(Platform, Arg)> = match (&i.seen, i.push) {
                (Some(r), false) => r
                    .members
                    .iter()
                    .map(|m| {
                        let pinned = Pinned::Digest {
                            repository: i.reference.repository(),
                            digest: m.digest.clone(),
                        };
                        (m.platform.clone(), Arg::Lit(pinned.to_string()))
                    })
                    .collect(),
                _ => i
                    .parts
                    .iter()
                    .map(|p| (p.platform.clone(), p.staged_digest()))
                    .collect(),
            };
            for step in write_index(alias, &sources, buildx) {
                out.push((o, step));
            }
            out.push((o, registry(alias, i.written())));
            continue;
        }
        for item in publish_image(None, &i.id, alias) {
            out.push((o, item));
        }
    }
    out
}

/// Publish the checked image `id` as `target`: its local name `local` must
/// still name it (when given), it is tagged `target` unless that is its
/// local name, pushed, and read back.
fn publish_image(
    local: Option<&Reference>,
    id: &Arg,
    target: &Reference,
) -> Vec<crate::plan::Item> {
    let mut items = Vec::new();
    if let Some(local) = local {
        items.push(crate::plan::Item::Check(Check::LocalIs {
            reference: local.clone(),
            id: id.clone(),
        }));
    }
    if local != Some(target) {
        items.push(crate::plan::Item::Run(Step::Tag {
            source: id.clone(),
            target: target.clone(),
        }));
    }
    items.push(crate::plan::Item::Run(Step::Push {
        reference: target.clone(),
    }));
    items.push(crate::plan::Item::Check(Check::Registry {
        reference: target.clone(),
        expect: RemoteExpect::Image(id.shown()),
    }));
    items
}

pub fn run(ws: &Workspace, args: &PushArgs) -> Result<()> {
    let project = ws.load()?;
    let catalog = &project.catalog;
    let sel = &args.select;
    let naming = &sel.naming;
    let flavours = super::select(&project, sel)?;
    let platforms = super::chosen_platforms(&flavours, naming)?;
    if !naming.dev && !args.force {
        // A release is immutable: one with some platforms missing could
        // never get them without --force.
        for (f, p) in flavours.iter().zip(&platforms) {
            if p.len() < f.platforms.len() {
                return Err(invalid(format!(
                    "--platform narrows development pushes only: a release of flavour '{}' serves every platform it declares ({}); drop --platform, or pass --force to publish {} alone",
                    f.name,
                    super::list(&f.platforms),
                    super::list(p)
                )));
            }
        }
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
        crate::output::note(&format!(
            "--latest moves the declared aliases only; no alias for: {}",
            without.join(", ")
        ));
    }
    let mut exec = Executor::new(&ws.sh, args.dry_run, args.json);
    let channel = super::channel(naming, || exec.git_state())?;
    let refs = super::references(catalog, &flavours, &project.version, &channel, &registry)?;

    // One push to these repositories at a time on this machine, from the
    // first registry read to the last write.
    let mut repositories: Vec<String> = refs.iter().map(Reference::repository).collect();
    repositories.extend(aliases.iter().flatten().map(Reference::repository));
    // A multi-platform release also writes its staged images there.
    for (r, p) in refs.iter().zip(&platforms) {
        if !p.is_empty() {
            let staged = r
                .with_name(&catalog.development)
                .map_err(|e| invalid(format!("{r}: {e}")))?;
            repositories.push(staged.repository());
        }
    }
    let _lock = if args.dry_run {
        None
    } else {
        Some(lock::acquire(&repositories)?)
    };
    let buildx = exec.buildx()?;

    let mut images = Vec::new();
    for (r, platforms) in refs.iter().zip(&platforms) {
        images.push(super::images(r, platforms)?);
    }
    let locals: Vec<Reference> = images.iter().flatten().map(|i| i.local.clone()).collect();
    let mut present =
        super::local_images_or_planned(&mut exec, &locals, naming, &flavours)?.into_iter();

    let mut items = Vec::new();
    let mut conflicts = Vec::new();
    for (((f, r), mine), alias) in flavours.iter().zip(&refs).zip(&images).zip(aliases) {
        let reference = r.to_string();
        let mut parts = Vec::new();
        let mut part_labels = Vec::new();
        let mut single = None;
        let mut unbuilt = false;
        let staged = |p: &Platform| {
            r.with_name(&catalog.development)
                .and_then(|d| d.for_platform(p))
                .map_err(|e| invalid(format!("the {p} image of {r}: {e}")))
        };
        for image in mine {
            let Some(local) = present
                .next()
                .ok_or_else(|| anyhow::anyhow!("internal error: fewer local images than names"))?
            else {
                // A dry run of an image not built yet: its ID is a
                // placeholder and nothing can be checked.
                unbuilt = true;
                let id = Arg::slot(crate::plan::Slot::ImageId {
                    reference: image.local.to_string(),
                });
                match &image.platform {
                    None => single = Some((id, Vec::new(), None)),
                    Some(p) => parts.push(Part {
                        platform: p.clone(),
                        local: image.local.clone(),
                        staged: staged(p)?,
                        id,
                    }),
                }
                continue;
            };
            let id = verify::check_inspected(
                &mut exec,
                &Expectation {
                    image: image.local.to_string(),
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
                    platform: image.platform.clone(),
                },
                local.clone(),
            )
            .map_err(|e| {
                crate::error::restate(
                    &e,
                    format!(
                        "{e:#}; nothing pushed. Rebuild with `{}`",
                        super::build_command(naming, &flavours)
                    ),
                )
            })?;
            if let Some(p) = &image.platform {
                part_labels.push((p.clone(), local.labels.clone()));
            }
            match &image.platform {
                None => {
                    let p = Platform::parse(&local.platform_shown()).ok();
                    single = Some((Arg::Lit(id), local.repo_digests, p))
                }
                Some(p) => parts.push(Part {
                    platform: p.clone(),
                    local: image.local.clone(),
                    staged: staged(p)?,
                    id: Arg::Lit(id),
                }),
            }
        }
        let labelled: Vec<(Platform, &std::collections::BTreeMap<String, String>)> =
            part_labels.iter().map(|(p, l)| (p.clone(), l)).collect();
        if let Err(e) = publish::one_build(&reference, &labelled) {
            conflicts.push(e);
        }
        let our_platforms: Vec<Platform> = match &single {
            Some((_, _, p)) => p.iter().cloned().collect(),
            None => part_labels.iter().map(|(p, _)| p.clone()).collect(),
        };
        let (id, repo_digests, _) = single.unwrap_or((Arg::Lit(String::new()), Vec::new(), None));
        let mut item = Entry {
            flavour: f.name.clone(),
            reference: r.clone(),
            version: project.version.to_string(),
            id: id.clone(),
            parts,
            seen: None,
            push: true,
            guard: !naming.dev,
            alias: None,
            test: if naming.dev { None } else { f.test.clone() },
            status: Status::Skipped,
            digest: None,
            alias_done: false,
        };
        let ours = item.images();
        let id = id.shown();
        if !naming.dev {
            item.seen = exec.registry(r)?;
            let same = item
                .seen
                .as_ref()
                .is_some_and(|s| publish::serves(s, &id, &ours, &repo_digests, &r.repository()));
            let decided = if unbuilt && item.seen.is_some() {
                // Whether the published tag is this build is known only
                // once it is built.
                crate::output::note(&format!("{reference} is published already; whether that is this build is decided when it is built"));
                Ok(Release::Push)
            } else {
                publish::decide_release(&reference, item.seen.as_ref(), same, args.force)
            };
            match decided {
                Ok(Release::Push) => {}
                Ok(Release::AlreadyPublished { digest }) => {
                    item.push = false;
                    item.status = Status::AlreadyPublished;
                    item.digest = digest;
                }
                Ok(Release::Overwrite { note }) => crate::output::warn(&note),
                Err(e) => conflicts.push(e),
            }
        }
        if let Some(alias) = alias {
            let a = alias.to_string();
            let seen = exec.registry(&alias)?;
            let here = seen.as_ref().is_some_and(|s| {
                publish::serves(s, &id, &ours, &repo_digests, &alias.repository())
            });
            // The version of what it points at: its config blob, read from
            // the registry, a dry run included.
            let version = match &seen {
                Some(s) if !here => exec.remote_version(&alias, s)?,
                _ => Ok(None),
            };
            let from = version.clone().ok().flatten();
            let decided = match version {
                Ok(version) => publish::decide_alias(
                    &a,
                    &project.version,
                    seen.as_ref(),
                    here,
                    version,
                    args.force,
                ),
                Err(why) if args.force => Ok(AliasMove::Move {
                    note: Some(format!("--force: moving {a} although {why}")),
                }),
                Err(why) => Err(why),
            };
            match decided {
                Ok(AliasMove::AlreadyThere) => {
                    item.alias_done = true;
                    item.alias = Some(Alias {
                        reference: alias,
                        seen,
                        move_it: false,
                        from: Some(project.version.to_string()),
                        status: "already-there",
                    });
                }
                Ok(AliasMove::Move { note }) => {
                    if let Some(n) = note {
                        crate::output::warn(&n);
                    }
                    if let Some(lost) = seen
                        .as_ref()
                        .and_then(|s| lost_platforms(s, &our_platforms))
                    {
                        crate::output::warn(&format!(
                            "{a} serves {lost} now; after the move it will not"
                        ));
                    }
                    item.alias = Some(Alias {
                        reference: alias,
                        seen,
                        move_it: true,
                        from,
                        status: "planned",
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
                        .values
                        .get(&crate::plan::Slot::IndexDigest {
                            reference: item.reference.to_string(),
                        })
                        .cloned()
                        .or_else(|| {
                            exec.served
                                .get(&item.reference.to_string())
                                .and_then(|r| r.digest.clone())
                        });
                }
            }
            if let Some(alias) = item.alias.as_mut().filter(|a| a.move_it) {
                let o = Owner::Alias(n);
                item.alias_done = done(o);
                alias.status = if item.alias_done {
                    if alias.seen.is_none() {
                        "created"
                    } else {
                        "moved"
                    }
                } else if failed_owner == Some(o) {
                    "failed"
                } else {
                    "not-moved"
                };
            }
        }
    }
    // What the registry serves under each reference now (an index's entries).
    let served: Vec<Option<Remote>> = items
        .iter()
        .map(|i| {
            exec.served
                .get(&i.reference.to_string())
                .cloned()
                .or_else(|| {
                    i.seen
                        .clone()
                        .filter(|_| i.status == Status::AlreadyPublished)
                })
        })
        .collect();
    let error = failure.as_ref().map(|(_, e)| format!("{e:#}"));
    report(&items, &served, error.as_deref(), args.dry_run, args.json);
    if let Some((_, e)) = failure {
        let list = |s: Status| {
            let mut v: Vec<String> = items
                .iter()
                .filter(|i| i.status == s)
                .map(|i| i.reference.to_string())
                .collect();
            // An alias whose move failed (or never started) is named too.
            let alias_status = match s {
                Status::Failed => Some("failed"),
                Status::Skipped => Some("not-moved"),
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
        let msg = format!(
            "push stopped: {e:#}. Pushed: {}; failed: {}; not pushed: {}; {}. Run the same command again to finish (published tags are skipped)",
            list(Status::Pushed),
            list(Status::Failed),
            list(Status::Skipped),
            if moved { "some -latest aliases were moved" } else { "no -latest alias was moved" }
        );
        return Err(crate::error::restate(&e, msg));
    }
    Ok(())
}

fn report(
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
                    super::build::platform_row(
                        Some(&p.platform),
                        &p.local,
                        digest,
                        Some(p.id.shown()),
                    )
                });
                // The failure, on the reference (or alias) it stopped.
                let failed = i.status == Status::Failed
                    || i.alias.as_ref().is_some_and(|a| a.status == "failed");
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
                                ("status", Json::str(a.status)),
                                ("from", Json::opt_str(a.from.clone())),
                                ("to", Json::str(i.version.clone())),
                            ])
                        }),
                    ),
                ])
            })
            .collect();
        crate::json::emit(&Json::Array(rows));
    }
    if dry_run {
        return;
    }
    for i in items {
        crate::output::stderr_line(&format!(
            "{:<17} {} {}",
            i.status.as_str(),
            i.reference,
            i.digest.as_deref().unwrap_or("")
        ));
        if let Some(alias) = &i.alias {
            let what = match (alias.status, &alias.from) {
                ("moved", Some(from)) => format!("moved from {from} to {}", i.version),
                (status, _) => status.to_string(),
            };
            crate::output::stderr_line(&format!(
                "{:<17} {} -> {} ({what})",
                "latest", alias.reference, i.reference
            ));
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
            version: "0.2.2".into(),
            id: Arg::Lit(format!("sha256:{}", tag.len())),
            parts: vec![],
            seen: None,
            push,
            guard: true,
            test: None,
            alias: alias.map(|a| Alias {
                reference: Reference::new(&reg, "itwinai", a).unwrap(),
                seen: None,
                move_it: true,
                from: None,
                status: "planned",
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
        items[1].alias.as_mut().unwrap().seen = Some(Remote::image(A, None));
        let reg = Registry::parse("127.0.0.1:5000").unwrap();
        let rf = |tag: &str| Reference::new(&reg, "itwinai", tag).unwrap();
        let id0 = items[0].id.shown();
        let id1 = items[1].id.shown();
        let got: Vec<(Owner, crate::plan::Item)> = plan(&items, false);
        let check = |t: &str, expect: RemoteExpect| {
            crate::plan::Item::Check(Check::Registry {
                reference: rf(t),
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
                    check("tf-latest", RemoteExpect::Seen(Remote::image(A, None)))
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
    fn a_multi_platform_release_stages_each_image_then_writes_one_index() {
        let reg = Registry::parse("127.0.0.1:5000").unwrap();
        let p = |s: &str| Platform::parse(s).unwrap();
        let release = Reference::new(&reg, "itwinai", "0.2.2-torch2.6-jammy").unwrap();
        let part = |platform: &str, id: &str| Part {
            platform: p(platform),
            local: release.for_platform(&p(platform)).unwrap(),
            staged: release
                .with_name("itwinai-dev")
                .and_then(|d| d.for_platform(&p(platform)))
                .unwrap(),
            id: Arg::Lit(id.into()),
        };
        let mut e = item("0.2.2-torch2.6-jammy", true, Some("fix-latest"));
        e.parts = vec![
            part("linux/amd64", "sha256:1"),
            part("linux/arm/v7", "sha256:2"),
        ];
        e.test = Some(vec!["true".into()]);
        let got: Vec<String> = plan(&[e.clone()], false)
            .into_iter()
            .map(|(o, i)| {
                let what = match i {
                    crate::plan::Item::Run(s) => {
                        crate::plan::render_step(&s, &std::collections::BTreeMap::new())
                    }
                    crate::plan::Item::Check(Check::Tested { reference, .. }) => {
                        format!("tested {reference}")
                    }
                    crate::plan::Item::Check(Check::LocalIs { reference, .. }) => {
                        format!("local {reference}")
                    }
                    crate::plan::Item::Check(Check::Registry {
                        reference, expect, ..
                    }) => format!("registry {reference}: {}", expect.shown()),
                    crate::plan::Item::Check(c) => format!("{c:?}"),
                };
                format!("{o:?} {what}")
            })
            .collect();
        let h = "127.0.0.1:5000";
        let r = format!("{h}/itwinai:0.2.2-torch2.6-jammy");
        let d = format!("{h}/itwinai-dev:0.2.2-torch2.6-jammy");
        let index = "an index of exactly linux/amd64 sha256:1, linux/arm/v7 sha256:2";
        // The index names each staged image by the digest it was read back at.
        let pinned = |p: &str| format!("'{h}/itwinai-dev@<digest of {d}-{p} as read back>'");
        let sources = format!("{} {}", pinned("linux-amd64"), pinned("linux-arm-v7"));
        let annotate = "docker manifest annotate --os linux --arch arm --variant v7 --";
        let alias = format!("{h}/itwinai:fix-latest");
        assert_eq!(
            got,
            vec![
                format!("Version(0) tested {r}-linux-amd64"),
                format!("Version(0) tested {r}-linux-arm-v7"),
                format!("Version(0) registry {r}: nothing"),
                format!("Version(0) local {r}-linux-amd64"),
                format!("Version(0) docker tag -- sha256:1 {d}-linux-amd64"),
                format!("Version(0) docker push -- {d}-linux-amd64"),
                format!("Version(0) registry {d}-linux-amd64: the image sha256:1"),
                format!("Version(0) local {r}-linux-arm-v7"),
                format!("Version(0) docker tag -- sha256:2 {d}-linux-arm-v7"),
                format!("Version(0) docker push -- {d}-linux-arm-v7"),
                format!("Version(0) registry {d}-linux-arm-v7: the image sha256:2"),
                format!("Version(0) # read-only: docker manifest rm -- {r}"),
                format!("Version(0) docker manifest create --insecure -- {r} {sources}"),
                format!("Version(0) {annotate} {r} {}", pinned("linux-arm-v7")),
                format!("Version(0) docker manifest push --insecure --purge -- {r}"),
                format!("Version(0) registry {r}: {index}"),
                format!("Alias(0) registry {alias}: nothing"),
                format!("Alias(0) # read-only: docker manifest rm -- {alias}"),
                format!("Alias(0) docker manifest create --insecure -- {alias} {sources}"),
                format!("Alias(0) {annotate} {alias} {}", pinned("linux-arm-v7")),
                format!("Alias(0) docker manifest push --insecure --purge -- {alias}"),
                format!("Alias(0) registry {alias}: {index}"),
            ]
        );
        // Released before: the alias is made from the release's own entries.
        let mut released = e.clone();
        released.push = false;
        released.seen = Some(Remote {
            digest: None,
            config: None,
            members: vec![crate::registry::Member {
                platform: p("linux/amd64"),
                digest: A.into(),
                config: Some("sha256:1".into()),
            }],
        });
        let create = plan(&[released], false)
            .into_iter()
            .find_map(|(_, i)| match i {
                crate::plan::Item::Run(s @ Step::ManifestCreate { .. }) => Some(
                    crate::plan::render_step(&s, &std::collections::BTreeMap::new()),
                ),
                _ => None,
            });
        assert_eq!(
            create,
            Some(format!(
                "docker manifest create --insecure -- {h}/itwinai:fix-latest {h}/itwinai@{A}"
            ))
        );
        // With buildx, one imagetools create per index.
        let with_buildx = plan(&[e], true);
        let creates = with_buildx
            .iter()
            .filter(|(_, i)| matches!(i, crate::plan::Item::Run(Step::ImagetoolsCreate { .. })))
            .count();
        assert_eq!(creates, 2);
        assert!(!with_buildx
            .iter()
            .any(|(_, i)| matches!(i, crate::plan::Item::Run(Step::ManifestCreate { .. }))));
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
                expect: RemoteExpect::Image(i.id.shown())
            })
        );
    }
}
