//! `[server]` connection limits: how long a client may take over each part
//! of a connection, and how many connections may be open. Every default is
//! of nginx's order of magnitude; docs/DEPLOY.md lists them and
//! docs/DECISIONS.md ("Bounded connections") says why each is what it is.

use std::time::Duration;

use crate::checker::Checker;
use crate::raw::RawServer;

/// Default `request_header_timeout`: a connection's first request head
/// (TLS handshake included), or a later one from its first byte.
pub const DEFAULT_REQUEST_HEADER_TIMEOUT: Duration = Duration::from_secs(15);
/// Default `keepalive_timeout`: an HTTP/1 connection with no request.
pub const DEFAULT_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(75);
/// Default `h2_idle_timeout`: an HTTP/2 connection with no open stream.
pub const DEFAULT_H2_IDLE_TIMEOUT: Duration = Duration::from_secs(75);
/// Default `send_timeout`: a write (or an HTTP/2 stream waiting for the
/// client's flow-control window) that makes no progress.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// Default `h2_max_concurrent_streams` (Pingora's own default).
pub const DEFAULT_H2_MAX_CONCURRENT_STREAMS: u32 = 100;
/// Default `h2_max_send_buffer`: response bytes buffered per HTTP/2 stream
/// for a client that does not read.
pub const DEFAULT_H2_MAX_SEND_BUFFER: usize = 64 * 1024;

/// The connection limits of `[server]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnLimits {
    /// A new connection must deliver a complete request head (after its TLS
    /// handshake, or its HTTP/2 preface and first stream's headers) within
    /// this; a kept-alive HTTP/1 connection, its next head within this of
    /// its first byte. The clock never restarts per byte.
    pub request_header_timeout: Duration,
    /// An HTTP/1 connection between requests is closed after this.
    pub keepalive_timeout: Duration,
    /// An HTTP/2 connection with no open stream gets a GOAWAY after this.
    pub h2_idle_timeout: Duration,
    /// A write to the client (or an HTTP/2 stream waiting for window) that
    /// makes no progress this long closes the connection (or resets the
    /// stream), releasing the upstream.
    pub send_timeout: Duration,
    /// Optional: a connection older than this is closed gracefully (HTTP/1
    /// after its current request, HTTP/2 with a GOAWAY).
    pub max_connection_age: Option<Duration>,
    /// Cap on open downstream connections for the whole process; `None`:
    /// derived from the descriptor limit at start (half of it, less 64).
    pub max_connections: Option<usize>,
    /// Streams one HTTP/2 connection may have open at once.
    pub h2_max_concurrent_streams: u32,
    /// Response bytes buffered per HTTP/2 stream for a client that does
    /// not read.
    pub h2_max_send_buffer: usize,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            request_header_timeout: DEFAULT_REQUEST_HEADER_TIMEOUT,
            keepalive_timeout: DEFAULT_KEEPALIVE_TIMEOUT,
            h2_idle_timeout: DEFAULT_H2_IDLE_TIMEOUT,
            send_timeout: DEFAULT_SEND_TIMEOUT,
            max_connection_age: None,
            max_connections: None,
            h2_max_concurrent_streams: DEFAULT_H2_MAX_CONCURRENT_STREAMS,
            h2_max_send_buffer: DEFAULT_H2_MAX_SEND_BUFFER,
        }
    }
}

/// A duration with a floor and a ceiling, reported with its key path.
fn bounded(
    c: &mut Checker<'_>,
    key: &str,
    value: Option<&String>,
    default: Duration,
    max: Duration,
) -> Duration {
    let path = format!("server.{key}");
    let d = c.duration(&path, value, default);
    let min = Duration::from_millis(100);
    if d < min || d > max {
        c.problem(
            path,
            format!(
                "{} is out of range; use 100ms to {} (default {})",
                humantime::format_duration(d),
                humantime::format_duration(max),
                humantime::format_duration(default)
            ),
        );
        return default;
    }
    d
}

/// The limits of `[server]`, every problem recorded in `c`.
pub(crate) fn check(c: &mut Checker<'_>, s: &RawServer) -> ConnLimits {
    let d = ConnLimits::default();
    let hour = Duration::from_secs(3600);
    // Above 60s Pingora itself closes a connection that has sent nothing
    // for 60s before its first request: a longer deadline would not hold.
    let request_header_timeout = bounded(
        c,
        "request_header_timeout",
        s.request_header_timeout.as_ref(),
        d.request_header_timeout,
        Duration::from_secs(60),
    );
    let keepalive_timeout = bounded(
        c,
        "keepalive_timeout",
        s.keepalive_timeout.as_ref(),
        d.keepalive_timeout,
        hour,
    );
    let h2_idle_timeout = bounded(
        c,
        "h2_idle_timeout",
        s.h2_idle_timeout.as_ref(),
        d.h2_idle_timeout,
        hour,
    );
    let send_timeout = bounded(
        c,
        "send_timeout",
        s.send_timeout.as_ref(),
        d.send_timeout,
        Duration::from_secs(600),
    );
    let max_connection_age = s.max_connection_age.as_ref().map(|v| {
        bounded(
            c,
            "max_connection_age",
            Some(v),
            Duration::from_secs(3600),
            Duration::from_secs(7 * 24 * 3600),
        )
    });
    let max_connections = match s.max_connections {
        None => None,
        Some(n) if (1..=10_000_000).contains(&n) => Some(n as usize),
        Some(n) => {
            c.problem(
                "server.max_connections",
                format!(
                    "{n} is out of range; use 1 to 10000000, or remove it to derive the cap from the descriptor limit (half of it, less 64)"
                ),
            );
            None
        }
    };
    ConnLimits {
        request_header_timeout,
        keepalive_timeout,
        h2_idle_timeout,
        send_timeout,
        max_connection_age,
        max_connections,
        h2_max_concurrent_streams: c.int_in(
            "server.h2_max_concurrent_streams",
            s.h2_max_concurrent_streams,
            1,
            1000,
            i64::from(d.h2_max_concurrent_streams),
        ) as u32,
        h2_max_send_buffer: c.int_in(
            "server.h2_max_send_buffer",
            s.h2_max_send_buffer,
            4096,
            16 << 20,
            d.h2_max_send_buffer as i64,
        ) as usize,
    }
}
