//! The proxy's background tasks: key refresh, upstream re-resolution
//! (`resolve_interval`) and the substitution secrets' file watch. Each runs
//! until shutdown.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use attestgate::Verifier;
use attestgate::substitute::Substitution;
use attestgate_config::Config;
use pingora_core::server::{Server, ShutdownWatch};
use pingora_core::services::background::{BackgroundService, background_service};

use crate::routes::Route;
use crate::routes::resolve::{AnyResolver, Refresher};
use crate::shutdown::shutdown_of;

/// The tasks, gathered before the routes go to the gateway.
pub(super) struct Tasks {
    key_refresh: Option<Verifier>,
    /// Routes with `resolve_interval`: their refreshers run in the
    /// background, the routes keep the address lists they update.
    refreshers: Vec<Refresher<AnyResolver>>,
    substitutions: Vec<Arc<Substitution>>,
    watch_interval: Duration,
}

impl Tasks {
    /// What the verifier and the routes need done in the background.
    pub(super) fn new(config: &Config, verifier: Option<&Verifier>, routes: &[Route]) -> Tasks {
        Tasks {
            key_refresh: verifier.cloned(),
            refreshers: routes
                .iter()
                .filter_map(|r| r.re_resolve.lock().ok()?.take())
                .collect(),
            substitutions: routes
                .iter()
                .flat_map(|r| r.substitutions.iter().cloned())
                .collect(),
            watch_interval: config
                .token
                .as_ref()
                .and_then(|t| t.jwks.as_ref())
                .map_or(Duration::from_secs(1), |j| j.watch_interval),
        }
    }

    /// Adds each task to the server as a background service.
    pub(super) fn add_to(self, server: &mut Server) {
        if let Some(v) = self.key_refresh {
            server.add_service(background_service(
                "attestgate key refresh",
                UntilShutdown(KeyRefresh(v)),
            ));
        }
        for r in self.refreshers {
            server.add_service(background_service(
                "attestgate upstream resolve",
                UntilShutdown(ReResolve(std::sync::Mutex::new(Some(r)))),
            ));
        }
        if !self.substitutions.is_empty() {
            server.add_service(background_service(
                "attestgate secret watch",
                UntilShutdown(SecretWatch {
                    substitutions: self.substitutions,
                    interval: self.watch_interval,
                }),
            ));
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
struct ReResolve(std::sync::Mutex<Option<Refresher<AnyResolver>>>);

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
    substitutions: Vec<Arc<Substitution>>,
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
