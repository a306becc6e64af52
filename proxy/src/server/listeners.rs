//! The listeners and their connection pools: the proxy's addresses with
//! their key paths, the start-up lines and health checks' list, the ports
//! checked free before binding, and the bounds on each pool.

use std::sync::Arc;

use attestgate_config::Config;
use prometheus::Registry;

use super::StartError;
use crate::conns::listening::Listener;
use crate::conns::{ConnMetrics, Deadlines, Pool};

/// The proxy's pool and the admin's: the admin's own connections are
/// bounded alike and counted apart, so a flood on the proxy's port never
/// takes the health checks with it.
pub(super) fn pools(
    config: &Config,
    descriptors: Option<crate::conns::rlimit::Descriptors>,
    registry: &Registry,
) -> Result<(Arc<Pool>, Arc<Pool>), StartError> {
    let conn_metrics = ConnMetrics::register(registry)?;
    let proxy_pool = proxy_pool(config, descriptors, conn_metrics);
    let admin_pool = Pool::new(
        1,
        ADMIN_MAX_CONNECTIONS,
        proxy_pool.deadlines,
        config.server.limits.send_timeout,
        None,
    );
    Ok((proxy_pool, admin_pool))
}

/// Refuses to start when a configured port is taken (`SO_REUSEPORT` would
/// otherwise share it with whatever holds it); not for `serve --upgrade`,
/// which takes the running process's sockets over.
pub(super) fn ensure_free(config: &Config) -> Result<(), StartError> {
    let admin = config
        .admin
        .iter()
        .map(|a| ("admin.listen".to_owned(), a.listen));
    for (key, addr) in keyed_listeners(config).into_iter().chain(admin) {
        super::workers::ensure_free(addr)
            .map_err(|e| StartError::Listener(format!("{key}: {e}")))?;
    }
    Ok(())
}

/// Connections on the admin listener: probes, scrapes and people.
const ADMIN_MAX_CONNECTIONS: usize = 32;

/// The proxy listeners' connection pool: `max_connections` (configured,
/// or half the descriptor limit less 64), logged with the limit.
fn proxy_pool(
    config: &Config,
    descriptors: Option<crate::conns::rlimit::Descriptors>,
    metrics: ConnMetrics,
) -> Arc<Pool> {
    let s = &config.server;
    let soft = descriptors.map_or(1024, |d| d.soft);
    metrics
        .descriptors
        .set(i64::try_from(soft).unwrap_or(i64::MAX));
    let max = match s.limits.max_connections {
        Some(n) => {
            if n as u64 > soft.saturating_sub(64) {
                tracing::warn!(
                    "server.max_connections {n} leaves fewer than 64 of the {soft} descriptors for upstream connections, the admin and files"
                );
            }
            tracing::info!("max_connections {n} (server.max_connections)");
            n
        }
        None => {
            let n = crate::conns::rlimit::default_max_connections(soft);
            tracing::info!(
                "max_connections {n} (half the descriptor limit less 64; set server.max_connections to choose)"
            );
            n
        }
    };
    Pool::new(
        s.threads,
        max,
        Deadlines::new(&s.limits, s.grace_period),
        s.limits.send_timeout,
        Some(metrics),
    )
}

/// The proxy's listen addresses with their key paths.
pub(super) fn keyed_listeners(config: &Config) -> Vec<(String, std::net::SocketAddr)> {
    let s = &config.server;
    let plain = s
        .listen
        .iter()
        .enumerate()
        .map(|(i, a)| (format!("server.listen[{i}]"), *a));
    let tls = s
        .tls
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("server.tls[{i}].listen"), t.listen));
    plain.chain(tls).collect()
}

/// The listeners, for the start-up lines and the health checks.
pub(super) fn listeners(config: &Config, demo_socket: &str, uses_demo: bool) -> Vec<Listener> {
    let s = &config.server;
    let workers = s.threads;
    let sockets = |addr: std::net::SocketAddr| {
        (0..workers)
            .map(|w| (w, super::workers::listener_name(addr, w)))
            .collect()
    };
    let mut out = Vec::new();
    for (i, addr) in s.listen.iter().enumerate() {
        out.push(Listener {
            key: format!("server.listen[{i}]"),
            addr: addr.to_string(),
            what: format!("plain HTTP/1.1 and h2c, the proxy ({workers} workers)"),
            sockets: sockets(*addr),
        });
    }
    for (i, t) in s.tls.iter().enumerate() {
        out.push(Listener {
            key: format!("server.tls[{i}].listen"),
            addr: t.listen.to_string(),
            what: format!("TLS (h2 or HTTP/1.1 by ALPN), the proxy ({workers} workers)"),
            sockets: sockets(t.listen),
        });
    }
    if let Some(a) = &config.admin {
        out.push(Listener {
            key: "admin.listen".to_owned(),
            addr: a.listen.to_string(),
            what: "plain HTTP/1.1, the admin endpoints /healthz, /readyz, /metrics".to_owned(),
            sockets: vec![(0, a.listen.to_string())],
        });
    }
    if uses_demo {
        out.push(Listener {
            key: "upstream = \"demo\"".to_owned(),
            addr: demo_socket.to_owned(),
            what: "unix socket, the built-in demo echo upstream".to_owned(),
            sockets: Vec::new(),
        });
    }
    out
}
