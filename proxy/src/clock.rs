//! The proxy's one clock: a monotonic one for deadlines and rates (the
//! connection sweeper, the log flood guard), and the wall clock in Unix
//! seconds for what expires by date (signed pin configs, reports, minted
//! tokens).

use std::sync::OnceLock;
use std::time::Instant;

/// Milliseconds since the process first asked, never 0 (0 is "not set").
pub(crate) fn now_ms() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    let base = BASE.get_or_init(Instant::now);
    u64::try_from(base.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
}

/// Whole seconds on the same clock.
pub(crate) fn now_secs() -> u64 {
    now_ms() / 1000
}

/// Seconds since the Unix epoch: the pinning kit's wall clock, so the
/// `pins` verbs and the served pin config read the same time.
pub(crate) fn unix_now() -> i64 {
    attestgate_pins::clock::now_unix()
}
