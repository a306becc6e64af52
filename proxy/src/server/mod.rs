//! Assembling the Pingora server from our TOML: what is checked before
//! listening ([`prepare`]), the listeners and their pools ([`listeners`]),
//! the proxy, admin and demo services ([`services`], one proxy service per
//! worker: [`workers`]), the background tasks ([`background`]) and the
//! drain on SIGTERM ([`drain`]).

mod admin;
mod background;
mod demo;
mod drain;
mod listeners;
mod prepare;
mod services;
mod workers;

use std::sync::Arc;
use std::time::Duration;

use attestgate::Verifier;
use attestgate_config::{Config, Upstream};
use pingora_core::server::configuration::{Opt, ServerConf};
use pingora_core::server::{RunArgs, Server, ShutdownSignalWatch, UnixShutdownSignalWatch};
use pingora_core::services::background::background_service;
use prometheus::Registry;

pub use drain::Draining;
pub use prepare::{check_serve, serve_problems};

use admin::Admin;
use drain::{DelayedTerminate, Drain};
use prepare::{Prepared, prepare};

use crate::conns::listening::Listening;
use crate::gateway::Gateway;
use crate::gateway::inbound::Inbound;
use crate::routes::RouteTable;

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

impl StartError {
    /// Every problem `prepare` found, one a line, each after the file.
    fn problems(config: &Config, problems: &[String]) -> StartError {
        StartError::Config(
            problems
                .iter()
                .map(|p| format!("{}: {p}", config.path.display()))
                .collect::<Vec<_>>()
                .join("\n"),
        )
    }
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

/// Builds the whole server from a checked config.
pub fn build_server(config: &Config, options: ServeOptions) -> Result<Built, StartError> {
    let descriptors = crate::conns::rlimit::raise();
    for w in &config.warnings {
        tracing::warn!("{}: {w}", config.path.display());
    }
    let s = &config.server;
    let demo_socket = prepare::demo_socket_path();
    let uses_demo = config.routes.iter().any(|r| r.upstream == Upstream::Demo);
    let Prepared {
        registry,
        verifier,
        routes,
        pins,
        identities,
    } = prepare(config, &demo_socket)
        .map_err(|problems| StartError::problems(config, &problems))?;
    let (proxy_pool, admin_pool) = listeners::pools(config, descriptors, &registry)?;
    let listening = Arc::new(Listening::new(
        listeners::listeners(config, &demo_socket, uses_demo),
        options.exit_when_drained,
    ));
    let tasks = background::Tasks::new(config, verifier.as_ref(), &routes);
    let opt = Opt {
        upgrade: options.upgrade,
        ..Opt::default()
    };
    let mut server = Server::new_with_opt_and_conf(Some(opt), server_conf(config));
    server.bootstrap();
    let gateway = Gateway {
        routes: Arc::new(RouteTable::new(routes)),
        max_header_bytes: s.max_header_bytes,
        access_log: s.access_log,
        // Claim headers are the proxy's to set: a client's copy of one, in
        // any spelling, never reaches any upstream, on any route.
        inbound: Arc::new(Inbound::new(config, &registry)?),
        path_case_insensitive: s.path_case_insensitive,
        pins: pins.as_ref().map(|p| p.endpoint.clone()),
    };
    if !options.upgrade {
        listeners::ensure_free(config)?;
    }
    services::add_proxy_workers(
        &mut server,
        config,
        &gateway,
        &identities,
        &proxy_pool,
        &listening,
    )?;
    if let Some(p) = pins {
        p.add_services(&mut server);
    }
    let draining = Draining::default();
    if let Some(admin) = &config.admin {
        let app = Admin {
            registry: registry.clone(),
            verifier: verifier.clone(),
            draining: draining.clone(),
            listening: listening.clone(),
            pool: proxy_pool.clone(),
        };
        services::add_admin(&mut server, admin.listen, app, &admin_pool, &listening);
    }
    if uses_demo {
        services::add_demo(&mut server, &demo_socket, &listening);
    }
    tasks.add_to(&mut server);
    if options.exit_when_drained {
        let drain = Drain {
            grace: s.grace_period,
            demo_socket: uses_demo.then_some(demo_socket),
        };
        server.add_service(background_service("attestgate drain", drain));
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

/// Pingora's settings from `[server]`.
fn server_conf(config: &Config) -> ServerConf {
    let s = &config.server;
    ServerConf {
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
