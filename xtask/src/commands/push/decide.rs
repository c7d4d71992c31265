//! Gather and decide: every local image checked on its exact image ID
//! (`verify.rs`), then, from what the registry serves under each release
//! tag and alias, the no-clobber and alias rules (`publish.rs`) for every
//! selected flavour before the first write, so a refusal leaves the
//! registry as it was.

use std::collections::BTreeMap;

use anyhow::Result;

use super::entry::{lost_platforms, Alias, AliasStatus, Entry, Part, Status};
use super::Ask;
use crate::engine::executor::Executor;
use crate::model::platform::Platform;
use crate::model::reference::Reference;
use crate::plan::arg::Arg;
use crate::plan::expectation::{Expectation, Labels};
use crate::plan::write::Vouch;
use crate::project::catalog::{Channel, Flavour};
use crate::project::workspace::Project;
use crate::rules::publish::{self, AliasMove, Release};
use crate::support::error::invalid;

/// A flavour's images as checked in the local engine: what its reference
/// (and alias) would publish.
#[derive(Debug, Clone)]
pub struct Candidate<'p> {
    pub flavour: &'p Flavour,
    pub reference: Reference,
    pub alias: Option<Reference>,
    /// The checked image (single-platform; a placeholder when a dry run
    /// plans the push of an image not built yet).
    pub id: Arg,
    /// Its `repository@sha256:…` names in the engine.
    pub repo_digests: Vec<String>,
    pub parts: Vec<Part>,
    /// The platforms it serves (for what an alias's users would lose).
    pub platforms: Vec<Platform>,
    /// Not built yet (a dry run only).
    pub unbuilt: bool,
    /// Each checked part's labels (multi-platform).
    pub part_labels: Vec<(Platform, BTreeMap<String, String>)>,
    /// The commit its revision label names (the parts are one build).
    pub revision: Option<String>,
}

/// The flavour of each image, in the order of `images` flattened.
fn owners<'p, T>(flavours: &[&'p Flavour], images: &[Vec<T>]) -> Vec<&'p Flavour> {
    flavours
        .iter()
        .zip(images)
        .flat_map(|(f, mine)| mine.iter().map(|_| *f))
        .collect()
}

