//! Capturing log lines in-process, to prove what is (and is not) logged.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// Captures log lines written on this thread (tests using it run on a
/// current-thread runtime, so a refresher's lines land here too).
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// Routes this thread's `tracing` output (info and above) here until the
    /// guard drops.
    pub fn install(&self) -> tracing::subscriber::DefaultGuard {
        let logs = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || logs.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        // Another test thread may have registered a callsite (first hit with
        // no subscriber of its own) while this one was being installed, and
        // cached "never" for it: recompute every callsite's interest now
        // that this subscriber is live, so none of its lines is lost.
        tracing::callsite::rebuild_interest_cache();
        guard
    }

    /// Everything captured so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}
