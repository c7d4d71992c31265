//! `image tag`: add the declared `-latest` alias to a local production image,
//! or promote an existing image (typically the tested dev image) to the
//! flavour's reference without running its Dockerfile again: a `FROM SRC`
//! build that only relabels `org.opencontainers.image.ref.name`, so the
//! layers are the tested ones, byte for byte.

use std::collections::BTreeMap;

use anyhow::{Context, Result};

use crate::cli::TagArgs;
use crate::docker::{Docker, ImageInfo};
use crate::error::invalid;
use crate::latest::{self, Current, VERSION_LABEL};
use crate::plan::{lits, Step};
use crate::reference::AnyRef;
use crate::version::Version;
use crate::workspace::Workspace;

pub const REF_NAME_LABEL: &str = "org.opencontainers.image.ref.name";
const REVISION_LABEL: &str = "org.opencontainers.image.revision";

/// Why a source image may not be promoted to `version`, if it may not.
pub fn check_promotable(source: &str, info: &ImageInfo, version: &Version) -> Result<(), String> {
    let label = |k: &str| info.labels.get(k).map(String::as_str).unwrap_or("");
    let v = label(VERSION_LABEL);
    if v != version.to_string() {
        return Err(format!(
            "refusing to promote {source}: its {VERSION_LABEL} is '{v}' but pyproject.toml says {version}; promote an image built at this version"
        ));
    }
    if crate::git::check_commit_hash(label(REVISION_LABEL)).is_err() {
        return Err(format!(
            "refusing to promote {source}: its {REVISION_LABEL} is '{}', not a commit; only images with recorded provenance are promoted",
            label(REVISION_LABEL)
        ));
    }
    Ok(())
}

