//! Bounded connections: every client connection has a deadline for each
//! part of its life, and the process holds at most `max_connections`.
//!
//! How the pieces fit:
//!
//! - [`app::Guarded`] wraps the proxy (and the admin) as Pingora's
//!   per-connection application: it admits each new connection into its
//!   worker's [`Pool`] table (TLS connections before their handshake, by
//!   [`app::TlsAdmit`]), wraps its stream in [`stream::ConnStream`] (which
//!   notes when bytes arrive and when a write has to wait for the client),
//!   and hands Pingora a per-connection shutdown signal.
//! - The connection's [`ctl::Ctl`] holds its phase (handshake, waiting,
//!   HTTP/1 request, HTTP/2, closing) and since when, in atomics written by
//!   its own task: an HTTP/1 request's head marks it busy through
//!   [`request_head_read`] (the proxy's first phase), the end of a request
//!   or of the last HTTP/2 stream marks it idle.
//! - Each worker runs a sweeper ([`sweep`]) every tenth of the shortest
//!   limit: [`verdict::verdict`] decides from a snapshot; a connection past
//!   its deadline is shut down (`shutdown(2)` on its socket, which wakes
//!   whatever its task waits on), an HTTP/2 one first gets a GOAWAY through
//!   its shutdown signal. Nothing on the request path takes a lock or arms
//!   a timer.
//! - The cap is applied in Pingora's accept loop ([`app::Admission`], its
//!   connection filter): at the cap, the oldest idle connections are shed
//!   (those that never sent a request first), and only when none is idle
//!   is the new one closed at once, before it costs a task or a TLS
//!   handshake.
//! - [`service::Guard`] runs each Pingora listening service: a worker whose
//!   listeners cannot be built ends the process (exit 2) with a one-line
//!   reason, and [`listening`] tells `/healthz` and `/readyz` whether every
//!   configured listener is still listening.
//!
//! Why not Pingora's own options: docs/DECISIONS.md, "Bounded connections".

pub(crate) mod app;
pub(crate) mod ctl;
pub(crate) mod listening;
mod metrics;
pub(crate) mod rlimit;
pub(crate) mod service;
pub(crate) mod stream;
mod sweep;
mod verdict;

use std::collections::HashMap;
use std::os::fd::RawFd;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::clock::now_ms;
pub(crate) use ctl::request_head_read;
use ctl::{Ctl, Phase};
pub(crate) use metrics::ConnMetrics;
pub(crate) use verdict::Deadlines;
use verdict::{Reason, Verdict};

/// How long the accept loop waits for shed connections to close before it
/// refuses a new one.
const ADMIT_WAIT: Duration = Duration::from_millis(100);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One worker's connections.
#[derive(Default)]
struct Slot {
    table: Mutex<HashMap<RawFd, Arc<Ctl>>>,
    /// When its sweeper last ran (the worker's thread is alive).
    heartbeat: AtomicU64,
}

/// The connections of one kind of listener (the proxy's, or the admin's),
/// over all its workers.
pub(crate) struct Pool {
    slots: Vec<Slot>,
    /// Registered connections (their descriptors are open).
    open: AtomicUsize,
    /// Accepted by [`Pool::reserve`], not registered yet: their tasks have
    /// not run (the accept loop accepts a burst before it yields).
    accepting: AtomicUsize,
    /// Shut down, not yet dropped: they leave room already.
    pending_kills: AtomicUsize,
    max: usize,
    /// Descriptors held by client connections never exceed this: the cap,
    /// plus room for shed connections that are still closing.
    ceiling: usize,
    shed_batch: usize,
    pub(crate) deadlines: Deadlines,
    /// `send_timeout`, for HTTP/2 streams waiting for window.
    pub(crate) send_timeout: Duration,
    /// The server is shutting down: Pingora drains.
    stopping: AtomicBool,
    metrics: Option<ConnMetrics>,
}

