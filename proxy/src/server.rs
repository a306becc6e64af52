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
use pingora_core::protocols::http::v2::server::default_h2_options;
use pingora_core::server::configuration::{Opt, ServerConf};
use pingora_core::server::{
    RunArgs, Server, ShutdownSignalWatch, ShutdownWatch, UnixShutdownSignalWatch,
};
use pingora_core::services::background::{BackgroundService, background_service};
use pingora_core::services::listening::Service;
use prometheus::Registry;
use rustls::sign::{CertifiedKey, SingleCertAndKey};

use crate::admin::Admin;
use crate::conns::app::{Admission, Guarded, TlsRegister};
use crate::conns::listening::{Listener, Listening};
use crate::conns::service::{Guard, Socket};
use crate::conns::{ConnMetrics, Deadlines, Pool};
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
    let mut limits = crate::ratelimit::LimitEnv::new(&registry);
    for (i, r) in config.routes.iter().enumerate() {
        let mut env = crate::routes::RouteEnv {
            demo_socket,
            keepalive_idle,
            verifier: verifier.as_ref(),
            resolver: &resolver,
            stores: &mut stores,
            limits: &mut limits,
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
    let descriptors = crate::conns::rlimit::raise();
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
    let conn_metrics = ConnMetrics::register(&registry)?;
    let proxy_pool = proxy_pool(config, descriptors, conn_metrics);
    // The admin's own connections: bounded alike, counted apart, so a
    // flood on the proxy's port never takes the health checks with it.
    let admin_pool = Pool::new(
        1,
        ADMIN_MAX_CONNECTIONS,
        proxy_pool.deadlines,
        s.limits.send_timeout,
        None,
    );
    let listening = Arc::new(Listening::new(
        listeners(config, &demo_socket, uses_demo),
        options.exit_when_drained,
    ));
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
        let admin = config
            .admin
            .iter()
            .map(|a| ("admin.listen".to_owned(), a.listen));
        for (key, addr) in keyed_listeners(config).into_iter().chain(admin) {
            crate::workers::ensure_free(addr)
                .map_err(|e| StartError::Listener(format!("{key}: {e}")))?;
        }
    }
    for worker in 0..s.threads {
        let mut proxy = pingora_proxy::http_proxy(&server.configuration, gateway.clone());
        // h2c for plaintext gRPC clients (prior knowledge); TLS listeners
        // negotiate h2 with ALPN.
        let mut server_options = HttpServerOptions::default();
        server_options.h2c = true;
        proxy.server_options = Some(server_options);
        let mut h2 = default_h2_options();
        h2.max_concurrent_streams(s.limits.h2_max_concurrent_streams)
            .max_send_buffer_size(s.limits.h2_max_send_buffer);
        proxy.h2_options = Some(h2);
        let app = Guarded::new(Arc::new(proxy), proxy_pool.clone(), worker);
        let mut svc = Service::new("attestgate proxy".to_owned(), app);
        for addr in &s.listen {
            let name = crate::workers::listener_name(*addr, worker);
            svc.add_tcp_with_settings(&name, crate::workers::socket_options());
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
            svc.add_tls_with_settings(&name, Some(crate::workers::socket_options()), tls);
        }
        svc.set_connection_filter(Arc::new(Admission {
            pool: proxy_pool.clone(),
        }));
        if !s.tls.is_empty() {
            // TLS connections count (and their deadline runs) from before
            // their handshake.
            svc.endpoints().set_pre_tls_callback(Arc::new(TlsRegister {
                pool: proxy_pool.clone(),
                worker,
            }));
        }
        let sockets = keyed_listeners(config)
            .into_iter()
            .map(|(key, addr)| Socket {
                key,
                addr,
                name: crate::workers::listener_name(addr, worker),
                reuseport: true,
            })
            .collect();
        server.add_service(Guard::new(
            svc,
            "attestgate proxy",
            format!("proxy worker {worker}"),
            Some((proxy_pool.clone(), worker)),
            sockets,
            listening.clone(),
            worker == 0,
        ));
    }
    if let Some(p) = pins {
        p.add_services(&mut server);
    }

    let draining = Draining::default();
    if let Some(admin) = &config.admin {
        let app = HttpServer::new_app(Admin {
            registry: registry.clone(),
            verifier: verifier.clone(),
            draining: draining.clone(),
            listening: listening.clone(),
            pool: proxy_pool.clone(),
        });
        let mut svc = Service::new(
            "attestgate admin".to_owned(),
            Guarded::new(Arc::new(app), admin_pool.clone(), 0),
        );
        svc.add_tcp(&admin.listen.to_string());
        svc.set_connection_filter(Arc::new(Admission {
            pool: admin_pool.clone(),
        }));
        server.add_service(Guard::new(
            svc,
            "attestgate admin",
            "admin".to_owned(),
            Some((admin_pool.clone(), 0)),
            vec![Socket {
                key: "admin.listen".to_owned(),
                addr: admin.listen,
                name: admin.listen.to_string(),
                reuseport: false,
            }],
            listening.clone(),
            false,
        ));
    }
    if uses_demo {
        let _ = std::fs::remove_file(&demo_socket);
        let mut svc = Service::new("attestgate demo echo".to_owned(), HttpServer::new_app(Echo));
        svc.add_uds(
            &demo_socket,
            Some(std::os::unix::fs::PermissionsExt::from_mode(0o600)),
        );
        server.add_service(Guard::new(
            svc,
            "attestgate demo echo",
            format!("demo echo upstream ({demo_socket})"),
            None,
            Vec::new(),
            listening.clone(),
            false,
        ));
    }
    if let Some(v) = &verifier {
        server.add_service(background_service(
            "attestgate key refresh",
            UntilShutdown(KeyRefresh(v.clone())),
        ));
    }
    for r in refreshers {
        server.add_service(background_service(
            "attestgate upstream resolve",
            UntilShutdown(ReResolve(std::sync::Mutex::new(Some(r)))),
        ));
    }
    if !substitutions.is_empty() {
        server.add_service(background_service(
            "attestgate secret watch",
            UntilShutdown(SecretWatch {
                substitutions,
                interval: config
                    .token
                    .as_ref()
                    .and_then(|t| t.jwks.as_ref())
                    .map_or(Duration::from_secs(1), |j| j.watch_interval),
            }),
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
fn keyed_listeners(config: &Config) -> Vec<(String, std::net::SocketAddr)> {
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
fn listeners(config: &Config, demo_socket: &str, uses_demo: bool) -> Vec<Listener> {
    let s = &config.server;
    let workers = s.threads;
    let sockets = |addr: std::net::SocketAddr| {
        (0..workers)
            .map(|w| (w, crate::workers::listener_name(addr, w)))
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

async fn shutdown_of(mut watch: ShutdownWatch) {
    while !*watch.borrow() {
        if watch.changed().await.is_err() {
            return;
        }
    }
}

/// A background service whose work may finish early (nothing to refresh,
/// nothing to watch) still runs until shutdown: Pingora logs "service ...
/// exited" when one returns, which at start reads like a failure.
struct UntilShutdown<T>(T);

#[async_trait]
impl<T: BackgroundService + Send + Sync> BackgroundService for UntilShutdown<T> {
    async fn start(&self, shutdown: ShutdownWatch) {
        self.0.start(shutdown.clone()).await;
        shutdown_of(shutdown).await;
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
                // 1 when the drain was started because a listener was lost.
                std::process::exit(i32::from(crate::conns::listening::failure().is_some()));
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
