//! Dynamic pins and endpoint monitoring, the proxy's half (docs/PINNING.md,
//! "In the proxy: `[pins]`"):
//!
//! - [`signed`]: the signed pin config served at `[pins] path` on every
//!   proxy listener, hot-reloaded, and the check of the proxy's own HTTPS
//!   listeners against it (`attestgate_listener_pinned`);
//! - [`monitor`]: the background check of every domain of `pins.toml` at
//!   every address;
//! - [`report`]: pin-failure reports at `[pins] report_path`;
//! - [`metrics`]: their Prometheus series;
//! - [`ct_watch`]: `[pins.ct_watch]`, the Certificate Transparency watch in
//!   the background.
//!
//! Requests at the two paths are answered here, before routing and before
//! any token check, and are never counted as a token outcome.

mod ct_watch;
mod metrics;
mod monitor;
mod report;
mod signed;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use attestgate::watch::FileWatch;
use attestgate_config::{PinsConfig, TlsListener};
use attestgate_pins::fetch::{ChainCert, load_roots};
use attestgate_pins::{PinsFile, spki};
use http::{Method, StatusCode};
use pingora_core::server::{Server, ShutdownWatch};
use pingora_core::services::background::{BackgroundService, background_service};
use pingora_error::Result;
use pingora_proxy::Session;
use prometheus::Registry;

use metrics::PinMetrics;
use monitor::Monitor;
use report::{Known, RateTable, Reports};
use signed::{Listener, Signed};

/// What request_filter calls first.
pub(crate) struct PinsEndpoint {
    path: String,
    report_path: String,
    signed: Option<Arc<Signed>>,
    reports: Reports,
}

impl PinsEndpoint {
    /// Answers a request at `path` or `report_path` (`true`), or leaves it
    /// to the routes (`false`).
    pub(crate) async fn handle(&self, session: &mut Session) -> Result<bool> {
        let path = session.req_header().uri.path();
        if path == self.path {
            let method = session.req_header().method.clone();
            match (&self.signed, method) {
                (Some(s), m) if m == Method::GET || m == Method::HEAD => {
                    s.answer(session, m == Method::HEAD).await?;
                }
                (Some(_), _) => {
                    crate::respond::json(session, StatusCode::METHOD_NOT_ALLOWED, b"{}").await?;
                }
                (None, _) => crate::respond::json(session, StatusCode::NOT_FOUND, b"{}").await?,
            }
            return Ok(true);
        }
        if path == self.report_path {
            self.reports.answer(session).await?;
            return Ok(true);
        }
        Ok(false)
    }
}

/// Everything `[pins]` adds to a server, built (and checked) before it
/// listens.
pub(crate) struct Pins {
    /// For the gateway.
    pub(crate) endpoint: Arc<PinsEndpoint>,
    monitor: Option<Monitor>,
    watch: Option<SignedWatch>,
    ct: Option<ct_watch::CtWatch>,
}

