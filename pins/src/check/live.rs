//! The live check: does every address of every domain serve a chain that
//! holds one of its pins? [`evaluate`] is pure (a fetch report and `now` in,
//! findings out); [`check_domain`] and [`check_all`] fetch first. The
//! proxy's monitor calls the same functions and turns them into metrics.

use std::net::SocketAddr;

use crate::fetch::{self, Outcome, Report, Roots, Target};
use crate::model::{Domain, PinsFile};
use crate::spki::Pin;

/// A chain expiring within this many seconds is a warning.
pub const EXPIRY_WARNING_SECS: i64 = 30 * 86_400;

/// One address's result, as the metric label says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PinResult {
    /// The served chain holds a pin (and validates).
    Match,
    /// It does not, or it does not validate.
    Mismatch,
    /// No chain: unreachable, timeout, handshake failure.
    Error,
}

impl PinResult {
    /// `match`, `mismatch` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            PinResult::Match => "match",
            PinResult::Mismatch => "mismatch",
            PinResult::Error => "error",
        }
    }
}

/// Something found at an address.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "finding", rename_all = "snake_case")]
pub enum Finding {
    /// No certificate of the served chain has a pinned key: apps refuse it.
    NoPin,
    /// The chain does not validate (apps validate before they pin).
    NotValid {
        /// webpki's reason.
        reason: String,
    },
    /// This address serves a chain other than the first address's.
    Differs {
        /// The address whose chain came first.
        first: SocketAddr,
    },
    /// A certificate of the chain expires within 30 days (a warning).
    ExpiresSoon {
        /// Chain position.
        position: usize,
        /// Whole days left.
        days: i64,
    },
    /// The pin set's `expires` is within 30 days, or past (a warning).
    PinSetExpires {
        /// Days left (negative: past).
        days: i64,
    },
    /// No chain at all.
    Unreachable {
        /// Why.
        reason: String,
    },
}

impl Finding {
    /// Whether it makes `check` fail.
    pub fn is_error(&self) -> bool {
        matches!(
            self,
            Finding::NoPin | Finding::NotValid { .. } | Finding::Unreachable { .. }
        )
    }

    /// A sentence for a terminal.
    pub fn describe(&self) -> String {
        match self {
            Finding::NoPin => "no pin in the chain: apps with these pins refuse it".into(),
            Finding::NotValid { reason } => format!("the chain does not validate: {reason}"),
            Finding::Differs { first } => format!("serves a different chain than {first}"),
            Finding::ExpiresSoon { position, days } => {
                format!("warning: certificate {position} expires in {days} days")
            }
            Finding::PinSetExpires { days } if *days < 0 => {
                format!(
                    "warning: the pin set expired {} days ago (Android and TrustKit no longer pin)",
                    -days
                )
            }
            Finding::PinSetExpires { days } => {
                format!(
                    "warning: the pin set expires in {days} days (then Android and TrustKit stop pinning)"
                )
            }
            Finding::Unreachable { reason } => format!("no chain: {reason}"),
        }
    }
}

/// One address of one domain, checked.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AddressCheck {
    /// The address.
    pub address: SocketAddr,
    /// match / mismatch / error.
    pub result: PinResult,
    /// The pins of this domain found in the chain.
    pub matched: Vec<Pin>,
    /// Seconds until the first certificate of the chain expires (negative
    /// when one has); `None` without a chain.
    pub expiry_seconds: Option<i64>,
    /// What was found.
    pub findings: Vec<Finding>,
}

/// One domain, checked at every address.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DomainCheck {
    /// The domain.
    pub domain: String,
    /// Why it could not be checked at all (no address, bad roots).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Per address.
    pub addresses: Vec<AddressCheck>,
    /// Whether the addresses serve different chains.
    pub differs: bool,
}

impl DomainCheck {
    /// Whether every address served a valid chain holding a pin.
    pub fn passed(&self) -> bool {
        self.error.is_none()
            && !self.addresses.is_empty()
            && self.addresses.iter().all(|a| a.result == PinResult::Match)
    }
}

