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
use attestgate::{RouteMetrics, Verifier};
use attestgate_config::{RouteConfig, SubstituteTarget, Upstream};
use http::{HeaderName, HeaderValue};
use pingora_core::upstreams::peer::HttpPeer;

/// One route, ready to serve: its peer is built once, at start.
pub(crate) struct Route {
    /// Config name (metric label, logs).
    pub(crate) name: Arc<str>,
    /// Lower-case host to match, if any.
    pub(crate) host: Option<String>,
    /// Path prefix to match.
    pub(crate) path_prefix: String,
    /// The route's own handle on the verifier: shared keys and cache, the
    /// route's policy (`None` only without a `[token]` section, where
    /// every route has `token = "off"`).
    pub(crate) verifier: Option<Verifier>,
    /// Headers for the upstream from claims of the passing token.
    pub(crate) forward_claims: Vec<HeaderName>,
    /// The claim each of `forward_claims` carries, in the same order.
    pub(crate) claim_names: Vec<String>,
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
    /// The replay store's metrics could not be registered.
    #[error("route[{index}].policy.message_signing: metrics: {why}")]
    Metrics {
        /// Route position.
        index: usize,
        /// Registry error.
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
        verifier: Option<&Verifier>,
        stores: &mut crate::replay::Stores,
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
            verifier: match verifier {
                Some(v) => Some(
                    v.with_policy_and_replay_store(
                        cfg.policy.clone(),
                        stores
                            .for_policy(&cfg.policy)
                            .map_err(|e| RouteError::Metrics {
                                index,
                                why: e.to_string(),
                            })?,
                    ),
                ),
                None => None,
            },
            forward_claims: cfg.forward_claims.iter().map(|(h, _)| h.clone()).collect(),
            claim_names: cfg.forward_claims.iter().map(|(_, c)| c.clone()).collect(),
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

    /// The route for a request to the canonical `host` name and canonical
    /// `path` (`*` is matched as `/`); the index is stable for the table's
    /// life. `insensitive`: prefixes match ignoring ASCII case.
    pub(crate) fn find(&self, host: &str, path: &str, insensitive: bool) -> Option<usize> {
        let path = if path == "*" { "/" } else { path };
        self.routes.iter().position(|r| {
            attestgate::target::path_has_prefix(path, &r.path_prefix, insensitive)
                && r.host.as_deref().is_none_or(|want| want == host)
        })
    }

    /// The route at `index`.
    pub(crate) fn get(&self, index: usize) -> Option<&Route> {
        self.routes.get(index)
    }
}