impl Pool {
    pub(crate) fn new(
        workers: usize,
        max: usize,
        deadlines: Deadlines,
        send_timeout: Duration,
        metrics: Option<ConnMetrics>,
    ) -> Arc<Pool> {
        if let Some(m) = &metrics {
            m.max.set(i64::try_from(max).unwrap_or(i64::MAX));
        }
        Arc::new(Pool {
            slots: (0..workers).map(|_| Slot::default()).collect(),
            open: AtomicUsize::new(0),
            accepting: AtomicUsize::new(0),
            pending_kills: AtomicUsize::new(0),
            max,
            ceiling: max + max / 4 + (max / 64).clamp(4, 256),
            shed_batch: (max / 64).clamp(4, 256),
            deadlines,
            send_timeout,
            stopping: AtomicBool::new(false),
            metrics,
        })
    }

    fn set_open_gauge(&self, open: usize) {
        if let Some(m) = &self.metrics {
            m.open.set(i64::try_from(open).unwrap_or(i64::MAX));
        }
    }

    fn count(&self, r: Reason) {
        if let Some(m) = &self.metrics {
            m.closed(r);
        }
    }

    fn count_once(&self, ctl: &Ctl, r: Reason) {
        if ctl.first_count() {
            self.count(r);
        }
    }

    /// Decides, in the accept loop, whether a new connection may stay:
    /// below the cap it may; at the cap the oldest idle connections are
    /// shed to make room, and when none is idle (nor about to be) it is
    /// closed at once. The descriptors held stay below the ceiling (a
    /// quarter above the cap): while shed connections are still closing,
    /// the accept loop waits for them, at most [`ADMIT_WAIT`] (a yield lets
    /// the runtime poll its I/O driver first); connections not yet accepted
    /// wait in the kernel's queue meanwhile, holding no descriptor.
    async fn reserve(&self) -> bool {
        let started = std::time::Instant::now();
        for round in 0u32.. {
            let accepting = self.accepting.load(Relaxed);
            let pending = self.pending_kills.load(Relaxed);
            let held = self.open.load(Relaxed) + accepting;
            let room = held.saturating_sub(pending) < self.max;
            if room && held < self.ceiling {
                self.accepting.fetch_add(1, Relaxed);
                return true;
            }
            // Nothing idle to shed, nothing closing, nothing about to
            // register (and then be sheddable): every connection is busy.
            if !room && self.shed() == 0 && accepting == 0 && pending == 0 {
                break;
            }
            if started.elapsed() >= ADMIT_WAIT {
                break;
            }
            if round < 16 {
                tokio::task::yield_now().await;
            } else {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        if let Some(m) = &self.metrics {
            m.refused.inc();
        }
        false
    }

    /// A connection the accept loop let in will not be registered.
    fn unreserve(&self) {
        let _ = self
            .accepting
            .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1));
    }

    /// Registers a connection the accept loop let in.
    fn register(&self, worker: usize, fd: RawFd, phase: Phase) -> Option<Arc<Ctl>> {
        let slot = self.slots.get(worker)?;
        self.unreserve();
        let open = self.open.fetch_add(1, Relaxed) + 1;
        self.set_open_gauge(open);
        let ctl = Arc::new(Ctl::new(fd, phase));
        lock(&slot.table).insert(fd, ctl.clone());
        Some(ctl)
    }

    /// The connection admitted on `fd` (a TLS one, after its handshake).
    fn lookup(&self, worker: usize, fd: RawFd) -> Option<Arc<Ctl>> {
        lock(&self.slots.get(worker)?.table).get(&fd).cloned()
    }

    /// The connection's socket is about to close: forget it. Called from
    /// the socket's drop, before the descriptor is closed.
    fn remove(&self, worker: usize, ctl: &Arc<Ctl>) {
        if let Some(slot) = self.slots.get(worker) {
            let mut t = lock(&slot.table);
            if t.get(&ctl.fd).is_some_and(|c| Arc::ptr_eq(c, ctl)) {
                t.remove(&ctl.fd);
            }
            if ctl.is_killed() {
                self.pending_kills.fetch_sub(1, Relaxed);
            }
        }
        let open = self.open.fetch_sub(1, Relaxed).saturating_sub(1);
        self.set_open_gauge(open);
    }

