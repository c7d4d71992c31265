//! `cargo xtask`: the project's release tooling for container images.
//!
//! Exit codes: 0 done; 2 invalid input or usage (nothing was run); 1 an
//! external command or a check failed; 130 interrupted. The binary is
//! `main.rs`, which calls [`main_entry`].
//!
//! The code is in layers, one folder each. A module uses its own layer and
//! the layers before it, never one after (`tidy::layers_point_down_only`
//! reads every `use crate::` against this line, and finds any cycle):
//!
//! layers: support < model < oci < project < plan < rules < exec < registry < engine < cli < commands
//!
//! - `support`: what any program needs (errors and exit codes, output,
//!   JSON, TOML locations, process settings, signals, shell quoting, the
//!   cache, locks, atomic files);
//! - `model`: the facts the tool reasons about (references, platforms,
//!   versions, tag formats, labels, git state, image facts, what a
//!   registry serves);
//! - `oci`: the distribution protocol as data (requests and their curl
//!   argv, responses, authentication, manifests, credentials, proxies);
//! - `project`: the project's files (finding it, pyproject.toml, the
//!   catalog, Dockerfiles, the build context);
//! - `plan`: steps, checks and what an image must show, as data;
//! - `rules`: pure decisions (verification, publishing, aliases,
//!   promotion, the audit);
//! - `exec`: running one program (the runner, the gateway every step
//!   goes through, the engine's API over its socket for the steps the
//!   engine answers itself, the parsers of what docker and git print);
//! - `registry`: the registry client, with the run's authentication;
//! - `engine`: running plans and checks, gathering an image's facts;
//! - `cli`, `commands`: the command line and each command, as gather,
//!   decide, plan, execute, report.

pub mod cli;
pub(crate) mod commands;
pub(crate) mod engine;
pub mod exec;
pub mod model;
pub mod oci;
pub mod plan;
pub mod project;
pub(crate) mod registry;
pub(crate) mod rules;
pub mod support;
#[cfg(test)]
mod tidy;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, ImageCommand};
use crate::project::workspace::Workspace;
use crate::support::{error, json, output};

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
        output::error(&format!(
            "internal error{at}: {msg} (a bug in the xtask; please report it)"
        ));
        std::process::exit(i32::from(error::EXIT_FAILED));
    }));
    // Read the local UTC offset while the process is single-threaded: the
    // `time` crate refuses to afterwards.
    let local_offset = time::UtcOffset::current_local_offset().ok();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e, json_given(std::env::args_os().skip(1))),
    };
    let json = wants_json(&cli.command);
    let result = run(cli, local_offset);
    let code = match &result {
        Ok(()) => 0,
        Err(e) => {
            // One line, starting a line, with no control character of a
            // value or of docker's output reaching the terminal raw.
            output::error(&format!("{e:#}"));
            let code = error::exit_code(e);
            if json && !json::emitted() {
                // --json: stdout holds one document on every exit.
                json::emit(&json::Json::object([
                    ("error", json::Json::str(format!("{e:#}"))),
                    ("exit_code", json::Json::Number(f64::from(code))),
                ]));
            }
            code
        }
    };
    ExitCode::from(lost_output(code))
}

/// A command whose output could not all be written did not do what it was
/// asked (its report is lost): exit 1, saying so on stderr when only
/// stdout failed. An exit code of its own failure is kept.
fn lost_output(code: u8) -> u8 {
    let Some((stream, why)) = output::failed() else {
        return code;
    };
    if stream == output::Stream::Stdout {
        output::error(&format!(
            "the output could not all be written to stdout ({why}); what it lacks is lost"
        ));
    }
    if code == 0 {
        error::EXIT_FAILED
    } else {
        code
    }
}

