//! Running a plan: each step through the gateway, each check through the
//! engine's reads and `engine/verify.rs`, the long work announced with a
//! counter and summed up; under `--dry-run` each step and check printed.

use anyhow::{Context, Result};

use crate::engine::executor::{Executor, OtherEngine};
use crate::exec::docker_output as out;
use crate::plan::arg::{Arg, Slot};
use crate::plan::check::{Check, Item};
use crate::plan::step::Step;

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
            // Before it is announced: an engine other than the one planned
            // for stops the plan here (its caller plans again).
            let step = match item {
                Item::Run(step) => Some(step),
                Item::Check(_) | Item::Write(_) => None,
            };
            if let Err(e) = self.confirm_before(step) {
                failure = Some((i, e));
                break;
            }
            let what = milestone(item).filter(|_| counting);
            if let Some(w) = &what {
                crate::support::output::stderr_line(&format!("[{}/{total}] {w}", done.len() + 1));
            }
            let start = std::time::Instant::now();
            let result = match item {
                Item::Run(step) => self.run(step).with_context(|| step.purpose()),
                Item::Check(check) => self.check(check),
                Item::Write(write) => self.write(write),
            };
            if let Some(w) = what {
                done.push((w, start.elapsed(), result.is_ok()));
            }
            if let Err(e) = result {
                // A step run before the platform planned for was confirmed
                // (a pull, of a base without that platform) may have failed
                // for it: another engine's platform stops the plan instead.
                let e = match self.confirm_engine() {
                    Err(other) if other.is::<OtherEngine>() => other,
                    _ => e,
                };
                failure = Some((i, e));
                break;
            }
        }
        // A plan stopped to be planned again for another engine is no
        // failure to sum up.
        let again = failure.as_ref().is_some_and(|(_, e)| e.is::<OtherEngine>());
        if counting && !done.is_empty() && !again {
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
        let ran = self.must(step);
        if let Step::Build(b) = step {
            // The image it built, unnamed: known by the ID docker wrote.
            if let Some(id) = built_id(&b.iidfile, matches!(ran, Ok(Some(_))))? {
                self.gw.learn(
                    Slot::Built {
                        name: b.name.clone(),
                    },
                    id,
                );
            }
        }
        let Some(stdout) = ran.map_err(|e| self.after_check(step, e))? else {
            return Ok(());
        };
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
                    let info = self.inspect_one(&image.to_string(), || {
                        format!("{image} is not local after its pull")
                    })?;
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

    /// A failed move of a build's name to the image it checked: which
    /// image, and that the name did not move (the image, unnamed, may
    /// have gone with an image prune since its check).
    fn after_check(&self, step: &Step, e: anyhow::Error) -> anyhow::Error {
        let Step::Tag {
            source: Arg::Slot { slot, .. },
            target,
        } = step
        else {
            return e;
        };
        match (slot, self.gw.value(slot)) {
            (Slot::Built { .. }, Some(id)) => e.context(format!(
                "{id} passed its checks but could not be named {target}, which still names what it did before (an image prune may have removed the unnamed image since its check); build again"
            )),
            _ => e,
        }
    }

    fn check(&mut self, check: &Check) -> Result<()> {
        if self.gw.dry_run() {
            self.print(&format!("# {}", check.describe()));
            for s in &self.check_steps(check) {
                self.feed_engine(s)?;
                let line = self.gw.rendered(s)?;
                self.print(&line);
            }
            return Ok(());
        }
        match check {
            Check::Image(expect) => self.check_image(expect),
            Check::TreeUnchanged {
                head,
                status,
                untracked,
                name,
            } => {
                let now = self.git_state()?;
                let now_status = if *untracked {
                    now.status.clone()
                } else {
                    now.tracked_status()
                };
                if now.head == *head && now_status == *status {
                    return Ok(());
                }
                let what = if now.head != *head {
                    format!("HEAD moved from {head} to {}", now.head)
                } else {
                    "the working tree changed".to_string()
                };
                anyhow::bail!(
                    "{what} while {name} was built, so its labels would not describe it; it was not named {name} (the image built keeps no name); build again from a quiet tree"
                );
            }
            Check::Registry { reference, expect } => self.check_registry(reference, expect),
            Check::Evidence(g) => self.check_evidence(g),
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
                    return Ok(());
                }
                self.test(flavour, reference, &id, platform.as_ref(), test)
            }
        }
    }

    /// The steps of `check`, as they will run.
    fn check_steps(&self, check: &Check) -> Vec<Step> {
        check.steps(|endpoint, name| self.registry.has_auth(endpoint, name))
    }

    fn check_image(&mut self, expect: &crate::plan::expectation::Expectation) -> Result<()> {
        let id = crate::engine::verify::check(self, expect)?;
        // A build's image is known by the ID it wrote (`Slot::Built`); its
        // name still holds the previous image until the plan moves it.
        if expect.built.is_none() {
            self.gw.learn(
                Slot::ImageId {
                    reference: expect.image.clone(),
                },
                id,
            );
        }
        Ok(())
    }

    fn check_registry(
        &mut self,
        reference: &crate::model::reference::Reference,
        expect: &crate::plan::check::RemoteExpect,
    ) -> Result<()> {
        let got = self.registry(reference)?;
        let name = reference.to_string();
        crate::rules::publish::check_expect(&name, expect, got.as_ref())
            .map_err(anyhow::Error::msg)?;
        if let Some(d) = got.as_ref().and_then(|r| r.digest.clone()) {
            self.gw.learn(
                Slot::ManifestDigest {
                    reference: reference.clone(),
                },
                d,
            );
        }
        if let Some(r) = got {
            self.served.insert(reference.clone(), r);
        }
        Ok(())
    }
}

