//! The one gateway to the programs the tool runs: every external command
//! of every command is a [`Step`] that passes through [`Gateway::step`].
//! Under `--dry-run` each step is printed (read-only ones as `#
//! read-only:` comments) and only read-only steps run, so that decisions
//! can still be made; without it each is echoed to stderr and run, in the
//! environment the step derives, bounded as its wait class says.

use std::collections::BTreeMap;

use anyhow::Result;
use xshell::Shell;

use crate::exec::engine_api::{self, Route, Sending};
use crate::exec::runner::{self, Output};
use crate::plan::arg::{Arg, Slot};
use crate::plan::engine_call::{ApiCall, Request};
use crate::plan::step::{render_api_step, render_step, Step};
use crate::support::process::EnvChange;

pub struct Gateway<'a> {
    sh: &'a Shell,
    dry_run: bool,
    /// `--json`: dry-run lines go to stderr, stdout carries the document.
    json: bool,
    /// Values learnt by the steps so far.
    values: BTreeMap<Slot, String>,
    /// How the steps the engine answers itself reach it.
    engine: EngineRoute,
}

/// How the steps the engine answers itself (`Step::api_call`) reach it.
enum EngineRoute {
    /// Not asked yet: the docker CLI is asked at the first such step.
    Unknown,
    /// Through the docker CLI, as every other step.
    Cli,
    /// To the socket of the engine the docker CLI talks to.
    Api(Route),
}

