//! How an external program runs, as data the steps derive and the runner
//! obeys: how long it may take ([`Wait`], with the limits the environment
//! sets), what is kept of its output ([`Capture`]), and how its environment
//! differs from ours ([`EnvChange`]).

use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Result;

use crate::support::error::invalid;

/// How long a step may run: a lookup (inspect, tag, git, registry reads,
/// the in-image probe) `XTASK_LOOKUP_TIMEOUT_SECS`; a transfer (pull,
/// push) `XTASK_TRANSFER_TIMEOUT_SECS`; a build is not bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    Lookup,
    Transfer,
    Unbounded,
}

/// What a step keeps of its command's output, on each of stdout and stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capture {
    /// Everything, up to this many bytes; a command that prints more is
    /// stopped and the step fails (exit 1), naming the cap.
    Bounded(usize),
    /// Passed on whole to our stderr as it comes (builds, pushes, tests);
    /// only the last this many bytes are kept, for messages.
    Tail(usize),
}

/// A change to the environment a step's command inherits from ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvChange {
    /// Not passed on.
    Remove(String),
    /// Set to a value, which is never printed (a proxy URL may hold a
    /// password): neither in the echo nor by `--dry-run`.
    Set(String, String),
}

pub const MIB: usize = 1024 * 1024;

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
            assert_eq!(crate::support::error::exit_code(&err), 2, "{bad:?}");
        }
    }
}