/// Check every local image of every selected flavour; the candidates, and
/// the flavours whose platforms' images are not one build.
pub fn check_images<'p>(
    exec: &mut Executor,
    project: &'p Project,
    ask: &Ask<'p, '_>,
    refs: &[Reference],
    channel: &Channel,
) -> Result<(Vec<Candidate<'p>>, Vec<String>)> {
    let mut images = Vec::new();
    for (r, platforms) in refs.iter().zip(&ask.platforms) {
        images.push(crate::commands::images(r, platforms)?);
    }
    let locals: Vec<Reference> = images.iter().flatten().map(|i| i.local.clone()).collect();
    let owners = owners(&ask.flavours, &images);
    let mut present =
        crate::commands::local_images_or_planned(exec, &locals, &owners, ask.naming)?.into_iter();
    let mut out = Vec::new();
    let mut conflicts = Vec::new();
    for (((f, r), mine), alias) in ask.flavours.iter().zip(refs).zip(&images).zip(&ask.aliases) {
        let mut c = Candidate {
            flavour: f,
            reference: r.clone(),
            alias: alias.clone(),
            id: Arg::Lit(String::new()),
            repo_digests: Vec::new(),
            parts: Vec::new(),
            platforms: Vec::new(),
            unbuilt: false,
            part_labels: Vec::new(),
            revision: None,
        };
        let mut part_labels = Vec::new();
        for image in mine {
            let local = present
                .next()
                .ok_or_else(|| anyhow::anyhow!("internal error: fewer local images than names"))?;
            let into = match &image.platform {
                Some(p) => Some(
                    r.for_platform(p)
                        .map_err(|e| invalid(format!("the {p} image of {r}: {e}")))?,
                ),
                None => None,
            };
            let Some(local) = local else {
                // A dry run of an image not built yet: its ID is a
                // placeholder and nothing can be checked.
                c.unbuilt = true;
                let id = Arg::slot(crate::plan::arg::Slot::ImageId {
                    reference: (&image.local).into(),
                });
                match (&image.platform, into) {
                    (Some(p), Some(into)) => c.parts.push(Part {
                        platform: p.clone(),
                        local: image.local.clone(),
                        into,
                        id,
                    }),
                    _ => c.id = id,
                }
                continue;
            };
            // A single image is the engine's own platform, which it was
            // built for here.
            let meant = match &image.platform {
                Some(p) => p.clone(),
                None => exec.engine_platform()?,
            };
            let mut expect = expectation(project, f, &image.local, r, Some(&meant), channel, ask);
            if !ask.naming.dev {
                // A release or alias is built on the flavour's declared
                // base; one built with --base-image is for development tags.
                expect.base_name = Some(project.base(f, None)?.image);
            }
            let id = crate::engine::verify::check_inspected(exec, &expect, local.clone()).map_err(
                |e| {
                    crate::support::error::restate(
                        &e,
                        format!(
                            "{e:#}; nothing pushed. Rebuild with `{}`",
                            crate::commands::build_command(ask.naming, &ask.flavours)
                        ),
                    )
                },
            )?;
            c.revision = local.labels.get(crate::model::labels::REVISION).cloned();
            match (&image.platform, into) {
                (Some(p), Some(into)) => {
                    part_labels.push((p.clone(), local.labels.clone()));
                    c.platforms.push(p.clone());
                    c.parts.push(Part {
                        platform: p.clone(),
                        local: image.local.clone(),
                        into,
                        id: Arg::Lit(id),
                    });
                }
                _ => {
                    c.platforms = Platform::parse(&local.platform_shown())
                        .into_iter()
                        .collect();
                    c.id = Arg::Lit(id);
                    c.repo_digests = local.repo_digests;
                }
            }
        }
        let labelled: Vec<(Platform, &BTreeMap<String, String>)> =
            part_labels.iter().map(|(p, l)| (p.clone(), l)).collect();
        if let Err(e) = publish::one_build(&r.to_string(), &labelled) {
            conflicts.push(e);
        }
        c.part_labels = part_labels;
        out.push(c);
    }
    Ok((out, conflicts))
}

/// What a local image published under `reference` must show.
fn expectation(
    project: &Project,
    f: &Flavour,
    local: &Reference,
    reference: &Reference,
    platform: Option<&Platform>,
    channel: &Channel,
    ask: &Ask,
) -> Expectation {
    Expectation {
        image: local.into(),
        ref_name: Some(reference.to_string()),
        version: project.version.to_string(),
        labels: Labels::Recorded,
        distro: f.distro.clone(),
        framework: f.framework_expect(),
        release: !ask.naming.dev,
        revision: crate::commands::required_revision(channel),
        base_name: None,
        source_of: None,
        dirty: crate::commands::required_dirty(channel),
        built: None,
        platform: platform.cloned(),
        commits_on_base: None,
    }
}

/// What a decision found: the entries, the refusals (nothing is pushed
/// when there is one) and what the user should know.
#[derive(Debug, Default)]
pub struct Decision {
    pub items: Vec<Entry>,
    pub conflicts: Vec<String>,
    pub warnings: Vec<String>,
    pub notes: Vec<String>,
}

