//! The watch: one task per log, each with its own backoff, so one failing
//! or misbehaving log never stops the others.
//!
//! - [`scan`]: the hot path (frontier, pre-filter, match);
//! - [`round`]: one round on one log (head, checks, batches, root);
//! - [`report`]: what the tasks share (state, judging, outputs).
//!
//! A round that fails to read is retried after a backoff that doubles
//! from `retry_base` up to `retry_max`, or after the log's `Retry-After`
//! when it sent one (capped). A misbehaving log is halted: its evidence
//! kept, its state marked, it is not read again until its state file is
//! removed. `once` reads every log up to its current head and returns.

pub mod report;
pub mod round;
pub mod scan;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Mutex;

use crate::ct::events::MisbehaviourEvent;
use crate::ct::http::Http;
use crate::ct::loglist::Log;
use crate::ct::metrics::CtMetrics;
use crate::ct::source::Source;
use crate::ct::state::{Halt, StateDir};
use crate::ct::verdict::Judge;
use report::Shared;
pub use round::Start;
use round::{Issuers, RoundError};

/// How the watch runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where new logs start.
    pub start: Start,
    /// Read up to the current heads and return.
    pub once: bool,
    /// JSON lines out (else text).
    pub json: bool,
    /// Hook commands.
    pub hooks: Vec<String>,
    /// How long a caught-up log waits before asking for a new head.
    pub interval: Duration,
    /// One HTTP exchange's limit.
    pub timeout: Duration,
    /// First backoff after a failed read.
    pub retry_base: Duration,
    /// Longest backoff.
    pub retry_max: Duration,
    /// With `once`: failed reads of a log before it counts as unreadable.
    pub once_attempts: u32,
    /// `get-entries` batch size (RFC 6962 logs).
    pub batch: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            start: Start::End,
            once: false,
            json: false,
            hooks: Vec::new(),
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(600),
            once_attempts: 5,
            batch: 256,
        }
    }
}

/// How a `once` run ended (a daemon returns this when shut down).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// A would_break or unknown_issuer certificate was reported.
    pub alerted: bool,
    /// A log misbehaved (now or before: it stays halted).
    pub misbehaving: bool,
    /// A log could not be read.
    pub unreadable: bool,
}

impl Outcome {
    /// `--once`'s exit code: 1 alert or misbehaviour, else 3 unreadable, else 0.
    pub fn exit_code(&self) -> u8 {
        if self.alerted || self.misbehaving {
            1
        } else if self.unreadable {
            3
        } else {
            0
        }
    }
}

enum LogEnd {
    Done,
    Misbehaving,
    Unreadable,
}

/// Runs the watch over `logs` until `shutdown` turns true (or, with
/// `once`, until every log is read to its head).
pub async fn run(
    logs: Vec<Log>,
    judge: Judge,
    state: StateDir,
    metrics: CtMetrics,
    options: Options,
    out: Box<dyn Write + Send>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<Outcome, String> {
    let http = Http::new(options.timeout)?;
    let shared = Arc::new(Shared {
        state: Mutex::new(state),
        judge,
        metrics,
        hooks: options.hooks.clone(),
        json: options.json,
        out: Mutex::new(out),
        alerted: AtomicBool::new(false),
    });
    let mut tasks = tokio::task::JoinSet::new();
    for log in logs {
        let mut source = Source::new(log, http.clone());
        source.batch = options.batch.max(1);
        tasks.spawn(one_log(
            shared.clone(),
            source,
            options.clone(),
            shutdown.clone(),
        ));
    }
    let mut outcome = Outcome::default();
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(Ok(LogEnd::Done)) => {}
            Ok(Ok(LogEnd::Misbehaving)) => outcome.misbehaving = true,
            Ok(Ok(LogEnd::Unreadable)) => outcome.unreadable = true,
            Ok(Err(e)) => {
                tracing::error!("CT watch: {e}");
                outcome.unreadable = true;
            }
            Err(e) => {
                tracing::error!("CT watch task failed: {e}");
                outcome.unreadable = true;
            }
        }
    }
    outcome.alerted = shared.alerted.load(Ordering::SeqCst);
    Ok(outcome)
}

async fn one_log(
    shared: Arc<Shared>,
    source: Source,
    options: Options,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<LogEnd, String> {
    let id = source.log.id_hex();
    let uri = source.log.uri().to_owned();
    let m = shared.metrics.clone();
    let mut st = shared.state.lock().await.load_log(&id)?.unwrap_or_default();
    st.description.clone_from(&source.log.description);
    if let Some(h) = &st.halted {
        m.misbehaviour.with_label_values(&[&uri, &h.kind]).inc();
        tracing::warn!(log = %uri, kind = %h.kind, "CT log halted for misbehaviour earlier; remove its state file to read it again");
        return Ok(LogEnd::Misbehaving);
    }
    if let Some(v) = &st.verified {
        m.tree_size.with_label_values(&[&uri]).set(v.size as i64);
    }
    m.position
        .with_label_values(&[&uri])
        .set(st.position as i64);
    let mut issuers = Issuers::default();
    let mut backoff = options.retry_base;
    let mut failures = 0u32;
    loop {
        if *shutdown.borrow() {
            return Ok(LogEnd::Done);
        }
        let wait = match round::round(&shared, &source, &mut st, options.start, true, &mut issuers)
            .await
        {
            Ok(()) => {
                m.last_success
                    .with_label_values(&[&uri])
                    .set(crate::clock::now_unix());
                failures = 0;
                backoff = options.retry_base;
                if options.once {
                    return Ok(LogEnd::Done);
                }
                options.interval
            }
            Err(RoundError::Fetch(e)) => {
                m.fetch_errors
                    .with_label_values(&[&uri, e.kind.as_str()])
                    .inc();
                tracing::warn!(log = %uri, "CT log read failed: {e}");
                failures += 1;
                if options.once && failures >= options.once_attempts {
                    return Ok(LogEnd::Unreadable);
                }
                let wait = e.retry_after.unwrap_or(backoff).max(backoff);
                backoff = (backoff * 2).min(options.retry_max);
                wait
            }
            Err(RoundError::Misbehaviour {
                kind,
                message,
                files,
            }) => {
                m.misbehaviour.with_label_values(&[&uri, kind]).inc();
                let files: Vec<(&str, &[u8])> =
                    files.iter().map(|(n, b)| (*n, b.as_slice())).collect();
                let evidence = {
                    let s = shared.state.lock().await;
                    let d = s.keep_evidence(&id, kind, &files)?;
                    st.halted = Some(Halt {
                        kind: kind.to_owned(),
                        at: crate::clock::now_unix(),
                        message: message.clone(),
                        evidence: d.display().to_string(),
                    });
                    s.save_log(&id, &st)?;
                    d.display().to_string()
                };
                tracing::error!(log = %uri, kind, "CT log misbehaved: {message}; evidence in {evidence}");
                shared
                    .report_misbehaviour(MisbehaviourEvent {
                        kind: kind.to_owned(),
                        log: source.log.description.clone(),
                        log_uri: uri.clone(),
                        message,
                        evidence,
                    })
                    .await;
                return Ok(LogEnd::Misbehaving);
            }
            Err(RoundError::Local(e)) => return Err(e),
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return Ok(LogEnd::Done),
        }
    }
}