    /// Shuts `ctl`'s socket down. The caller holds the lock of the table
    /// that holds `ctl`: its entry is removed under that lock before its
    /// socket is closed, so the descriptor is still this connection's.
    fn kill(&self, ctl: &Ctl, reason: Option<Reason>) {
        if !ctl.mark_killed() {
            return;
        }
        self.pending_kills.fetch_add(1, Relaxed);
        if let Some(r) = reason {
            self.count_once(ctl, r);
        }
        // ENOTCONN when the peer is gone already: nothing to do then.
        let _ = nix::sys::socket::shutdown(ctl.fd, nix::sys::socket::Shutdown::Both);
    }

    /// Closes up to `shed_batch` idle connections, those that never sent a
    /// request first, oldest first. Returns how many.
    fn shed(&self) -> usize {
        let mut idle: Vec<(bool, u64, usize, RawFd)> = Vec::new();
        for (w, slot) in self.slots.iter().enumerate() {
            for (fd, ctl) in lock(&slot.table).iter() {
                if let Some(since) = ctl.idle_since() {
                    let kept_alive =
                        !matches!(ctl.phase(), Phase::Handshake) && ctl.snapshot().served > 0;
                    idle.push((kept_alive, since, w, *fd));
                }
            }
        }
        let n = self.shed_batch.min(idle.len());
        if n == 0 {
            return 0;
        }
        idle.select_nth_unstable(n - 1);
        let mut shed = 0;
        for &(_, _, w, fd) in &idle[..n] {
            let Some(slot) = self.slots.get(w) else {
                continue;
            };
            let t = lock(&slot.table);
            if let Some(ctl) = t.get(&fd)
                && ctl.idle_since().is_some()
            {
                self.kill(ctl, Some(Reason::Shed));
                shed += 1;
            }
        }
        shed
    }

    /// One sweep of `worker`'s connections at `now`.
    fn sweep(&self, worker: usize, now: u64) {
        let Some(slot) = self.slots.get(worker) else {
            return;
        };
        slot.heartbeat.store(now, Relaxed);
        let t = lock(&slot.table);
        for ctl in t.values() {
            if ctl.is_killed() {
                continue;
            }
            match verdict::verdict(&ctl.snapshot(), now, &self.deadlines) {
                Verdict::Keep => {}
                Verdict::Kill(r) => self.kill(ctl, Some(r)),
                Verdict::Expire => self.kill(ctl, None),
                Verdict::Goaway(r, grace) => {
                    self.count_once(ctl, r);
                    ctl.close_by(now.saturating_add(grace));
                }
                Verdict::NoKeepalive(r) => {
                    self.count_once(ctl, r);
                    ctl.signal_graceful();
                }
            }
        }
    }

    /// The server is shutting down: every connection of `worker` is told
    /// (HTTP/2 ones get a GOAWAY; Pingora drains them).
    fn shutting_down(&self, worker: usize) {
        self.stopping.store(true, Relaxed);
        if let Some(slot) = self.slots.get(worker) {
            for ctl in lock(&slot.table).values() {
                ctl.signal_graceful();
            }
        }
    }

    /// Updates `attestgate_tasks` with this worker's runtime's count
    /// (`last`: what it reported before).
    fn report_tasks(&self, last: &mut i64) {
        if let Some(m) = &self.metrics {
            let now = tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks();
            let now = i64::try_from(now).unwrap_or(i64::MAX);
            m.tasks.add(now - *last);
            *last = now;
        }
    }

    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Relaxed)
    }

    /// Milliseconds since each worker's sweeper last ran (`None`: never).
    pub(crate) fn heartbeat_ages(&self) -> Vec<Option<u64>> {
        let now = now_ms();
        self.slots
            .iter()
            .map(|s| match s.heartbeat.load(Relaxed) {
                0 => None,
                t => Some(now.saturating_sub(t)),
            })
            .collect()
    }
}
