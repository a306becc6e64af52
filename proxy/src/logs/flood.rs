//! A bound on Pingora's warning and error lines.
//!
//! Pingora logs one error line per failing client connection (a TLS
//! handshake that fails or is cut at its deadline, a request head cut
//! short) and one per failed `accept()`. Hostile clients would turn that
//! into a flood, and a listener lost while serving into a tight loop of
//! lines (seen: 150,000 in two seconds). [`PingoraFloodGuard`] lets
//! [`PER_SECOND`] of them through each second and counts the rest; worker
//! 0's sweeper logs the count.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

use tracing::subscriber::Interest;
use tracing::{Level, Metadata};
use tracing_subscriber::layer::{Context, Filter};

/// Pingora warning and error lines let through per second.
pub(crate) const PER_SECOND: u64 = 20;

static WINDOW: AtomicU64 = AtomicU64::new(0);
static IN_WINDOW: AtomicU64 = AtomicU64::new(0);
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Lines dropped since the last call.
pub(crate) fn take_dropped() -> u64 {
    DROPPED.swap(0, Relaxed)
}

fn guarded(meta: &Metadata<'_>) -> bool {
    // `log` is the target of the callsites that carry Pingora's `log`
    // records into tracing; the records' own targets are Pingora's.
    let t = meta.target();
    (t.starts_with("pingora") || t == "log") && *meta.level() <= Level::WARN
}

/// The per-layer filter: see the module documentation.
#[derive(Clone, Copy, Debug, Default)]
pub struct PingoraFloodGuard;

impl<S> Filter<S> for PingoraFloodGuard {
    fn enabled(&self, meta: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        if !meta.is_event() || !meta.target().starts_with("pingora") || !guarded(meta) {
            return true;
        }
        let second = crate::clock::now_secs();
        if WINDOW.swap(second, Relaxed) != second {
            IN_WINDOW.store(0, Relaxed);
        }
        if IN_WINDOW.fetch_add(1, Relaxed) < PER_SECOND {
            true
        } else {
            DROPPED.fetch_add(1, Relaxed);
            false
        }
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        if guarded(meta) {
            // Decided per line: never cached.
            Interest::sometimes()
        } else {
            Interest::always()
        }
    }
}
