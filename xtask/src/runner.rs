//! Running one external program: echo the argv (shell-quoted) to stderr,
//! run it without a shell, feed its stdin, wait a bounded time, stop it on
//! SIGINT. Only the executor calls this module (a tidy test checks), so
//! every external command is a step of a plan.
//!
//! Waits: a lookup (inspect, tag, git, buildx probe) may take
//! `XTASK_LOOKUP_TIMEOUT_SECS` (default 120), a transfer (pull, push)
//! `XTASK_TRANSFER_TIMEOUT_SECS` (default 3600); a build is not bounded.
//! A command past its limit is stopped and reported.

use std::io::{self, BufRead, Read};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::error::{invalid, Interrupted};
use crate::plan::{shell_line, Wait};

pub const LOOKUP_ENV: &str = "XTASK_LOOKUP_TIMEOUT_SECS";
pub const TRANSFER_ENV: &str = "XTASK_TRANSFER_TIMEOUT_SECS";
const LOOKUP_DEFAULT: u64 = 120;
const TRANSFER_DEFAULT: u64 = 3600;

static LIMITS: OnceLock<(Duration, Duration)> = OnceLock::new();

/// Parse a timeout setting: whole seconds from 1 to a week.
pub fn parse_secs(name: &str, value: Option<&str>, default: u64) -> Result<Duration> {
    let Some(v) = value else {
        return Ok(Duration::from_secs(default));
    };
    match v.parse::<u64>() {
        Ok(n) if (1..=604_800).contains(&n) && v.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(Duration::from_secs(n))
        }
        _ => Err(invalid(format!(
            "{name}='{v}' is not a whole number of seconds from 1 to 604800"
        ))),
    }
}

/// Read the timeout settings from the environment (before anything runs).
pub fn configure() -> Result<()> {
    let var = |n: &str| match std::env::var(n) {
        Ok(v) => Ok(Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(invalid(format!("{n} is not valid UTF-8"))),
    };
    let lookup = parse_secs(LOOKUP_ENV, var(LOOKUP_ENV)?.as_deref(), LOOKUP_DEFAULT)?;
    let transfer = parse_secs(
        TRANSFER_ENV,
        var(TRANSFER_ENV)?.as_deref(),
        TRANSFER_DEFAULT,
    )?;
    let _ = LIMITS.set((lookup, transfer));
    Ok(())
}

/// The limit of a wait class and the setting that raises it.
pub fn limit_of(wait: Wait) -> Option<(Duration, &'static str)> {
    let (lookup, transfer) = *LIMITS.get_or_init(|| {
        (
            Duration::from_secs(LOOKUP_DEFAULT),
            Duration::from_secs(TRANSFER_DEFAULT),
        )
    });
    match wait {
        Wait::Lookup => Some((lookup, LOOKUP_ENV)),
        Wait::Transfer => Some((transfer, TRANSFER_ENV)),
        Wait::Unbounded => None,
    }
}

/// SIGINT: remember it, so the running child is stopped and nothing else
/// starts. Uses the C library's `signal` that std already links.
pub mod interrupt {
    use std::sync::atomic::{AtomicI32, Ordering};

    /// The signal that asked us to stop (SIGINT or SIGTERM), 0 for none.
    static SIGNAL: AtomicI32 = AtomicI32::new(0);
    pub const SIGINT: i32 = 2;
    pub const SIGTERM: i32 = 15;

    extern "C" fn on_signal(signum: i32) {
        SIGNAL.store(signum, Ordering::SeqCst);
    }

    // std has no way to install a signal handler; stopping children uses
    // std's Child::kill (supervise).
    extern "C" {
        fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
    }

    /// SIGINT and SIGTERM both stop the running child and everything after it.
    pub fn install() {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe; `signal` is the C library's.
        unsafe {
            signal(SIGINT, on_signal);
            signal(SIGTERM, on_signal);
        }
    }

    pub fn happened() -> bool {
        SIGNAL.load(Ordering::SeqCst) != 0
    }

    /// The signal received (0 when none).
    pub fn which() -> i32 {
        SIGNAL.load(Ordering::SeqCst)
    }
}

/// What a finished command printed.
#[derive(Debug, Clone)]
pub struct Output {
    pub ok: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// Its output was passed on to our stderr as it came.
    pub shown: bool,
}

impl Output {
    /// The last non-empty line of stderr: where docker and git say why.
    pub fn stderr_line(&self) -> String {
        let line = self
            .stderr
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("");
        if line.is_empty() {
            match self.code {
                Some(c) => format!("exit code {c}, no message"),
                None => "killed by a signal".to_string(),
            }
        } else {
            with_hint(line)
        }
    }
}

impl Output {
    /// `` `docker push` exited with code 1: <its last stderr line> ``.
    pub fn failure(&self, what: &str) -> String {
        let how = self.code.map_or("was killed by a signal".to_string(), |c| {
            format!("exited with code {c}")
        });
        let last = self
            .stderr
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| !l.is_empty());
        if self.shown {
            // Its message is already on the terminal: not twice, unless
            // there is something to add to it (what to do).
            return match last.map(|l| (l, with_hint(l))) {
                Some((l, hinted)) if hinted != l => format!("`{what}` {how}: {hinted}"),
                _ => format!("`{what}` {how} (its output is above)"),
            };
        }
        let why = last.map_or(String::new(), |l| format!(": {}", with_hint(l)));
        format!("`{what}` {how}{why}")
    }
}

/// A docker message, with what to do when it says the engine is not there.
fn with_hint(line: &str) -> String {
    if line.contains("Cannot connect to the Docker daemon")
        || line.contains("docker daemon is not running")
    {
        format!("{line} (start Docker Engine, or point DOCKER_HOST at a running one)")
    } else {
        line.to_string()
    }
}

