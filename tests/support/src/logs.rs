//! Capturing log lines in-process, to prove what is (and is not) logged.
//!
//! One process-wide subscriber (installed once, never dropped) writes each
//! line to the buffer of the thread that logs it. A thread-local
//! (`set_default`) subscriber per test was racy: tracing caches each
//! callsite's interest process-wide, and a callsite first hit on another
//! test's thread while dispatchers came and went could stay cached as
//! "never" for the capturing thread (seen: msgsig_replay's outage warning
//! missing under load).

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::ThreadId;

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

/// The capturing threads and their buffers.
fn threads() -> &'static Mutex<HashMap<ThreadId, Logs>> {
    static THREADS: OnceLock<Mutex<HashMap<ThreadId, Logs>>> = OnceLock::new();
    THREADS.get_or_init(Default::default)
}

/// Writes to the buffer of the calling thread, if it captures; else nowhere.
struct ThisThread;

impl Write for ThisThread {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let id = std::thread::current().id();
        let logs = threads().lock().unwrap().get(&id).cloned();
        match logs {
            Some(mut logs) => logs.write(buf),
            None => Ok(buf.len()),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Stops capturing on its thread when dropped.
pub struct Capture(ThreadId);

impl Drop for Capture {
    fn drop(&mut self) {
        if let Ok(mut t) = threads().lock() {
            t.remove(&self.0);
        }
    }
}

impl Logs {
    /// Routes this thread's `tracing` output (info and above) here until the
    /// guard drops.
    pub fn install(&self) -> Capture {
        static GLOBAL: OnceLock<()> = OnceLock::new();
        GLOBAL.get_or_init(|| {
            let subscriber = tracing_subscriber::fmt()
                .with_writer(|| ThisThread)
                .with_ansi(false)
                .with_max_level(tracing::Level::INFO)
                .finish();
            // A test binary that set its own global subscriber keeps it.
            let _ = tracing::subscriber::set_global_default(subscriber);
        });
        let id = std::thread::current().id();
        threads().lock().unwrap().insert(id, self.clone());
        Capture(id)
    }

    /// Everything captured so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}
