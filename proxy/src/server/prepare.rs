//! Everything `serve` checks and builds before it listens: the verifier,
//! the routes, the served pins and the TLS identities, each problem with
//! its key path. `check-config` runs the same ([`check_serve`]).

use std::sync::Arc;
use std::time::Duration;

use attestgate::{Metrics, Verifier};
use attestgate_config::Config;
use prometheus::Registry;
use rustls::sign::CertifiedKey;

use crate::routes::{Route, RouteEnv};

/// Problems that make a loaded config unusable for `serve`.
pub fn serve_problems(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    if config.routes.is_empty() {
        out.push("route: no [[route]]; add at least one (name, path_prefix, upstream)".to_owned());
    }
    if config.server.listen.is_empty() && config.server.tls.is_empty() {
        out.push("server.listen: no listener".to_owned());
    }
    out
}

/// Where the built-in demo echo upstream listens (one per process).
pub(super) fn demo_socket_path() -> String {
    let dir = std::env::temp_dir();
    dir.join(format!("attestgate-demo-{}.sock", std::process::id()))
        .to_string_lossy()
        .into_owned()
}

/// What `serve` builds before it listens.
pub(super) struct Prepared {
    pub(super) registry: Registry,
    pub(super) verifier: Option<Verifier>,
    pub(super) routes: Vec<Route>,
    pub(super) pins: Option<crate::pins::Pins>,
    /// Each `[[server.tls]]` listener's chain and key, read once for all
    /// workers.
    pub(super) identities: Vec<Arc<CertifiedKey>>,
}

/// Every check `serve` makes before it listens, all of them, each problem
/// with its key path: what [`serve_problems`] finds, the verifier (keys
/// loaded now), and every route (upstream DNS, substitution secrets and
/// their header safety). Binding the ports is the one check left to
/// `serve`. This is what `check-config` runs.
pub fn check_serve(config: &Config) -> Vec<String> {
    match prepare(config, &demo_socket_path()) {
        Ok(_) => Vec::new(),
        Err(problems) => problems,
    }
}

pub(super) fn prepare(config: &Config, demo_socket: &str) -> Result<Prepared, Vec<String>> {
    let mut problems = serve_problems(config);
    let registry = Registry::new();
    let metrics = Metrics::register(&registry).map_err(|e| vec![format!("metrics: {e}")])?;
    let verifier = match &config.token {
        Some(t) => match t.build_verifier() {
            Ok(v) => {
                v.attach_metrics(&metrics);
                Some(v)
            }
            Err(found) => {
                problems.extend(found.iter().map(ToString::to_string));
                None
            }
        },
        None => None,
    };
    let routes = build_routes(config, demo_socket, verifier.as_ref(), &metrics, &registry)
        .map_err(|found| problems.extend(found))
        .unwrap_or_default();
    let pins = config.pins.as_ref().and_then(|p| {
        crate::pins::Pins::build(p, &config.server.tls, &registry)
            .map_err(|found| problems.extend(found))
            .ok()
    });
    let identities = config
        .server
        .tls
        .iter()
        .enumerate()
        .filter_map(|(i, t)| {
            attestgate::pem::server_identity(&t.cert, &t.key)
                .map_err(|e| problems.push(format!("server.tls[{i}].{e}")))
                .ok()
        })
        .collect();
    if problems.is_empty() {
        Ok(Prepared {
            registry,
            verifier,
            routes,
            pins,
            identities,
        })
    } else {
        Err(problems)
    }
}

/// Every configured route, ready to serve, or every problem found.
fn build_routes(
    config: &Config,
    demo_socket: &str,
    verifier: Option<&Verifier>,
    metrics: &Metrics,
    registry: &Registry,
) -> Result<Vec<Route>, Vec<String>> {
    let keepalive_idle = Duration::from_secs(60);
    let resolver = crate::routes::resolve::AnyResolver::new(config.server.hosts_file.as_deref());
    let mut routes = Vec::new();
    let mut problems = Vec::new();
    let mut stores = crate::routes::replay::Stores::new(registry);
    let mut limits = crate::routes::ratelimit::LimitEnv::new(registry);
    for (i, r) in config.routes.iter().enumerate() {
        let mut env = RouteEnv {
            demo_socket,
            keepalive_idle,
            verifier,
            resolver: &resolver,
            stores: &mut stores,
            limits: &mut limits,
        };
        match Route::build(i, r, metrics.route(&r.name), &mut env) {
            Ok(route) => routes.push(route),
            Err(e) => problems.push(e.to_string()),
        }
    }
    if problems.is_empty() {
        Ok(routes)
    } else {
        Err(problems)
    }
}
