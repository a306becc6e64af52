//! The pin monitor: a background service that checks every domain of
//! `pins.toml` at every address every `monitor_interval` (±10 % jitter, so
//! a fleet does not probe in step), with the pins crate's fetcher, sets the
//! metrics, and logs one line per state change (a warning when an address
//! stops matching, an info line when it recovers), never one per check.

use std::time::Duration;

use async_trait::async_trait;
use attestgate_pins::Domain;
use attestgate_pins::check::{DomainCheck, PinResult, check_domains, statuses};
use attestgate_pins::monitor::{Change, States, jittered};
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;

use super::metrics::PinMetrics;
use crate::clock::unix_now;
use crate::shutdown::shutdown_of;

/// How far each wait may move from the interval.
const JITTER: f64 = 0.1;

/// The label of a domain that had no address to check.
const NO_ADDRESS: &str = "none";

/// The background service.
pub(crate) struct Monitor {
    pub(crate) domains: Vec<Domain>,
    pub(crate) interval: Duration,
    pub(crate) metrics: PinMetrics,
}

fn unit_random() -> f64 {
    let mut b = [0u8; 8];
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

fn address_label(a: Option<std::net::SocketAddr>) -> String {
    a.map_or_else(|| NO_ADDRESS.to_owned(), |a| a.to_string())
}

impl Monitor {
    fn record(&self, checks: &[DomainCheck], states: &mut States) {
        let round = statuses(checks);
        for s in &round {
            let address = address_label(s.address);
            let labels = [s.domain.as_str(), address.as_str()];
            self.metrics
                .check_total
                .with_label_values(&[s.domain.as_str(), s.result.as_str()])
                .inc();
            self.metrics
                .pin_match
                .with_label_values(&labels)
                .set(i64::from(s.result == PinResult::Match));
            match s.expiry_seconds {
                Some(e) => self.metrics.cert_expiry.with_label_values(&labels).set(e),
                None => {
                    let _ = self.metrics.cert_expiry.remove_label_values(&labels);
                }
            }
        }
        for c in states.update(&round) {
            self.log(&c, checks);
        }
    }

    fn log(&self, c: &Change, checks: &[DomainCheck]) {
        let address = address_label(c.address);
        let Some(to) = c.to else {
            let labels = [c.domain.as_str(), address.as_str()];
            let _ = self.metrics.pin_match.remove_label_values(&labels);
            let _ = self.metrics.cert_expiry.remove_label_values(&labels);
            tracing::info!(domain = %c.domain, address = %address, "pin monitor: the address is gone from the domain");
            return;
        };
        let check = checks.iter().find(|d| d.domain == c.domain);
        let why: Vec<String> = check
            .and_then(|d| {
                d.addresses
                    .iter()
                    .find(|a| Some(a.address) == c.address)
                    .map(|a| a.findings.iter().map(|f| f.describe()).collect())
            })
            .or_else(|| check.and_then(|d| d.error.clone()).map(|e| vec![e]))
            .unwrap_or_default();
        let from = c.from.map_or("-", PinResult::as_str);
        if c.is_bad() {
            tracing::warn!(
                domain = %c.domain,
                address = %address,
                from,
                to = to.as_str(),
                why = %why.join("; "),
                "pin monitor: {} at {} is now {}",
                c.domain,
                address,
                to.as_str()
            );
        } else {
            tracing::info!(
                domain = %c.domain,
                address = %address,
                from,
                to = to.as_str(),
                "pin monitor: {} at {} is now {}",
                c.domain,
                address,
                to.as_str()
            );
        }
    }
}

#[async_trait]
impl BackgroundService for Monitor {
    async fn start(&self, shutdown: ShutdownWatch) {
        let stop = shutdown_of(shutdown);
        tokio::pin!(stop);
        let mut states = States::new();
        tracing::info!(
            domains = self.domains.len(),
            interval = ?self.interval,
            "pin monitor started"
        );
        loop {
            tokio::select! {
                checks = check_domains(&self.domains, unix_now()) => self.record(&checks, &mut states),
                () = &mut stop => return,
            }
            let wait = jittered(self.interval, JITTER, unit_random());
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = &mut stop => return,
            }
        }
    }
}
