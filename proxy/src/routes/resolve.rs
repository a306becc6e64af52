//! Upstream re-resolution (`[[route]] resolve_interval`): a name is
//! resolved again every interval, requests are spread over every address
//! found, and an address that refuses connections is skipped until the
//! next resolve. For an ALB/ELB name whose addresses rotate.
//!
//! Wired in by `routes.rs` (a route with `resolve_interval` holds an
//! [`Addresses`]), `gateway.rs` (`upstream_peer` picks, `fail_to_connect`
//! marks) and `server.rs` (one [`Refresher`] background service per such
//! route). The pieces:
//!
//! - [`Addresses`]: the current list for one upstream, one immutable
//!   snapshot behind one `ArcSwap` (one writer: the [`Refresher`]; a pick
//!   is a load and an atomic add). A new snapshot clears every "refused"
//!   mark.
//! - [`Refresher::run`]: the background service (e.g. a Pingora
//!   `BackgroundService`): resolves every `interval` with a [`Resolve`];
//!   a failed or empty answer keeps the last good list (logged once per
//!   change of state).
//! - [`Addresses::pick`]: round-robin over the addresses not marked as
//!   refusing (all of them if every one is); [`Addresses::refused`] marks
//!   one after a refused connection (Pingora's `fail_to_connect` is where
//!   the proxy learns it).
//!
//! Pingora's own `pingora-load-balancing` (`LoadBalancer` with a
//! `ServiceDiscovery`) would do the spreading, but it keeps the backends
//! and their health in two separately swapped structures, pulls in another
//! crate family, and has no "skip until the next resolve" rule; this is
//! one snapshot and about a hundred lines.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use arc_swap::ArcSwap;
use std::time::Duration;

/// Turns a name into addresses.
pub trait Resolve: Send + Sync + 'static {
    /// The addresses of `host` with `port`.
    fn resolve(
        &self,
        host: &str,
        port: u16,
    ) -> impl Future<Output = std::io::Result<Vec<SocketAddr>>> + Send;
}

/// The system's resolver (`getaddrinfo`, through tokio).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    async fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        Ok(tokio::net::lookup_host((host, port)).await?.collect())
    }
}

/// A resolver reading a hosts-format file (`ADDRESS NAME [ALIAS...]`,
/// `#` comments) at every call: a name has every address listed for it,
/// in file order. For tests, and for pinning names without DNS.
#[derive(Clone, Debug)]
pub struct HostsFile(pub PathBuf);

impl Resolve for HostsFile {
    async fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        self.lookup(host, port)
    }
}

/// The system resolver, or `[server] hosts_file`.
#[derive(Clone, Debug)]
pub enum AnyResolver {
    /// `getaddrinfo`.
    System(SystemResolver),
    /// A hosts-format file.
    Hosts(HostsFile),
}

impl AnyResolver {
    /// The hosts file's resolver if one is given, else the system's.
    pub fn new(hosts_file: Option<&std::path::Path>) -> AnyResolver {
        match hosts_file {
            Some(p) => AnyResolver::Hosts(HostsFile(p.to_owned())),
            None => AnyResolver::System(SystemResolver),
        }
    }

    /// Resolves now, blocking (at start, before the runtime runs).
    pub fn lookup_now(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        match self {
            AnyResolver::Hosts(h) => h.lookup(host, port),
            AnyResolver::System(_) => {
                std::net::ToSocketAddrs::to_socket_addrs(&(host, port)).map(Iterator::collect)
            }
        }
    }
}

impl Resolve for AnyResolver {
    async fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        match self {
            AnyResolver::System(r) => r.resolve(host, port).await,
            AnyResolver::Hosts(r) => r.resolve(host, port).await,
        }
    }
}

impl HostsFile {
    /// The addresses the file lists for `host`, in file order.
    pub fn lookup(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        let text = std::fs::read_to_string(&self.0)?;
        let mut out = Vec::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or_default();
            let mut words = line.split_whitespace();
            let Some(ip) = words
                .next()
                .and_then(|w| w.parse::<std::net::IpAddr>().ok())
            else {
                continue;
            };
            if words.any(|w| w.eq_ignore_ascii_case(host)) {
                out.push(SocketAddr::new(ip, port));
            }
        }
        Ok(out)
    }
}

/// One resolve's answer, with a "refused" mark per address.
#[derive(Debug)]
struct Snapshot {
    addrs: Vec<SocketAddr>,
    refused: Vec<AtomicBool>,
    generation: u64,
}

/// The addresses of one upstream now. Cheap to share (`Arc`).
#[derive(Debug)]
pub struct Addresses {
    current: ArcSwap<Snapshot>,
    next: AtomicUsize,
}

