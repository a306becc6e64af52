//! The watch's metrics, registered into a registry the caller owns (the
//! proxy's admin `/metrics`, or the verb's own `--metrics` listener).
//! Label values: the log's URI (from the log list), fixed kind words, and
//! `pins.toml` domain names — never anything a log or certificate chose.

use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};

/// The CT metrics.
#[derive(Clone, Debug)]
pub struct CtMetrics {
    /// `attestgate_ct_log_tree_size{log}`: the last verified head's size.
    pub tree_size: IntGaugeVec,
    /// `attestgate_ct_log_position{log}`: entries read.
    pub position: IntGaugeVec,
    /// `attestgate_ct_log_backlog_entries{log}`: head size − position.
    pub backlog: IntGaugeVec,
    /// `attestgate_ct_log_last_success_timestamp_seconds{log}`.
    pub last_success: IntGaugeVec,
    /// `attestgate_ct_fetch_errors_total{log,kind}`.
    pub fetch_errors: IntCounterVec,
    /// `attestgate_ct_log_misbehaviour_total{log,kind}`.
    pub misbehaviour: IntCounterVec,
    /// `attestgate_ct_certs_total{domain,verdict}`.
    pub certs: IntCounterVec,
}

impl CtMetrics {
    /// Registers them into `r`.
    pub fn register(r: &Registry) -> Result<CtMetrics, prometheus::Error> {
        fn reg<C: prometheus::core::Collector + Clone + 'static>(
            r: &Registry,
            c: C,
        ) -> Result<C, prometheus::Error> {
            r.register(Box::new(c.clone()))?;
            Ok(c)
        }
        let gauge = |name: &str, help: &str| IntGaugeVec::new(Opts::new(name, help), &["log"]);
        Ok(CtMetrics {
            tree_size: reg(
                r,
                gauge(
                    "attestgate_ct_log_tree_size",
                    "Size of the CT log's last signed head seen (verified signature)",
                )?,
            )?,
            position: reg(
                r,
                gauge(
                    "attestgate_ct_log_position",
                    "CT log entries read by the watch (all hashed into the frontier)",
                )?,
            )?,
            backlog: reg(
                r,
                gauge(
                    "attestgate_ct_log_backlog_entries",
                    "CT log entries signed but not yet read",
                )?,
            )?,
            last_success: reg(
                r,
                gauge(
                    "attestgate_ct_log_last_success_timestamp_seconds",
                    "When the watch last read the CT log up to a verified head",
                )?,
            )?,
            fetch_errors: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "attestgate_ct_fetch_errors_total",
                        "Failed reads of a CT log by kind (timeout, connect, rate_limited, server_error, status, too_large, body, parse)",
                    ),
                    &["log", "kind"],
                )?,
            )?,
            misbehaviour: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "attestgate_ct_log_misbehaviour_total",
                        "CT log misbehaviour detected (rollback, fork, root_mismatch, bad_signature); the log is then no longer read",
                    ),
                    &["log", "kind"],
                )?,
            )?,
            certs: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "attestgate_ct_certs_total",
                        "Certificates of watched names found in CT, by domain and verdict (known_leaf, known_backup, known_ca, would_break, unknown_issuer, malformed)",
                    ),
                    &["domain", "verdict"],
                )?,
            )?,
        })
    }
}

/// Serves `registry` as Prometheus text at `GET /metrics` on `listener`
/// until `shutdown` turns true: HTTP/1.1 (hyper), at most 16 connections
/// at once, 10 s to send a request head, anything else 404.
pub async fn serve(
    listener: tokio::net::TcpListener,
    registry: Registry,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    use http_body_util::Full;
    use hyper::body::Bytes;
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(16));
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        let Ok((tcp, _)) = accepted else { continue };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            continue; // over the bound: the connection is dropped
        };
        let registry = registry.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let svc =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let registry = registry.clone();
                    async move {
                        let (status, body) = if req.method() == hyper::Method::GET
                            && req.uri().path() == "/metrics"
                        {
                            let text = prometheus::TextEncoder::new()
                                .encode_to_string(&registry.gather())
                                .unwrap_or_default();
                            (200, text)
                        } else {
                            (404, "not found; try /metrics\n".to_owned())
                        };
                        hyper::Response::builder()
                            .status(status)
                            .header("content-type", "text/plain; version=0.0.4; charset=utf-8")
                            .body(Full::new(Bytes::from(body)))
                    }
                });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(std::time::Duration::from_secs(10))
                .serve_connection(hyper_util::rt::TokioIo::new(tcp), svc);
            let _ = tokio::time::timeout(std::time::Duration::from_secs(60), conn).await;
        });
    }
}
