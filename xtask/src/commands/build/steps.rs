//! The steps of a build: per image, the base's pull (classic builder), the
//! build of an unnamed image, the checks, and the move of its name.

use crate::model::git::GitState;
use crate::model::labels;
use crate::plan::arg::{Arg, Slot};
use crate::plan::check::{Check, Item};
use crate::plan::step::{Build, Builder, Step};

use super::target::{Options, Target};

/// The plan that builds `targets` from the tree `tree`, one image per
/// platform, each item with the index of its target. Without buildx the
/// base is pulled right before each build, as that build's platform: the
/// classic builder builds `FROM` the local tag whatever platform it holds,
/// so the pull decides the platform; its digest (the index digest of a
/// multi-platform base) is kept, and every pull of a base must find the
/// same. With buildx the digests were looked up (no layer download) before
/// planning and the build pulls by itself. Each image is built with no name
/// (docker writes its ID into the target's `iidfile`); then the tree must
/// be as it was, and the image must pass every check, its platform
/// included; only then does its local name move to the checked image ID.
pub fn plan(
    targets: &[Target],
    opts: &Options,
    tree: &GitState,
    context: &str,
) -> Vec<(usize, Item)> {
    let mut items = Vec::new();
    for (k, t) in targets.iter().enumerate() {
        let mut add = |i: Item| items.push((k, i));
        if opts.builder == Builder::Classic {
            add(Item::Run(Step::Pull {
                image: t.provenance.base_img_name.clone(),
                platform: Some(t.built_for.clone()),
                capture: true,
            }));
        }
        add(Item::Run(Step::Build(Box::new(Build {
            builder: opts.builder.clone(),
            platform: Some(t.built_for.clone()),
            dir: context.to_string(),
            dockerfile: t.dockerfile.clone(),
            iidfile: t.iidfile.clone(),
            name: t.local.clone(),
            no_cache: opts.no_cache,
            pull: opts.pull,
            build_args: build_args(t, &opts.builder),
            // Only when dirty: a `--label` costs the classic builder an
            // extra commit (measured 50 to 100 ms on a cached build).
            labels: if t.dirty {
                vec![(labels::DIRTY.to_string(), "true".to_string())]
            } else {
                Vec::new()
            },
            // The classic builder's base is the image just pulled, which
            // its history check proves.
            pin: (opts.builder != Builder::Classic).then(|| {
                (
                    t.provenance.base_img_name.clone(),
                    t.provenance.base_img_digest.clone(),
                )
            }),
        }))));
        add(Item::Check(Check::TreeUnchanged {
            head: tree.head.clone(),
            // A clean build's context is the commit: an untracked file
            // made meanwhile changes nothing it built.
            status: if tree.dirty() {
                tree.status.clone()
            } else {
                tree.tracked_status()
            },
            untracked: tree.dirty(),
            name: t.local.clone(),
        }));
        add(Item::Check(Check::Image(Box::new(
            t.expectation(&opts.builder),
        ))));
        add(Item::Run(Step::Tag {
            source: Arg::slot(Slot::Built {
                name: t.local.clone(),
            }),
            target: t.local.clone(),
        }));
    }
    items
}

/// What the build is given: the provenance values and the catalog's build
/// args, and for a classic build of a Dockerfile that reads them, the
/// TARGET* ARGs BuildKit would set (the classic builder sets none: a
/// per-platform stage would otherwise take its default on every platform).
fn build_args(t: &Target, builder: &Builder) -> Vec<(String, Arg)> {
    let mut extra = t.extra_args.clone();
    if t.target_args && *builder == Builder::Classic {
        extra.extend(t.built_for.target_args());
    }
    t.provenance.build_args(&extra)
}

#[cfg(test)]
mod tests {
    use super::super::decide::check_builder;
    use super::super::target::digest_slot;
    use super::*;
    use crate::model::platform::Platform;
    use crate::model::reference::Reference;
    use crate::plan::expectation::Labels;
    use crate::plan::provenance::Provenance;
    use std::collections::BTreeMap;

