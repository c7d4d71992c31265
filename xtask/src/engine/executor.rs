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
use crate::model::image::{ImageInfo, Inside};
use crate::model::platform::Platform;
use crate::model::reference::{AnyRef, Reference};
use crate::model::remote::Remote;
use crate::plan::arg::{Arg, Slot};
use crate::plan::step::Step;
use crate::registry::client::Client;

pub struct Executor<'a> {
    /// Every external command goes through it.
    pub(super) gw: Gateway<'a>,
    /// The registry API, with the run's authentication state.
    pub(super) registry: Client,
    /// What the registry served under each reference at its last check.
    pub(super) served: BTreeMap<Reference, Remote>,
    buildx: Option<bool>,
    /// The engine's own platform, once asked.
    engine_platform: Option<Platform>,
    /// Whether `engine_platform` is the one the candidate socket's engine
    /// named, taken before it is known whether that engine is docker's:
    /// confirmed before the first step that would act on a wrong one
    /// ([`Executor::confirm_engine`]).
    unconfirmed: bool,
    /// What is asked about the engine (its route, its platform), started
    /// early ([`Executor::start_probes`]).
    engine_probe: Option<crate::exec::gateway::PendingEngine>,
    /// Read-only steps started early ([`Executor::prefetch`]), each taken
    /// by the first run of an equal step.
    early: Vec<(Step, crate::exec::gateway::Pending)>,
}

