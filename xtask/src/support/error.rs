//! How a failure maps to an exit code.
//!
//! Invalid input or usage (nothing was run) exits 2; everything else that fails
//! (an external command, a post-build check) exits 1. An invalid-input error is
//! an [`Invalid`] somewhere in the anyhow chain; context layers keep it
//! discoverable through `downcast_ref`.

use std::fmt;

/// The user gave us something we refuse: a bad flag, file, key or value.
#[derive(Debug)]
pub struct Invalid(pub String);

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Invalid {}

/// The run was interrupted (SIGINT); exit 130 like a shell would.
#[derive(Debug)]
pub struct Interrupted;

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

/// An interruption restated with what it stopped (a report): still exits
/// 130 (143 for SIGTERM).
#[derive(Debug)]
pub struct InterruptedWhile(pub String);

impl fmt::Display for InterruptedWhile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InterruptedWhile {}

/// `msg` as an error of the same kind as `cause` (interrupted, invalid
/// input, failed), for a message that restates `cause` in a report.
pub fn restate(cause: &anyhow::Error, msg: String) -> anyhow::Error {
    if is_interrupted(cause) {
        anyhow::Error::new(InterruptedWhile(msg))
    } else if cause.chain().any(|e| e.is::<Invalid>()) {
        invalid(msg)
    } else {
        anyhow::anyhow!(msg)
    }
}

pub fn is_interrupted(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|e| e.is::<Interrupted>() || e.is::<InterruptedWhile>())
}

/// Build an invalid-input error from a message.
pub fn invalid(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Invalid(msg.into()))
}

pub const EXIT_FAILED: u8 = 1;
pub const EXIT_INVALID: u8 = 2;
pub const EXIT_INTERRUPTED: u8 = 130;
pub const EXIT_TERMINATED: u8 = 143;

/// The process exit code for an error.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    if is_interrupted(err) {
        // 128 + the signal, as a shell reports it: 130 for SIGINT, 143 for SIGTERM.
        if crate::support::signals::which() == crate::support::signals::SIGTERM {
            EXIT_TERMINATED
        } else {
            EXIT_INTERRUPTED
        }
    } else if err.chain().any(|e| e.is::<Invalid>()) {
        EXIT_INVALID
    } else {
        EXIT_FAILED
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn invalid_survives_context_layers() {
        let err: anyhow::Result<()> = Err(invalid("bad tag"));
        let err = err
            .context("flavour torch")
            .context("image build")
            .unwrap_err();
        assert_eq!(exit_code(&err), EXIT_INVALID);
        assert_eq!(format!("{err:#}"), "image build: flavour torch: bad tag");
    }

    #[test]
    fn other_errors_exit_one() {
        let err = anyhow::anyhow!("docker build failed");
        assert_eq!(exit_code(&err), EXIT_FAILED);
        let err = anyhow::Error::new(Interrupted).context("building torch");
        assert_eq!(exit_code(&err), EXIT_INTERRUPTED);
    }

    #[test]
    fn a_restated_error_keeps_its_exit_code() {
        let stopped = anyhow::Error::new(Interrupted).context("pushing r:1");
        let report = restate(&stopped, format!("push stopped: {stopped:#}"));
        assert_eq!(exit_code(&report), EXIT_INTERRUPTED);
        assert_eq!(report.to_string(), "push stopped: pushing r:1: interrupted");
        assert_eq!(exit_code(&restate(&invalid("x"), "y".into())), EXIT_INVALID);
        let failed = anyhow::anyhow!("no");
        assert_eq!(exit_code(&restate(&failed, "z".into())), EXIT_FAILED);
    }
}
