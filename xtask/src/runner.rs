//! Running external programs: echo the argv (shell-quoted) to stderr, run it
//! without a shell, and turn failures into one-line errors.

use std::io::{self, BufRead};
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use xshell::Cmd;

use crate::plan::shell_line;

/// What a finished command printed.
#[derive(Debug, Clone)]
pub struct Output {
    pub ok: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
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
            line.to_string()
        }
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
    eprintln!("+ {}", shell_line(argv));
}

fn spawn_error(program: &str, e: io::Error) -> anyhow::Error {
    if e.kind() == io::ErrorKind::NotFound {
        anyhow::anyhow!("'{program}' is not installed (not found on PATH); install it and retry")
    } else {
        anyhow::Error::new(e).context(format!("cannot start '{program}'"))
    }
}

/// Echo and run a command, capturing its output; a non-zero exit is not an
/// error here (the caller decides), a missing program is.
pub fn output(cmd: Cmd<'_>) -> Result<Output> {
    output_of(Command::from(cmd))
}

/// Echo and run a command, capturing stdout; fail with the command's own
/// last stderr line when it exits non-zero.
pub fn read(cmd: Cmd<'_>) -> Result<String> {
    let c = Command::from(cmd);
    let what = short_name(&argv_of(&c));
    let out = output_of(c)?;
    if !out.ok {
        anyhow::bail!("`{what}` failed: {}", out.stderr_line());
    }
    Ok(out.stdout)
}

fn output_of(mut c: Command) -> Result<Output> {
    let argv = argv_of(&c);
    echo(&argv);
    c.stdin(Stdio::null());
    let out = c.output().map_err(|e| spawn_error(&argv[0], e))?;
    Ok(Output {
        ok: out.status.success(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Echo and run a command whose output the user watches (a pull, a build, a
/// push): its stdout is passed to our stderr, so that stdout stays for
/// `--json`, and returned; its stderr is passed through and its last line
/// ends the error message when the command fails.
pub fn run_visible(cmd: Cmd<'_>) -> Result<String> {
    let mut c = Command::from(cmd);
    let argv = argv_of(&c);
    echo(&argv);
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c
        .spawn()
        .map_err(|e| spawn_error(&argv[0], e))
        .with_context(|| format!("running `{}`", short_name(&argv)))?;
    let stderr = child.stderr.take();
    let last_err = std::thread::spawn(move || {
        let mut last = String::new();
        if let Some(err) = stderr {
            for line in io::BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                eprintln!("{line}");
                if !line.trim().is_empty() {
                    last = line.trim().to_string();
                }
            }
        }
        last
    });
    let mut stdout = String::new();
    if let Some(out) = child.stdout.take() {
        for line in io::BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            eprintln!("{line}");
            stdout.push_str(&line);
            stdout.push('\n');
        }
    }
    let status = child.wait().context("waiting for a child process")?;
    let last = last_err.join().unwrap_or_default();
    if !status.success() {
        let how = status
            .code()
            .map_or("was killed by a signal".to_string(), |c| {
                format!("exited with code {c}")
            });
        let why = if last.is_empty() {
            String::new()
        } else {
            format!(": {last}")
        };
        anyhow::bail!("`{}` {how}{why}", short_name(&argv));
    }
    Ok(stdout)
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