impl<'a> Executor<'a> {
    pub fn new(sh: &'a Shell, dry_run: bool, json: bool) -> Executor<'a> {
        Executor {
            gw: Gateway::new(sh, dry_run, json),
            registry: Client::default(),
            served: BTreeMap::new(),
            buildx: None,
            engine_platform: None,
            unconfirmed: false,
            engine_probe: None,
            early: Vec::new(),
        }
    }

    /// Start the buildx probe and the question of which engine docker
    /// talks to now, beside the git reads: two `docker` starts that would
    /// otherwise run one after the other (the engine's platform is then
    /// one request to its socket, where it has one).
    pub fn start_probes(&mut self, platform: bool) {
        if self.buildx.is_none() {
            self.prefetch(Step::BuildxProbe);
        }
        if self.engine_probe.is_none() {
            self.engine_probe = self
                .gw
                .start_engine(platform && self.engine_platform.is_none());
        }
    }

    /// Before a step the engine may answer itself: take what was asked
    /// about the engine early, and decide with it how the engine is
    /// reached (else the gateway asks when the step runs).
    pub(super) fn feed_engine(&mut self, step: &Step) -> Result<()> {
        self.confirm_before(Some(step))?;
        if step.api_call().is_none() || self.gw.engine_known() {
            return Ok(());
        }
        if let Some(probe) = self.engine_probe.take() {
            self.gw.finish_engine(probe)?;
        }
        Ok(())
    }

    /// Start a read-only step now, on a thread of its own, when a later
    /// run of it would otherwise wait for the steps before it: that run
    /// takes its output (echoed when it started). A dry run lists its
    /// steps in order, so it starts none early; nor is a step with a
    /// container or an output file started early (the gateway says which).
    pub fn prefetch(&mut self, step: Step) {
        // A step the engine may answer waits until it is known how the
        // engine is reached (the step then takes what was asked early).
        if self.early.iter().any(|(s, _)| *s == step)
            || (step.api_call().is_some() && !self.gw.engine_known())
        {
            return;
        }
        if let Some(p) = self.gw.start(step.clone()) {
            self.early.push((step, p));
        }
    }

    /// The output of `step` when it was started early.
    fn take_early(&mut self, step: &Step, must: bool) -> Option<Result<Output>> {
        let at = self.early.iter().position(|(s, _)| s == step)?;
        let (_, p) = self.early.remove(at);
        Some(self.gw.finish(p, must))
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
        self.feed_engine(step)?;
        match self.take_early(step, false) {
            Some(o) => o.map(Some),
            None => self.gw.step(step),
        }
    }

    /// Run a step that must succeed; its stdout (`None` when only printed).
    pub fn must(&mut self, step: &Step) -> Result<Option<String>> {
        self.feed_engine(step)?;
        match self.take_early(step, true) {
            Some(o) => o.map(|o| Some(o.stdout)),
            None => self.gw.must(step),
        }
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
        self.served.get(reference)
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

    /// The manifest `digest` of `repository`'s repository, as served;
    /// absent is an error, `missing` its words (`is not in the registry`).
    pub fn served_manifest(
        &mut self,
        repository: &Reference,
        digest: &str,
        missing: &str,
    ) -> Result<crate::registry::client::Served> {
        let endpoint = crate::oci::distribution::Endpoint::of_host(repository.registry().host());
        let shown = format!("{}@{digest}", repository.repository());
        self.registry
            .manifest_text(
                &mut self.gw,
                &endpoint,
                &repository.api_name(),
                digest,
                &shown,
            )?
            .with_context(|| format!("{shown} {missing}"))
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

    /// HEAD and the tree status, the tracked files flagged skip-worktree
    /// or assume-unchanged (which git status does not look at) included.
    pub fn git_state(&mut self) -> Result<GitState> {
        // The index is listed while git status runs (not in a dry run,
        // which lists its steps in order); when git status fails it is
        // waited for here, so no later read takes this one's listing.
        self.prefetch(Step::GitTracked);
        let state = self.read_git_state();
        if state.is_err() {
            let _ = self.take_early(&Step::GitTracked, false);
        }
        state
    }

    fn read_git_state(&mut self) -> Result<GitState> {
        let o = self
            .step(&Step::GitState)?
            .context("git status always runs")?;
        let why = if o.ok {
            let own = crate::support::atomic::own_temp_files(&self.root());
            match git::parse_state(&o.stdout, &own) {
                Ok(state) => {
                    let listed = self.must(&Step::GitTracked)?.unwrap_or_default();
                    let index = crate::project::context::parse_index(&listed)
                        .map_err(anyhow::Error::msg)?;
                    let flagged: Vec<String> = index
                        .iter()
                        .filter(|e| e.flagged)
                        .map(crate::project::context::Entry::shown)
                        .collect();
                    let mut state = state.with_flagged(&flagged);
                    state.index = Some(listed);
                    return Ok(state);
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
    /// `platforms` is built for and checked against. When the candidate
    /// socket was asked for it early, its answer is taken, to be confirmed
    /// before the first step it could misguide (at once when docker has
    /// named its engine already: then nothing was planned with it yet).
    pub fn engine_platform(&mut self) -> Result<Platform> {
        if let Some(p) = &self.engine_platform {
            return Ok(p.clone());
        }
        let from_socket = self
            .engine_probe
            .as_ref()
            .and_then(crate::exec::gateway::PendingEngine::socket_platform)
            .filter(|o| o.ok)
            .and_then(|o| Platform::parse(o.stdout.trim()).ok());
        let Some(p) = from_socket else {
            let p = self.platform_asked()?;
            self.engine_platform = Some(p.clone());
            return Ok(p);
        };
        self.engine_platform = Some(p);
        self.unconfirmed = true;
        if self.docker_answered() {
            match self.confirm_engine() {
                // Docker's own platform, asked by then, is the one kept.
                Err(e) if e.is::<OtherEngine>() => {}
                r => r?,
            }
        }
        self.engine_platform()
    }

    /// `Step::EnginePlatform`'s answer, read.
    fn platform_asked(&mut self) -> Result<Platform> {
        let text = self
            .must(&Step::EnginePlatform)?
            .context("the platform probe always runs")?;
        Platform::parse(text.trim())
            .map_err(|e| anyhow::anyhow!("the engine names its platform {:?}: {e}", text.trim()))
    }

    /// Confirm the platform taken from the candidate socket before `step`
    /// (`None`: a check or a write) when it must be (a step that acts on
    /// an engine), or when that costs no wait (docker already named its
    /// engine: no pull is sent for a platform known to be another's).
    pub(super) fn confirm_before(&mut self, step: Option<&Step>) -> Result<()> {
        if step.is_none_or(|s| !s.before_engine_confirmed()) || self.docker_answered() {
            self.confirm_engine()
        } else {
            Ok(())
        }
    }

    /// Whether docker has named its engine (the early questions are done).
    fn docker_answered(&self) -> bool {
        self.engine_probe
            .as_ref()
            .is_some_and(crate::exec::gateway::PendingEngine::is_finished)
    }

    /// Confirm the platform taken from the candidate socket
    /// ([`Executor::engine_platform`]): its engine is docker's, or docker's
    /// engine, asked through the CLI, names the same platform. Else
    /// [`OtherEngine`]: what was planned with it must be planned again.
    pub fn confirm_engine(&mut self) -> Result<()> {
        if !std::mem::take(&mut self.unconfirmed) {
            return Ok(());
        }
        let Some(planned) = self.engine_platform.clone() else {
            anyhow::bail!("internal error: an engine platform to confirm that was never taken");
        };
        let Some(probe) = self.engine_probe.take() else {
            anyhow::bail!("internal error: an engine platform taken early with no question asked");
        };
        let socket = probe.socket.clone();
        self.gw.finish_engine(probe)?;
        if self.gw.engine_is_docker_s() {
            return Ok(());
        }
        let actual = self.platform_asked()?;
        self.engine_platform = Some(actual.clone());
        if actual == planned {
            return Ok(());
        }
        Err(OtherEngine {
            socket,
            planned,
            actual,
        }
        .into())
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

    /// What the registry of a base image serves under its name: the
    /// manifest's digest (as `repository@sha256:…`) and, for an index, the
    /// platforms it has an image of. One manifest read through the
    /// registry client; no layer, no config, nothing pulled.
    pub fn base_served(&mut self, image: &AnyRef) -> Result<BaseServed> {
        let (host, name) = image.api_location();
        let endpoint = crate::oci::distribution::Endpoint::of_host(&host);
        let shown = image.to_string();
        let at = image
            .digest
            .clone()
            .or_else(|| image.tag.clone())
            .unwrap_or_else(|| "latest".to_string());
        let (digest, manifest) = self
            .manifest(&endpoint, &name, &at, &shown)?
            .with_context(|| format!("its registry {host} does not serve {shown}"))?;
        let repo_digest = format!("{}@{digest}", image.familiar_repository());
        crate::model::reference::check_repo_digest(&repo_digest).map_err(anyhow::Error::msg)?;
        let platforms = match manifest {
            crate::oci::distribution::Manifest::Image { .. } => None,
            crate::oci::distribution::Manifest::Index(entries) => {
                Some(entries.into_iter().map(|(p, _)| p).collect())
            }
        };
        Ok(BaseServed {
            repo_digest,
            platforms,
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
            if let Some(cause) = out::run_refused(o.code, &o.stderr) {
                anyhow::bail!("{}", not_started("the python3 probe", id, o.code, &cause));
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
        reference: &AnyRef,
        id: &str,
        platform: Option<&Platform>,
        test: &crate::project::catalog::Test,
    ) -> Result<()> {
        let Some(out) = self
            .run_test(id, platform, test)
            .with_context(|| format!("flavour '{flavour}' on {reference}"))?
        else {
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
    /// only printed), a pass recorded. A test whose container could not
    /// start (docker refused it: a name in use, no such program; or no
    /// emulation, said with how to enable it) is an error, not a failed
    /// test.
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
            if let Some(cause) = out::run_refused(out.code, &out.stderr) {
                anyhow::bail!("{}", not_started("the test", id, out.code, &cause));
            }
        } else {
            crate::support::cache::store_test_pass(id, &test.key());
        }
        Ok(Some(out))
    }
}

/// `what` never started in image `id`: docker refused to start its
/// container, saying `cause`.
fn not_started(what: &str, id: &str, code: Option<i32>, cause: &str) -> String {
    format!(
        "{what} could not start in image {id}: `docker run` exited with code {}: {cause}",
        code.unwrap_or(-1)
    )
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
        assert!(writes >= 9, "{writes}");
    }

    /// A read-only step started early is taken by the first run of an
    /// equal step, once; a write, or any step of a dry run, is not started
    /// early (it runs where the plan has it).
    #[test]
    fn only_read_only_steps_start_early_and_each_is_taken_once() {
        let sh = Shell::new().unwrap();
        let mut exec = Executor::new(&sh, false, true);
        for step in crate::plan::step::one_of_each()
            .into_iter()
            .filter(Step::changes_state)
        {
            exec.prefetch(step);
        }
        assert!(exec.early.is_empty());
        exec.prefetch(Step::GitPrefix);
        exec.prefetch(Step::GitPrefix);
        assert_eq!(exec.early.len(), 1);
        let _ = exec.step(&Step::GitIsCommit { rev: "HEAD".into() });
        assert_eq!(exec.early.len(), 1, "another step took it");
        assert!(exec.step(&Step::GitPrefix).unwrap().is_some());
        assert!(exec.early.is_empty());
        let mut dry = Executor::new(&sh, true, true);
        dry.prefetch(Step::GitPrefix);
        assert!(dry.early.is_empty());
    }
}

/// The platform a command planned with, read from the engine on the
/// candidate socket, is not that of the engine docker talks to.
#[derive(Debug)]
pub struct OtherEngine {
    /// The socket whose engine named `planned`.
    pub socket: std::path::PathBuf,
    pub planned: Platform,
    pub actual: Platform,
}

impl std::fmt::Display for OtherEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "docker talks to another engine than the one on {}: it is {}, not {}",
            self.socket.display(),
            self.actual,
            self.planned
        )
    }
}

impl std::error::Error for OtherEngine {}

/// What a base image's registry serves under its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseServed {
    /// `repository@sha256:…` of the manifest (or index).
    pub repo_digest: String,
    /// An index's platforms; None for a single image.
    pub platforms: Option<Vec<crate::model::platform::Platform>>,
}

impl Drop for Executor<'_> {
    /// A step started early and never asked for (the command stopped
    /// first) is waited for: no child outlives the command.
    fn drop(&mut self) {
        for (_, p) in std::mem::take(&mut self.early) {
            let _ = self.gw.finish(p, false);
        }
        if let Some(p) = self.engine_probe.take() {
            let _ = self.gw.finish_engine(p);
        }
    }
}
