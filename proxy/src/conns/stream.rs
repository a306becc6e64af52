//! The client stream as Pingora sees it, wrapped to note two things for
//! the connection's deadlines: when bytes arrive (the first ones of a
//! request head, and the HTTP/2 preface) and since when a write has been
//! waiting for the client. Everything else is the inner stream's.
//!
//! When Pingora is done with an HTTP/2 connection (after its GOAWAY), the
//! socket is not closed at once: closing a socket with unread bytes (the
//! client's last acknowledgements, a TLS `close_notify`) resets it, and a
//! reset can make the client lose the GOAWAY. It is shut down for writing
//! (TLS: `close_notify` first) and read until the client closes, for at
//! most [`LINGER`].

use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use pingora_core::protocols::raw_connect::ProxyDigest;
use pingora_core::protocols::tls::{SslDigest, TlsRef};
use pingora_core::protocols::{
    ALPN, GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl,
    Stream, TimingDigest, UniqueID, UniqueIDType,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::ctl::Ctl;

/// The client preface every HTTP/2 connection starts with (RFC 9113 §3.4).
pub(crate) const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// `preface` once the first bytes were not the preface.
const NOT_H2: usize = usize::MAX;
/// How long a finished HTTP/2 connection waits for its client to close.
const LINGER: Duration = Duration::from_secs(1);

pub(crate) struct ConnStream {
    inner: Stream,
    ctl: Arc<Ctl>,
    /// Bytes of the HTTP/2 preface seen so far at the start of the
    /// connection, or [`NOT_H2`].
    preface: usize,
    /// What was read while the connection's recording ran
    /// ([`Ctl::start_recording`]), and that recording's generation.
    recorded: Vec<u8>,
    recorded_gen: u32,
}

impl ConnStream {
    pub(crate) fn new(inner: Stream, ctl: Arc<Ctl>) -> ConnStream {
        ConnStream {
            inner,
            ctl,
            preface: 0,
            recorded: Vec::new(),
            recorded_gen: 0,
        }
    }

    /// What the client sent since the connection's recording started (the
    /// lean path hands a request it does not serve to Pingora's proxy as
    /// these bytes). Empty if no recording ran.
    pub(crate) fn take_recorded(&mut self) -> Vec<u8> {
        self.recorded_gen = 0;
        std::mem::take(&mut self.recorded)
    }

    fn record(&mut self, bytes: &[u8]) {
        let Some(generation) = self.ctl.recording() else {
            return;
        };
        if generation != self.recorded_gen {
            // A head of any size may have been recorded before: keep at
            // most a common head's room between requests.
            if self.recorded.capacity() > 16 * 1024 {
                self.recorded = Vec::new();
            }
            self.recorded.clear();
            self.recorded_gen = generation;
        }
        self.recorded.extend_from_slice(bytes);
    }

    fn saw(&mut self, bytes: &[u8]) {
        if self.preface < H2_PREFACE.len() {
            let want = &H2_PREFACE[self.preface..];
            let n = want.len().min(bytes.len());
            if bytes[..n] == want[..n] {
                self.preface += n;
                if self.preface == H2_PREFACE.len() {
                    self.ctl.h2_preface();
                }
            } else {
                self.preface = NOT_H2;
            }
        }
        self.ctl.saw_bytes();
    }
}

impl Drop for ConnStream {
    fn drop(&mut self) {
        if self.preface != H2_PREFACE.len() || self.ctl.is_killed() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let placeholder: Stream = Box::new(std::io::Cursor::new(Vec::<u8>::new()));
        let mut inner = std::mem::replace(&mut self.inner, placeholder);
        // The sweeper's bound on the linger.
        let linger_ms = u64::try_from(LINGER.as_millis()).unwrap_or(1000);
        self.ctl.close_by(crate::clock::now_ms() + 2 * linger_ms);
        runtime.spawn(async move {
            let _ = tokio::time::timeout(LINGER, async {
                inner.shutdown().await;
                let mut buf = [0u8; 1024];
                while matches!(tokio::io::AsyncReadExt::read(&mut inner, &mut buf).await, Ok(n) if n > 0) {}
            })
            .await;
        });
    }
}

impl std::fmt::Debug for ConnStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnStream")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl AsyncRead for ConnStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.saw(&buf.filled()[before..]);
            this.record(&buf.filled()[before..]);
        }
        r
    }
}

impl AsyncWrite for ConnStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.ctl.write_progress(r.is_pending());
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.ctl.write_progress(r.is_pending());
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_flush(cx);
        this.ctl.write_progress(r.is_pending());
        r
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.ctl.write_progress(r.is_pending());
        r
    }
}

#[async_trait]
impl Shutdown for ConnStream {
    async fn shutdown(&mut self) {
        self.inner.shutdown().await;
    }
}

impl UniqueID for ConnStream {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for ConnStream {
    fn get_ssl(&self) -> Option<&TlsRef> {
        self.inner.get_ssl()
    }

    fn get_ssl_digest(&self) -> Option<Arc<SslDigest>> {
        self.inner.get_ssl_digest()
    }

    fn selected_alpn_proto(&self) -> Option<ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for ConnStream {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }

    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }

    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for ConnStream {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.inner.get_proxy_digest()
    }

    fn set_proxy_digest(&mut self, digest: ProxyDigest) {
        self.inner.set_proxy_digest(digest);
    }
}

impl GetSocketDigest for ConnStream {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }

    fn set_socket_digest(&mut self, socket_digest: SocketDigest) {
        self.inner.set_socket_digest(socket_digest);
    }
}

#[async_trait]
impl Peek for ConnStream {
    async fn try_peek(&mut self, buf: &mut [u8]) -> std::io::Result<bool> {
        self.inner.try_peek(buf).await
    }
}