/// Read what the registry serves under each release tag and alias, and
/// decide for each candidate: push, already published, refused; move the
/// alias, already there, refused.
pub fn decide(
    exec: &mut Executor,
    project: &Project,
    candidates: &[Candidate],
    ask: &Ask,
    head: Option<&str>,
) -> Result<Decision> {
    let mut d = Decision::default();
    for c in candidates {
        let mut item = Entry {
            flavour: c.flavour.name.clone(),
            reference: c.reference.clone(),
            version: project.version.to_string(),
            id: c.id.clone(),
            parts: c.parts.clone(),
            keep: Vec::new(),
            seen: None,
            push: true,
            guard: !ask.naming.dev,
            alias: None,
            test: if ask.naming.dev {
                None
            } else {
                c.flavour.test.clone()
            },
            evidence: evidence_of(c, ask.naming.dev),
            status: Status::Skipped,
            digest: None,
            alias_done: false,
        };
        if !ask.naming.dev {
            decide_release(exec, c, &mut item, ask, head, &mut d)?;
        } else if !c.parts.is_empty() && c.parts.len() < c.flavour.platforms.len() {
            decide_merge(exec, c, &mut item, &mut d)?;
        }
        if let Some(alias) = &c.alias {
            decide_alias(exec, project, c, alias, &mut item, ask.force, &mut d)?;
        }
        d.items.push(item);
    }
    Ok(d)
}

/// No clobbering: the release tag is pushed when absent, skipped when it
/// serves this image, refused (unless `--force`) when it serves another.
fn decide_release(
    exec: &mut Executor,
    c: &Candidate,
    item: &mut Entry,
    ask: &Ask,
    head: Option<&str>,
    d: &mut Decision,
) -> Result<()> {
    let force = ask.force;
    let reference = c.reference.to_string();
    item.seen = exec.registry(&c.reference)?;
    let same = item.seen.as_ref().is_some_and(|s| {
        publish::serves(
            s,
            &c.id.shown(),
            &item.images(),
            &c.repo_digests,
            &c.reference.repository(),
        )
    });
    let decided = if c.unbuilt && item.seen.is_some() {
        // Whether the published tag is this build is known only once it
        // is built.
        d.notes.push(format!(
            "{reference} is published already; whether that is this build is decided when it is built"
        ));
        Ok(Release::Push)
    } else {
        publish::decide_release(&reference, item.seen.as_ref(), same, force)
    };
    // Written now (not already there): only HEAD's build.
    let writes = matches!(decided, Ok(Release::Push | Release::Overwrite { .. }));
    let decided = match head {
        Some(head) if writes && !c.unbuilt => publish::written_from_head(
            &reference,
            c.revision.as_deref(),
            head,
            &crate::commands::build_command(ask.naming, &[c.flavour]),
        )
        .and(decided),
        _ => decided,
    };
    match decided {
        Ok(Release::Push) => {}
        Ok(Release::AlreadyPublished { digest }) => {
            item.push = false;
            item.status = Status::AlreadyPublished;
            item.digest = digest;
        }
        Ok(Release::Overwrite { note }) => d.warnings.push(note),
        Err(e) => d.conflicts.push(e),
    }
    Ok(())
}

/// A development push of some of a flavour's platforms (one runner's):
/// the index its tag serves keeps the other platforms' images when they
/// are the same build (revision, version, base digest); a single image or
/// another build there is refused, never replaced by a partial index.
fn decide_merge(
    exec: &mut Executor,
    c: &Candidate,
    item: &mut Entry,
    d: &mut Decision,
) -> Result<()> {
    let Some(seen) = exec.registry(&c.reference)? else {
        return Ok(());
    };
    let ours: Vec<&Platform> = c.parts.iter().map(|p| &p.platform).collect();
    if !seen.is_index() {
        d.conflicts.push(format!(
            "{} serves a single image ({}); pushing {} alone would replace it with an index of fewer platforms: push every platform of flavour '{}' together",
            c.reference,
            seen.shown(),
            crate::commands::list(&c.platforms),
            c.flavour.name
        ));
        return Ok(());
    }
    let others: Vec<crate::model::remote::Member> = seen
        .members
        .iter()
        .filter(|m| !ours.contains(&&m.platform))
        .cloned()
        .collect();
    let mut theirs = Vec::new();
    for m in &others {
        let config = m.config.clone().unwrap_or_default();
        let labels = exec.read_labels(&c.reference, &config)?;
        theirs.push((m.platform.clone(), labels));
    }
    if c.unbuilt {
        d.notes.push(format!(
            "{} lists {}; whether they are this build is decided when it is built",
            c.reference,
            seen.shown()
        ));
        item.keep = others;
        return Ok(());
    }
    let labelled: Vec<(Platform, &BTreeMap<String, String>)> = c
        .part_labels
        .iter()
        .chain(&theirs)
        .map(|(p, l)| (p.clone(), l))
        .collect();
    match publish::one_build(&c.reference.to_string(), &labelled) {
        Ok(()) => item.keep = others,
        Err(e) => d.conflicts.push(format!(
            "{e} (the index under {} holds another build's {}: push every platform from one checkout, or give this build its own tag)",
            c.reference,
            theirs.iter().map(|(p, _)| p.to_string()).collect::<Vec<_>>().join(", ")
        )),
    }
    Ok(())
}