impl Addresses {
    /// A list starting with `initial` (the resolve done at start).
    pub fn new(initial: Vec<SocketAddr>) -> Arc<Addresses> {
        Arc::new(Addresses {
            current: ArcSwap::from_pointee(Snapshot {
                refused: initial.iter().map(|_| AtomicBool::new(false)).collect(),
                addrs: initial,
                generation: 0,
            }),
            next: AtomicUsize::new(0),
        })
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Every address, in the resolver's order.
    pub fn all(&self) -> Vec<SocketAddr> {
        self.snapshot().addrs.clone()
    }

    /// How many resolves changed the list so far.
    pub fn generation(&self) -> u64 {
        self.snapshot().generation
    }

    /// The next address, round-robin over those not marked as refusing
    /// (over all of them when every one is marked). `None` only for an
    /// empty list.
    pub fn pick(&self) -> Option<SocketAddr> {
        let s = self.snapshot();
        let n = s.addrs.len();
        if n == 0 {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| !s.refused[i].load(Ordering::Relaxed))
            .or(Some(start % n))
            .map(|i| s.addrs[i])
    }

    /// `addr` refused a connection: skip it until the next resolve.
    pub fn refused(&self, addr: SocketAddr) {
        let s = self.snapshot();
        if let Some(i) = s.addrs.iter().position(|a| *a == addr) {
            s.refused[i].store(true, Ordering::Relaxed);
        }
    }

    /// Installs a new answer (clearing every mark), unless it is empty.
    /// Returns whether the list changed.
    fn install(&self, mut addrs: Vec<SocketAddr>) -> bool {
        addrs.dedup();
        if addrs.is_empty() {
            return false;
        }
        // One writer (the refresher): load, build, store.
        let cur = self.current.load();
        let changed = cur.addrs != addrs;
        let generation = cur.generation + u64::from(changed);
        self.current.store(Arc::new(Snapshot {
            refused: addrs.iter().map(|_| AtomicBool::new(false)).collect(),
            addrs,
            generation,
        }));
        changed
    }
}

/// Re-resolves one upstream name every `interval` into its [`Addresses`].
#[derive(Debug)]
pub struct Refresher<R> {
    /// The name.
    pub host: String,
    /// The port every address gets.
    pub port: u16,
    /// Time between resolves.
    pub interval: Duration,
    /// Where the answers come from.
    pub resolver: R,
    /// Where they go.
    pub addrs: Arc<Addresses>,
}

impl<R: Resolve> Refresher<R> {
    /// Resolves once now; the new answer is installed unless it failed or
    /// is empty. Returns the error or "empty" as a short reason.
    pub async fn resolve_once(&self) -> Result<bool, String> {
        match self.resolver.resolve(&self.host, self.port).await {
            Ok(a) if a.is_empty() => Err("no address".into()),
            Ok(a) => Ok(self.addrs.install(a)),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Resolves every `interval` until `shutdown` resolves.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut failing = false;
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(self.interval.max(Duration::from_millis(100))) => {}
            }
            match self.resolve_once().await {
                Ok(changed) => {
                    if changed || failing {
                        tracing::info!(host = %self.host, addrs = ?self.addrs.all(), "upstream resolved");
                    }
                    failing = false;
                }
                Err(why) if !failing => {
                    failing = true;
                    tracing::warn!(host = %self.host, "upstream not resolved, the last addresses stay: {why}");
                }
                Err(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn picks_spread_evenly_and_skip_refusing_addresses_until_the_next_resolve() {
        let a = Addresses::new(vec![
            addr("127.0.0.2:80"),
            addr("127.0.0.3:80"),
            addr("127.0.0.4:80"),
        ]);
        let mut counts = std::collections::HashMap::new();
        for _ in 0..300 {
            *counts.entry(a.pick().unwrap()).or_insert(0) += 1;
        }
        assert!(counts.values().all(|&c| c == 100), "{counts:?}");
        a.refused(addr("127.0.0.3:80"));
        for _ in 0..50 {
            assert_ne!(a.pick(), Some(addr("127.0.0.3:80")));
        }
        // Every one refusing: still try them rather than fail unseen.
        a.refused(addr("127.0.0.2:80"));
        a.refused(addr("127.0.0.4:80"));
        assert!(a.pick().is_some());
        // The same answer again clears the marks, without a new generation.
        assert!(!a.install(a.all()));
        assert_eq!(a.generation(), 0);
        let seen: std::collections::HashSet<_> = (0..3).map(|_| a.pick().unwrap()).collect();
        assert_eq!(seen.len(), 3);
        // Unknown addresses are ignored; an empty answer changes nothing.
        a.refused(addr("10.0.0.1:80"));
        assert!(!a.install(Vec::new()));
        assert_eq!(a.all().len(), 3);
        assert_eq!(Addresses::new(Vec::new()).pick(), None);
    }
}
