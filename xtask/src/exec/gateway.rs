//! The one gateway to the programs the tool runs: every external command
//! of every command is a [`Step`] that passes through [`Gateway::step`].
//! Under `--dry-run` each step is printed (read-only ones as `#
//! read-only:` comments) and only read-only steps run, so that decisions
//! can still be made; without it each is echoed to stderr and run, in the
//! environment the step derives, bounded as its wait class says.

use std::collections::BTreeMap;

use anyhow::Result;
use xshell::Shell;

use std::path::PathBuf;

use crate::exec::engine_api::Sending;
use crate::exec::runner::{self, Output};
use crate::plan::arg::{Arg, Slot};
use crate::plan::engine_call::ApiCall;
use crate::plan::step::{render_api_step, render_step, Step};
use crate::support::process::EnvChange;

pub struct Gateway<'a> {
    sh: &'a Shell,
    dry_run: bool,
    /// `--json`: dry-run lines go to stderr, stdout carries the document.
    json: bool,
    /// Values learnt by the steps so far.
    values: BTreeMap<Slot, String>,
    /// The engine's unix socket, when the docker CLI talks to the engine
    /// through it: the steps the engine answers itself are sent there.
    engine: Option<PathBuf>,
}

impl<'a> Gateway<'a> {
    pub fn new(sh: &'a Shell, dry_run: bool, json: bool) -> Gateway<'a> {
        Gateway {
            sh,
            dry_run,
            json,
            values: BTreeMap::new(),
            engine: crate::exec::engine_api::socket_from_env(),
        }
    }

    /// The engine API call a step is sent as, when the engine is reached
    /// through its socket.
    fn api_call(&self, step: &Step) -> Option<ApiCall> {
        self.engine.as_ref().and_then(|_| step.api_call())
    }

    /// The step as `--dry-run` prints it.
    pub fn rendered(&self, step: &Step) -> String {
        match self.api_call(step) {
            Some(call) => render_api_step(step, &call, &self.values),
            None => render_step(step, &self.values),
        }
    }

    /// The words that name the step in a message (`docker tag`, `engine
    /// API: POST /images/…/tag…`).
    fn name_of(&self, step: &Step) -> String {
        match self.api_call(step) {
            Some(call) => call.render(&self.values),
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
            self.print(&self.rendered(step));
            if !step.read_only() {
                return Ok(None);
            }
        }
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
        let (socket, call) = (self.engine.as_ref()?, step.api_call()?);
        let known = step
            .argv()
            .iter()
            .try_for_each(|a| self.resolve(a).map(drop));
        Some(known.map(|()| Sending {
            socket: socket.clone(),
            requests: call.requests(&self.values),
            shown: call.render(&self.values),
            call,
            wait: step.wait(),
            capture: step.capture(),
        }))
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
        if self.dry_run
            || !step.read_only()
            || step.runs_container()
            || step.stdout_file().is_some()
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

/// A read-only step running on its own thread ([`Gateway::start`]).
pub struct Pending {
    name: String,
    handle: std::thread::JoinHandle<Result<Output>>,
}
