//! Assembling the Pingora server from our TOML: listeners, the proxy, the
//! admin endpoints, the demo echo service and the background tasks.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use attestgate::{Metrics, Verifier};
use attestgate_config::{Config, Upstream};
use pingora_core::apps::HttpServerOptions;
use pingora_core::apps::http_app::HttpServer;
use pingora_core::listeners::tls::TlsSettings;
use pingora_core::server::configuration::{Opt, ServerConf};
use pingora_core::server::{
    RunArgs, Server, ShutdownSignalWatch, ShutdownWatch, UnixShutdownSignalWatch,
};
use pingora_core::services::background::{BackgroundService, background_service};
use pingora_core::services::listening::Service;
use prometheus::Registry;
use rustls::sign::{CertifiedKey, SingleCertAndKey};

use crate::admin::Admin;
use crate::demo::Echo;
use crate::drain::{DelayedTerminate, Draining};
use crate::gateway::Gateway;
use crate::routes::{Route, RouteTable};

/// Why the server could not be built. Names the setting, never a secret.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is not usable as a server.
    #[error("{0}")]
    Config(String),
    /// A route could not be prepared.
    #[error(transparent)]
    Route(#[from] crate::routes::RouteError),
    /// Metrics could not be registered.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// A listener could not be set up.
    #[error("{0}")]
    Listener(String),
}

/// A built server and what tests want to know about it.
pub struct Built {
    /// The Pingora server, ready to run.
    pub server: Server,
    /// The verifier (`None` if no route checks tokens).
    pub verifier: Option<Verifier>,
    /// The registry behind `/metrics`.
    pub registry: Registry,
    /// Set on SIGTERM (`/readyz` then answers 503).
    pub draining: Draining,
    /// How long the listeners keep serving after SIGTERM.
    pub drain_delay: Duration,
    /// Exit the process at once on SIGINT (the binary: `exit_when_drained`).
    pub exit_on_fast_shutdown: bool,
}

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

fn demo_socket_path() -> String {
    let dir = std::env::temp_dir();
    dir.join(format!("attestgate-demo-{}.sock", std::process::id()))
        .to_string_lossy()
        .into_owned()
}

/// How the server runs as a process.
#[derive(Clone, Copy, Debug, Default)]
pub struct ServeOptions {
    /// Take over the listeners of a running attestgate (`serve --upgrade`).
    pub upgrade: bool,
    /// On SIGTERM (or after an upgrade hand-over), exit as soon as the
    /// requests in flight have finished instead of sleeping out the whole
    /// grace period. Exits the process: for the binary, not for tests that
    /// run a server in-process.
    pub exit_when_drained: bool,
}

