//! Running a plan: each step through the gateway, each check through the
//! engine's reads and `engine/verify.rs`, the long work announced with a
//! counter and summed up; under `--dry-run` each step and check printed.

use anyhow::{Context, Result};

use crate::engine::executor::Executor;
use crate::exec::docker_output as out;
use crate::plan::arg::{Arg, Slot};
use crate::plan::check::{Check, Item};
use crate::plan::step::{render_step, Step};

impl Executor<'_> {
    /// Run (or print) a plan; a failure stops it. On a failure, also which
    /// item failed (its index), for callers that report progress.
    pub fn execute_partial(&mut self, plan: &[Item]) -> Option<(usize, anyhow::Error)> {
        // The long work (builds, pushes, index writes, image checks, tests)
        // is announced with a counter and summed up with its durations.
        let total = plan.iter().filter(|i| milestone(i).is_some()).count();
        let counting = total > 1 && !self.gw.dry_run();
        let mut done: Vec<(String, std::time::Duration, bool)> = Vec::new();
        let mut failure = None;
        for (i, item) in plan.iter().enumerate() {
            let what = milestone(item).filter(|_| counting);
            if let Some(w) = &what {
                crate::support::output::stderr_line(&format!("[{}/{total}] {w}", done.len() + 1));
            }
            let start = std::time::Instant::now();
            let result = match item {
                Item::Run(step) => self.run(step).with_context(|| step.purpose()),
                Item::Check(check) => self.check(check),
            };
            if let Some(w) = what {
                done.push((w, start.elapsed(), result.is_ok()));
            }
            if let Err(e) = result {
                failure = Some((i, e));
                break;
            }
        }
        if counting && !done.is_empty() {
            let secs: f64 = done.iter().map(|(_, d, _)| d.as_secs_f64()).sum();
            crate::support::output::stderr_line(&format!(
                "summary: {} of {total} steps in {secs:.1} s",
                done.len()
            ));
            for (k, (w, d, ok)) in done.iter().enumerate() {
                let how = if *ok { "done" } else { "FAILED" };
                crate::support::output::stderr_line(&format!(
                    "  [{}/{total}] {w}: {how} ({:.1} s)",
                    k + 1,
                    d.as_secs_f64()
                ));
            }
        }
        failure
    }

    pub fn execute(&mut self, plan: &[Item]) -> Result<()> {
        match self.execute_partial(plan) {
            None => Ok(()),
            Some((_, e)) => Err(e),
        }
    }

    fn run(&mut self, step: &Step) -> Result<()> {
        if let Step::ManifestForget { target } = step {
            return self.forget_manifest_list(target);
        }
        let Some(stdout) = self.must(step)? else {
            return Ok(());
        };
        if let Step::ManifestPush { target } = step {
            let digest = out::manifest_push_digest(&stdout).ok_or_else(|| {
                anyhow::anyhow!("docker manifest push of {target} printed no digest")
            })?;
            self.gw.learn(
                Slot::IndexDigest {
                    reference: target.to_string(),
                },
                digest,
            );
        }
        if let Step::Pull {
            image,
            capture: true,
            ..
        } = step
        {
            let digest = match out::pull_digest(image, &stdout).map_err(anyhow::Error::msg)? {
                Some(d) => d,
                // No `Digest:` line: ask the engine, as the recipe does.
                None => {
                    let info =
                        self.inspect_one(image, || format!("{image} is not local after its pull"))?;
                    out::pick_repo_digest(image, &info.repo_digests).map_err(anyhow::Error::msg)?
                }
            };
            let slot = Slot::BaseDigest {
                image: image.clone(),
            };
            // Each platform's pull must find the same base (the index).
            if let Some(before) = self.gw.value(&slot).filter(|d| **d != digest) {
                anyhow::bail!(
                    "base image {image} changed in its registry during this build (it was {before}, now {digest}); build again"
                );
            }
            self.gw.learn(slot, digest);
        }
        Ok(())
    }

    fn check(&mut self, check: &Check) -> Result<()> {
        if self.gw.dry_run() {
            self.print_check(check);
            return Ok(());
        }
        match check {
            Check::Image(expect) => {
                let checked = crate::engine::verify::check(self, expect);
                if let (Err(_), Some(reference)) = (&checked, &expect.built) {
                    // Just built by this plan: an image that lies keeps no name.
                    let _ = self.must(&Step::Untag {
                        reference: reference.clone(),
                    });
                }
                let id = checked?;
                self.gw.learn(
                    Slot::ImageId {
                        reference: expect.image.clone(),
                    },
                    id,
                );
            }
            Check::TreeUnchanged {
                head,
                status,
                reference,
                name,
            } => {
                let now = self.git_state()?;
                if now.head != *head || now.status != *status {
                    let what = if now.head != *head {
                        format!("HEAD moved from {head} to {}", now.head)
                    } else {
                        "the working tree changed".to_string()
                    };
                    self.must(&Step::Untag {
                        reference: reference.clone(),
                    })?;
                    anyhow::bail!(
                        "{what} while {name} was built, so its labels would not describe it; it was not named {name} (its build {reference} was removed); build again from a quiet tree"
                    );
                }
            }
            Check::Registry {
                reference, expect, ..
            } => {
                let got = self.registry(reference)?;
                let name = reference.to_string();
                crate::rules::publish::check_expect(&name, expect, got.as_ref())
                    .map_err(anyhow::Error::msg)?;
                if let Some(d) = got.as_ref().and_then(|r| r.digest.clone()) {
                    self.gw.learn(
                        Slot::ManifestDigest {
                            reference: name.clone(),
                        },
                        d,
                    );
                }
                if let Some(r) = got {
                    self.served.insert(name, r);
                }
            }
            Check::LocalIs { reference, id } => {
                let want = self.gw.resolve(id)?;
                let info = self.inspect_one(&reference.to_string(), || {
                    format!("{reference} was removed from the local engine after it was checked")
                })?;
                anyhow::ensure!(
                    info.id == want,
                    "{reference} now names image {}, not the checked {want}: another process re-tagged it; nothing more is published, run the command again",
                    info.id
                );
            }
            Check::Tested {
                flavour,
                reference,
                id,
                platform,
                test,
            } => {
                let id = self.gw.resolve(id)?;
                if crate::support::cache::test_passed(&id, &test.key()) {
                    crate::support::output::stderr_line(&format!(
                        "test of flavour '{flavour}' passed before on {reference} ({id})"
                    ));
                } else {
                    self.test(flavour, reference, &id, platform.as_ref(), test)?;
                }
            }
            Check::Promotion {
                source,
                target,
                ref_name,
            } => {
                let found = self.inspect(&[
                    Arg::slot(Slot::ImageId {
                        reference: source.clone(),
                    }),
                    Arg::Lit(target.to_string()),
                ])?;
                let (Some(src), Some(dst)) = (&found[0], &found[1]) else {
                    anyhow::bail!("{target} or its source {source} is gone from the local engine");
                };
                let diffs =
                    crate::rules::promotion::promotion_differences(src, dst, &ref_name.to_string());
                if !diffs.is_empty() {
                    // Never leave an unfaithful image under the target name.
                    let untag = Step::Untag {
                        reference: target.clone(),
                    };
                    self.must(&untag)?;
                    anyhow::bail!(
                        "{target} is not a faithful promotion of {source}: {}",
                        diffs.join("; ")
                    );
                }
            }
        }
        Ok(())
    }

    /// A check as `--dry-run` shows it: what it checks, then its steps.
    fn print_check(&self, check: &Check) {
        let (what, steps): (String, Vec<Step>) = match check {
            Check::Image(e) => (
                e.describe(),
                vec![
                    Step::Inspect {
                        images: vec![Arg::Lit(e.image.clone()), e.base_shown()],
                    },
                    Step::Probe {
                        image: Arg::slot(Slot::ImageId {
                            reference: e.image.clone(),
                        }),
                        platform: e.platform.clone(),
                        dists: e.dists(),
                    },
                ],
            ),
            Check::TreeUnchanged { reference, .. } => (
                format!("check that HEAD and the tree did not change while {reference} was built"),
                vec![Step::GitState, Step::GitFlagged],
            ),
            Check::Registry { reference, expect } => (
                format!(
                    "check that the registry serves {} under {reference}",
                    expect.shown()
                ),
                vec![Step::RegistryRead(Box::new({
                    let endpoint =
                        crate::oci::distribution::Endpoint::of_host(reference.registry().host());
                    let request = crate::oci::distribution::Request::manifest(
                        &endpoint,
                        &reference.api_name(),
                        reference.tag(),
                    );
                    // As it will run: with credentials once they were needed.
                    if self.registry.has_auth(&endpoint, &reference.api_name()) {
                        request.with_credentials()
                    } else {
                        request
                    }
                }))],
            ),
            Check::Tested {
                flavour,
                reference,
                id,
                platform,
                test,
            } => (
                format!("check that the test of flavour '{flavour}' passed on {reference}: recorded for its image ID, else run now"),
                vec![Step::Test {
                    image: id.clone(),
                    platform: platform.clone(),
                    test: test.clone(),
                }],
            ),
            Check::Promotion { source, target, .. } => (
                format!("check that {target} has the layers and labels of {source}, ref.name relabelled"),
                vec![Step::Inspect {
                    images: vec![
                        Arg::slot(Slot::ImageId {
                            reference: source.clone(),
                        }),
                        Arg::Lit(target.to_string()),
                    ],
                }],
            ),
            Check::LocalIs { reference, id } => (
                format!(
                    "check that {reference} still names {}",
                    id.resolve(self.gw.values())
                ),
                vec![Step::Inspect {
                    images: vec![Arg::Lit(reference.to_string())],
                }],
            ),
        };
        self.print(&format!("# {what}"));
        for s in &steps {
            self.print(&render_step(s, self.gw.values()));
        }
    }
}

/// The long steps of a plan, as the progress counter names them.
fn milestone(item: &Item) -> Option<String> {
    match item {
        Item::Run(step)
            if !step.read_only()
                && !matches!(
                    step,
                    Step::Tag { .. }
                        | Step::Untag { .. }
                        | Step::ManifestForget { .. }
                        | Step::RemoveContainer { .. }
                        | Step::ManifestCreate { .. }
                        | Step::ManifestAnnotate { .. }
                ) =>
        {
            Some(step.purpose())
        }
        Item::Check(Check::Image(e)) => Some(format!(
            "checking {}",
            e.becomes
                .as_ref()
                .map_or(e.image.clone(), |n| n.to_string())
        )),
        Item::Check(Check::Tested {
            flavour, reference, ..
        }) => Some(format!("testing {reference} (flavour '{flavour}')")),
        _ => None,
    }
}
