//! The route table: which route a request belongs to, and where it goes.
//!
//! The upstream is fixed by the route alone. The client's `Host` (or
//! `:authority`) only selects among routes configured with a `host`; nothing
//! a client sends — `Host`, an absolute-form target, `X-Forwarded-Host` —
//! can make a request (or a substituted secret) go anywhere else.

use std::sync::Arc;
use std::time::Duration;

use attestgate::substitute::{self, LiveSecret, Substitution, Target};
use attestgate::{RouteMetrics, Verifier};

use crate::resolve::{Addresses, AnyResolver, Refresher};
use attestgate_config::{RouteConfig, SubstituteTarget, Upstream, UpstreamProtocol};
use http::{HeaderName, HeaderValue, Version, header};
use pingora_core::protocols::ALPN;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_http::RequestHeader;

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
}

/// Concurrent HTTP/2 streams Pingora opens on one upstream connection
/// before it opens another (its default is 1: one connection per call).
const H2_STREAMS_PER_CONNECTION: usize = 100;

/// The peers of one route, built once at start: the same upstream, spoken
/// to as the route's `protocol` says (DESIGN §8). Pingora does the rest:
/// ALPN [`ALPN::H2`] on a plaintext peer is HTTP/2 with prior knowledge
/// (h2c); on a TLS peer it is what the handshake offers.
pub(crate) struct Peers {
    /// Requests that are neither gRPC nor an upgrade.
    plain: HttpPeer,
    /// gRPC calls (`content-type: application/grpc`, `application/grpc+…`).
    grpc: HttpPeer,
    /// Upgrade requests (WebSocket): HTTP/1.1, the only version that has
    /// `Upgrade`.
    upgrade: HttpPeer,
}

impl Peers {
    /// The peers for `protocol`, from one peer that has the route's
    /// address, TLS and timeouts. `demo` (the built-in echo, a Unix socket)
    /// speaks HTTP/1.1 only.
    fn new(base: HttpPeer, protocol: UpstreamProtocol) -> Peers {
        let tls = base.is_tls();
        let with = |alpn: ALPN| {
            let mut p = base.clone();
            if alpn.get_max_http_version() == 2 {
                p.options.max_h2_streams = H2_STREAMS_PER_CONNECTION;
            }
            p.options.alpn = alpn;
            p
        };
        let http1 = with(ALPN::H1);
        let (plain, grpc) = match protocol {
            UpstreamProtocol::Http1 => (http1.clone(), http1.clone()),
            UpstreamProtocol::H2 => (with(ALPN::H2), with(ALPN::H2)),
            UpstreamProtocol::Auto if tls => (with(ALPN::H2H1), with(ALPN::H2)),
            UpstreamProtocol::Auto => (http1.clone(), with(ALPN::H2)),
        };
        Peers {
            plain,
            grpc,
            upgrade: http1,
        }
    }

    /// The peer for this request: an upgrade goes as HTTP/1.1, a gRPC call
    /// as the route's gRPC peer, the rest as the plain one. Reads only the
    /// request's version and headers; the address is the route's.
    pub(crate) fn for_request(&self, req: &RequestHeader) -> &HttpPeer {
        if req.version == Version::HTTP_11 && req.headers.contains_key(header::UPGRADE) {
            &self.upgrade
        } else if is_grpc_not_web(req) {
            &self.grpc
        } else {
            &self.plain
        }
    }
}

/// `application/grpc`, `application/grpc+proto`, `application/grpc;…`
/// and not gRPC-Web, which is made for HTTP/1.1 and goes like any other
/// request: the core's reading ([`attestgate::grpc_kind`]), the one its
/// refusals use.
fn is_grpc_not_web(req: &RequestHeader) -> bool {
    attestgate::grpc_kind(&req.headers) == Some(attestgate::GrpcKind::Grpc)
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
    pub(crate) stores: &'a mut crate::replay::Stores,
}