impl<'a> Gateway<'a> {
    pub fn new(sh: &'a Shell, dry_run: bool, json: bool) -> Gateway<'a> {
        Gateway {
            sh,
            dry_run,
            json,
            values: BTreeMap::new(),
            engine: EngineRoute::Unknown,
        }
    }

    /// Whether it is known how the engine is reached.
    pub fn engine_known(&self) -> bool {
        !matches!(self.engine, EngineRoute::Unknown)
    }

    /// Decide how the engine is reached from the ID docker printed for
    /// its engine (`Step::EngineId`; a failure: through the CLI): the
    /// candidate socket, when its engine answers its ping and has that ID.
    fn decide_engine(&mut self, id: Option<Output>) -> Result<()> {
        let listed = |r: &Request| {
            let line = shown(r);
            if self.dry_run {
                self.print(&format!("# read-only: {line}"));
            }
            line
        };
        let cli_id = id.as_ref().and_then(id_in);
        let route = match (engine_api::candidate_from_env(), cli_id) {
            (Some(socket), Some(id)) => engine_api::route(&socket, &id, &listed)?,
            _ => None,
        };
        self.engine = route.map_or(EngineRoute::Cli, EngineRoute::Api);
        Ok(())
    }

    /// `docker info` for its engine's ID and, beside it, the candidate
    /// socket's ping, ID and (when `platform`) version, on threads of
    /// their own: what a build asks before its first build step, beside
    /// its git reads. The socket's answers count only if its engine has
    /// docker's ID; its version is handed over as soon as it came
    /// ([`PendingEngine::socket_platform`]), to be confirmed later. Not in
    /// a dry run, which lists its steps in order.
    pub fn start_engine(&self, platform: bool) -> Option<PendingEngine> {
        let candidate = engine_api::candidate_from_env()?;
        if self.dry_run || self.engine_known() {
            return None;
        }
        let step = Step::EngineId;
        let argv: Vec<String> = step
            .argv()
            .iter()
            .map(|a| a.resolve(&self.values))
            .collect();
        let (id, id_wait, id_capture) = (self.command(&step, &argv), step.wait(), step.capture());
        let version = Step::EnginePlatform;
        let (version_wait, version_capture) = (version.wait(), version.capture());
        let (early, answer) = std::sync::mpsc::channel();
        let socket = candidate.clone();
        let handle = std::thread::spawn(move || {
            let id = std::thread::spawn(move || runner::run(id, id_wait, None, id_capture));
            // The socket's answers, asked while `docker info` runs; `docker
            // info` is waited for whatever they were.
            let asked = (|| -> Result<_> {
                let Some(reached) = engine_api::reach(&candidate, &shown)? else {
                    return Ok(None);
                };
                if platform {
                    let version = Sending::new(
                        &reached.0,
                        ApiCall::Version,
                        &BTreeMap::new(),
                        version_wait,
                        version_capture,
                    )
                    .perform()?;
                    // Nobody waiting for it is no error.
                    let _ = early.send(version);
                }
                Ok(Some(reached))
            })();
            drop(early);
            let id = id.join().map_err(|_| {
                anyhow::anyhow!("internal error: the thread asking for the engine's ID panicked")
            })??;
            let cli_id = id_in(&id);
            Ok(asked?.and_then(|reached| engine_api::docker_s(reached, cli_id.as_deref())))
        });
        Some(PendingEngine {
            socket,
            handle,
            answer,
        })
    }

    /// How the engine is reached, from [`Gateway::start_engine`].
    pub fn finish_engine(&mut self, p: PendingEngine) -> Result<()> {
        let route = p.handle.join().map_err(|_| {
            anyhow::anyhow!("internal error: the thread asking for the engine panicked")
        })??;
        self.engine = route.map_or(EngineRoute::Cli, EngineRoute::Api);
        Ok(())
    }

    /// Whether the engine's own socket answers the steps it may answer
    /// (its engine is docker's).
    pub fn engine_is_docker_s(&self) -> bool {
        matches!(self.engine, EngineRoute::Api(_))
    }

    /// Ask the docker CLI for its engine's ID, before the first step the
    /// engine may answer itself (not when there is no socket to compare).
    fn ensure_engine(&mut self, step: &Step) -> Result<()> {
        if !self.engine_known() && step.api_call().is_some() {
            let id = match engine_api::candidate_from_env() {
                Some(_) => self.step(&Step::EngineId)?,
                None => None,
            };
            self.decide_engine(id)?;
        }
        Ok(())
    }

    /// The engine API call a step is sent as, and where, when the engine
    /// is reached through its socket.
    fn api_call(&self, step: &Step) -> Option<(ApiCall, &Route)> {
        match &self.engine {
            EngineRoute::Api(route) => step.api_call().map(|c| (c, route)),
            EngineRoute::Unknown | EngineRoute::Cli => None,
        }
    }

    /// The step as `--dry-run` prints it.
    pub fn rendered(&mut self, step: &Step) -> Result<String> {
        self.ensure_engine(step)?;
        Ok(match self.api_call(step) {
            Some((call, route)) => render_api_step(step, &call, &self.values, &route.version),
            None => render_step(step, &self.values),
        })
    }

    /// The words that name the step in a message (`docker tag`, `engine
    /// API: POST /v1.41/images/…/tag…`).
    fn name_of(&self, step: &Step) -> String {
        match self.api_call(step) {
            Some((call, route)) => call.render(&self.values, &route.version),
            None => {
                let argv: Vec<String> = step
                    .argv()
                    .iter()
                    .map(|a| a.resolve(&self.values))
                    .collect();
                runner::short_name(&argv)
            }
        }
    }

    /// The value a step learnt, when it is known.
    pub fn value(&self, slot: &Slot) -> Option<&String> {
        self.values.get(slot)
    }

    /// Every value learnt so far (to resolve or show an argument).
    pub fn values(&self) -> &BTreeMap<Slot, String> {
        &self.values
    }

    /// Record what a step learnt.
    pub fn learn(&mut self, slot: Slot, value: String) {
        self.values.insert(slot, value);
    }

    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    /// The workspace the commands run in.
    pub fn root(&self) -> std::path::PathBuf {
        self.sh.current_dir()
    }

    /// A line of the dry-run listing.
    pub fn print(&self, line: &str) {
        if self.json {
            crate::support::output::stderr_line(line);
        } else {
            crate::support::output::stdout_line(line);
        }
    }

    /// Print the step under `--dry-run`; run it unless it changes state and
    /// this is a dry run (then `None`).
    pub fn step(&mut self, step: &Step) -> Result<Option<Output>> {
        self.step_with_secret(step, None)
    }

    /// [`Gateway::step`], with `secret` (credentials as curl reads its
    /// configuration) on the command's stdin: never in its argv, its echo,
    /// the dry-run listing or an error.
    pub(crate) fn step_with_secret(
        &mut self,
        step: &Step,
        secret: Option<String>,
    ) -> Result<Option<Output>> {
        if self.dry_run {
            let line = self.rendered(step)?;
            self.print(&line);
            if !step.read_only() {
                return Ok(None);
            }
        }
        self.ensure_engine(step)?;
        if let Some(sending) = self.to_engine(step) {
            return sending?.perform().map(Some);
        }
        // A step that runs a container names it, to remove it if stopped:
        // a name no other run uses, on this engine or one it shares.
        if step.runs_container() {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let name = format!(
                "xtask-{}-{}",
                crate::support::process::run_id(),
                N.fetch_add(1, Ordering::Relaxed)
            );
            self.values.insert(Slot::Container, name);
        }
        let argv: Vec<String> = step
            .argv()
            .iter()
            .map(|a| self.resolve(a))
            .collect::<Result<_>>()?;
        let stdin = match secret {
            Some(secret) => Some(secret),
            None => step
                .stdin()
                .map(|a| self.resolve(&a).map(|t| t + "\n"))
                .transpose()?,
        };
        let command = self.command(step, &argv);
        let result = match step.stdout_file() {
            // Created here, never an existing file or link of that name.
            Some(file) => std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(file)
                .map_err(|e| anyhow::anyhow!("cannot create {file}: {e}"))
                .and_then(|out| runner::run_into(command, step.wait(), stdin, step.capture(), out)),
            None => runner::run(command, step.wait(), stdin, step.capture()),
        };
        if let (Err(_), Some(name)) = (&result, self.values.get(&Slot::Container)) {
            // Stopped (signal or timeout): the docker client is gone, its
            // container may not be.
            let rm = Step::RemoveContainer { name: name.clone() };
            let argv: Vec<String> = rm.argv().iter().map(|a| a.resolve(&self.values)).collect();
            let _ = runner::run_cleanup(self.command(&rm, &argv));
        }
        // A name serves one run: a later listing shows the placeholder.
        self.values.remove(&Slot::Container);
        result.map(Some)
    }

    /// A step the engine answers itself, ready to send to its socket
    /// (`None`: it runs the docker CLI); an error when a value it names is
    /// not known yet.
    fn to_engine(&self, step: &Step) -> Option<Result<Sending>> {
        let (call, route) = self.api_call(step)?;
        let known = step
            .argv()
            .iter()
            .try_for_each(|a| self.resolve(a).map(drop));
        Some(known.map(|()| Sending::new(route, call, &self.values, step.wait(), step.capture())))
    }

    /// The command of `step` (its argv resolved), in the environment the
    /// step derives.
    fn command(&self, step: &Step, argv: &[String]) -> std::process::Command {
        let mut cmd = std::process::Command::from(self.sh.cmd(&argv[0]).args(&argv[1..]));
        for change in step.env(crate::oci::proxy::ProxyEnv::current()) {
            match change {
                EnvChange::Remove(name) => cmd.env_remove(name),
                EnvChange::Set(name, value) => cmd.env(name, value),
            };
        }
        cmd
    }

    pub fn resolve(&self, a: &Arg) -> Result<String> {
        if let Arg::Slot { slot, .. } = a {
            anyhow::ensure!(
                self.values.contains_key(slot),
                "internal error: {} is used before it is known",
                slot.placeholder()
            );
        }
        Ok(a.resolve(&self.values))
    }

    /// Start `step` now, on a thread of its own, to be taken with
    /// [`Gateway::finish`]: a read-only step whose argv and stdin are known,
    /// with no container and no output file, in a run that is not a dry
    /// run (a dry run lists its steps in order, so it runs them in order).
    /// `None`: it cannot be started early; run it as usual.
    pub fn start(&self, step: Step) -> Option<Pending> {
        // One the engine may answer waits until it is known how the
        // engine is reached.
        if self.dry_run
            || !step.read_only()
            || step.runs_container()
            || step.stdout_file().is_some()
            || (!self.engine_known() && step.api_call().is_some())
        {
            return None;
        }
        if let Some(sending) = self.to_engine(&step) {
            let sending = sending.ok()?;
            return Some(Pending {
                name: self.name_of(&step),
                handle: std::thread::spawn(move || sending.perform()),
            });
        }
        let argv: Vec<String> = step
            .argv()
            .iter()
            .map(|a| self.resolve(a))
            .collect::<Result<_>>()
            .ok()?;
        let stdin = match step.stdin() {
            Some(a) => Some(self.resolve(&a).ok()? + "\n"),
            None => None,
        };
        let command = self.command(&step, &argv);
        let (wait, capture) = (step.wait(), step.capture());
        let handle = std::thread::spawn(move || runner::run(command, wait, stdin, capture));
        Some(Pending {
            name: runner::short_name(&argv),
            handle,
        })
    }

    /// What a started step printed; as [`Gateway::must`] when `must`.
    pub fn finish(&mut self, p: Pending, must: bool) -> Result<Output> {
        let o = p.handle.join().map_err(|_| {
            anyhow::anyhow!("internal error: the thread of `{}` panicked", p.name)
        })??;
        if must && !o.ok {
            anyhow::bail!("{}", o.failure(&p.name));
        }
        Ok(o)
    }

    /// Run a step that must succeed; its stdout (`None` when only printed).
    pub fn must(&mut self, step: &Step) -> Result<Option<String>> {
        let name = self.name_of(step);
        match self.step(step)? {
            None => Ok(None),
            Some(o) if o.ok => Ok(Some(o.stdout)),
            Some(o) => anyhow::bail!("{}", o.failure(&name)),
        }
    }
}

/// The engine ID `docker info` printed, when it succeeded.
fn id_in(o: &Output) -> Option<String> {
    o.ok.then(|| engine_api::engine_id_of(&o.stdout)).flatten()
}

/// How an engine request outside a step (the ping, the ID) is echoed and
/// listed.
fn shown(r: &Request) -> String {
    format!("engine API: {r}")
}

/// The questions about the engine running on their own thread
/// ([`Gateway::start_engine`]).
pub struct PendingEngine {
    /// The candidate socket asked.
    pub socket: std::path::PathBuf,
    handle: std::thread::JoinHandle<Result<Option<Route>>>,
    /// The candidate socket's answer to `Step::EnginePlatform`, sent as
    /// soon as it came (before it is known whether its engine is docker's).
    answer: std::sync::mpsc::Receiver<Output>,
}

impl PendingEngine {
    /// Whether every question has its answer.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// The candidate socket's answer to `Step::EnginePlatform`, once it
    /// came (`None`: not asked, or no engine answered on the socket). Its
    /// engine may not be docker's: [`Gateway::finish_engine`] says.
    pub fn socket_platform(&self) -> Option<Output> {
        self.answer.recv().ok()
    }
}

/// A read-only step running on its own thread ([`Gateway::start`]).
pub struct Pending {
    name: String,
    handle: std::thread::JoinHandle<Result<Output>>,
}
