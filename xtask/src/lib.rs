//! `cargo xtask`: the project's release tooling for container images.
//!
//! Exit codes: 0 done; 2 invalid input or usage (nothing was run); 1 an
//! external command or a check failed; 130 interrupted. The binary is
//! `main.rs`, which calls [`main_entry`]; the modules are public so that
//! property tests and fuzz targets can reach the parsers.

pub mod audit;
pub mod cache;
pub mod catalog;
pub mod cli;
pub mod commands;
pub mod distribution;
pub mod docker_output;
pub mod dockerfile;
pub mod error;
pub mod executor;
pub mod git;
pub mod json;
pub mod labels;
pub mod latest;
pub mod lock;
pub mod plan;
pub mod platform;
pub mod promotion;
pub mod provenance;
pub mod proxy;
pub mod publish;
pub mod pyproject;
pub mod reference;
pub mod registry;
pub mod registry_reads;
pub mod runner;
pub mod tag_format;
#[cfg(test)]
mod tidy;
pub mod tomlfile;
pub mod verify;
pub mod version;
pub mod workspace;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, ImageCommand};
use crate::workspace::Workspace;

/// The whole command line: parse, run, print an error as one line, exit.
pub fn main_entry() -> ExitCode {
    // A bug must still end in one line and exit 1, not a backtrace and 101.
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        // Never eprintln! here: with stderr closed it would panic inside
        // the hook and abort (exit 134).
        use std::io::Write;
        let line = if msg.contains("Broken pipe") || msg.contains("failed printing to") {
            format!("error: the output could not be written ({msg}); nothing more was done")
        } else {
            format!("error: internal error{at}: {msg} (a bug in the xtask; please report it)")
        };
        let _ = writeln!(std::io::stderr(), "{line}");
        std::process::exit(i32::from(error::EXIT_FAILED));
    }));
    if let Some(code) = closed_output() {
        return code;
    }
    // Read the local UTC offset while the process is single-threaded: the
    // `time` crate refuses to afterwards.
    let local_offset = time::UtcOffset::current_local_offset().ok();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    let json = wants_json(&cli.command);
    match run(cli, local_offset) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, starting a line, with no control character of a
            // value or of docker's output reaching the terminal raw.
            let msg = error::printable(&format!("{e:#}"));
            runner::end_child_line();
            eprintln!("error: {msg}");
            let code = error::exit_code(&e);
            if json && !json::emitted() {
                // --json: stdout holds one document on every exit.
                json::emit(&json::Json::object([
                    ("error", json::Json::str(format!("{e:#}"))),
                    ("exit_code", json::Json::Number(f64::from(code))),
                ]));
            }
            ExitCode::from(code)
        }
    }
}

/// stdout or stderr closed by the caller (`>&-`): Rust's runtime puts
/// `/dev/null` on a closed standard descriptor before `main`, so every
/// write would vanish and the command would look successful. Refused before
/// anything runs, with one line on the stream still open.
fn closed_output() -> Option<ExitCode> {
    use std::io::Write;
    let out_open = !closed_by_caller(1);
    let err_open = !closed_by_caller(2);
    let closed = match (out_open, err_open) {
        (true, true) => return None,
        (false, true) => "stdout",
        (true, false) => "stderr",
        (false, false) => "stdout and stderr",
    };
    let line = format!(
        "error: {closed} of the xtask is closed, so its output would be lost; nothing was run (redirect it to /dev/null or a file instead of closing it)"
    );
    if err_open {
        let _ = writeln!(std::io::stderr(), "{line}");
    } else if out_open {
        let _ = writeln!(std::io::stdout(), "{line}");
    }
    Some(ExitCode::from(error::EXIT_FAILED))
}

/// Whether descriptor `fd` is the `/dev/null` Rust's runtime opened in place
/// of a closed one: read-write, where a shell's `>/dev/null` opens it
/// write-only. Without `/proc` nothing is detected.
fn closed_by_caller(fd: u8) -> bool {
    let is_null = std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .is_ok_and(|target| target == std::path::Path::new("/dev/null"));
    is_null
        && std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).is_ok_and(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("flags:"))
                .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
                .is_some_and(|flags| flags & 0o3 == 0o2)
        })
}

/// Whether the command was asked for a JSON document on stdout.
fn wants_json(command: &Command) -> bool {
    match command {
        Command::Image(ImageCommand::List(a)) => a.json,
        Command::Image(ImageCommand::Build(a)) => a.json,
        Command::Image(ImageCommand::Push(a)) => a.json,
        Command::Image(ImageCommand::Tag(a)) => a.json,
        Command::Image(ImageCommand::Test(a)) => a.json,
        Command::Image(ImageCommand::Audit(a)) => a.json,
        Command::Version(_) | Command::Check => false,
    }
}

fn run(cli: Cli, local_offset: Option<time::UtcOffset>) -> anyhow::Result<()> {
    runner::configure()?;
    proxy::ProxyEnv::configure()?;
    runner::interrupt::install();
    let ws = Workspace::open(cli.root.as_deref())?;
    match cli.command {
        Command::Image(ImageCommand::List(args)) => commands::list::run(&ws, &args),
        Command::Image(ImageCommand::Build(args)) => commands::build::run(&ws, &args, local_offset),
        Command::Image(ImageCommand::Push(args)) => commands::push::run(&ws, &args),
        Command::Image(ImageCommand::Tag(args)) => commands::tag::run(&ws, &args),
        Command::Image(ImageCommand::Test(args)) => commands::test::run(&ws, &args),
        Command::Image(ImageCommand::Audit(args)) => commands::audit::run(&ws, &args),
        Command::Version(args) => commands::version::run(&ws, &args),
        Command::Check => commands::check::run(&ws),
    }
}

/// Help and version go to stdout with exit 0; a usage error is clap's
/// message on stderr (its first line starts with `error:`) with exit 2.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                ExitCode::from(error::EXIT_INVALID)
            } else {
                ExitCode::SUCCESS
            }
        }
        _ => {
            // clap's whole message: what is missing or wrong, the possible
            // values, a "did you mean", the usage and where help is.
            let _ = e.print();
            ExitCode::from(error::EXIT_INVALID)
        }
    }
}
