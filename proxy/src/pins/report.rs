//! `report_path`: pin-failure reports (TrustKit, HPKP per RFC 7469 §3),
//! POST only, rate-limited per client address (429), size-capped (413),
//! parsed strictly by the pins crate (400), classified, counted by domain
//! (a domain of `pins.toml`, else `other`) and logged as a summary: the
//! client's address, the host it reported and the chain only at debug
//! level. A body is never logged.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use attestgate_pins::fetch::Roots;
use attestgate_pins::report::{self, ReportError};
use attestgate_pins::{Domain, Pin};
use http::{Method, StatusCode};
use pingora_error::Result;
use pingora_http::ResponseHeader;
use pingora_proxy::Session;

use super::metrics::PinMetrics;
use crate::clock::unix_now;

/// The rate limit's window.
const WINDOW: Duration = Duration::from_secs(60);
/// Client addresses tracked at most; past it, new ones share one bucket.
const MAX_CLIENTS: usize = 4096;
/// How long a report body may take to arrive.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// The label of a report for a domain not in `pins.toml`.
const OTHER: &str = "other";

/// A small bounded table of per-client counts in fixed windows. IPv6
/// clients are counted per /64 (one host holds a whole /64).
pub(crate) struct RateTable {
    per_window: u32,
    slots: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

fn bucket(ip: Option<IpAddr>) -> IpAddr {
    match ip {
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        Some(v4) => v4,
        None => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
    }
}

impl RateTable {
    /// `per_window` reports per client per minute.
    pub(crate) fn new(per_window: u32) -> RateTable {
        RateTable {
            per_window,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// Whether one more report from `ip` is allowed at `now`.
    pub(crate) fn allow(&self, ip: Option<IpAddr>, now: Instant) -> bool {
        let mut key = bucket(ip);
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if !slots.contains_key(&key) && slots.len() >= MAX_CLIENTS {
            slots.retain(|_, (start, _)| now.saturating_duration_since(*start) < WINDOW);
            if slots.len() >= MAX_CLIENTS {
                key = IpAddr::V4(std::net::Ipv4Addr::BROADCAST);
            }
        }
        let slot = slots.entry(key).or_insert((now, 0));
        if now.saturating_duration_since(slot.0) >= WINDOW {
            *slot = (now, 0);
        }
        if slot.1 >= self.per_window {
            return false;
        }
        slot.1 += 1;
        true
    }

    /// Clients tracked now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots.lock().map_or(0, |s| s.len())
    }
}

/// A domain of `pins.toml`, ready to classify against.
pub(crate) struct Known {
    pub(crate) domain: Domain,
    pub(crate) pins: Vec<Pin>,
    pub(crate) roots: Roots,
}

/// The report endpoint.
pub(crate) struct Reports {
    pub(crate) known: Vec<Known>,
    /// The system's roots, for hosts not in `pins.toml`.
    pub(crate) other_roots: Option<Roots>,
    pub(crate) max_bytes: usize,
    pub(crate) rate: RateTable,
    pub(crate) metrics: PinMetrics,
}

impl Reports {
    fn known_for(&self, host: &str) -> Option<&Known> {
        if let Some(k) = self
            .known
            .iter()
            .find(|k| k.domain.name.eq_ignore_ascii_case(host))
        {
            return Some(k);
        }
        let mut rest = host;
        while let Some((_, parent)) = rest.split_once('.') {
            if let Some(k) = self
                .known
                .iter()
                .find(|k| k.domain.include_subdomains && k.domain.name.eq_ignore_ascii_case(parent))
            {
                return Some(k);
            }
            rest = parent;
        }
        None
    }

    async fn refuse(&self, session: &mut Session, status: StatusCode, reason: &str) -> Result<()> {
        self.metrics
            .reports_refused
            .with_label_values(&[reason])
            .inc();
        tracing::debug!(target: "attestgate::reject", reason, "pin-failure report refused");
        crate::respond::json(session, status, b"{}").await
    }

