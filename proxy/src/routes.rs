//! The route table: which route a request belongs to, and where it goes.
//!
//! The upstream is fixed by the route alone. The client's `Host` (or
//! `:authority`) only selects among routes configured with a `host`; nothing
//! a client sends — `Host`, an absolute-form target, `X-Forwarded-Host` —
//! can make a request (or a substituted secret) go anywhere else.

use std::net::ToSocketAddrs;
use std::sync::Arc;
use std::time::Duration;

use attestgate::substitute::{self, LiveSecret, Substitution, Target};
use attestgate::{Mode, RouteMetrics};
use attestgate_config::{RouteConfig, SubstituteTarget, TokenRequirement, Upstream};
use http::HeaderValue;
use pingora_core::upstreams::peer::HttpPeer;

/// One route, ready to serve: its peer is built once, at start.
pub(crate) struct Route {
    /// Config name (metric label, logs).
    pub(crate) name: Arc<str>,
    /// Lower-case host to match, if any.
    pub(crate) host: Option<String>,
    /// Path prefix to match.
    pub(crate) path_prefix: String,
    /// Whether the route checks tokens.
    pub(crate) token: TokenRequirement,
    /// Enforce or monitor.
    pub(crate) mode: Mode,
    /// Keep the token header upstream.
    pub(crate) forward_token: bool,
    /// The upstream peer, with its timeouts and TLS settings.
    pub(crate) peer: HttpPeer,
    /// `Host` sent upstream.
    pub(crate) upstream_host: HeaderValue,
    /// Placeholders to replace.
    pub(crate) substitutions: Vec<Arc<Substitution>>,
    /// Pre-resolved metric handles.
    pub(crate) metrics: RouteMetrics,
}

/// Why a route could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// The upstream host did not resolve.
    #[error("route[{index}].upstream: cannot resolve {host}: {why}")]
    Resolve {
        /// Route position.
        index: usize,
        /// The host.
        host: String,
        /// Resolver error.
        why: String,
    },
    /// A substitution secret is unusable.
    #[error("route[{index}].substitute[{sub}].secret: {why}")]
    Secret {
        /// Route position.
        index: usize,
        /// Substitution position.
        sub: usize,
        /// What is wrong (never the value).
        why: String,
    },
}

impl Route {
    /// Prepares a configured route. `demo_socket` is where the built-in echo
    /// service listens.
    pub(crate) fn build(
        index: usize,
        cfg: &RouteConfig,
        demo_socket: &str,
        keepalive_idle: Duration,
        metrics: RouteMetrics,
    ) -> Result<Route, RouteError> {
        let (mut peer, upstream_host) = match &cfg.upstream {
            Upstream::Demo => {
                let peer = HttpPeer::new_uds(demo_socket, false, String::new()).map_err(|e| {
                    RouteError::Resolve {
                        index,
                        host: "demo".into(),
                        why: e.to_string(),
                    }
                })?;
                (peer, HeaderValue::from_static("demo"))
            }
            Upstream::Http { tls, host, port } => {
                let addr = (host.as_str(), *port)
                    .to_socket_addrs()
                    .map_err(|e| e.to_string())
                    .and_then(|mut a| a.next().ok_or_else(|| "no address".to_owned()))
                    .map_err(|why| RouteError::Resolve {
                        index,
                        host: host.clone(),
                        why,
                    })?;
                let default_port = if *tls { 443 } else { 80 };
                let authority = match (host.contains(':'), *port == default_port) {
                    (true, true) => format!("[{host}]"),
                    (true, false) => format!("[{host}]:{port}"),
                    (false, true) => host.clone(),
                    (false, false) => format!("{host}:{port}"),
                };
                let host_header =
                    HeaderValue::from_str(&authority).map_err(|e| RouteError::Resolve {
                        index,
                        host: host.clone(),
                        why: e.to_string(),
                    })?;
                (HttpPeer::new(addr, *tls, host.clone()), host_header)
            }
        };
        let o = &mut peer.options;
        o.connection_timeout = Some(cfg.connect_timeout);
        o.total_connection_timeout = Some(cfg.connect_timeout);
        o.read_timeout = Some(cfg.read_timeout);
        o.write_timeout = Some(cfg.read_timeout);
        o.idle_timeout = Some(keepalive_idle);
        // TLS upstreams: certificate and host name are verified (pingora's
        // defaults, kept explicit here), SNI is the configured host.
        o.verify_cert = true;
        o.verify_hostname = true;

        let mut substitutions = Vec::new();
        for (j, s) in cfg.substitute.iter().enumerate() {
            let (target, check): (Target, fn(&attestgate::Secret) -> Result<(), String>) =
                match &s.target {
                    SubstituteTarget::Header(h) => {
                        (Target::Header(h.clone()), substitute::check_header_value)
                    }
                    SubstituteTarget::Query(q) => {
                        (Target::Query(q.as_str().into()), substitute::check_any)
                    }
                };
            let secret =
                LiveSecret::load(s.secret.clone(), check).map_err(|e| RouteError::Secret {
                    index,
                    sub: j,
                    why: e.to_string(),
                })?;
            substitutions.push(Arc::new(Substitution::new(
                target,
                &s.prefix,
                &s.placeholder,
                secret,
            )));
        }
        Ok(Route {
            name: cfg.name.as_str().into(),
            host: cfg.host.clone(),
            path_prefix: cfg.path_prefix.clone(),
            token: cfg.token,
            mode: cfg.mode,
            forward_token: cfg.forward_token,
            peer,
            upstream_host,
            substitutions,
            metrics,
        })
    }
}

