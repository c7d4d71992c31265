//! SIGINT and SIGTERM: remembered, so the running child is stopped and
//! nothing else starts. Uses the C library's `signal` that std already
//! links (std has no way to install a signal handler).

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
