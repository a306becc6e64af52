//! The route table: which route a request belongs to, and where it goes.
//!
//! The upstream is fixed by the route alone. The client's `Host` (or
//! `:authority`) only selects among routes configured with a `host`; nothing
//! a client sends — `Host`, an absolute-form target, `X-Forwarded-Host` —
//! can make a request (or a substituted secret) go anywhere else.

mod build;
mod peers;
pub(crate) mod ratelimit;
pub(crate) mod replay;
pub mod resolve;

use std::sync::Arc;
use std::time::Duration;

use attestgate::substitute::Substitution;
use attestgate::{RouteMetrics, Verifier};
use http::{HeaderName, HeaderValue};

use peers::Peers;
use resolve::{Addresses, AnyResolver, Refresher};

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
    /// With `resolve_interval`: the upstream's addresses now (requests
    /// spread over them; `None`: the peer's one address).
    pub(crate) addresses: Option<Arc<Addresses>>,
    /// Its refresher, taken by the server to run as a background service.
    pub(crate) re_resolve: std::sync::Mutex<Option<Refresher<AnyResolver>>>,
    /// Headers for the upstream from claims of the passing token.
    pub(crate) forward_claims: Vec<HeaderName>,
    /// The claim each of `forward_claims` carries, in the same order.
    pub(crate) claim_names: Vec<String>,
    /// Keep the token header upstream.
    pub(crate) forward_token: bool,
    /// The upstream peers (one per HTTP version this route may speak), with
    /// their timeouts and TLS settings.
    pub(crate) peers: Peers,
    /// `Host` sent upstream.
    pub(crate) upstream_host: HeaderValue,
    /// Placeholders to replace.
    pub(crate) substitutions: Vec<Arc<Substitution>>,
    /// Pre-resolved metric handles.
    pub(crate) metrics: RouteMetrics,
    /// `[[route.rate_limit]]`, checked after the token decision.
    pub(crate) rate_limits: Option<Arc<attestgate::ratelimit::RateLimits>>,
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

/// What every route is built with.
pub(crate) struct RouteEnv<'a> {
    /// Where the built-in echo service listens.
    pub(crate) demo_socket: &'a str,
    /// How long idle upstream connections are kept.
    pub(crate) keepalive_idle: Duration,
    /// The base verifier (`None` without a `[token]` section).
    pub(crate) verifier: Option<&'a Verifier>,
    /// How upstream names are resolved.
    pub(crate) resolver: &'a AnyResolver,
    /// The replay stores, one per Redis URL.
    pub(crate) stores: &'a mut replay::Stores,
    /// The rate limits' metrics and Redis stores.
    pub(crate) limits: &'a mut ratelimit::LimitEnv,
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
