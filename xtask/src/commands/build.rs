//! `image build`: gather the facts, compute the plan, run or print it.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use time::{OffsetDateTime, UtcOffset};

use crate::cli::BuildArgs;
use crate::docker::{build_arg_flags, Docker};
use crate::error::invalid;
use crate::git;
use crate::json::Json;
use crate::plan::{lits, Action, Arg, Expectation, Slot, Step};
use crate::provenance::{creation_date, creation_time, Provenance};
use crate::reference::AnyRef;
use crate::workspace::Workspace;

/// One image to build, with every value it records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub flavour: String,
    pub dockerfile: String,
    pub reference: String,
    pub distro: String,
    pub provenance: Provenance,
    pub extra_args: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    pub buildx: bool,
    pub platform: Option<String>,
    pub builder: Option<String>,
    pub no_cache: bool,
    pub pull: bool,
}

/// The slot that holds a base image's digest.
pub fn digest_slot(base: &str) -> Slot {
    Slot::BaseDigest {
        image: base.to_string(),
    }
}

/// The steps that build `targets`. Without buildx each base is pulled once
/// and its digest read from the engine; with buildx the digests are looked
/// up (no layer download) before planning and the build pulls by itself.
pub fn plan(targets: &[Target], opts: &Options) -> Vec<Step> {
    let mut steps = Vec::new();
    if !opts.buildx {
        let mut bases: Vec<&str> = Vec::new();
        for t in targets {
            let base = t.provenance.base_img_name.as_str();
            if !bases.contains(&base) {
                bases.push(base);
            }
        }
        for base in bases {
            steps.push(Step {
                purpose: format!("pulling base image {base} to learn its digest"),
                argv: lits(["docker", "pull", "--", base]),
                action: Action::Capture(digest_slot(base)),
            });
        }
    }
    for t in targets {
        let mut argv = if opts.buildx {
            let mut a = lits(["docker", "buildx", "build", "--load"]);
            if let Some(b) = &opts.builder {
                a.extend(lits(["--builder", b]));
            }
            if let Some(p) = &opts.platform {
                a.extend(lits(["--platform", p]));
            }
            a
        } else {
            lits(["docker", "build"])
        };
        if opts.no_cache {
            argv.push(Arg::Lit("--no-cache".into()));
        }
        if opts.pull {
            argv.push(Arg::Lit("--pull".into()));
        }
        argv.extend(lits(["-f", &t.dockerfile, "-t", &t.reference]));
        argv.extend(build_arg_flags(&t.provenance.build_args(&t.extra_args)));
        argv.push(Arg::Lit(".".into()));
        steps.push(Step::run(
            format!("building {} ({})", t.reference, t.flavour),
            argv,
        ));
        steps.push(Step {
            purpose: format!("checking {}", t.reference),
            argv: Vec::new(),
            action: Action::Verify(Box::new(Expectation {
                reference: t.reference.clone(),
                labels: t.provenance.labels(),
                distro: t.distro.clone(),
                base: t.provenance.base_img_name.clone(),
                base_digest: t.provenance.base_img_digest.clone(),
            })),
        });
    }
    steps
}

/// `os/arch[/variant]`, one platform (`--load` takes one).
pub fn check_platform(p: &str) -> Result<(), String> {
    let parts: Vec<&str> = p.split('/').collect();
    let ok = (2..=3).contains(&parts.len())
        && parts.iter().all(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "--platform '{p}' is not one platform of the form os/arch[/variant], e.g. linux/arm64"
        ))
    }
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

