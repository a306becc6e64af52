//! One connection's state: where it is in its life and since when.
//!
//! Written by the connection's own task (its stream wrapper, its HTTP app,
//! the proxy's request hook) with relaxed atomic stores, read by its
//! worker's sweeper ([`super::sweep`]), which decides from a [`Snapshot`]
//! alone. No lock and no timer on the request path.

use std::os::fd::RawFd;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64};

use tokio::sync::watch;

use crate::clock::now_ms;

/// Where a connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Accepted on a TLS listener; the handshake is not done.
    Handshake = 0,
    /// No request in progress: new, between HTTP/1 requests, or (a
    /// client that has not sent the HTTP/2 preface) not yet known.
    Waiting = 1,
    /// An HTTP/1 request is being served (its head was read).
    Active = 2,
    /// HTTP/2: the preface was read; busy while `streams > 0`.
    H2 = 3,
    /// A graceful close was started (GOAWAY, or maximum age): the
    /// connection is closed for good at `closing_deadline`.
    Closing = 4,
}

impl Phase {
    fn from_u8(v: u8) -> Phase {
        match v {
            0 => Phase::Handshake,
            1 => Phase::Waiting,
            2 => Phase::Active,
            3 => Phase::H2,
            _ => Phase::Closing,
        }
    }
}

/// One downstream connection.
pub(crate) struct Ctl {
    /// Its socket: the sweeper shuts it down (never closes it).
    pub(crate) fd: RawFd,
    /// When it was accepted.
    pub(crate) born: u64,
    phase: AtomicU8,
    /// When the current phase began (idle since, for `Waiting` and `H2`).
    since: AtomicU64,
    /// First byte of the next request head, while `Waiting` (0: none yet).
    first_byte: AtomicU64,
    /// Requests (HTTP/1) or streams (HTTP/2) whose head was read.
    served: AtomicU32,
    /// HTTP/2 streams open now.
    streams: AtomicU32,
    /// Since when a write has been waiting for the client (0: none is).
    write_blocked: AtomicU64,
    closing_deadline: AtomicU64,
    /// Shut down by the sweeper.
    killed: AtomicBool,
    /// A closing reason was counted (each connection counts once).
    counted: AtomicBool,
    /// The connection's own shutdown signal: Pingora answers it with a
    /// GOAWAY (HTTP/2) or `Connection: close` on the next request (HTTP/1).
    graceful: watch::Sender<bool>,
    /// The lean HTTP/1 path's recording of a request head as read (odd:
    /// recording; each start is a new generation). See
    /// [`super::stream::ConnStream::take_recorded`].
    recording: AtomicU32,
}

impl std::fmt::Debug for Ctl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctl")
            .field("fd", &self.fd)
            .field("phase", &self.phase())
            .finish_non_exhaustive()
    }
}

/// What the sweeper reads, all at once.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Snapshot {
    pub(crate) phase: Phase,
    pub(crate) born: u64,
    pub(crate) since: u64,
    pub(crate) first_byte: u64,
    pub(crate) served: u32,
    pub(crate) streams: u32,
    pub(crate) write_blocked: u64,
    pub(crate) closing_deadline: u64,
    /// The graceful signal was sent (by a limit or by the server's
    /// shutdown).
    pub(crate) graceful: bool,
}

/// Keeps an HTTP/2 stream counted while it lives.
pub(crate) struct StreamGuard(Arc<Ctl>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        if self.0.streams.fetch_sub(1, Relaxed) == 1 {
            self.0.since.store(now_ms(), Relaxed);
        }
    }
}

impl Ctl {
    pub(crate) fn new(fd: RawFd, phase: Phase) -> Ctl {
        let now = now_ms();
        Ctl {
            fd,
            born: now,
            phase: AtomicU8::new(phase as u8),
            since: AtomicU64::new(now),
            first_byte: AtomicU64::new(0),
            served: AtomicU32::new(0),
            streams: AtomicU32::new(0),
            write_blocked: AtomicU64::new(0),
            recording: AtomicU32::new(0),
            closing_deadline: AtomicU64::new(0),
            killed: AtomicBool::new(false),
            counted: AtomicBool::new(false),
            graceful: watch::Sender::new(false),
        }
    }

