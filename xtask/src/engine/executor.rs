//! The one executor, and the one gateway to git and docker: every external
//! command of every command is a [`Step`] that passes through here. Under
//! `--dry-run` each step is printed (read-only ones as `# read-only:`
//! comments) and only read-only steps run, so that decisions can still be
//! made; without it each is echoed to stderr and run.
//!
//! The typed reads (`inspect`, `registry`, `probe`, …) run one step and hand
//! its output to the pure parsers of `docker_output.rs` and `git.rs`.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use xshell::Shell;

use crate::exec::docker_output as out;
use crate::exec::gateway::Gateway;
use crate::exec::git;
use crate::exec::runner::Output;
use crate::model::git::GitState;
use crate::model::image::{ImageInfo, Inside, RemoteImage};
use crate::model::platform::Platform;
use crate::model::reference::Reference;
use crate::model::remote::Remote;
use crate::plan::step::{render_step, Arg, Check, Item, Pinned, Slot, Step};
use crate::registry::client::Client;

pub struct Executor<'a> {
    /// Every external command goes through it.
    gw: Gateway<'a>,
    /// The registry API, with the run's authentication state.
    registry: Client,
    /// What the registry served under each reference at its last check.
    served: BTreeMap<String, Remote>,
    buildx: Option<bool>,
    /// The engine's own platform, once asked.
    engine_platform: Option<Platform>,
}