fn listener_of(t: &TlsListener) -> Result<Listener, String> {
    let ders = spki::read_certificates(&t.cert)
        .map_err(|e| format!("server.tls {}: {}: {e}", t.listen, t.cert.display()))?;
    let chain: Vec<ChainCert> = ders
        .iter()
        .enumerate()
        .map(|(i, d)| ChainCert::from_der(i, d))
        .collect();
    let names = chain
        .first()
        .and_then(|c| c.info.as_ref())
        .map(|i| {
            i.names
                .iter()
                .filter(|n| n.parse::<std::net::IpAddr>().is_err())
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    Ok(Listener {
        label: t.listen.to_string(),
        names,
        pins: chain.iter().filter_map(|c| c.pin).collect(),
    })
}

impl Pins {
    /// Loads `pins.toml` and the signed file, registers the metrics;
    /// every problem, each with its key path.
    pub(crate) fn build(
        cfg: &PinsConfig,
        tls: &[TlsListener],
        registry: &Registry,
    ) -> Result<Pins, Vec<String>> {
        let mut problems = Vec::new();
        let metrics = PinMetrics::register(registry).map_err(|e| vec![format!("metrics: {e}")])?;
        let file = match &cfg.config {
            Some(path) => match PinsFile::load(path) {
                Ok(f) => Some(f),
                Err(e) => {
                    problems.extend(e.to_string().lines().map(|l| format!("pins.config: {l}")));
                    None
                }
            },
            None => None,
        };
        let mut known = Vec::new();
        for d in file.iter().flat_map(|f| &f.domains) {
            match load_roots(d.ca_file.as_deref()) {
                Ok(roots) => known.push(Known {
                    pins: d.pin_values().collect(),
                    domain: d.clone(),
                    roots,
                }),
                Err(e) => problems.push(format!("pins.config: domain {}: {e}", d.name)),
            }
        }
        let mut listeners = Vec::new();
        if cfg.signed.is_some() {
            for t in tls {
                match listener_of(t) {
                    Ok(l) => listeners.push(l),
                    Err(e) => problems.push(e),
                }
            }
        }
        let signed = match &cfg.signed {
            Some(path) => {
                match Signed::open(path, cfg.public_key.as_deref(), listeners, metrics.clone()) {
                    Ok((s, w)) => Some((Arc::new(s), w)),
                    Err(e) => {
                        problems.push(e);
                        None
                    }
                }
            }
            None => None,
        };
        let ct = match (&cfg.ct_watch, &file) {
            (Some(c), Some(f)) => match ct_watch::CtWatch::build(c, f, registry) {
                Ok(w) => Some(w),
                Err(e) => {
                    problems.extend(e);
                    None
                }
            },
            _ => None,
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        let monitor = file
            .as_ref()
            .filter(|f| !f.domains.is_empty())
            .map(|f| Monitor {
                domains: f.domains.clone(),
                interval: cfg.monitor_interval,
                metrics: metrics.clone(),
            });
        let (signed, watch) = match signed {
            Some((s, w)) => (
                Some(s.clone()),
                Some(SignedWatch {
                    signed: s,
                    watch: Mutex::new(w),
                    interval: cfg.watch_interval,
                }),
            ),
            None => (None, None),
        };
        let reports = Reports {
            known,
            other_roots: load_roots(None).ok(),
            max_bytes: cfg.max_report_bytes,
            rate: RateTable::new(cfg.report_rate),
            metrics,
        };
        Ok(Pins {
            endpoint: Arc::new(PinsEndpoint {
                path: cfg.path.clone(),
                report_path: cfg.report_path.clone(),
                signed,
                reports,
            }),
            monitor,
            watch,
            ct,
        })
    }

    /// Adds the monitor and the signed file's watcher to `server`, and
    /// makes the start-time checks (listeners, expiry).
    pub(crate) fn add_services(self, server: &mut Server) {
        if let Some(w) = self.watch {
            w.signed.took(false);
            server.add_service(background_service("attestgate pin config watch", w));
        }
        if let Some(m) = self.monitor {
            server.add_service(background_service("attestgate pin monitor", m));
        }
        if let Some(c) = self.ct {
            server.add_service(background_service("attestgate CT watch", c));
        }
    }
}

/// Polls the signed file every `watch_interval`.
struct SignedWatch {
    signed: Arc<Signed>,
    watch: Mutex<FileWatch>,
    interval: Duration,
}

#[async_trait]
impl BackgroundService for SignedWatch {
    async fn start(&self, shutdown: ShutdownWatch) {
        let stop = crate::shutdown::shutdown_of(shutdown);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.interval) => {}
                () = &mut stop => return,
            }
            let mut w = self.watch.lock().unwrap_or_else(|e| e.into_inner());
            self.signed.poll(&mut w);
            self.signed.tick();
        }
    }
}