/// The alias moves only forward, to a release, from a labelled image
/// (unless `--force`); already there, nothing to do.
fn decide_alias(
    exec: &mut Executor,
    project: &Project,
    c: &Candidate,
    alias: &Reference,
    item: &mut Entry,
    force: bool,
    d: &mut Decision,
) -> Result<()> {
    let a = alias.to_string();
    let seen = exec.registry(alias)?;
    let here = seen.as_ref().is_some_and(|s| {
        publish::serves(
            s,
            &c.id.shown(),
            &item.images(),
            &c.repo_digests,
            &alias.repository(),
        )
    });
    // The version of what it points at: its config blob, read from the
    // registry, a dry run included.
    let version = match &seen {
        Some(s) if !here => exec.remote_version(alias, s)?,
        _ => Ok(None),
    };
    let from = version.clone().ok().flatten();
    let decided = match version {
        Ok(version) => {
            publish::decide_alias(&a, &project.version, seen.as_ref(), here, version, force)
        }
        Err(why) if force => Ok(AliasMove::Move {
            note: Some(format!("--force: moving {a} although {why}")),
        }),
        Err(why) => Err(why),
    };
    match decided {
        Ok(AliasMove::AlreadyThere) => {
            item.alias_done = true;
            item.alias = Some(Alias {
                reference: alias.clone(),
                seen,
                move_it: false,
                from: Some(project.version.to_string()),
                status: AliasStatus::AlreadyThere,
            });
        }
        Ok(AliasMove::Move { note }) => {
            d.warnings.extend(note);
            if let Some(lost) = seen.as_ref().and_then(|s| lost_platforms(s, &c.platforms)) {
                d.warnings
                    .push(format!("{a} serves {lost} now; after the move it will not"));
            }
            item.alias = Some(Alias {
                reference: alias.clone(),
                seen,
                move_it: true,
                from,
                status: AliasStatus::Planned,
            });
        }
        Err(e) => d.conflicts.push(e),
    }
    Ok(())
}

/// The test whose pass goes next to a candidate's images: a release's
/// gate, or for a development tag the flavour's test when this machine
/// recorded its pass on every image (said when it did not: another runner
/// then cannot release it).
fn evidence_of(c: &Candidate, dev: bool) -> Option<Vouch> {
    let Some(test) = c.flavour.test.clone() else {
        // No test declared: a development image carries the record that
        // this push checked it, which is what a promotion requires.
        return dev.then_some(Vouch::Checked);
    };
    if !dev {
        return Some(Vouch::Passed(test));
    }
    let ids: Vec<String> = if c.parts.is_empty() {
        vec![c.id.shown()]
    } else {
        c.parts.iter().map(|p| p.id.shown()).collect()
    };
    let key = test.key();
    if ids
        .iter()
        .all(|id| crate::support::cache::test_passed(id, &key))
    {
        return Some(Vouch::Passed(test));
    }
    if !c.unbuilt {
        crate::support::output::note(&format!(
            "the test of flavour '{}' is not recorded as passed on {}: no test evidence is written with it, so no runner can promote it until `cargo xtask image test {} --dev` passes and it is pushed again",
            c.flavour.name, c.reference, c.flavour.name
        ));
    }
    None
}