/// Whether the command was asked for a JSON document on stdout.
fn wants_json(command: &Command) -> bool {
    match command {
        Command::Image(ImageCommand::List(a)) => a.json,
        Command::Image(ImageCommand::Build(a)) => a.output.json,
        Command::Image(ImageCommand::Push(a)) => a.output.json,
        Command::Image(ImageCommand::Tag(a)) => a.output.json,
        Command::Image(ImageCommand::Test(a)) => a.output.json,
        Command::Image(ImageCommand::Audit(a)) => a.json,
        Command::Release(a) => a.output.json,
        Command::Version(_) | Command::Check => false,
    }
}

fn run(cli: Cli, local_offset: Option<time::UtcOffset>) -> anyhow::Result<()> {
    crate::support::process::configure()?;
    crate::oci::proxy::ProxyEnv::configure();
    crate::support::signals::install();
    let ws = Workspace::open(cli.root.as_deref())?;
    match cli.command {
        Command::Image(ImageCommand::List(args)) => commands::list::run(&ws, &args),
        Command::Image(ImageCommand::Build(args)) => commands::build::run(&ws, &args, local_offset),
        Command::Image(ImageCommand::Push(args)) => commands::push::run(&ws, &args),
        Command::Image(ImageCommand::Tag(args)) => commands::tag::run(&ws, &args),
        Command::Image(ImageCommand::Test(args)) => commands::test::run(&ws, &args),
        Command::Image(ImageCommand::Audit(args)) => commands::audit::run(&ws, &args),
        Command::Release(args) => commands::release::run(&ws, &args),
        Command::Version(args) => commands::version::run(&ws, &args),
        Command::Check => commands::check::run(&ws),
    }
}

/// Help and version go to stdout with exit 0; a usage error is clap's
/// message on stderr (its first line starts with `error:`) with exit 2,
/// and with `--json` also the error document on stdout (its first line).
fn usage_error(e: clap::Error, json: bool) -> ExitCode {
    use clap::error::ErrorKind;
    let _ = e.print();
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => ExitCode::SUCCESS,
        _ => {
            // clap's whole message went to stderr: what is missing or
            // wrong, the possible values, a "did you mean", the usage and
            // where help is.
            if json {
                json::emit(&json::Json::object([
                    ("error", json::Json::str(usage_summary(&e.to_string()))),
                    (
                        "exit_code",
                        json::Json::Number(f64::from(error::EXIT_INVALID)),
                    ),
                ]));
            }
            ExitCode::from(error::EXIT_INVALID)
        }
    }
}

/// Whether the command line (without the program) asks for `--json`: the
/// flag itself, before any `--`.
fn json_given(args: impl Iterator<Item = std::ffi::OsString>) -> bool {
    args.take_while(|a| a != "--").any(|a| a == "--json")
}

/// The line of clap's message that says what is wrong, without its
/// `error: ` prefix.
fn usage_summary(message: &str) -> String {
    let line = message
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("the command line is not valid");
    line.strip_prefix("error: ").unwrap_or(line).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_given_by_the_flag_alone_before_a_double_dash() {
        let cases: [(&[&str], bool); 7] = [
            (&["image", "list", "--json"], true),
            (&["image", "build", "--json", "--nope"], true),
            (&["--json"], true),
            (&["image", "list"], false),
            (&["image", "list", "--jsonx", "--json=1"], false),
            (&["image", "test", "--", "--json"], false),
            (&[], false),
        ];
        for (args, want) in cases {
            let given = json_given(args.iter().map(std::ffi::OsString::from));
            assert_eq!(given, want, "{args:?}");
        }
    }

    #[test]
    fn a_usage_error_is_summed_up_by_clap_s_first_line() {
        let cases = [
            (
                "error: unexpected argument '--nope' found\n\n  tip: …\n\nUsage: xtask\n",
                "unexpected argument '--nope' found",
            ),
            ("\nerror: a\nb", "a"),
            ("plain", "plain"),
            ("", "the command line is not valid"),
        ];
        for (message, want) in cases {
            assert_eq!(usage_summary(message), want, "{message:?}");
        }
    }
}
