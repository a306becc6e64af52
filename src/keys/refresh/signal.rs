//! The request path's line to the refresher, and the one-refresher rule.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

/// "A token named an unknown `kid`" (or none is loaded). Shared by the
/// verifier and its refresher, which holds no strong reference to the
/// verifier between passes.
pub(crate) struct Signal {
    wanted: AtomicBool,
    pub(super) notify: Notify,
    running: AtomicBool,
}

impl Signal {
    pub(crate) fn new() -> Arc<Signal> {
        Arc::new(Signal {
            wanted: AtomicBool::new(false),
            notify: Notify::new(),
            running: AtomicBool::new(false),
        })
    }

    /// Asks for an early refetch. One atomic swap; wakes the refresher only
    /// on the first call since its last fetch.
    pub(crate) fn want_refetch(&self) {
        if !self.wanted.swap(true, Ordering::AcqRel) {
            self.notify.notify_one();
        }
    }

    /// Whether a request asked for a fetch since the last one.
    pub(super) fn is_wanted(&self) -> bool {
        self.wanted.load(Ordering::Acquire)
    }

    /// The fetch that answers every request so far has happened.
    pub(super) fn answered(&self) {
        self.wanted.store(false, Ordering::Release);
    }
}

/// Marks a refresher as running while alive (one writer per verifier).
pub(super) struct Running(Arc<Signal>);

impl Running {
    pub(super) fn claim(signal: &Arc<Signal>) -> Option<Running> {
        (!signal.running.swap(true, Ordering::AcqRel)).then(|| Running(signal.clone()))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.store(false, Ordering::Release);
    }
}