pub fn run(ws: &Workspace, args: &BuildArgs, local_offset: Option<UtcOffset>) -> Result<()> {
    let project = ws.load()?;
    let catalog = &project.catalog;
    let sel = &args.select;
    let naming = &sel.naming;
    let flavours = super::select(catalog, sel)?;
    let registry = super::registry(catalog, naming)?;
    if let Some(b) = &args.base_image {
        let r = AnyRef::parse(b).map_err(|e| invalid(format!("--base-image: {e}")))?;
        if r.is_scratch() {
            return Err(invalid(
                "--base-image scratch: scratch has no digest to record",
            ));
        }
    }
    if let Some(p) = &args.platform {
        check_platform(p).map_err(invalid)?;
    }
    if let Some(b) = &args.builder {
        check_builder(b).map_err(invalid)?;
    }
    let sde = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => Some(v),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(invalid(
                "SOURCE_DATE_EPOCH is not valid UTF-8; unset it or give whole seconds",
            ))
        }
    };
    let offset = match (&sde, local_offset) {
        (Some(_), _) => UtcOffset::UTC,
        (None, Some(o)) => o,
        (None, None) => {
            return Err(invalid(
                "cannot determine the local time zone offset for CREATION_DATE; set TZ or SOURCE_DATE_EPOCH",
            ))
        }
    };
    let created = creation_date(creation_time(
        sde.as_deref(),
        OffsetDateTime::now_utc(),
        offset,
    )?);

    let git = git::facts(&ws.sh)?;
    if git.dirty {
        if !naming.dev && !args.allow_dirty {
            return Err(invalid(
                "the working tree has uncommitted changes, so COMMIT_HASH would not describe what is built; commit them, build with --dev, or pass --allow-dirty",
            ));
        }
        eprintln!("warning: building from a tree with uncommitted changes; COMMIT_HASH {} does not include them", git.head);
    }
    let channel = super::channel(naming, || Ok(git.head.clone()))?;
    let refs = super::references(catalog, &flavours, &project.version, &channel, &registry)?;
    let mut targets = Vec::new();
    for (f, reference) in flavours.iter().zip(&refs) {
        let base = project.base(f, args.base_image.as_deref())?;
        targets.push(Target {
            flavour: f.name.clone(),
            dockerfile: f.dockerfile.clone(),
            reference: reference.to_string(),
            distro: f.distro.clone(),
            provenance: Provenance {
                commit_hash: git.head.clone(),
                base_img_digest: Arg::Slot {
                    prefix: String::new(),
                    slot: digest_slot(&base.image),
                },
                base_img_name: base.image,
                itwinai_version: project.version.to_string(),
                creation_date: created.clone(),
                image_full_name: reference.to_string(),
            },
            extra_args: f.build_args(),
        });
    }

    let docker = Docker::new(&ws.sh);
    let buildx = docker.has_buildx()?;
    if !buildx && (args.platform.is_some() || args.builder.is_some()) {
        return Err(invalid(
            "--platform and --builder need docker buildx, which is not installed here (`docker buildx version` fails); install the buildx plugin or drop them",
        ));
    }
    let mut known = BTreeMap::new();
    if buildx {
        for t in &targets {
            let base = &t.provenance.base_img_name;
            let slot = digest_slot(base);
            if let std::collections::btree_map::Entry::Vacant(e) = known.entry(slot) {
                e.insert(docker.remote_image(base)?.repo_digest);
            }
        }
    }
    let opts = Options {
        buildx,
        platform: args.platform.clone(),
        builder: args.builder.clone(),
        no_cache: args.no_cache,
        pull: args.pull,
    };
    let steps = plan(&targets, &opts);
    let outcome = docker
        .execute(&steps, args.dry_run, args.json, known)
        .context("image build")?;

    if args.json {
        let items = targets
            .iter()
            .map(|t| {
                let build_args = t
                    .provenance
                    .build_args(&t.extra_args)
                    .into_iter()
                    .map(|(k, v)| (k, Json::Str(v.resolve(&outcome.values))));
                Json::object([
                    ("flavour", Json::str(&t.flavour)),
                    ("reference", Json::str(&t.reference)),
                    ("build_args", Json::object(build_args)),
                    (
                        "image_id",
                        Json::opt_str(outcome.image_ids.get(&t.reference).cloned()),
                    ),
                ])
            })
            .collect();
        println!("{}", Json::Array(items).render());
    }
    if !args.dry_run {
        for t in &targets {
            if let Some(id) = outcome.image_ids.get(&t.reference) {
                eprintln!("built {} ({id})", t.reference);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(flavour: &str, base: &str) -> Target {
        Target {
            flavour: flavour.into(),
            dockerfile: format!("env-files/{flavour}/Dockerfile"),
            reference: format!("ghcr.io/intertwin-eu/itwinai:0.2.2-{flavour}2.4-jammy"),
            distro: "jammy".into(),
            provenance: Provenance {
                commit_hash: "c".repeat(40),
                base_img_name: base.into(),
                base_img_digest: Arg::Slot {
                    prefix: String::new(),
                    slot: digest_slot(base),
                },
                itwinai_version: "0.2.2".into(),
                creation_date: "2026-11-24T12:05:09+00:00".into(),
                image_full_name: format!("ghcr.io/intertwin-eu/itwinai:0.2.2-{flavour}2.4-jammy"),
            },
            extra_args: vec![("EXTRA".into(), "v".into())],
        }
    }

    fn rendered(steps: &[Step]) -> Vec<String> {
        steps
            .iter()
            .map(|s| match &s.action {
                Action::Verify(e) => format!("verify {}", e.reference),
                _ => crate::plan::shell_line(&s.resolve(&BTreeMap::new())),
            })
            .collect()
    }

    #[test]
    fn classic_plan_pulls_each_base_once_then_builds_and_checks() {
        let targets = [target("torch", "u:22.04"), target("tf", "u:22.04")];
        let got = rendered(&plan(&targets, &Options::default()));
        let build = |f: &str| {
            format!(
            "docker build -f env-files/{f}/Dockerfile -t ghcr.io/intertwin-eu/itwinai:0.2.2-{f}2.4-jammy \
             --build-arg COMMIT_HASH={c} --build-arg BASE_IMG_NAME=u:22.04 \
             --build-arg 'BASE_IMG_DIGEST=<BASE_IMG_DIGEST of u:22.04, known after the pull>' \
             --build-arg ITWINAI_VERSION=0.2.2 --build-arg CREATION_DATE=2026-11-24T12:05:09+00:00 \
             --build-arg IMAGE_FULL_NAME=ghcr.io/intertwin-eu/itwinai:0.2.2-{f}2.4-jammy \
             --build-arg EXTRA=v .",
            c = "c".repeat(40)
        )
        };
        assert_eq!(
            got,
            vec![
                "docker pull -- u:22.04".to_string(),
                build("torch"),
                "verify ghcr.io/intertwin-eu/itwinai:0.2.2-torch2.4-jammy".to_string(),
                build("tf"),
                "verify ghcr.io/intertwin-eu/itwinai:0.2.2-tf2.4-jammy".to_string(),
            ]
        );
        assert_eq!(
            plan(&targets, &Options::default())[0].action,
            Action::Capture(digest_slot("u:22.04"))
        );
    }

    #[test]
    fn buildx_plan_passes_builder_platform_and_flags() {
        let opts = Options {
            buildx: true,
            platform: Some("linux/arm64".into()),
            builder: Some("k8s".into()),
            no_cache: true,
            pull: true,
        };
        let steps = plan(&[target("torch", "u:22.04")], &opts);
        assert_eq!(steps.len(), 2);
        let argv = steps[0].resolve(&BTreeMap::new());
        assert_eq!(
            argv[..13],
            [
                "docker",
                "buildx",
                "build",
                "--load",
                "--builder",
                "k8s",
                "--platform",
                "linux/arm64",
                "--no-cache",
                "--pull",
                "-f",
                "env-files/torch/Dockerfile",
                "-t"
            ]
        );
        assert_eq!(argv.last().map(String::as_str), Some("."));
        let mut values = BTreeMap::new();
        values.insert(digest_slot("u:22.04"), "u@sha256:ab".to_string());
        assert!(steps[0]
            .resolve(&values)
            .contains(&"BASE_IMG_DIGEST=u@sha256:ab".to_string()));
    }

    #[test]
    fn platform_and_builder_values() {
        for ok in ["linux/amd64", "linux/arm64/v8"] {
            assert!(check_platform(ok).is_ok(), "{ok}");
        }
        for bad in [
            "linux",
            "-x/y",
            "linux/amd64,linux/arm64",
            "Linux/amd64",
            "a/b/c/d",
            "",
        ] {
            assert!(check_platform(bad).is_err(), "{bad}");
        }
        assert!(check_builder("k8s-builder.1").is_ok());
        for bad in ["", "-x", "a b", "a/b"] {
            assert!(check_builder(bad).is_err(), "{bad}");
        }
    }
}
