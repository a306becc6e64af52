//! The §11 metrics, registered into the proxy's registry. Every label
//! value comes from configuration: domain names of `pins.toml`, their
//! configured or resolved addresses, listener addresses, and fixed words
//! (`other`, result and reason names) — never from a request.

use prometheus::{IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

/// The pin metrics.
#[derive(Clone)]
pub(crate) struct PinMetrics {
    /// `attestgate_pin_check_total{domain,result}`.
    pub(crate) check_total: IntCounterVec,
    /// `attestgate_pin_match{domain,address}` (1/0).
    pub(crate) pin_match: IntGaugeVec,
    /// `attestgate_cert_expiry_seconds{domain,address}`.
    pub(crate) cert_expiry: IntGaugeVec,
    /// `attestgate_pin_config_expiry_seconds` (exp − now of the served config).
    pub(crate) config_expiry: IntGauge,
    /// `attestgate_pin_config_expired_served_total`: answers that served
    /// an expired config.
    pub(crate) expired_served: prometheus::IntCounter,
    /// `attestgate_pin_config_reloads_total{result}`: `ok`, `invalid`,
    /// `unreadable`, `rollback`.
    pub(crate) reloads: IntCounterVec,
    /// `attestgate_pin_reports_total{domain}`.
    pub(crate) reports: IntCounterVec,
    /// `attestgate_pin_report_class_total{class}`.
    pub(crate) report_class: IntCounterVec,
    /// `attestgate_pin_reports_refused_total{reason}`: `too_large`,
    /// `malformed`, `rate_limited`, `method`, `timeout`.
    pub(crate) reports_refused: IntCounterVec,
    /// `attestgate_listener_pinned{listener}` (1/0).
    pub(crate) listener_pinned: IntGaugeVec,
}

impl PinMetrics {
    /// Registers them.
    pub(crate) fn register(r: &Registry) -> Result<PinMetrics, prometheus::Error> {
        fn reg<C: prometheus::core::Collector + Clone + 'static>(
            r: &Registry,
            c: C,
        ) -> Result<C, prometheus::Error> {
            r.register(Box::new(c.clone()))?;
            Ok(c)
        }
        Ok(PinMetrics {
            check_total: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "attestgate_pin_check_total",
                        "Pin monitor checks by domain and result (match, mismatch, error), one per address per round",
                    ),
                    &["domain", "result"],
                )?,
            )?,
            pin_match: reg(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "attestgate_pin_match",
                        "1 when the chain served at this address holds a pin of the domain and validates",
                    ),
                    &["domain", "address"],
                )?,
            )?,
            cert_expiry: reg(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "attestgate_cert_expiry_seconds",
                        "Seconds until the first certificate of the chain served at this address expires",
                    ),
                    &["domain", "address"],
                )?,
            )?,
            config_expiry: reg(
                r,
                IntGauge::new(
                    "attestgate_pin_config_expiry_seconds",
                    "Seconds until the served signed pin config expires (negative: expired)",
                )?,
            )?,
            expired_served: reg(
                r,
                prometheus::IntCounter::new(
                    "attestgate_pin_config_expired_served_total",
                    "Answers that served a signed pin config already expired",
                )?,
            )?,
            reloads: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "attestgate_pin_config_reloads_total",
                        "New contents of the signed pin config file, by result (ok, invalid, unreadable, rollback)",
                    ),
                    &["result"],
                )?,
            )?,
            reports: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "attestgate_pin_reports_total",
                        "Pin-failure reports accepted, by domain of pins.toml (else other)",
                    ),
                    &["domain"],
                )?,
            )?,
            report_class: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "attestgate_pin_report_class_total",
                        "Pin-failure reports accepted, by class (known_pin, unknown_key_trusted_ca, untrusted)",
                    ),
                    &["class"],
                )?,
            )?,
            reports_refused: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "attestgate_pin_reports_refused_total",
                        "Pin-failure reports refused, by reason (too_large, malformed, rate_limited, method, timeout)",
                    ),
                    &["reason"],
                )?,
            )?,
            listener_pinned: reg(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "attestgate_listener_pinned",
                        "1 when the chain this HTTPS listener serves holds a pin of the signed config for its name",
                    ),
                    &["listener"],
                )?,
            )?,
        })
    }
}
