//! attestgate's test kit: real servers on 127.0.0.1 and token helpers.
//!
//! - [`http::TestServer`]: a hyper server on an ephemeral loopback port that
//!   answers with a closure you give it.
//! - [`jwks::JwksServer`]: a JWKS endpoint whose answers the test scripts
//!   (keys, 500, HTML, truncated JSON, oversize, hang, ETag, max-age) and
//!   that counts fetches.
//! - [`upstream::RecordingUpstream`]: an upstream that records every request
//!   it sees (so a test can prove a rejected request never arrived) and
//!   echoes it back, or answers as scripted.
//! - [`tokens::TestKeys`]: signing keys of every family and minting at run
//!   time (tokens are never checked in: they would expire).
//! - [`client`]: a small HTTP/1 client for tests.
//! - [`pki`]: the one test PKI, made at run time (rcgen): private CAs,
//!   intermediates and cross-signatures, leaves of any validity and
//!   extended key usage, client certificates, pins computed independently,
//!   TLS server configurations that demand a client certificate.
//! - [`tls`]: the kit's HTTPS identity (`localhost`, `other`) from that
//!   PKI, HTTPS servers and clients that use it, and TLS servers serving
//!   any chain (swappable, or silent) for the pinning tests.
//! - [`connect::ConnectProxy`]: an HTTP CONNECT proxy that counts tunnels.
//! - [`forge`]: tokens built byte by byte (padded, re-keyed, HS512, public
//!   keys as HMAC secrets) for the rejection tests.
//! - [`msgsig`]: an Approov-style installation signer and Approov's
//!   published message-signing vectors.
//! - [`redis::RedisServer`]: a real `redis-server` on a free loopback port.
//! - [`grpc::GrpcUpstream`]: a tonic server (h2c or TLS) that records the
//!   metadata of every call, and channels to reach it.
//! - [`h2::H2Conn`]: an HTTP/2-only client on one connection (h2c or TLS).
//! - [`ws::WsUpstream`]: a WebSocket echo server that records handshakes;
//!   [`ws::connect`] the client.
//! - [`apps`]: real app servers (wsgiref, Flask under gunicorn, nginx,
//!   Node) that fold header names their own way.
//! - [`parity`]: one table of token cases that the core, the tower layer and
//!   the proxy must decide alike.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

pub mod apps;
pub mod client;
pub mod connect;
pub mod forge;
pub mod grpc;
pub mod h2;
pub mod http;
pub mod jwks;
pub mod logs;
pub mod msgsig;
pub mod parity;
pub mod peers;
pub mod pki;
pub mod proxy;
pub mod redis;
pub mod reference;
pub mod tls;
pub mod tokens;
pub mod upstream;
pub mod ws;

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The repository root (for fixtures and sample configs).
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A fresh temporary directory, removed on drop.
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("attestgate-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
    pub fn join(&self, name: impl AsRef<std::path::Path>) -> std::path::PathBuf {
        self.0.join(name)
    }
    /// Writes a file atomically (write to a temporary name, then rename), as
    /// deploy tools and Kubernetes secret mounts do.
    pub fn write_atomic(&self, name: &str, contents: impl AsRef<[u8]>) -> std::path::PathBuf {
        let tmp = self.0.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, contents).unwrap();
        let dst = self.0.join(name);
        std::fs::rename(&tmp, &dst).unwrap();
        dst
    }
}

impl std::ops::Deref for TempDir {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl AsRef<std::path::Path> for TempDir {
    fn as_ref(&self) -> &std::path::Path {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for TempDir {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How often the waiting helpers look.
const POLL: std::time::Duration = std::time::Duration::from_millis(20);

/// Polls `cond` every 20 ms until it holds (`true`) or `timeout` passes
/// (`false`). The way to wait for something to happen: never a fixed sleep
/// and then an assertion (too short on a loaded machine, too long
/// everywhere else).
pub async fn eventually<F: FnMut() -> bool>(timeout: std::time::Duration, mut cond: F) -> bool {
    eventually_async(timeout, || std::future::ready(cond())).await
}

/// [`eventually`] for a condition that awaits (a metric read over HTTP, a
/// store).
pub async fn eventually_async<F, Fut>(timeout: std::time::Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if cond().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Whether `cond` holds at every look (every 20 ms) for the whole `window`;
/// `false` at the first look where it does not. How a test shows that
/// something did NOT happen (a second connection, a refetch before its
/// time) when there is no event to wait for: a slow machine can only make
/// it see less, never fail a correct program.
pub async fn holds_for<F: FnMut() -> bool>(window: std::time::Duration, mut cond: F) -> bool {
    holds_for_async(window, || std::future::ready(cond())).await
}

/// [`holds_for`] for a condition that awaits.
pub async fn holds_for_async<F, Fut>(window: std::time::Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + window;
    loop {
        if !cond().await {
            return false;
        }
        if tokio::time::Instant::now() >= end {
            return true;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// [`eventually`] for a test without a runtime: the thread sleeps between
/// looks.
pub fn eventually_blocking<F: FnMut() -> bool>(timeout: std::time::Duration, mut cond: F) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL);
    }
}