/// What `serve` builds before it listens.
struct Prepared {
    registry: Registry,
    verifier: Option<Verifier>,
    routes: Vec<Route>,
    pins: Option<crate::pins::Pins>,
    /// Each `[[server.tls]]` listener's chain and key, read once for all
    /// workers.
    identities: Vec<Arc<CertifiedKey>>,
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

fn prepare(config: &Config, demo_socket: &str) -> Result<Prepared, Vec<String>> {
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
    let keepalive_idle = Duration::from_secs(60);
    let resolver = crate::resolve::AnyResolver::new(config.server.hosts_file.as_deref());
    let mut routes = Vec::new();
    let mut stores = crate::replay::Stores::new(&registry);
    for (i, r) in config.routes.iter().enumerate() {
        let mut env = crate::routes::RouteEnv {
            demo_socket,
            keepalive_idle,
            verifier: verifier.as_ref(),
            resolver: &resolver,
            stores: &mut stores,
        };
        match Route::build(i, r, metrics.route(&r.name), &mut env) {
            Ok(route) => routes.push(route),
            Err(e) => problems.push(e.to_string()),
        }
    }
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

/// Builds the whole server from a checked config.
pub fn build_server(config: &Config, options: ServeOptions) -> Result<Built, StartError> {
    let opt = Opt {
        upgrade: options.upgrade,
        ..Opt::default()
    };
    for w in &config.warnings {
        tracing::warn!("{}: {w}", config.path.display());
    }
    let s = &config.server;
    let demo_socket = demo_socket_path();
    let uses_demo = config.routes.iter().any(|r| r.upstream == Upstream::Demo);
    let Prepared {
        registry,
        verifier,
        routes,
        pins,
        identities,
    } = prepare(config, &demo_socket).map_err(|problems| {
        StartError::Config(
            problems
                .iter()
                .map(|p| format!("{}: {p}", config.path.display()))
                .collect::<Vec<_>>()
                .join("\n"),
        )
    })?;
    // Routes with `resolve_interval`: their refreshers run in the
    // background, the routes keep the address lists they update.
    let refreshers: Vec<_> = routes
        .iter()
        .filter_map(|r| r.re_resolve.lock().ok()?.take())
        .collect();
    let substitutions: Vec<_> = routes
        .iter()
        .flat_map(|r| r.substitutions.iter().cloned())
        .collect();

    let conf = ServerConf {
        threads: s.threads,
        grace_period_seconds: Some(s.grace_period.as_secs()),
        graceful_shutdown_timeout_seconds: Some(s.graceful_shutdown_timeout.as_secs().max(1)),
        upstream_keepalive_pool_size: s.upstream_keepalive,
        upgrade_sock: s.upgrade_sock.clone(),
        pid_file: s.pid_file.clone(),
        ca_file: s
            .upstream_ca_file
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned()),
        // Never retry beyond what fail_to_connect allows.
        max_retries: 1,
        // Each proxy service runs on one thread of its own (workers.rs).
        work_stealing: false,
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(Some(opt), conf);
    server.bootstrap();

    let gateway = Gateway {
        routes: Arc::new(RouteTable::new(routes)),
        max_header_bytes: s.max_header_bytes,
        access_log: s.access_log,
        // Claim headers are the proxy's to set: a client's copy of one, in
        // any spelling, never reaches any upstream, on any route.
        inbound: Arc::new(crate::inbound::Inbound::new(config, &registry)?),
        path_case_insensitive: s.path_case_insensitive,
        pins: pins.as_ref().map(|p| p.endpoint.clone()),
    };
    // One single-threaded service per worker thread, each with its own
    // sockets and upstream pool: see workers.rs for why and how.
    if !options.upgrade {
        let plain = s.listen.iter().enumerate();
        let tls = s.tls.iter().enumerate();
        let keyed = plain
            .map(|(i, a)| (format!("server.listen[{i}]"), *a))
            .chain(tls.map(|(i, t)| (format!("server.tls[{i}].listen"), t.listen)));
        for (key, addr) in keyed {
            crate::workers::ensure_free(addr)
                .map_err(|e| StartError::Listener(format!("{key}: {e}")))?;
        }
    }
    for worker in 0..s.threads {
        let mut proxy = pingora_proxy::http_proxy_service_with_name(
            &server.configuration,
            gateway.clone(),
            "attestgate proxy",
        );
        proxy.threads = Some(1);
        if let Some(app) = proxy.app_logic_mut() {
            // h2c for plaintext gRPC clients (prior knowledge); TLS listeners
            // negotiate h2 with ALPN.
            let mut options = HttpServerOptions::default();
            options.h2c = true;
            app.server_options = Some(options);
        }
        for addr in &s.listen {
            let name = crate::workers::listener_name(*addr, worker);
            proxy.add_tcp_with_settings(&name, crate::workers::socket_options());
        }
        for (t, identity) in s.tls.iter().zip(&identities) {
            let cert = t.cert.to_string_lossy();
            let key = t.key.to_string_lossy();
            let mut tls = TlsSettings::intermediate(&cert, &key)
                .map_err(|e| StartError::Listener(format!("server.tls {}: {e}", t.listen)))?;
            // The chain and key checked in `prepare`, shared: Pingora would
            // read the files again per worker (and panic on a bad one).
            tls.set_cert_resolver(Arc::new(SingleCertAndKey::from(identity.clone())));
            tls.enable_h2();
            let name = crate::workers::listener_name(t.listen, worker);
            proxy.add_tls_with_settings(&name, Some(crate::workers::socket_options()), tls);
        }
        server.add_service(proxy);
    }
    if let Some(p) = pins {
        p.add_services(&mut server);
    }

    let draining = Draining::default();
    if let Some(admin) = &config.admin {
        let mut svc = Service::new(
            "attestgate admin".to_owned(),
            HttpServer::new_app(Admin {
                registry: registry.clone(),
                verifier: verifier.clone(),
                draining: draining.clone(),
            }),
        );
        svc.add_tcp(&admin.listen.to_string());
        svc.threads = Some(1);
        server.add_service(svc);
    }
    if uses_demo {
        let _ = std::fs::remove_file(&demo_socket);
        let mut svc = Service::new("attestgate demo echo".to_owned(), HttpServer::new_app(Echo));
        svc.add_uds(
            &demo_socket,
            Some(std::os::unix::fs::PermissionsExt::from_mode(0o600)),
        );
        svc.threads = Some(1);
        server.add_service(svc);
    }
    if let Some(v) = &verifier {
        server.add_service(background_service(
            "attestgate key refresh",
            KeyRefresh(v.clone()),
        ));
    }
    for r in refreshers {
        server.add_service(background_service(
            "attestgate upstream resolve",
            ReResolve(std::sync::Mutex::new(Some(r))),
        ));
    }
    if !substitutions.is_empty() {
        server.add_service(background_service(
            "attestgate secret watch",
            SecretWatch {
                substitutions,
                interval: config
                    .token
                    .as_ref()
                    .and_then(|t| t.jwks.as_ref())
                    .map_or(Duration::from_secs(1), |j| j.watch_interval),
            },
        ));
    }
    if options.exit_when_drained {
        server.add_service(background_service(
            "attestgate drain",
            Drain {
                grace: s.grace_period,
                demo_socket: uses_demo.then_some(demo_socket),
            },
        ));
    }
    Ok(Built {
        server,
        verifier,
        registry,
        draining,
        drain_delay: s.drain_delay,
        exit_on_fast_shutdown: options.exit_when_drained,
    })
}

async fn shutdown_of(mut watch: ShutdownWatch) {
    while !*watch.borrow() {
        if watch.changed().await.is_err() {
            return;
        }
    }
}

struct KeyRefresh(Verifier);

#[async_trait]
impl BackgroundService for KeyRefresh {
    async fn start(&self, shutdown: ShutdownWatch) {
        self.0.run_refresher(shutdown_of(shutdown)).await;
    }
}

/// Re-resolves one route's upstream name (`resolve_interval`).
struct ReResolve(std::sync::Mutex<Option<crate::resolve::Refresher<crate::resolve::AnyResolver>>>);

#[async_trait]
impl BackgroundService for ReResolve {
    async fn start(&self, shutdown: ShutdownWatch) {
        let refresher = self.0.lock().ok().and_then(|mut r| r.take());
        if let Some(r) = refresher {
            r.run(shutdown_of(shutdown)).await;
        }
    }
}

struct SecretWatch {
    substitutions: Vec<Arc<attestgate::substitute::Substitution>>,
    interval: Duration,
}

#[async_trait]
impl BackgroundService for SecretWatch {
    async fn start(&self, shutdown: ShutdownWatch) {
        attestgate::substitute::watch_files(
            self.substitutions.clone(),
            self.interval,
            shutdown_of(shutdown),
        )
        .await;
    }
}

/// Exits the process once shutdown has begun and no request is in flight
/// (or the grace period is over: then Pingora's own shutdown goes on).
struct Drain {
    grace: Duration,
    demo_socket: Option<String>,
}

#[async_trait]
impl BackgroundService for Drain {
    async fn start(&self, shutdown: ShutdownWatch) {
        shutdown_of(shutdown).await;
        let started = std::time::Instant::now();
        // Let the listeners stop and requests already accepted register.
        tokio::time::sleep(Duration::from_millis(100)).await;
        loop {
            let in_flight = crate::gateway::IN_FLIGHT.load(std::sync::atomic::Ordering::Relaxed);
            if in_flight == 0 {
                tracing::info!(after = ?started.elapsed(), "drained: no request in flight, exiting");
                if let Some(p) = &self.demo_socket {
                    let _ = std::fs::remove_file(p);
                }
                std::process::exit(0);
            }
            if started.elapsed() >= self.grace {
                tracing::warn!(in_flight, "grace period over with requests still in flight");
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// Runs until the signal says stop. The binary passes `None`: Pingora's Unix
/// signal watcher (SIGTERM: `/readyz` 503, serve on for `drain_delay`, then
/// drain and exit; SIGINT: fast; SIGQUIT: upgrade); tests may pass their
/// own. Either way a graceful terminate waits `drain_delay`.
pub fn run(built: Built, signal: Option<Box<dyn ShutdownSignalWatch + Send + Sync>>) {
    let inner = signal.unwrap_or_else(|| Box::new(UnixShutdownSignalWatch));
    let args = RunArgs {
        shutdown_signal: Box::new(DelayedTerminate {
            inner,
            delay: built.drain_delay,
            draining: built.draining,
            exit_on_fast: built.exit_on_fast_shutdown,
        }),
    };
    built.server.run(args);
}