/// The long steps of a plan, as the progress counter names them.
fn milestone(item: &Item) -> Option<String> {
    match item {
        Item::Run(step)
            if !step.read_only()
                && !matches!(step, Step::Tag { .. } | Step::RemoveContainer { .. }) =>
        {
            Some(step.purpose())
        }
        Item::Check(Check::Image(e)) => Some(format!("checking {}", e.image)),
        Item::Check(Check::Tested {
            flavour, reference, ..
        }) => Some(format!("testing {reference} (flavour '{flavour}')")),
        Item::Write(crate::plan::write::Write::Image { into, .. }) => {
            Some(format!("writing the image of {into}"))
        }
        _ => None,
    }
}

/// The image ID a build wrote into `file` (removed here, whatever it
/// holds): `None` when the build did not run (a dry run) or failed.
fn built_id(file: &str, ran: bool) -> Result<Option<String>> {
    let text = std::fs::read_to_string(file);
    let _ = std::fs::remove_file(file);
    if !ran {
        return Ok(None);
    }
    let text = text.map_err(|e| {
        anyhow::anyhow!("docker build finished but wrote no image ID into {file}: {e}")
    })?;
    let id = text.trim();
    crate::model::reference::check_sha256(id).map_err(|e| {
        anyhow::anyhow!("docker build wrote {id:?} into {file} where its image ID belongs: {e}")
    })?;
    Ok(Some(id.to_string()))
}

#[cfg(test)]
mod tests {
    use super::built_id;

    #[test]
    fn the_id_a_build_wrote_is_read_checked_and_its_file_removed() {
        let scratch = crate::support::scratch::Scratch::new("iid");
        let file = scratch.path().join(".iid-test");
        let file_str = file.to_str().unwrap();
        let id = format!("sha256:{}", "ab".repeat(32));
        /// What the file holds (none: absent), whether the build ran, and
        /// the ID read or a part of the error.
        type Case<'a> = (Option<String>, bool, Result<Option<String>, &'a str>);
        let cases: [Case; 5] = [
            (Some(format!("{id}\n")), true, Ok(Some(id.clone()))),
            // A dry run or a failed build: nothing read, the file still goes.
            (Some(id.clone()), false, Ok(None)),
            (None, false, Ok(None)),
            (None, true, Err("wrote no image ID")),
            (
                Some("sha256:short".into()),
                true,
                Err("where its image ID belongs"),
            ),
        ];
        for (written, ran, want) in cases {
            if let Some(text) = &written {
                std::fs::write(&file, text).unwrap();
            }
            let got = built_id(file_str, ran);
            match (&got, want) {
                (Ok(g), Ok(w)) => assert_eq!(*g, w),
                (Err(e), Err(w)) => assert!(e.to_string().contains(w), "{e}"),
                _ => panic!("{written:?} {ran}: {got:?}"),
            }
            assert!(!file.exists(), "{written:?} {ran}: the file was left");
        }
    }
}
