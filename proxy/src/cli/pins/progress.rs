//! Progress of the verbs that connect: one line on stderr, rewritten in
//! place, only when stderr is a terminal (never in a pipe, a file or CI
//! logs); and the summary line every run ends with, on stderr so that
//! stdout stays the report (or the JSON) alone.

use std::io::{IsTerminal, Write};
use std::time::Instant;

pub(super) struct Progress {
    verb: &'static str,
    live: bool,
    started: Instant,
}

impl Progress {
    pub(super) fn new(verb: &'static str) -> Progress {
        Progress {
            verb,
            live: std::io::stderr().is_terminal(),
            started: Instant::now(),
        }
    }

    /// `verb: done/total what`, in place of the previous step.
    pub(super) fn step(&self, done: usize, total: usize, what: &str) {
        if self.live {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K{}: {done}/{total} {what}", self.verb);
            let _ = err.flush();
        }
    }

    /// Clears the progress line, then prints `verb: summary (in N.N s)`.
    pub(super) fn summary(&self, summary: &str) {
        let mut err = std::io::stderr().lock();
        if self.live {
            let _ = write!(err, "\r\x1b[2K");
        }
        let _ = writeln!(
            err,
            "{}: {summary} in {:.1} s",
            self.verb,
            self.started.elapsed().as_secs_f64()
        );
    }
}

/// `1 domain`, `2 domains`.
pub(super) fn count(n: usize, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else if let Some(stem) = one.strip_suffix("ss") {
        format!("{n} {stem}sses")
    } else {
        format!("{n} {one}s")
    }
}