/// Judges a fetch report against a domain's pins, as of `now` (Unix
/// seconds). Pure.
pub fn evaluate(domain: &Domain, report: &Report, now: i64) -> DomainCheck {
    let pins: Vec<Pin> = domain.pin_values().collect();
    let pinset = domain
        .expires
        .map(|d| (crate::clock::date_start(d) - now).div_euclid(86_400));
    let first_chain = report
        .addresses
        .iter()
        .find(|a| a.chain_group == Some(0))
        .map(|a| a.address);
    let addresses = report
        .addresses
        .iter()
        .map(|a| {
            let mut findings = Vec::new();
            let (result, matched, expiry) = match &a.outcome {
                Outcome::Error(reason) => {
                    findings.push(Finding::Unreachable {
                        reason: reason.clone(),
                    });
                    (PinResult::Error, Vec::new(), None)
                }
                Outcome::Chain(chain) => {
                    let matched: Vec<Pin> = chain.pins().filter(|p| pins.contains(p)).collect();
                    if matched.is_empty() {
                        findings.push(Finding::NoPin);
                    }
                    if let Some(reason) = &chain.invalid {
                        findings.push(Finding::NotValid {
                            reason: reason.clone(),
                        });
                    }
                    if let (Some(g), Some(first)) = (a.chain_group, first_chain)
                        && g > 0
                    {
                        findings.push(Finding::Differs { first });
                    }
                    let mut earliest: Option<i64> = None;
                    for c in &chain.certs {
                        let Some(info) = &c.info else { continue };
                        let left = info.not_after - now;
                        earliest = Some(earliest.map_or(left, |e| e.min(left)));
                        if (0..EXPIRY_WARNING_SECS).contains(&left) {
                            findings.push(Finding::ExpiresSoon {
                                position: c.position,
                                days: left / 86_400,
                            });
                        }
                    }
                    let ok = !matched.is_empty() && chain.invalid.is_none();
                    (
                        if ok {
                            PinResult::Match
                        } else {
                            PinResult::Mismatch
                        },
                        matched,
                        earliest,
                    )
                }
            };
            if let Some(days) = pinset
                && days * 86_400 < EXPIRY_WARNING_SECS
            {
                findings.push(Finding::PinSetExpires { days });
            }
            AddressCheck {
                address: a.address,
                result,
                matched,
                expiry_seconds: expiry,
                findings,
            }
        })
        .collect();
    DomainCheck {
        domain: domain.name.clone(),
        error: report.resolve_error.clone(),
        addresses,
        differs: report.differs,
    }
}

/// Fetches and judges one domain.
pub async fn check_domain(domain: &Domain, now: i64) -> DomainCheck {
    let roots = match fetch::load_roots(domain.ca_file.as_deref()) {
        Ok(r) => r,
        Err(e) => {
            return DomainCheck {
                domain: domain.name.clone(),
                error: Some(e),
                addresses: Vec::new(),
                differs: false,
            };
        }
    };
    check_domain_with(domain, &roots, now).await
}

/// Fetches and judges one domain with roots already loaded.
pub async fn check_domain_with(domain: &Domain, roots: &Roots, now: i64) -> DomainCheck {
    let report = fetch::fetch(&Target::of_domain(domain), roots).await;
    evaluate(domain, &report, now)
}

/// Every domain of a `pins.toml`, concurrently, in file order.
pub async fn check_all(file: &PinsFile, now: i64) -> Vec<DomainCheck> {
    check_domains(&file.domains, now).await
}

/// Every domain at every address, concurrently (at most
/// [`fetch::MAX_CONNECTIONS`] connections at once), in order: what the
/// proxy's monitor runs each interval. No side effects: the caller turns
/// the results into metrics and logs ([`statuses`] flattens them).
pub async fn check_domains(domains: &[Domain], now: i64) -> Vec<DomainCheck> {
    check_domains_with(domains, now, &mut |_, _| {}).await
}

/// [`check_domains`], calling `on_domain(i, check)` as each domain is
/// done (for progress).
pub async fn check_domains_with(
    domains: &[Domain],
    now: i64,
    on_domain: &mut (dyn FnMut(usize, &DomainCheck) + Send),
) -> Vec<DomainCheck> {
    let reports = fetch::fetch_domains(domains, &mut |i, r| {
        if let Some(d) = domains.get(i) {
            on_domain(i, &evaluate(d, r, now));
        }
    })
    .await;
    domains
        .iter()
        .zip(&reports)
        .map(|(d, r)| evaluate(d, r, now))
        .collect()
}

/// One address of one domain, flattened for metrics
/// (`attestgate_pin_match{domain,address}`,
/// `attestgate_cert_expiry_seconds{domain,address}`,
/// `attestgate_pin_check_total{domain,result}`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AddressStatus {
    /// The domain.
    pub domain: String,
    /// The address; `None` when the domain had no address to check (its
    /// result is then `error`).
    pub address: Option<SocketAddr>,
    /// match / mismatch / error.
    pub result: PinResult,
    /// Seconds to the chain's first expiry, when a chain was seen.
    pub expiry_seconds: Option<i64>,
}

/// Flattens checks into one status per domain and address.
pub fn statuses(checks: &[DomainCheck]) -> Vec<AddressStatus> {
    let mut out = Vec::new();
    for c in checks {
        if c.addresses.is_empty() {
            out.push(AddressStatus {
                domain: c.domain.clone(),
                address: None,
                result: PinResult::Error,
                expiry_seconds: None,
            });
        }
        for a in &c.addresses {
            out.push(AddressStatus {
                domain: c.domain.clone(),
                address: Some(a.address),
                result: a.result,
                expiry_seconds: a.expiry_seconds,
            });
        }
    }
    out
}