/// The routes, ordered for matching: longest path prefix first, and at equal
/// length a route with a `host` before one without.
pub(crate) struct RouteTable {
    routes: Vec<Route>,
}

impl RouteTable {
    /// Orders the routes for matching.
    pub(crate) fn new(mut routes: Vec<Route>) -> RouteTable {
        routes.sort_by(|a, b| {
            b.path_prefix
                .len()
                .cmp(&a.path_prefix.len())
                .then(b.host.is_some().cmp(&a.host.is_some()))
        });
        RouteTable { routes }
    }

    /// The route for a request to `host` (any case, port ignored) and
    /// `path`; the index is stable for the table's life.
    pub(crate) fn find(&self, host: Option<&str>, path: &str) -> Option<usize> {
        let host = host.map(strip_port);
        self.routes.iter().position(|r| {
            path.starts_with(&r.path_prefix)
                && match (&r.host, host) {
                    (None, _) => true,
                    (Some(want), Some(got)) => want.eq_ignore_ascii_case(got),
                    (Some(_), None) => false,
                }
        })
    }

    /// The route at `index`.
    pub(crate) fn get(&self, index: usize) -> Option<&Route> {
        self.routes.get(index)
    }
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// Whether a path has dot segments (`.`/`..`, also percent-encoded) or a
/// backslash: an upstream that normalises them could be reached through a
/// route it does not belong to (`/public/../admin`), so such requests are
/// refused rather than matched.
pub(crate) fn has_dot_segments(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    if lower.contains('\\') || lower.contains("%5c") {
        return true;
    }
    // An upstream may decode %2F and %2E before it normalises: look at the
    // path as it would.
    let decoded = lower.replace("%2f", "/").replace("%2e", ".");
    decoded.split('/').any(|seg| seg == "." || seg == "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_ignored_when_matching_hosts() {
        assert_eq!(strip_port("api.example.com:8443"), "api.example.com");
        assert_eq!(strip_port("api.example.com"), "api.example.com");
        assert_eq!(strip_port("[::1]:80"), "::1");
    }

    #[test]
    fn dot_segments_are_spotted_in_every_spelling() {
        for bad in [
            "/public/../admin",
            "/a/./b",
            "/a/..",
            "/%2e%2e/x",
            "/a/%2E/b",
            "/a/.%2e/b",
            "/a\\b",
            "/a%5cb",
            "/public%2f..%2fadmin",
        ] {
            assert!(has_dot_segments(bad), "{bad}");
        }
        for ok in [
            "/",
            "/a/b",
            "/a..b/c",
            "/.well-known/x",
            "/a/...",
            "/file.json",
        ] {
            assert!(!has_dot_segments(ok), "{ok}");
        }
    }
}
