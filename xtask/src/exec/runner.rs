//! Running one external program: echo the argv (shell-quoted) to stderr,
//! run it without a shell, feed its stdin, wait a bounded time, stop it on
//! SIGINT. Only the executor calls this module (a tidy test checks), so
//! every external command is a step of a plan.
//!
//! Waits: a lookup (inspect, tag, git, buildx probe) may take
//! `XTASK_LOOKUP_TIMEOUT_SECS` (default 120), a transfer (pull, push)
//! `XTASK_TRANSFER_TIMEOUT_SECS` (default 3600); a build is not bounded.
//! A command past its limit is stopped and reported.
//!
//! Output: read in chunks, never by lines, so memory stays bounded
//! whatever a child prints. A read keeps all of its output up to the cap
//! its step derives (`Step::capture`); past it the child is stopped and
//! the step fails. A step that changes something shows its output as it
//! comes and keeps only its tail.

use std::io::{self, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::support::error::Interrupted;
use crate::support::process::{limit_of, Capture, Wait};
use crate::support::shell::shell_line;

/// What a finished command printed.
#[derive(Debug, Clone)]
pub struct Output {
    pub ok: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// Its output was passed on to our stderr as it came.
    pub shown: bool,
    /// An engine API request's answer, put as the docker CLI prints it
    /// (`exec/engine_api.rs`): no program ran, so no exit code to name.
    pub answered: bool,
}

impl Output {
    /// The line of stderr that says why: the last non-empty one that does
    /// not merely point at the help (where docker and git say why).
    pub fn stderr_line(&self) -> String {
        let line = cause_line(&self.stderr).unwrap_or("");
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
        let how = match self.code {
            _ if self.answered => "failed".to_string(),
            Some(c) => format!("exited with code {c}"),
            None => "was killed by a signal".to_string(),
        };
        let last = cause_line(&self.stderr);
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

/// The last non-empty line of `stderr` that says why a program failed:
/// docker ends its messages with a pointer at its help (`Run 'docker run
/// --help' for more information`), which says nothing of the cause.
fn cause_line(stderr: &str) -> Option<&str> {
    stderr
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty() && !crate::exec::docker_output::points_at_help(l))
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
    crate::support::output::stderr_line(&format!("+ {}", shell_line(argv)));
}

fn spawn_error(program: &str, e: io::Error) -> anyhow::Error {
    if e.kind() == io::ErrorKind::NotFound {
        anyhow::anyhow!("'{program}' is not installed (not found on PATH); install it and retry")
    } else {
        anyhow::Error::new(e).context(format!("cannot start '{program}'"))
    }
}

/// How much is read from a pipe at a time.
const CHUNK: usize = 64 * 1024;

/// The longest partial line held back before it is passed on anyway.
const MAX_PENDING: usize = 64 * 1024;

/// What is kept of one stream of a child, and what of it is shown.
struct Kept {
    capture: Capture,
    bytes: Vec<u8>,
    /// Passed on (shown) up to its last newline; the rest waits for one
    /// (so lines of stdout and stderr do not mix), at most [`MAX_PENDING`].
    pending: Vec<u8>,
}

impl Kept {
    fn new(capture: Capture) -> Kept {
        Kept {
            capture,
            bytes: Vec::new(),
            pending: Vec::new(),
        }
    }

    /// Take a chunk: `Err(())` when a bounded stream would pass its cap
    /// (nothing of the chunk is kept); else what to show now, if any.
    fn take(&mut self, chunk: &[u8]) -> Result<Vec<u8>, ()> {
        match self.capture {
            Capture::Bounded(max) => {
                if self.bytes.len() + chunk.len() > max {
                    return Err(());
                }
                self.bytes.extend_from_slice(chunk);
                Ok(Vec::new())
            }
            Capture::Tail(max) => {
                self.bytes.extend_from_slice(chunk);
                if self.bytes.len() > 2 * max {
                    self.bytes.drain(..self.bytes.len() - max);
                }
                self.pending.extend_from_slice(chunk);
                let cut = match self.pending.iter().rposition(|&b| b == b'\n') {
                    Some(at) => at + 1,
                    None if self.pending.len() > MAX_PENDING => self.pending.len(),
                    None => 0,
                };
                Ok(self.pending.drain(..cut).collect())
            }
        }
    }

    /// At the end of the stream: what is left to show, and what was kept.
    fn finish(mut self) -> (Vec<u8>, String) {
        if let Capture::Tail(max) = self.capture {
            let excess = self.bytes.len().saturating_sub(max);
            self.bytes.drain(..excess);
        }
        let text = match String::from_utf8(self.bytes) {
            Ok(t) => t,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        (self.pending, text)
    }
}

/// Pass `bytes` on to our stderr (whole, not mixed with another thread's).
fn show(bytes: &[u8]) {
    if !bytes.is_empty() {
        crate::support::output::child_bytes(bytes);
    }
}

/// Which stream of a child printed past its cap (0: none).
type Overflow = std::sync::Arc<std::sync::atomic::AtomicU8>;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;

/// Read a pipe to its end on a thread, in chunks of [`CHUNK`] bytes, as
/// `capture` says: a bounded stream that passes its cap sets `overflow` to
/// `stream` and stops reading (the child is then stopped); a shown one is
/// passed on to our stderr as it comes. `closed` hears when it stops
/// reading: a child's pipes close as it exits, so that is when to look.
fn pump<R: Read + Send + 'static>(
    pipe: Option<R>,
    capture: Capture,
    stream: u8,
    overflow: Overflow,
    closed: mpsc::Sender<()>,
) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let _closed = Closed(closed);
        let mut kept = Kept::new(capture);
        if let Some(mut pipe) = pipe {
            let mut chunk = vec![0u8; CHUNK];
            loop {
                let n = match pipe.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                };
                match kept.take(&chunk[..n]) {
                    Ok(now) => show(&now),
                    Err(()) => {
                        overflow.store(stream, std::sync::atomic::Ordering::SeqCst);
                        break;
                    }
                }
            }
        }
        let (rest, text) = kept.finish();
        show(&rest);
        text
    })
}