/// The argv of a command, for echoing.
fn argv_of(c: &Command) -> Vec<String> {
    std::iter::once(c.get_program())
        .chain(c.get_args())
        .map(|s| s.to_string_lossy().into_owned())
        .collect()
}

pub fn echo(argv: &[String]) {
    crate::output::stderr_line(&format!("+ {}", shell_line(argv)));
}

fn spawn_error(program: &str, e: io::Error) -> anyhow::Error {
    if e.kind() == io::ErrorKind::NotFound {
        anyhow::anyhow!("'{program}' is not installed (not found on PATH); install it and retry")
    } else {
        anyhow::Error::new(e).context(format!("cannot start '{program}'"))
    }
}

/// The most output of one stream kept from a child: more (an endless
/// answer of a registry) stops it.
const MAX_CAPTURE: usize = 256 * 1024 * 1024;

/// Read a pipe to its end on a thread; with `visible`, pass each line on to
/// our stderr as it comes. Past [`MAX_CAPTURE`] it sets `overflow` and
/// stops reading.
fn pump<R: Read + Send + 'static>(
    pipe: Option<R>,
    visible: bool,
    overflow: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut all = String::new();
        let Some(pipe) = pipe else { return all };
        let mut reader = io::BufReader::new(pipe);
        let mut buf = Vec::new();
        while let Ok(n) = reader.read_until(b'\n', &mut buf) {
            if n == 0 {
                break;
            }
            let line = String::from_utf8_lossy(&buf);
            if visible {
                crate::output::child_text(&line);
            }
            all.push_str(&line);
            buf.clear();
            if all.len() > MAX_CAPTURE {
                overflow.store(true, std::sync::atomic::Ordering::SeqCst);
                break;
            }
        }
        all
    })
}

/// Start `c`, give it `stdin` (else nothing), wait for it within `wait`'s
/// limit, stop it on SIGINT. With `visible`, its output is passed on to our
/// stderr as it comes (stdout stays free for `--json`).
pub fn run(c: Command, wait: Wait, stdin: Option<String>, visible: bool) -> Result<Output> {
    supervise(c, wait, stdin, visible, true)
}

/// Run a clean-up command (removing a container) even after SIGINT or
/// SIGTERM: it must not be stopped by the very signal it cleans up after.
pub fn run_cleanup(c: Command) -> Result<Output> {
    supervise(c, Wait::Lookup, None, false, false)
}

fn supervise(
    mut c: Command,
    wait: Wait,
    stdin: Option<String>,
    visible: bool,
    honour_interrupt: bool,
) -> Result<Output> {
    let interrupted = || honour_interrupt && interrupt::happened();
    let argv = argv_of(&c);
    echo(&argv);
    if interrupted() {
        return Err(Interrupted.into());
    }
    c.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child: Child = c.spawn().map_err(|e| spawn_error(&argv[0], e))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // On a thread, so a child that does not read cannot block us; a
        // closed pipe shows in the child's own exit status.
        std::thread::spawn(move || {
            use std::io::Write;
            let _ = pipe.write_all(text.as_bytes());
        });
    }
    let overflow = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let out = pump(child.stdout.take(), visible, overflow.clone());
    let err = pump(child.stderr.take(), visible, overflow.clone());
    // The child is reaped only here, by try_wait or after kill, so it is
    // never signalled once its PID could belong to another process
    // (std's Child::kill does nothing to a child already reaped).
    let start = Instant::now();
    let deadline = limit_of(wait);
    let status = loop {
        if let Some(status) = child.try_wait().context("waiting for a child process")? {
            break status;
        }
        if interrupted() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Interrupted.into());
        }
        if overflow.load(std::sync::atomic::Ordering::SeqCst) {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!(
                "`{}` printed more than {} MiB and was stopped",
                short_name(&argv),
                MAX_CAPTURE / (1024 * 1024)
            );
        }
        if let Some((max, env)) = deadline {
            if start.elapsed() >= max {
                let _ = child.kill();
                let _ = child.wait();
                anyhow::bail!(
                    "`{}` did not finish within {} s and was stopped; raise {env} if it needs longer",
                    short_name(&argv),
                    max.as_secs()
                );
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    if interrupted() {
        return Err(Interrupted.into());
    }
    Ok(Output {
        ok: status.success(),
        code: status.code(),
        stdout,
        stderr,
        shown: visible,
    })
}

/// `docker build`, `git status`: program and subcommand words, for messages.
pub fn short_name(argv: &[String]) -> String {
    argv.iter()
        .take_while(|a| !a.starts_with('-'))
        .take(3)
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_settings() {
        assert_eq!(parse_secs("X", None, 7).unwrap(), Duration::from_secs(7));
        assert_eq!(
            parse_secs("X", Some("30"), 7).unwrap(),
            Duration::from_secs(30)
        );
        for bad in ["", "0", "-1", "1.5", "abc", "604801", "+5"] {
            let err = parse_secs("X", Some(bad), 7).unwrap_err();
            assert_eq!(crate::error::exit_code(&err), 2, "{bad:?}");
        }
    }

    #[test]
    fn engine_hint() {
        let line = "Cannot connect to the Docker daemon at unix:///nope.sock. Is the docker daemon running?";
        assert!(with_hint(line).contains("DOCKER_HOST"));
        assert_eq!(with_hint("manifest unknown"), "manifest unknown");
    }

    #[test]
    fn names_for_messages() {
        let argv: Vec<String> = ["docker", "push", "--", "r:t"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(short_name(&argv), "docker push");
    }
}
