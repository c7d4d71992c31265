//! `image push`: publish what `image build` made. Everything that can refuse
//! (missing local image, a release tag that holds other content, an alias
//! move the budget forbids) is checked before the first push, so a refusal
//! leaves the registry as it was. Versioned references go first, aliases only
//! after all of them succeeded; on a failure the report says what was pushed
//! and what was not, and the same command finishes the job.

use std::collections::BTreeMap;

use anyhow::Result;

use crate::cli::PushArgs;
use crate::docker::{Docker, ImageInfo};
use crate::error::invalid;
use crate::json::Json;
use crate::latest::{self, Current, VERSION_LABEL};
use crate::plan::{lits, Action, Slot, Step};
use crate::reference::Reference;
use crate::registry::{self, Remote};
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

/// One reference to publish and what became of it.
#[derive(Debug, Clone)]
struct Item {
    flavour: String,
    reference: Reference,
    /// Planned to push (false: already published).
    push: bool,
    status: Status,
    digest: Option<String>,
    /// The alias to move to this image after all versioned pushes.
    alias: Option<Reference>,
    /// The alias already points at this image.
    alias_current: bool,
    alias_done: bool,
}

/// Whether a registry manifest is the local image: same config digest (the
/// local image ID), or a digest the engine already recorded for the repository.
pub fn same_image(remote: &Remote, local: &ImageInfo, repository: &str) -> bool {
    remote.config.as_deref() == Some(local.id.as_str())
        || local
            .repo_digests
            .contains(&format!("{repository}@{}", remote.digest))
}