    fn target(flavour: &str, base: &str) -> Target {
        let reference = Reference::new(
            &crate::model::reference::Registry::parse("ghcr.io/intertwin-eu").unwrap(),
            "itwinai",
            &format!("0.2.2-{flavour}2.4-jammy"),
        )
        .unwrap();
        Target {
            flavour: flavour.into(),
            dockerfile: format!("env-files/{flavour}/Dockerfile"),
            local: reference.clone(),
            iidfile: format!("/cache/.iid-{flavour}"),
            platform: None,
            built_for: Platform::parse("linux/amd64").unwrap(),
            reference,
            distro: "jammy".into(),
            framework: crate::model::image::Framework {
                package: "torch".into(),
                version: "2.4".into(),
            },
            provenance: Provenance {
                commit_hash: "c".repeat(40),
                base_img_name: crate::model::reference::AnyRef::parse(base).unwrap(),
                base_img_digest: Arg::slot(digest_slot(
                    &crate::model::reference::AnyRef::parse(base).unwrap(),
                )),
                itwinai_version: "0.2.2".into(),
                creation_date: "2026-11-24T12:05:09+00:00".into(),
                image_full_name: format!("ghcr.io/intertwin-eu/itwinai:0.2.2-{flavour}2.4-jammy"),
            },
            extra_args: vec![("EXTRA".into(), "v".into())],
            dirty: false,
            steps: 3,
            target_args: false,
        }
    }

    fn tree() -> GitState {
        GitState {
            head: "c".repeat(40),
            status: String::new(),
            index: None,
        }
    }

    fn rendered(items: &[(usize, Item)]) -> Vec<String> {
        items
            .iter()
            .map(|(k, i)| match i {
                Item::Run(s) => format!(
                    "{k} {}",
                    crate::plan::step::render_step(s, &BTreeMap::new())
                ),
                Item::Check(Check::Image(e)) => format!("{k} check {}", e.image),
                Item::Check(Check::TreeUnchanged { name, .. }) => {
                    format!("{k} tree unchanged for {name}")
                }
                Item::Check(c) => format!("{k} {c:?}"),
                Item::Write(w) => format!("{k} {w:?}"),
            })
            .collect()
    }

    #[test]
    fn classic_plan_pulls_the_base_right_before_each_build() {
        let targets = [target("torch", "u:22.04"), target("tf", "u:22.04")];
        let opts = Options {
            builder: Builder::Classic,
            no_cache: false,
            pull: false,
        };
        let items = plan(&targets, &opts, &tree(), "/ctx");
        let build = |f: &str| {
            format!(
            "docker build --force-rm --platform linux/amd64 -f /ctx/env-files/{f}/Dockerfile --iidfile /cache/.iid-{f} \
             --build-arg COMMIT_HASH={c} --build-arg BASE_IMG_NAME=u:22.04 \
             --build-arg 'BASE_IMG_DIGEST=<BASE_IMG_DIGEST of u:22.04, known after the pull>' \
             --build-arg ITWINAI_VERSION=0.2.2 --build-arg CREATION_DATE=2026-11-24T12:05:09+00:00 \
             --build-arg IMAGE_FULL_NAME=ghcr.io/intertwin-eu/itwinai:0.2.2-{f}2.4-jammy \
             --build-arg EXTRA=v -- /ctx",
            c = "c".repeat(40)
        )
        };
        let r = |f: &str| format!("ghcr.io/intertwin-eu/itwinai:0.2.2-{f}2.4-jammy");
        let steps = |k: usize, f: &str| {
            vec![
                format!("{k} docker pull --platform linux/amd64 -- u:22.04"),
                format!("{k} {}", build(f)),
                format!("{k} tree unchanged for {}", r(f)),
                format!("{k} check {}", r(f)),
                // Named only once its checks passed.
                format!("{k} docker tag -- '<image ID built for {}>' {}", r(f), r(f)),
            ]
        };
        let mut want = steps(0, "torch");
        want.extend(steps(1, "tf"));
        assert_eq!(rendered(&items), want);
        assert_eq!(
            items[0].1,
            Item::Run(Step::Pull {
                image: crate::model::reference::AnyRef::parse("u:22.04").unwrap(),
                platform: Some(Platform::parse("linux/amd64").unwrap()),
                capture: true
            })
        );
        assert_eq!(
            items[3].1,
            Item::Check(Check::Image(Box::new(
                targets[0].expectation(&Builder::Classic)
            )))
        );
    }