    pub(crate) fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Relaxed))
    }

    fn set_phase(&self, p: Phase) {
        self.phase.store(p as u8, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        Snapshot {
            phase: self.phase(),
            born: self.born,
            since: self.since.load(Relaxed),
            first_byte: self.first_byte.load(Relaxed),
            served: self.served.load(Relaxed),
            streams: self.streams.load(Relaxed),
            write_blocked: self.write_blocked.load(Relaxed),
            closing_deadline: self.closing_deadline.load(Relaxed),
            graceful: *self.graceful.borrow(),
        }
    }

    /// The TLS handshake is done: now waiting for the first request.
    pub(crate) fn handshake_done(&self) {
        if self.phase() == Phase::Handshake {
            self.set_phase(Phase::Waiting);
        }
    }

    /// Bytes arrived: the first ones of a kept-alive connection's next
    /// request start its head's deadline.
    pub(crate) fn saw_bytes(&self) {
        if self.phase() == Phase::Waiting && self.first_byte.load(Relaxed) == 0 {
            self.first_byte.store(now_ms(), Relaxed);
        }
    }

    /// The HTTP/2 preface was read.
    pub(crate) fn h2_preface(&self) {
        if matches!(self.phase(), Phase::Waiting | Phase::Handshake) {
            self.since.store(now_ms(), Relaxed);
            self.set_phase(Phase::H2);
        }
    }

    /// An HTTP/1 request head was read.
    pub(crate) fn head_read(&self) {
        if self.phase() == Phase::Waiting {
            self.served.fetch_add(1, Relaxed);
            self.set_phase(Phase::Active);
        }
    }

    /// An HTTP/1 request is done; the connection waits for the next one.
    pub(crate) fn request_done(&self) {
        if self.phase() == Phase::Active {
            self.first_byte.store(0, Relaxed);
            self.since.store(now_ms(), Relaxed);
            self.set_phase(Phase::Waiting);
        }
    }

    /// An HTTP/2 stream starts; it counts until the guard drops.
    pub(crate) fn stream_started(self: &Arc<Self>) -> StreamGuard {
        if matches!(self.phase(), Phase::Waiting | Phase::Handshake) {
            self.set_phase(Phase::H2);
        }
        self.served.fetch_add(1, Relaxed);
        self.streams.fetch_add(1, Relaxed);
        StreamGuard(self.clone())
    }

    /// A write made progress (`pending = false`) or has to wait for the
    /// client (`pending = true`).
    pub(crate) fn write_progress(&self, pending: bool) {
        let blocked = self.write_blocked.load(Relaxed);
        if pending {
            if blocked == 0 {
                self.write_blocked.store(now_ms(), Relaxed);
            }
        } else if blocked != 0 {
            self.write_blocked.store(0, Relaxed);
        }
    }

    /// The signal Pingora watches for this connection.
    /// Starts recording what the client sends (a new generation): the
    /// lean path may hand the request, as read, to Pingora's proxy.
    pub(crate) fn start_recording(&self) {
        let r = self.recording.load(Relaxed);
        self.recording.store((r | 1).wrapping_add(2), Relaxed);
    }

    /// Stops recording (the lean path keeps the request).
    pub(crate) fn stop_recording(&self) {
        let r = self.recording.load(Relaxed);
        self.recording.store(r & !1, Relaxed);
    }

    /// The recording's generation, if one is running.
    pub(crate) fn recording(&self) -> Option<u32> {
        let r = self.recording.load(Relaxed);
        (r & 1 == 1).then_some(r)
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<bool> {
        self.graceful.subscribe()
    }

    /// Asks Pingora to close gracefully (GOAWAY, or no keep-alive).
    pub(crate) fn signal_graceful(&self) {
        self.graceful.send_replace(true);
    }

    /// Starts a graceful close that must be over by `deadline`.
    pub(crate) fn close_by(&self, deadline: u64) {
        self.closing_deadline.store(deadline, Relaxed);
        self.set_phase(Phase::Closing);
        self.signal_graceful();
    }

    /// Marks it shut down; `false` if it already was.
    pub(crate) fn mark_killed(&self) -> bool {
        !self.killed.swap(true, Relaxed)
    }

    pub(crate) fn is_killed(&self) -> bool {
        self.killed.load(Relaxed)
    }

    /// `true` the first time only: a connection's close counts once.
    pub(crate) fn first_count(&self) -> bool {
        !self.counted.swap(true, Relaxed)
    }

    /// Since when it has been idle, if it is (the order in which idle
    /// connections are shed when the cap is reached).
    pub(crate) fn idle_since(&self) -> Option<u64> {
        if self.is_killed() {
            return None;
        }
        match self.phase() {
            Phase::Handshake => Some(self.born),
            Phase::Waiting if self.served.load(Relaxed) == 0 => Some(self.born),
            Phase::Waiting => Some(self.since.load(Relaxed)),
            Phase::H2 if self.streams.load(Relaxed) == 0 => Some(self.since.load(Relaxed)),
            Phase::Active | Phase::H2 | Phase::Closing => None,
        }
    }
}

thread_local! {
    /// The connections whose tasks run on this thread (a worker runs all of
    /// its connections on its one thread), by the task that serves them.
    static BY_TASK: std::cell::RefCell<
        std::collections::HashMap<tokio::task::Id, Arc<Ctl>, foldhash::fast::RandomState>,
    > = std::cell::RefCell::default();
}

/// Makes `ctl` the connection of the current task until the guard drops
/// (for [`request_head_read`]).
pub(crate) fn serve_in_this_task(ctl: &Arc<Ctl>) -> Option<TaskEntry> {
    let id = tokio::task::try_id()?;
    BY_TASK.with(|m| m.borrow_mut().insert(id, ctl.clone()));
    Some(TaskEntry(id))
}

/// Forgets the current task's connection when dropped.
pub(crate) struct TaskEntry(tokio::task::Id);

impl Drop for TaskEntry {
    fn drop(&mut self) {
        let _ = BY_TASK.try_with(|m| m.borrow_mut().remove(&self.0));
    }
}

/// The proxy read an HTTP/1 request's head (called once per request, from
/// the proxy's first phase, in the connection's own task): the connection
/// is busy, no idle deadline applies. A task-id lookup, not a task-local:
/// a task-local costs a swap on every poll of the request.
pub(crate) fn request_head_read() {
    let Some(id) = tokio::task::try_id() else {
        return;
    };
    BY_TASK.with(|m| {
        if let Some(c) = m.borrow().get(&id) {
            c.head_read();
        }
    });
}