/// The steps that publish: every versioned push, then alias tag and push.
fn plan(items: &[Item]) -> Vec<Step> {
    let push = |r: &Reference| Step {
        purpose: format!("pushing {r}"),
        argv: lits([
            "docker".to_string(),
            "push".into(),
            "--".into(),
            r.to_string(),
        ]),
        action: Action::Capture(Slot::PushedDigest {
            reference: r.to_string(),
        }),
    };
    let mut steps: Vec<Step> = items
        .iter()
        .filter(|i| i.push)
        .map(|i| push(&i.reference))
        .collect();
    for i in items {
        if let (Some(alias), false) = (&i.alias, i.alias_current) {
            steps.push(Step::run(
                format!("pointing {alias} at {}", i.reference),
                lits([
                    "docker".to_string(),
                    "tag".into(),
                    "--".into(),
                    i.reference.to_string(),
                    alias.to_string(),
                ]),
            ));
            steps.push(push(alias));
        }
    }
    steps
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
    for f in &flavours {
        let alias = if args.latest {
            Some(catalog.latest_reference(f, &registry)?.ok_or_else(|| {
                invalid(format!(
                    "flavour '{}' declares no 'latest' alias in env-files/images.toml; the catalog is the only allowlist of *-latest tags",
                    f.name
                ))
            })?)
        } else {
            None
        };
        aliases.push(alias);
    }
    let channel = super::channel(naming, || crate::git::head(&ws.sh))?;
    let refs = super::references(catalog, &flavours, &project.version, &channel, &registry)?;

    let docker = Docker::new(&ws.sh);
    let buildx = docker.has_buildx()?;
    let names: Vec<String> = refs.iter().map(Reference::to_string).collect();
    let locals = docker.inspect_present(&names.iter().map(String::as_str).collect::<Vec<_>>())?;
    let mut missing = Vec::new();
    for (r, local) in names.iter().zip(&locals) {
        match local {
            None => missing.push(r.clone()),
            Some(info) => {
                let ref_name = info.labels.get("org.opencontainers.image.ref.name");
                if ref_name != Some(r) {
                    anyhow::bail!(
                        "{r} is labelled org.opencontainers.image.ref.name={}; it was not built or promoted as this reference. Rebuild with `{}`",
                        ref_name.map_or("(missing)", String::as_str),
                        super::build_command(naming, &flavours)
                    );
                }
            }
        }
    }
    if !missing.is_empty() {
        anyhow::bail!(
            "not in the local engine: {}; build first with `{}`",
            missing.join(", "),
            super::build_command(naming, &flavours)
        );
    }
    let locals: Vec<ImageInfo> = locals.into_iter().flatten().collect();

    let mut items = Vec::new();
    let mut conflicts = Vec::new();
    for ((f, r), (local, alias)) in flavours.iter().zip(&refs).zip(locals.iter().zip(aliases)) {
        let mut item = Item {
            flavour: f.name.clone(),
            reference: r.clone(),
            push: true,
            status: Status::Skipped,
            digest: None,
            alias,
            alias_current: false,
            alias_done: false,
        };
        if !naming.dev {
            match registry::lookup(&ws.sh, buildx, r)? {
                None => {}
                Some(remote) if same_image(&remote, local, &r.repository()) => {
                    item.push = false;
                    item.status = Status::AlreadyPublished;
                    item.digest = Some(remote.digest);
                }
                Some(remote) if args.force => eprintln!(
                    "warning: --force: overwriting {r} (registry digest {}) with different content",
                    remote.digest
                ),
                Some(remote) => conflicts.push(format!(
                    "{r} is already published with other content (registry digest {}); a release is never overwritten without --force",
                    remote.digest
                )),
            }
        }
        if let Some(alias) = &item.alias {
            let current = match registry::lookup(&ws.sh, buildx, alias)? {
                None => Current::Absent,
                Some(remote) if same_image(&remote, local, &alias.repository()) => {
                    item.alias_current = true;
                    Current::Absent
                }
                Some(_) if args.dry_run && !buildx => {
                    eprintln!("note: the backwards check of {alias} reads its version label by a pull; it runs without --dry-run");
                    Current::Absent
                }
                Some(_) => Current::Labelled(docker.remote_label(buildx, alias, VERSION_LABEL)?),
            };
            match latest::check_move(&alias.to_string(), &project.version, &current, args.force) {
                Ok(Some(note)) => eprintln!("warning: {note}"),
                Ok(None) => {}
                Err(e) => conflicts.push(e),
            }
        }
        items.push(item);
    }
    if !conflicts.is_empty() {
        anyhow::bail!("nothing pushed: {}", conflicts.join("; "));
    }

    let steps = plan(&items);
    let (outcome, failure) =
        docker.execute_partial(&steps, args.dry_run, args.json, BTreeMap::new());
    let values = outcome.values;
    let failure = failure.map(|(i, e)| {
        let reference = match &steps[i].action {
            Action::Capture(Slot::PushedDigest { reference }) => Some(reference.clone()),
            _ => None,
        };
        (reference, e)
    });
    for item in &mut items {
        let slot = |r: &Reference| Slot::PushedDigest {
            reference: r.to_string(),
        };
        if item.push {
            match values.get(&slot(&item.reference)) {
                Some(d) => {
                    item.status = Status::Pushed;
                    item.digest = Some(d.clone());
                }
                None => {
                    let failed = failure.as_ref().and_then(|(r, _)| r.as_deref())
                        == Some(&item.reference.to_string());
                    item.status = if failed {
                        Status::Failed
                    } else {
                        Status::Skipped
                    };
                }
            }
        }
        if let Some(alias) = &item.alias {
            item.alias_done = item.alias_current || values.contains_key(&slot(alias));
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
            .any(|i| i.alias.is_some() && i.alias_done && !i.alias_current);
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

fn report(items: &[Item], dry_run: bool, json: bool) {
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
                                .map(|a| a.to_string()),
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
            eprintln!("{:<17} {alias} -> {}", "latest", i.reference);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::Registry;

    fn item(tag: &str, push: bool, alias: Option<&str>, alias_current: bool) -> Item {
        let reg = Registry::parse("127.0.0.1:5000").unwrap();
        Item {
            flavour: tag.into(),
            reference: Reference::new(&reg, "itwinai", tag).unwrap(),
            push,
            status: Status::Skipped,
            digest: None,
            alias: alias.map(|a| Reference::new(&reg, "itwinai", a).unwrap()),
            alias_current,
            alias_done: false,
        }
    }

    #[test]
    fn versioned_pushes_come_before_any_alias() {
        let items = [
            item("0.2.2-torch2.6-jammy", true, Some("torch-latest"), false),
            item("0.2.2-tf2.16-jammy", false, Some("tf-latest"), false),
            item("jlab-0.2.2-torch2.6-jammy", true, Some("jlab-latest"), true),
        ];
        let lines: Vec<String> = plan(&items)
            .iter()
            .map(|s| crate::plan::shell_line(&s.resolve(&BTreeMap::new())))
            .collect();
        let r = "127.0.0.1:5000/itwinai";
        assert_eq!(
            lines,
            [
                format!("docker push -- {r}:0.2.2-torch2.6-jammy"),
                format!("docker push -- {r}:jlab-0.2.2-torch2.6-jammy"),
                format!("docker tag -- {r}:0.2.2-torch2.6-jammy {r}:torch-latest"),
                format!("docker push -- {r}:torch-latest"),
                format!("docker tag -- {r}:0.2.2-tf2.16-jammy {r}:tf-latest"),
                format!("docker push -- {r}:tf-latest"),
            ]
        );
    }

    #[test]
    fn same_image_by_config_or_recorded_digest() {
        let d = format!("sha256:{}", "d".repeat(64));
        let id = format!("sha256:{}", "a".repeat(64));
        let local = ImageInfo {
            id: id.clone(),
            repo_digests: vec![format!("r/x@{d}")],
            ..ImageInfo::default()
        };
        assert!(same_image(
            &Remote {
                digest: "sha256:0".into(),
                config: Some(id)
            },
            &local,
            "r/x"
        ));
        assert!(same_image(
            &Remote {
                digest: d.clone(),
                config: None
            },
            &local,
            "r/x"
        ));
        assert!(!same_image(
            &Remote {
                digest: d,
                config: None
            },
            &local,
            "r/y"
        ));
        assert!(!same_image(
            &Remote {
                digest: "sha256:0".into(),
                config: Some("sha256:1".into())
            },
            &local,
            "r/x"
        ));
    }
}