/// Says "closed" when dropped: at the end of a pump, however it ends.
struct Closed(mpsc::Sender<()>);

impl Drop for Closed {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// How long to wait before looking at a child again: from 1 ms, doubling
/// up to 20 ms while its pipes are open (a quick git or docker read is not
/// held to a fixed tick, a long build is not polled hot); once both are
/// closed it is exiting, so from 0.1 ms again.
struct Nap {
    next: Duration,
    open: u8,
}

impl Nap {
    fn new() -> Nap {
        Nap {
            next: Duration::from_millis(1),
            open: 2,
        }
    }

    /// Wait for the next look: the nap's length, or less when a pipe closes.
    fn take(&mut self, closed: &mpsc::Receiver<()>) {
        let nap = self.next;
        self.next = (nap * 2).min(Duration::from_millis(20));
        if self.open == 0 {
            std::thread::sleep(nap);
        } else if closed.recv_timeout(nap).is_ok() {
            self.open -= 1;
            if self.open == 0 {
                self.next = Duration::from_micros(100);
            }
        }
    }
}

/// The one line for a child stopped for printing too much on `stream`.
fn overflow_error(argv: &[String], capture: Capture, stream: u8) -> anyhow::Error {
    let max = match capture {
        Capture::Bounded(max) | Capture::Tail(max) => max,
    };
    anyhow::anyhow!(
        "`{}` printed more than {} on its {}, the most this tool keeps of it, and was stopped",
        short_name(argv),
        size(max),
        if stream == STDOUT { "stdout" } else { "stderr" }
    )
}

/// `65 MiB`, `512 KiB`, `100 bytes`.
fn size(bytes: usize) -> String {
    if bytes >= 1024 * 1024 && bytes.is_multiple_of(1024 * 1024) {
        format!("{} MiB", bytes / (1024 * 1024))
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

/// Start `c`, give it `stdin` (else nothing), wait for it within `wait`'s
/// limit, stop it on SIGINT; keep its output as `capture` says (a shown
/// one is passed on to our stderr as it comes: stdout stays free for
/// `--json`).
pub fn run(c: Command, wait: Wait, stdin: Option<String>, capture: Capture) -> Result<Output> {
    supervise(c, wait, stdin, capture, None, true)
}

/// As [`run`], with the command's stdout written to `stdout` (binary,
/// as large as it gets) instead of kept; its `Output::stdout` is empty.
pub fn run_into(
    c: Command,
    wait: Wait,
    stdin: Option<String>,
    capture: Capture,
    stdout: std::fs::File,
) -> Result<Output> {
    supervise(c, wait, stdin, capture, Some(stdout), true)
}

/// Run a clean-up command (removing a container) even after SIGINT or
/// SIGTERM: it must not be stopped by the very signal it cleans up after.
pub fn run_cleanup(c: Command) -> Result<Output> {
    supervise(
        c,
        Wait::Lookup,
        None,
        Capture::Bounded(1024 * 1024),
        None,
        false,
    )
}

fn supervise(
    mut c: Command,
    wait: Wait,
    stdin: Option<String>,
    capture: Capture,
    stdout_to: Option<std::fs::File>,
    honour_interrupt: bool,
) -> Result<Output> {
    let visible = matches!(capture, Capture::Tail(_));
    let interrupted = || honour_interrupt && crate::support::signals::happened();
    let argv = argv_of(&c);
    // Refused after a signal before it is echoed: the echo says what runs.
    if interrupted() {
        return Err(Interrupted.into());
    }
    echo(&argv);
    c.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(stdout_to.map_or_else(Stdio::piped, Stdio::from))
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
    let overflow = Overflow::default();
    let (closed_tx, closed) = mpsc::channel();
    let out = pump(
        child.stdout.take(),
        capture,
        STDOUT,
        overflow.clone(),
        closed_tx.clone(),
    );
    let err = pump(
        child.stderr.take(),
        capture,
        STDERR,
        overflow.clone(),
        closed_tx,
    );
    // The child is reaped only here, by try_wait or after kill, so it is
    // never signalled once its PID could belong to another process
    // (std's Child::kill does nothing to a child already reaped).
    let start = Instant::now();
    let deadline = limit_of(wait);
    let overflowed = || overflow.load(std::sync::atomic::Ordering::SeqCst);
    let mut nap = Nap::new();
    let status = loop {
        // Before its exit status: a child whose pipe we stopped reading
        // may end on its own (SIGPIPE), with only part of its output read.
        if overflowed() != 0 {
            let _ = child.kill();
            let _ = child.wait();
            return Err(overflow_error(&argv, capture, overflowed()));
        }
        if let Some(status) = child.try_wait().context("waiting for a child process")? {
            break status;
        }
        if interrupted() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Interrupted.into());
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
        nap.take(&closed);
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    if interrupted() {
        return Err(Interrupted.into());
    }
    if overflowed() != 0 {
        return Err(overflow_error(&argv, capture, overflowed()));
    }
    Ok(Output {
        ok: status.success(),
        code: status.code(),
        stdout,
        stderr,
        shown: visible,
        answered: false,
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
    fn a_child_is_looked_at_again_at_once_when_its_pipes_close() {
        let (tx, rx) = mpsc::channel();
        let mut nap = Nap::new();
        // Open pipes, nothing heard: the naps double, up to 20 ms.
        for want in [2, 4, 8, 16, 20, 20] {
            nap.take(&rx);
            assert_eq!(nap.next, Duration::from_millis(want));
        }
        tx.send(()).unwrap();
        nap.take(&rx);
        assert_eq!((nap.open, nap.next), (1, Duration::from_millis(20)));
        tx.send(()).unwrap();
        nap.take(&rx);
        assert_eq!((nap.open, nap.next), (0, Duration::from_micros(100)));
        nap.take(&rx);
        assert_eq!(nap.next, Duration::from_micros(200));
    }

    #[test]
    fn the_line_that_says_why_is_not_a_pointer_at_the_help() {
        let o = Output {
            ok: false,
            code: Some(125),
            stdout: String::new(),
            stderr: "docker: Error response from daemon: Conflict. The container name \"/x\" is already in use.\n\nRun 'docker run --help' for more information\n".into(),
            shown: false,
            answered: false,
        };
        let cause = "docker: Error response from daemon: Conflict. The container name \"/x\" is already in use.";
        assert_eq!(o.stderr_line(), cause);
        assert_eq!(
            o.failure("docker run"),
            format!("`docker run` exited with code 125: {cause}")
        );
        let only_help = Output {
            stderr: "See 'docker run --help'.\n".into(),
            ..o
        };
        assert_eq!(only_help.stderr_line(), "exit code 125, no message");
        // An engine API request ran no program: it failed, with no exit code.
        let answered = Output {
            stderr: "Error response from daemon: No such image: x\n".into(),
            answered: true,
            ..only_help
        };
        assert_eq!(
            answered.failure("engine API: GET /images/x/json"),
            "`engine API: GET /images/x/json` failed: Error response from daemon: No such image: x"
        );
    }

    #[test]
    fn engine_hint() {
        let line = "Cannot connect to the Docker daemon at unix:///nope.sock. Is the docker daemon running?";
        assert!(with_hint(line).contains("DOCKER_HOST"));
        assert_eq!(with_hint("manifest unknown"), "manifest unknown");
    }

    #[test]
    fn a_bounded_stream_keeps_everything_up_to_its_cap() {
        let mut k = Kept::new(Capture::Bounded(10));
        assert_eq!(k.take(b"0123"), Ok(Vec::new()));
        assert_eq!(k.take(b"456789"), Ok(Vec::new()));
        // One byte more is past the cap, with or without a newline.
        assert_eq!(k.take(b"x"), Err(()));
        assert_eq!(k.finish(), (Vec::new(), "0123456789".to_string()));
    }

    #[test]
    fn a_shown_stream_is_passed_on_by_lines_and_keeps_a_tail() {
        let mut k = Kept::new(Capture::Tail(4));
        assert_eq!(k.take(b"ab\ncd"), Ok(b"ab\n".to_vec()));
        assert_eq!(k.take(b"ef\ngh\nij"), Ok(b"cdef\ngh\n".to_vec()));
        // A line that never ends is passed on once it is long.
        let long = vec![b'z'; MAX_PENDING];
        let shown = k.take(&long).unwrap();
        assert_eq!(shown.len(), MAX_PENDING + 2);
        assert!(k.bytes.len() <= 8, "{}", k.bytes.len());
        assert_eq!(k.take(b"end"), Ok(Vec::new()));
        assert_eq!(k.finish(), (b"end".to_vec(), "zend".to_string()));
        assert_eq!(size(65 * 1024 * 1024), "65 MiB");
        assert_eq!(size(512 * 1024), "512 KiB");
        assert_eq!(size(1536), "1536 bytes");
    }

    #[test]
    fn an_endless_output_without_newlines_stops_the_child() {
        let mut c = Command::new("cat");
        c.arg("/dev/zero");
        let err = run(c, Wait::Lookup, None, Capture::Bounded(1024 * 1024)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`cat /dev/zero` printed more than 1 MiB on its stdout, the most this tool keeps of it, and was stopped"
        );
        // What fits is kept whole.
        let mut c = Command::new("head");
        c.args(["--bytes=100000", "/dev/zero"]);
        let o = run(c, Wait::Lookup, None, Capture::Bounded(100_000)).unwrap();
        assert!(o.ok);
        assert_eq!(o.stdout.len(), 100_000);
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