impl<'a> Executor<'a> {
    pub fn new(sh: &'a Shell, dry_run: bool, json: bool) -> Executor<'a> {
        Executor {
            gw: Gateway::new(sh, dry_run, json),
            registry: Client::default(),
            served: BTreeMap::new(),
            buildx: None,
            engine_platform: None,
        }
    }

    pub fn dry_run(&self) -> bool {
        self.gw.dry_run()
    }

    /// The workspace the commands run in.
    pub fn root(&self) -> std::path::PathBuf {
        self.gw.root()
    }

    /// A line of the dry-run listing.
    pub fn print(&self, line: &str) {
        self.gw.print(line);
    }

    /// Run (or, a dry run, print) one step.
    pub fn step(&mut self, step: &Step) -> Result<Option<Output>> {
        self.gw.step(step)
    }

    /// Run a step that must succeed; its stdout (`None` when only printed).
    pub fn must(&mut self, step: &Step) -> Result<Option<String>> {
        self.gw.must(step)
    }

    /// The value a step learnt, when it is known.
    pub fn value(&self, slot: &Slot) -> Option<&String> {
        self.gw.value(slot)
    }

    /// Every value learnt so far.
    pub fn values(&self) -> &BTreeMap<Slot, String> {
        self.gw.values()
    }

    /// Record a value learnt outside a step (a base's digest read from its
    /// registry, an image ID checked before planning).
    pub fn learn(&mut self, slot: Slot, value: String) {
        self.gw.learn(slot, value);
    }

    /// What the registry served under `reference` when a check last read
    /// it.
    pub fn served(&self, reference: &Reference) -> Option<&Remote> {
        self.served.get(&reference.to_string())
    }

    /// What the registry serves under `reference` (the registry client).
    pub fn registry(&mut self, reference: &Reference) -> Result<Option<Remote>> {
        self.registry.registry(&mut self.gw, reference)
    }

    /// The manifest a registry serves under a tag or digest.
    pub fn manifest(
        &mut self,
        endpoint: &crate::oci::distribution::Endpoint,
        name: &str,
        reference: &str,
        shown: &str,
    ) -> Result<Option<(String, crate::oci::distribution::Manifest)>> {
        self.registry
            .manifest(&mut self.gw, endpoint, name, reference, shown)
    }

    /// The config digest of an index entry.
    pub fn member_config(
        &mut self,
        endpoint: &crate::oci::distribution::Endpoint,
        name: &str,
        shown: &str,
        platform: &Platform,
        member: &str,
    ) -> Result<String> {
        self.registry
            .member_config(&mut self.gw, endpoint, name, shown, platform, member)
    }

    /// An image config blob.
    pub fn config_blob(
        &mut self,
        endpoint: &crate::oci::distribution::Endpoint,
        name: &str,
        config: &str,
        shown: &str,
    ) -> Result<String> {
        self.registry
            .config_blob(&mut self.gw, endpoint, name, config, shown)
    }

    /// The labels of an image config in `reference`'s repository.
    pub fn read_labels(
        &mut self,
        reference: &Reference,
        config: &str,
    ) -> Result<BTreeMap<String, String>> {
        self.registry.read_labels(&mut self.gw, reference, config)
    }

    /// Every tag of `reference`'s repository.
    pub fn read_tags(&mut self, reference: &Reference, page: u32) -> Result<Vec<String>> {
        self.registry.read_tags(&mut self.gw, reference, page)
    }

    /// HEAD and the tree status.
    pub fn git_state(&mut self) -> Result<GitState> {
        let o = self
            .step(&Step::GitState)?
            .context("git status always runs")?;
        let why = if o.ok {
            let own = crate::project::workspace::own_temp_files(&self.root());
            match git::parse_state(&o.stdout, &own) {
                Ok(state) => {
                    let flagged = self.must(&Step::GitFlagged)?.unwrap_or_default();
                    return Ok(state.with_flagged(&git::parse_flagged(&flagged)));
                }
                Err(e) => e,
            }
        } else if o.stderr.contains("dubious ownership") {
            // git's first line names the cause, its last the fix.
            "dubious ownership".to_string()
        } else {
            o.stderr_line()
        };
        Err(git::state_error(&self.root(), &why))
    }

    /// Whether `rev` is a commit of this repository.
    pub fn is_commit(&mut self, rev: &str) -> Result<bool> {
        let o = self
            .step(&Step::GitIsCommit { rev: rev.into() })?
            .context("git rev-parse always runs")?;
        Ok(o.ok)
    }

    /// Whether `docker buildx version` works (asked once). A missing docker
    /// is an error.
    pub fn buildx(&mut self) -> Result<bool> {
        if let Some(b) = self.buildx {
            return Ok(b);
        }
        let o = self
            .step(&Step::BuildxProbe)?
            .context("the buildx probe always runs")?;
        self.buildx = Some(o.ok);
        Ok(o.ok)
    }

    /// The engine's own platform (asked once): what a flavour without
    /// `platforms` is built for and checked against.
    pub fn engine_platform(&mut self) -> Result<Platform> {
        if let Some(p) = &self.engine_platform {
            return Ok(p.clone());
        }
        let text = self
            .must(&Step::EnginePlatform)?
            .context("the platform probe always runs")?;
        let p = Platform::parse(text.trim()).map_err(|e| {
            anyhow::anyhow!(
                "`docker version` names the engine's platform {:?}: {e}",
                text.trim()
            )
        })?;
        self.engine_platform = Some(p.clone());
        Ok(p)
    }

    /// `docker image inspect` of several names or IDs: `None` for an absent
    /// one. One call when all are present.
    pub fn inspect(&mut self, images: &[Arg]) -> Result<Vec<Option<ImageInfo>>> {
        let step = Step::Inspect {
            images: images.to_vec(),
        };
        let o = self.step(&step)?.context("inspect always runs")?;
        if o.ok {
            let infos = out::parse_inspect(&o.stdout)
                .map_err(|e| anyhow::anyhow!("docker image inspect printed {e}"))?;
            anyhow::ensure!(
                infos.len() == images.len(),
                "docker image inspect returned {} images for {}",
                infos.len(),
                images.len()
            );
            return Ok(infos.into_iter().map(Some).collect());
        }
        if images.len() == 1 {
            if o.stderr.to_ascii_lowercase().contains("no such image") {
                return Ok(vec![None]);
            }
            anyhow::bail!("`docker image inspect` failed: {}", o.stderr_line());
        }
        let mut found = Vec::new();
        for image in images {
            found.extend(self.inspect(std::slice::from_ref(image))?);
        }
        Ok(found)
    }

    /// One local image, which must be there.
    pub fn inspect_one(
        &mut self,
        image: &str,
        missing: impl FnOnce() -> String,
    ) -> Result<ImageInfo> {
        self.inspect(&[Arg::Lit(image.into())])?
            .pop()
            .flatten()
            .ok_or_else(|| anyhow::anyhow!(missing()))
    }

    /// Forget a manifest list the docker CLI keeps under `target` (one an
    /// interrupted run or a user left), which `docker manifest create`
    /// would otherwise refuse to replace. None there is the usual case.
    fn forget_manifest_list(&mut self, target: &Reference) -> Result<()> {
        let step = Step::ManifestForget {
            target: target.clone(),
        };
        if let Some(o) = self.step(&step)? {
            if !o.ok && !o.stderr.to_ascii_lowercase().contains("no such manifest") {
                anyhow::bail!("{}", o.failure(&format!("docker manifest rm {target}")));
            }
        }
        Ok(())
    }

    /// What the registry serves under `image` (classic).
    pub fn digest_lookup(&mut self, image: Pinned) -> Result<Remote> {
        let step = Step::DigestLookup {
            image: image.clone(),
        };
        let text = self.must(&step)?.context("registry lookups always run")?;
        out::parse_manifest_inspect(&text)
            .map_err(|e| anyhow::anyhow!("looking up {image} in its registry: {e}"))
    }

    /// The version label of what `reference` serves: one image's, or an
    /// index's, whose images must all carry the same (`Ok(Err(why))` when
    /// they do not). Reads the config blobs from the registry: no layer,
    /// and no local name changes.
    pub fn remote_version(
        &mut self,
        reference: &Reference,
        remote: &Remote,
    ) -> Result<std::result::Result<Option<String>, String>> {
        let version = |labels: &BTreeMap<String, String>| crate::model::labels::version_of(labels);
        let configs: Vec<(String, String)> = if remote.is_index() {
            remote
                .members
                .iter()
                .map(|m| (m.platform.to_string(), m.config.clone().unwrap_or_default()))
                .collect()
        } else {
            vec![(String::new(), remote.config.clone().unwrap_or_default())]
        };
        let mut seen: Vec<(String, Option<String>)> = Vec::new();
        for (platform, config) in configs {
            anyhow::ensure!(
                !config.is_empty(),
                "{reference}: the config digest of what it serves is not known"
            );
            let labels = self.read_labels(reference, &config)?;
            seen.push((platform, version(&labels)));
        }
        let first = seen[0].1.clone();
        if seen.iter().all(|(_, v)| *v == first) {
            return Ok(Ok(first));
        }
        Ok(Err(format!(
            "the images of {reference} disagree on their version label ({}), so it cannot be told whether a move is forward; fix the alias by hand or pass --force",
            seen.iter()
                .map(|(p, v)| format!("{p}: {}", v.as_deref().unwrap_or("none")))
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }

    /// Digest and per-platform layers of an image in its registry, without
    /// downloading layers (buildx only).
    pub fn remote_image(&mut self, image: &str) -> Result<RemoteImage> {
        let step = Step::RemoteImage {
            image: image.into(),
        };
        let text = self
            .must(&step)
            .with_context(|| format!("cannot resolve the digest of base image {image}"))?
            .context("imagetools always runs")?;
        out::parse_imagetools(image, &text).map_err(|e| {
            anyhow::anyhow!(
                "cannot resolve the digest of base image {image}: imagetools printed {e}"
            )
        })
    }

    /// What the image's python3 reads: `Err` with the reason when the image
    /// has no python3.
    pub fn probe(
        &mut self,
        id: &str,
        platform: Option<&Platform>,
        dists: &[String],
    ) -> Result<(String, std::result::Result<Inside, String>)> {
        let step = Step::Probe {
            image: Arg::Lit(id.into()),
            platform: platform.cloned(),
            dists: dists.to_vec(),
        };
        let o = self.step(&step)?.context("the probe always runs")?;
        if !o.ok {
            if let Some(p) = platform.filter(|_| out::is_exec_format_error(&o.stderr)) {
                anyhow::bail!("{}", emulation_missing(p, id));
            }
            if out::is_missing_executable(o.code, &o.stderr) {
                return Ok((String::new(), Err("there is no python3 in the image (its PATH), so the installed framework cannot be read".into())));
            }
            anyhow::bail!("{}", o.failure("docker run (python3 probe)"));
        }
        let inside = out::parse_probe(&o.stdout)
            .map_err(|e| anyhow::anyhow!("the python3 probe printed {e}"))?;
        Ok((o.stdout, Ok(inside)))
    }

    /// Run a flavour's test on image `id` and record a pass; a failure is
    /// an error naming the flavour, the reference and the exit status.
    pub fn test(
        &mut self,
        flavour: &str,
        reference: &str,
        id: &str,
        platform: Option<&Platform>,
        test: &crate::project::catalog::Test,
    ) -> Result<()> {
        let Some(out) = self.run_test(id, platform, test)? else {
            return Ok(());
        };
        if !out.ok {
            anyhow::bail!(
                "the test of flavour '{flavour}' failed on {reference} ({id}): `{}` {}",
                crate::support::shell::shell_line(&test.argv),
                out.code
                    .map_or("was killed by a signal".to_string(), |c| format!(
                        "exited with status {c}"
                    ))
            );
        }
        crate::support::output::stderr_line(&format!(
            "test of flavour '{flavour}' passed on {reference} ({id})"
        ));
        Ok(())
    }

    /// Run a test on image `id` (as `platform`): its output (`None` when
    /// only printed), a pass recorded. An image that could not run for want
    /// of emulation is an error saying how to enable it, not a failed test.
    pub fn run_test(
        &mut self,
        id: &str,
        platform: Option<&Platform>,
        test: &crate::project::catalog::Test,
    ) -> Result<Option<Output>> {
        let step = Step::Test {
            image: Arg::Lit(id.into()),
            platform: platform.cloned(),
            test: test.clone(),
        };
        let Some(out) = self.step(&step)? else {
            return Ok(None);
        };
        if !out.ok {
            if let Some(p) = platform.filter(|_| out::is_exec_format_error(&out.stderr)) {
                anyhow::bail!("{}", emulation_missing(p, id));
            }
        } else {
            crate::support::cache::store_test_pass(id, &test.key());
        }
        Ok(Some(out))
    }

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

/// Why a foreign platform's image did not run, and how to make it run.
fn emulation_missing(p: &Platform, id: &str) -> String {
    format!(
        "cannot run the {p} image {id} on this engine: no emulation for {p} is registered (exec format error); install Debian's qemu-user-static and binfmt-support, mount binfmt_misc if /proc/sys/fs/binfmt_misc/register is missing (`mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc`), run `update-binfmts --enable`, then run the command again"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Under `--dry-run` the executor prints every step and runs none that
    /// changes anything: each such step of every variant comes back unrun.
    #[test]
    fn a_dry_run_runs_no_write_step() {
        let sh = Shell::new().unwrap();
        let mut exec = Executor::new(&sh, true, true);
        let mut writes = 0;
        for step in crate::plan::step::one_of_each()
            .into_iter()
            .filter(Step::changes_state)
        {
            writes += 1;
            let ran = exec.step(&step).unwrap();
            assert!(ran.is_none(), "a dry run ran {step:?}");
        }
        assert!(writes >= 10, "{writes}");
    }
}