/// What differs between a source and its promoted image, besides the new
/// ref.name: layers must be identical and every other label kept.
pub fn promotion_differences(
    source: &ImageInfo,
    promoted: &ImageInfo,
    target: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    if source.layers != promoted.layers {
        out.push("its layers differ from the source's".to_string());
    }
    if promoted.labels.get(REF_NAME_LABEL).map(String::as_str) != Some(target) {
        out.push(format!("its {REF_NAME_LABEL} is not {target}"));
    }
    let others = |i: &ImageInfo| -> BTreeMap<String, String> {
        i.labels
            .iter()
            .filter(|(k, _)| *k != REF_NAME_LABEL)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    if others(source) != others(promoted) {
        out.push("its labels other than ref.name differ from the source's".to_string());
    }
    out
}

pub fn run(ws: &Workspace, args: &TagArgs) -> Result<()> {
    let project = ws.load()?;
    let catalog = &project.catalog;
    let flavour = catalog.flavour(&args.flavour)?;
    if !args.latest && args.from.is_none() {
        return Err(invalid("image tag needs --latest or --from REF"));
    }
    if args.latest && args.naming.dev {
        return Err(invalid(
            "--latest tags the production image and cannot be combined with --dev",
        ));
    }
    super::check_selection(&args.naming, 1)?;
    let registry = super::registry(catalog, &args.naming)?;
    if let Some(s) = &args.from {
        AnyRef::parse(s).map_err(|e| invalid(format!("--from: {e}")))?;
    }
    let channel = super::channel(&args.naming, || crate::git::head(&ws.sh))?;
    let target = catalog.reference(flavour, &project.version, &channel, &registry)?;
    let target_s = target.to_string();
    let docker = Docker::new(&ws.sh);

    if args.latest {
        let alias = catalog.latest_reference(flavour, &registry)?.ok_or_else(|| {
            invalid(format!(
                "flavour '{}' declares no 'latest' alias in env-files/images.toml; the catalog is the only allowlist of *-latest tags",
                flavour.name
            ))
        })?;
        let alias_s = alias.to_string();
        let found = docker.inspect_present(&[&target_s, &alias_s])?;
        let local = found[0].as_ref().with_context(|| {
            format!("{target_s} is not in the local engine; build it with `cargo xtask image build {}` or promote one with --from", flavour.name)
        })?;
        let current = match &found[1] {
            None => Current::Absent,
            Some(a) if a.id == local.id => {
                eprintln!("{alias_s} already points at {target_s}");
                return Ok(());
            }
            Some(a) => Current::Labelled(a.labels.get(VERSION_LABEL).cloned()),
        };
        match latest::check_move(&alias_s, &project.version, &current, args.force) {
            Ok(Some(note)) => eprintln!("warning: {note}"),
            Ok(None) => {}
            Err(e) => anyhow::bail!(e),
        }
        let step = Step::run(
            format!("pointing {alias_s} at {target_s}"),
            lits(["docker", "tag", "--", &target_s, &alias_s]),
        );
        docker.execute(&[step], args.dry_run, false, BTreeMap::new())?;
        return Ok(());
    }

    let source = args.from.clone().context("--from is required to promote")?;
    let mut info = docker.inspect_present(&[&source])?.remove(0);
    if info.is_none() {
        let pull = Step::run(
            format!("pulling {source} to promote it"),
            lits(["docker", "pull", "--", &source]),
        );
        docker.execute(&[pull], args.dry_run, false, BTreeMap::new())?;
        if !args.dry_run {
            info = docker.inspect_present(&[&source])?.remove(0);
        }
    }
    if let Some(info) = &info {
        check_promotable(&source, info, &project.version).map_err(anyhow::Error::msg)?;
    }
    let buildx = docker.has_buildx()?;
    let dir = crate::docker::TempDir::new()?;
    let dockerfile = dir.0.join("Dockerfile");
    std::fs::write(&dockerfile, format!("FROM {source}\n"))
        .with_context(|| format!("cannot write {}", dockerfile.display()))?;
    let mut argv = if buildx {
        lits(["docker", "buildx", "build", "--load"])
    } else {
        lits(["docker", "build"])
    };
    argv.extend(lits([
        "--label".to_string(),
        format!("{REF_NAME_LABEL}={target_s}"),
        "-f".into(),
        dockerfile.to_string_lossy().into_owned(),
        "-t".into(),
        target_s.clone(),
        dir.0.to_string_lossy().into_owned(),
    ]));
    let step = Step::run(format!("promoting {source} to {target_s}"), argv);
    docker.execute(&[step], args.dry_run, false, BTreeMap::new())?;
    if args.dry_run {
        println!(
            "# then check {target_s}: same layers and labels as {source}, ref.name {target_s}"
        );
        return Ok(());
    }
    let both = docker.inspect(&[&source, &target_s])?;
    let diffs = promotion_differences(&both[0], &both[1], &target_s);
    if !diffs.is_empty() {
        anyhow::bail!(
            "{target_s} is not a faithful promotion of {source}: {}",
            diffs.join("; ")
        );
    }
    eprintln!(
        "promoted {source} to {target_s} ({}): same layers, ref.name relabelled",
        both[1].id
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(version: &str, revision: &str, refname: &str, layers: &[&str]) -> ImageInfo {
        ImageInfo {
            id: "sha256:x".into(),
            repo_digests: vec![],
            labels: [
                (VERSION_LABEL.to_string(), version.to_string()),
                (REVISION_LABEL.to_string(), revision.to_string()),
                (REF_NAME_LABEL.to_string(), refname.to_string()),
            ]
            .into(),
            layers: layers.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn promotable_sources() {
        let v = Version::parse("0.2.2").unwrap();
        let rev = "a".repeat(40);
        assert!(check_promotable("s", &info("0.2.2", &rev, "dev", &[]), &v).is_ok());
        assert!(check_promotable("s", &info("0.2.1", &rev, "dev", &[]), &v)
            .unwrap_err()
            .contains("is '0.2.1'"));
        assert!(check_promotable("s", &info("0.2.2", "", "dev", &[]), &v)
            .unwrap_err()
            .contains("revision is ''"));
        let mut no_labels = info("0.2.2", &rev, "dev", &[]);
        no_labels.labels.clear();
        assert!(check_promotable("s", &no_labels, &v).is_err());
    }

    #[test]
    fn promotion_keeps_layers_and_labels() {
        let rev = "a".repeat(40);
        let src = info("0.2.2", &rev, "dev:1", &["l1", "l2"]);
        let good = info("0.2.2", &rev, "prod:1", &["l1", "l2"]);
        assert!(promotion_differences(&src, &good, "prod:1").is_empty());
        assert_eq!(
            promotion_differences(&src, &info("0.2.2", &rev, "prod:1", &["l1"]), "prod:1").len(),
            1
        );
        assert_eq!(promotion_differences(&src, &good, "other:1").len(), 1);
        assert_eq!(
            promotion_differences(
                &src,
                &info("0.2.3", &rev, "prod:1", &["l1", "l2"]),
                "prod:1"
            )
            .len(),
            1
        );
    }
}