impl Route {
    /// Prepares a configured route.
    pub(crate) fn build(
        index: usize,
        cfg: &RouteConfig,
        metrics: RouteMetrics,
        env: &mut RouteEnv<'_>,
    ) -> Result<Route, RouteError> {
        let (demo_socket, keepalive_idle, verifier, resolver) = (
            env.demo_socket,
            env.keepalive_idle,
            env.verifier,
            env.resolver,
        );
        let stores = &mut *env.stores;
        let mut re_resolve = None;
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
                let all = resolver
                    .lookup_now(host, *port)
                    .map_err(|e| e.to_string())
                    .and_then(|a| {
                        if a.is_empty() {
                            Err("no address".to_owned())
                        } else {
                            Ok(a)
                        }
                    })
                    .map_err(|why| RouteError::Resolve {
                        index,
                        host: host.clone(),
                        why,
                    })?;
                let addr = all[0];
                if let Some(interval) = cfg.resolve_interval {
                    re_resolve = Some(Refresher {
                        host: host.clone(),
                        port: *port,
                        interval,
                        resolver: resolver.clone(),
                        addrs: Addresses::new(all),
                    });
                }
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

        // The built-in echo speaks HTTP/1.1 only.
        let protocol = match cfg.upstream {
            Upstream::Demo => UpstreamProtocol::Http1,
            Upstream::Http { .. } => cfg.protocol,
        };
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
            addresses: re_resolve.as_ref().map(|r| r.addrs.clone()),
            re_resolve: std::sync::Mutex::new(re_resolve),
            forward_claims: cfg.forward_claims.iter().map(|(h, _)| h.clone()).collect(),
            claim_names: cfg.forward_claims.iter().map(|(_, c)| c.clone()).collect(),
            forward_token: cfg.forward_token,
            peers: Peers::new(peer, protocol),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(tls: bool) -> HttpPeer {
        HttpPeer::new("127.0.0.1:9000", tls, "localhost".into())
    }

    fn req(version: Version, headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("POST", b"/x", None).unwrap();
        r.set_version(version);
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).unwrap();
        }
        r
    }

    /// (max, min) HTTP version of the peer the request gets.
    fn versions(p: &Peers, r: &RequestHeader) -> (u8, u8) {
        let a = &p.for_request(r).options.alpn;
        (a.get_max_http_version(), a.get_min_http_version())
    }

    #[test]
    fn each_protocol_picks_its_versions() {
        let grpc = req(Version::HTTP_2, &[("content-type", "application/grpc")]);
        let plain = req(Version::HTTP_2, &[("content-type", "application/json")]);
        let ws = req(
            Version::HTTP_11,
            &[("upgrade", "websocket"), ("connection", "upgrade")],
        );
        let web = req(
            Version::HTTP_11,
            &[("content-type", "application/grpc-web+proto")],
        );
        // (protocol, tls, grpc, plain, upgrade, grpc-web)
        let table = [
            (
                UpstreamProtocol::Auto,
                false,
                (2, 2),
                (1, 1),
                (1, 1),
                (1, 1),
            ),
            (UpstreamProtocol::Auto, true, (2, 2), (2, 1), (1, 1), (2, 1)),
            (UpstreamProtocol::H2, false, (2, 2), (2, 2), (1, 1), (2, 2)),
            (UpstreamProtocol::H2, true, (2, 2), (2, 2), (1, 1), (2, 2)),
            (
                UpstreamProtocol::Http1,
                false,
                (1, 1),
                (1, 1),
                (1, 1),
                (1, 1),
            ),
            (
                UpstreamProtocol::Http1,
                true,
                (1, 1),
                (1, 1),
                (1, 1),
                (1, 1),
            ),
        ];
        for (protocol, tls, g, p, u, w) in table {
            let peers = Peers::new(peer(tls), protocol);
            let got = (
                versions(&peers, &grpc),
                versions(&peers, &plain),
                versions(&peers, &ws),
                versions(&peers, &web),
            );
            assert_eq!(got, (g, p, u, w), "{protocol:?} tls={tls}");
        }
    }

    #[test]
    fn grpc_content_types() {
        for (ct, want) in [
            ("application/grpc", true),
            ("application/grpc+proto", true),
            ("Application/GRPC+json", true),
            ("application/grpc; charset=utf-8", true),
            ("application/grpc-web", false),
            ("application/grpc-web-text", false),
            ("application/grpcx", false),
            ("application/json", false),
            ("text/application/grpc", false),
            ("", false),
        ] {
            assert_eq!(
                is_grpc_not_web(&req(Version::HTTP_2, &[("content-type", ct)])),
                want,
                "{ct:?}"
            );
        }
        assert!(!is_grpc_not_web(&req(Version::HTTP_2, &[])));
    }

    #[test]
    fn http2_peers_multiplex_and_keep_the_route_settings() {
        let mut base = peer(false);
        base.options.read_timeout = Some(Duration::from_secs(7));
        let peers = Peers::new(base, UpstreamProtocol::Auto);
        assert_eq!(peers.grpc.options.max_h2_streams, H2_STREAMS_PER_CONNECTION);
        assert_eq!(
            peers.grpc.options.read_timeout,
            Some(Duration::from_secs(7))
        );
        assert_eq!(peers.plain.options.max_h2_streams, 1);
        assert_eq!(
            peers.upgrade.options.read_timeout,
            Some(Duration::from_secs(7))
        );
    }
}