    #[test]
    fn the_check_after_a_build_expects_exactly_what_was_passed() {
        let mut t = target("torch", "u:22.04");
        t.dirty = true;
        let e = t.expectation(&Builder::Classic);
        // The dirty label is one more commit on the base, for the classic
        // builder only (BuildKit resolves the base by digest itself).
        assert_eq!(e.commits_on_base, Some(4));
        let buildx = Builder::Buildx { builder: None };
        assert_eq!(t.expectation(&buildx).commits_on_base, None);
        t.dirty = false;
        assert_eq!(t.expectation(&Builder::Classic).commits_on_base, Some(3));
        t.dirty = true;
        let Labels::Exact(labels) = &e.labels else {
            panic!("a build's check is exact")
        };
        let keys: Vec<&str> = labels.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                labels::CREATED,
                labels::VERSION,
                labels::REVISION,
                labels::REF_NAME,
                labels::BASE_NAME,
                labels::BASE_DIGEST,
                labels::DIRTY
            ]
        );
        assert_eq!(labels[6].1, Arg::Lit("true".into()));
        assert_eq!(e.framework.version, "2.4");
        assert!(!e.release);
    }

    #[test]
    fn buildx_plan_passes_builder_platform_and_flags() {
        let opts = Options {
            builder: Builder::Buildx {
                builder: Some("k8s".into()),
            },
            no_cache: true,
            pull: true,
        };
        let mut t = target("torch", "u:22.04");
        t.platform = Some(Platform::parse("linux/arm64").unwrap());
        t.built_for = Platform::parse("linux/arm64").unwrap();
        t.local = t
            .reference
            .for_platform(t.platform.as_ref().unwrap())
            .unwrap();
        let items = plan(&[t.clone()], &opts, &tree(), "/ctx");
        assert_eq!(items.len(), 4);
        let Item::Run(step) = &items[0].1 else {
            panic!("a build first")
        };
        let argv: Vec<String> = step
            .argv()
            .iter()
            .map(|a| a.resolve(&BTreeMap::new()))
            .collect();
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
                "/ctx/env-files/torch/Dockerfile",
                "--iidfile"
            ]
        );
        assert_eq!(argv[13], "/cache/.iid-torch");
        assert_eq!(argv[argv.len() - 2..], ["--", "/ctx"]);
        // The checked image takes its platform's local name.
        assert_eq!(
            items[3].1,
            Item::Run(Step::Tag {
                source: Arg::slot(Slot::Built {
                    name: t.local.clone()
                }),
                target: t.local.clone(),
            })
        );
        assert_eq!(
            t.local.to_string(),
            "ghcr.io/intertwin-eu/itwinai:0.2.2-torch2.4-jammy-linux-arm64"
        );
        let mut values = BTreeMap::new();
        values.insert(
            digest_slot(&crate::model::reference::AnyRef::parse("u:22.04").unwrap()),
            "u@sha256:ab".to_string(),
        );
        let resolved: Vec<String> = step.argv().iter().map(|a| a.resolve(&values)).collect();
        assert!(resolved.iter().any(|a| a == "BASE_IMG_DIGEST=u@sha256:ab"));
        // The base is taken by the digest looked up, whatever its tag
        // names by the time the build starts.
        assert_eq!(
            resolved[resolved.len() - 4..],
            [
                "--build-context",
                "u:22.04=docker-image://u@sha256:ab",
                "--",
                "/ctx"
            ]
        );
    }

    #[test]
    fn a_classic_build_is_given_the_target_args_its_dockerfile_reads() {
        let argv = |builder: Builder, target_args: bool| {
            let mut t = target("torch", "u:22.04");
            t.platform = Some(Platform::parse("linux/arm64").unwrap());
            t.built_for = Platform::parse("linux/arm64").unwrap();
            t.target_args = target_args;
            let opts = Options {
                builder,
                no_cache: false,
                pull: false,
            };
            let items = plan(&[t], &opts, &tree(), "/ctx");
            let step = items
                .iter()
                .find_map(|(_, i)| match i {
                    Item::Run(s @ Step::Build(_)) => Some(s.clone()),
                    _ => None,
                })
                .unwrap();
            let args: Vec<String> = step
                .argv()
                .iter()
                .map(|a| a.resolve(&BTreeMap::new()))
                .filter(|a| a.starts_with("TARGET"))
                .collect();
            args
        };
        assert_eq!(
            argv(Builder::Classic, true),
            [
                "TARGETPLATFORM=linux/arm64",
                "TARGETOS=linux",
                "TARGETARCH=arm64",
                "TARGETVARIANT="
            ]
        );
        // BuildKit sets them itself; a Dockerfile that does not read them
        // gets none (the classic builder warns of unused build args).
        assert!(argv(Builder::Buildx { builder: None }, true).is_empty());
        assert!(argv(Builder::Classic, false).is_empty());
    }

    #[test]
    fn builder_values() {
        assert!(check_builder("k8s-builder.1").is_ok());
        for bad in ["", "-x", "a b", "a/b"] {
            assert!(check_builder(bad).is_err(), "{bad}");
        }
    }
}
