//! The lean path's upstream connections: the one a client connection used
//! last stays with it ([`Held`]), the others wait in their worker's
//! [`Idle`] list. No task watches an idle connection: it is checked when
//! it is taken (closed by the upstream, or sent bytes nobody asked for:
//! not reused), and dropped once older than the idle limit.

use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use pingora_core::protocols::Stream;
use tokio::io::{AsyncRead, ReadBuf};

/// Idle connections kept per worker, all upstreams together.
const IDLE_PER_WORKER: usize = 128;

/// An upstream connection not in use, for the peer whose reuse hash is
/// `key`.
struct Parked {
    key: u64,
    stream: Stream,
    since: Instant,
    /// The peer's idle limit: older, it is not reused.
    idle_for: Duration,
}

impl Parked {
    fn fresh(&self) -> bool {
        self.since.elapsed() < self.idle_for
    }
}

/// Whether a parked connection can carry a request: open, nothing unread.
/// One non-blocking read (none when the runtime already knows the socket
/// has nothing to read).
fn alive(stream: &mut Stream) -> bool {
    let mut byte = [0u8; 1];
    let mut buf = ReadBuf::new(&mut byte);
    let mut cx = Context::from_waker(Waker::noop());
    // Pending: open and silent. Ready: closed (0 bytes), an error, or
    // bytes no request asked for; none of them can be reused.
    matches!(Pin::new(stream).poll_read(&mut cx, &mut buf), Poll::Pending)
}

/// The upstream connection a client connection used last.
#[derive(Default)]
pub(super) struct Held(Option<Parked>);

impl Held {
    /// The held connection if it is for `key`, fresh and alive (and how
    /// long it was idle); a held connection for another peer goes to
    /// `idle`.
    pub(super) fn take(&mut self, key: u64, idle: &Idle) -> Option<(Stream, Duration)> {
        let p = self.0.take()?;
        if p.key != key {
            idle.put(p);
            return None;
        }
        idle.usable(p)
    }

    pub(super) fn put(&mut self, key: u64, stream: Stream, idle_for: Duration) {
        self.0 = Some(Parked {
            key,
            stream,
            since: Instant::now(),
            idle_for,
        });
    }

    /// The client connection ends: its upstream connection waits for
    /// another.
    pub(super) fn release(&mut self, idle: &Idle) {
        if let Some(p) = self.0.take() {
            idle.put(p);
        }
    }
}

/// One worker's idle upstream connections (newest last). The worker's
/// runtime has one thread: the lock is never contended.
#[derive(Default)]
pub(super) struct Idle {
    parked: Mutex<Vec<Parked>>,
}

impl Idle {
    fn usable(&self, mut p: Parked) -> Option<(Stream, Duration)> {
        let idle_for = p.since.elapsed();
        (idle_for < p.idle_for && alive(&mut p.stream)).then_some((p.stream, idle_for))
    }

    /// The newest usable idle connection for `key`, and how long it was
    /// idle.
    pub(super) fn take(&self, key: u64) -> Option<(Stream, Duration)> {
        loop {
            let p = {
                let mut parked = self.parked.lock().ok()?;
                let i = parked.iter().rposition(|p| p.key == key)?;
                parked.remove(i)
            };
            if let Some(s) = self.usable(p) {
                return Some(s);
            }
        }
    }

    fn put(&self, p: Parked) {
        let Ok(mut parked) = self.parked.lock() else {
            return;
        };
        parked.retain(Parked::fresh);
        if parked.len() >= IDLE_PER_WORKER {
            // The oldest goes.
            parked.remove(0);
        }
        parked.push(p);
    }
}
