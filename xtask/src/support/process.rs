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

/// How many times a registry request that failed for a passing reason is
/// sent again (0 to 10).
pub const RETRIES_ENV: &str = "XTASK_REGISTRY_RETRIES";

/// The first retry's wait in milliseconds (1 to 60000), doubled for each
/// further one.
pub const BACKOFF_ENV: &str = "XTASK_REGISTRY_BACKOFF_MS";

const RETRIES_DEFAULT: u32 = 4;

const BACKOFF_DEFAULT_MS: u64 = 500;

static RETRIES: OnceLock<(u32, Duration)> = OnceLock::new();

/// Parse the retry settings.
pub fn parse_retries(retries: Option<&str>, backoff_ms: Option<&str>) -> Result<(u32, Duration)> {
    let whole = |name: &str, v: &str, max: u64| {
        v.parse::<u64>()
            .ok()
            .filter(|n| *n <= max && v.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                invalid(format!(
                    "{name}='{v}' is not a whole number from 0 to {max}"
                ))
            })
    };
    let n = match retries {
        None => RETRIES_DEFAULT,
        Some(v) => u32::try_from(whole(RETRIES_ENV, v, 10)?).unwrap_or(RETRIES_DEFAULT),
    };
    let ms = match backoff_ms {
        None => BACKOFF_DEFAULT_MS,
        Some(v) => match whole(BACKOFF_ENV, v, 60_000)? {
            0 => return Err(invalid(format!("{BACKOFF_ENV}='0' must be at least 1"))),
            ms => ms,
        },
    };
    Ok((n, Duration::from_millis(ms)))
}

/// The retry settings: how many retries, and the first one's wait.
pub fn retry_settings() -> (u32, Duration) {
    *RETRIES.get_or_init(|| (RETRIES_DEFAULT, Duration::from_millis(BACKOFF_DEFAULT_MS)))
}

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
    let retries = parse_retries(var(RETRIES_ENV)?.as_deref(), var(BACKOFF_ENV)?.as_deref())?;
    let _ = RETRIES.set(retries);
    Ok(())
}

/// What tells this run's names (staging tags, container names) from any
/// other run's on an engine it may share: its PID and a random part, since
/// the PID alone repeats across PID namespaces (CI jobs in containers that
/// share one engine all run the tool as PID 1). `<pid>-<12 hex digits>`,
/// the same for the whole run.
pub fn run_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let uuid = std::fs::read_to_string("/proc/sys/kernel/random/uuid").unwrap_or_default();
        format!("{}-{}", std::process::id(), random_part(&uuid))
    })
}

/// 12 hex digits: those of the kernel's random `uuid` when it has them,
/// else std's randomly seeded hasher over the time and the PID.
fn random_part(uuid: &str) -> String {
    let hex: String = uuid.chars().filter(char::is_ascii_hexdigit).collect();
    if hex.len() >= 12 {
        return hex[hex.len() - 12..].to_ascii_lowercase();
    }
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{:012x}", h.finish() & 0xffff_ffff_ffff)
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
    fn retry_settings_are_bounded_whole_numbers() {
        assert_eq!(
            parse_retries(None, None).unwrap(),
            (RETRIES_DEFAULT, Duration::from_millis(BACKOFF_DEFAULT_MS))
        );
        assert_eq!(
            parse_retries(Some("0"), Some("10")).unwrap(),
            (0, Duration::from_millis(10))
        );
        for (r, b) in [
            (Some("11"), None),
            (Some("-1"), None),
            (Some("x"), None),
            (None, Some("0")),
            (None, Some("60001")),
            (None, Some("1.5")),
        ] {
            let err = parse_retries(r, b).unwrap_err();
            assert_eq!(crate::support::error::exit_code(&err), 2, "{r:?} {b:?}");
        }
    }

    #[test]
    fn a_run_id_is_the_pid_and_a_random_part() {
        let pid = std::process::id();
        let id = run_id();
        let (p, random) = id.split_once('-').unwrap();
        assert_eq!(p, pid.to_string());
        assert_eq!(random.len(), 12, "{id}");
        assert!(
            random
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
            "{id}"
        );
        assert_eq!(run_id(), id, "one id for the whole run");
        // The kernel's UUID's last 12 hex digits; without one, the hasher:
        // two draws of one process (same PID) differ.
        assert_eq!(
            random_part("1b4e28ba-2fa1-11d2-883f-0016D3CCA427\n"),
            "0016d3cca427"
        );
        let (a, b) = (random_part(""), random_part("not a uuid"));
        assert_eq!((a.len(), b.len()), (12, 12));
        assert_ne!(a, b);
    }

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
