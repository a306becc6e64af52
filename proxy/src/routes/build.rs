//! Preparing one configured route: its upstream's address and `Host`, its
//! peers with their timeouts, its substitutions' secrets and its handle on
//! the verifier.

use std::sync::Arc;

use attestgate::RouteMetrics;
use attestgate::substitute::{self, LiveSecret, Substitution, Target};
use attestgate_config::{RouteConfig, SubstituteTarget, Upstream, UpstreamProtocol};
use http::HeaderValue;
use pingora_core::upstreams::peer::HttpPeer;

use super::peers::Peers;
use super::resolve::{Addresses, AnyResolver, Refresher};
use super::{Route, RouteEnv, RouteError};

impl Route {
    /// Prepares a configured route.
    pub(crate) fn build(
        index: usize,
        cfg: &RouteConfig,
        metrics: RouteMetrics,
        env: &mut RouteEnv<'_>,
    ) -> Result<Route, RouteError> {
        let (mut peer, upstream_host, re_resolve) = upstream(index, cfg, env)?;
        set_timeouts(&mut peer, cfg, env);
        // The built-in echo speaks HTTP/1.1 only.
        let protocol = match cfg.upstream {
            Upstream::Demo => UpstreamProtocol::Http1,
            Upstream::Http { .. } => cfg.protocol,
        };
        let substitutions = substitutions(index, cfg)?;
        let stores = &mut *env.stores;
        let verifier = env.verifier;
        let rate_limits = env.limits.build(cfg).map_err(|e| RouteError::Metrics {
            index,
            why: e.to_string(),
        })?;
        Ok(Route {
            rate_limits,
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

/// The upstream's first address as a peer, the `Host` sent to it, and
/// (with `resolve_interval`) the refresher that keeps its addresses.
fn upstream(
    index: usize,
    cfg: &RouteConfig,
    env: &RouteEnv<'_>,
) -> Result<(HttpPeer, HeaderValue, Option<Refresher<AnyResolver>>), RouteError> {
    let (demo_socket, resolver) = (env.demo_socket, env.resolver);
    let mut re_resolve = None;
    let (peer, upstream_host) = match &cfg.upstream {
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
    Ok((peer, upstream_host, re_resolve))
}

/// The route's timeouts, and TLS verification on.
fn set_timeouts(peer: &mut HttpPeer, cfg: &RouteConfig, env: &RouteEnv<'_>) {
    let o = &mut peer.options;
    o.connection_timeout = Some(cfg.connect_timeout);
    o.total_connection_timeout = Some(cfg.connect_timeout);
    o.read_timeout = Some(cfg.read_timeout);
    o.write_timeout = Some(cfg.read_timeout);
    o.idle_timeout = Some(env.keepalive_idle);
    // TLS upstreams: certificate and host name are verified (pingora's
    // defaults, kept explicit here), SNI is the configured host.
    o.verify_cert = true;
    o.verify_hostname = true;
}

/// The route's substitutions, each with its secret loaded and checked.
fn substitutions(index: usize, cfg: &RouteConfig) -> Result<Vec<Arc<Substitution>>, RouteError> {
    let mut substitutions = Vec::new();
    for (j, s) in cfg.substitute.iter().enumerate() {
        let (target, check): (Target, fn(&attestgate::Secret) -> Result<(), String>) = match &s
            .target
        {
            SubstituteTarget::Header(h) => {
                (Target::Header(h.clone()), substitute::check_header_value)
            }
            SubstituteTarget::Query(q) => (Target::Query(q.as_str().into()), substitute::check_any),
        };
        let secret = LiveSecret::load(s.secret.clone(), check).map_err(|e| RouteError::Secret {
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
    Ok(substitutions)
}