    /// Reads the body, at most `max_bytes`: `None` when it is larger.
    async fn body(&self, session: &mut Session) -> Result<Option<Vec<u8>>> {
        let mut body = Vec::new();
        while let Some(chunk) = session.read_request_body().await? {
            if body.len() + chunk.len() > self.max_bytes {
                return Ok(None);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Some(body))
    }

    /// Answers a request at `report_path`.
    pub(crate) async fn answer(&self, session: &mut Session) -> Result<()> {
        if session.req_header().method != Method::POST {
            return self
                .refuse(session, StatusCode::METHOD_NOT_ALLOWED, "method")
                .await;
        }
        let client = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip());
        if !self.rate.allow(client, Instant::now()) {
            return self
                .refuse(session, StatusCode::TOO_MANY_REQUESTS, "rate_limited")
                .await;
        }
        let announced = session
            .req_header()
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if announced.is_some_and(|n| n > self.max_bytes as u64) {
            return self
                .refuse(session, StatusCode::PAYLOAD_TOO_LARGE, "too_large")
                .await;
        }
        let body = match tokio::time::timeout(BODY_TIMEOUT, self.body(session)).await {
            Err(_) => {
                return self
                    .refuse(session, StatusCode::REQUEST_TIMEOUT, "timeout")
                    .await;
            }
            Ok(Err(_)) => {
                return self
                    .refuse(session, StatusCode::BAD_REQUEST, "malformed")
                    .await;
            }
            Ok(Ok(None)) => {
                return self
                    .refuse(session, StatusCode::PAYLOAD_TOO_LARGE, "too_large")
                    .await;
            }
            Ok(Ok(Some(b))) => b,
        };
        let parsed = match report::parse(&body) {
            Ok(r) => r,
            Err(ReportError::TooLarge) => {
                return self
                    .refuse(session, StatusCode::PAYLOAD_TOO_LARGE, "too_large")
                    .await;
            }
            Err(e) => {
                tracing::debug!(target: "attestgate::reject", error = %e, "pin-failure report does not parse");
                return self
                    .refuse(session, StatusCode::BAD_REQUEST, "malformed")
                    .await;
            }
        };
        let known = self.known_for(&parsed.hostname).or_else(|| {
            parsed
                .noted_hostname
                .as_deref()
                .and_then(|n| self.known_for(&n.to_ascii_lowercase()))
        });
        let label = known.map_or(OTHER, |k| k.domain.name.as_str());
        let class = match (known, &self.other_roots) {
            (Some(k), _) => report::classify(&parsed, &k.pins, &k.roots, unix_now()),
            (None, Some(roots)) => report::classify(&parsed, &[], roots, unix_now()),
            (None, None) => report::ReportClass::Untrusted,
        };
        self.metrics.reports.with_label_values(&[label]).inc();
        self.metrics
            .report_class
            .with_label_values(&[class.as_str()])
            .inc();
        tracing::info!(
            domain = label,
            format = ?parsed.format,
            class = class.as_str(),
            chain = parsed.chain.len(),
            "pin-failure report"
        );
        tracing::debug!(
            client = ?client,
            hostname = %parsed.hostname,
            port = ?parsed.port,
            chain_pins = ?parsed.chain.iter().filter_map(|c| c.pin.map(|p| p.to_base64())).collect::<Vec<_>>(),
            known_pins = parsed.known_pins.len(),
            "pin-failure report details"
        );
        let resp = ResponseHeader::build(StatusCode::NO_CONTENT, Some(1))?;
        session.write_response_header(Box::new(resp), true).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_table_counts_per_client_per_window_and_stays_bounded() {
        let t = RateTable::new(3);
        let now = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!((0..3).all(|_| t.allow(Some(a), now)));
        assert!(!t.allow(Some(a), now));
        assert!(t.allow(Some(b), now), "another client has its own count");
        assert!(t.allow(Some(a), now + WINDOW), "a new window");
        // One IPv6 host counts per /64.
        let v6a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert!((0..3).all(|_| t.allow(Some(v6a), now)));
        assert!(!t.allow(Some(v6b), now));
        // A flood of addresses never grows the table past its bound.
        for i in 0..(MAX_CLIENTS as u32 + 500) {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            let _ = t.allow(Some(ip), now);
        }
        assert!(t.len() <= MAX_CLIENTS + 1, "{}", t.len());
    }
}
