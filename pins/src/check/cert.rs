//! Would apps shipped with these pins accept this (new) chain? Each
//! platform by its own rule:
//!
//! - Android (`<pin-set>`): a pin anywhere in the chain; after the pin
//!   set's `expiration` no pin is checked at all.
//! - OkHttp `CertificatePinner`: a pin anywhere in the chain; no expiry.
//! - TrustKit: a pin anywhere in the chain; not enforced after
//!   `kTSKExpirationDate`.
//! - iOS `NSPinnedDomains`: when leaf identities are given, the leaf's key
//!   must be one; when CA identities are given, a CA certificate of the
//!   chain must be one; when both are given, both must hold. No expiry.

use crate::fetch::ChainCert;
use crate::model::{Domain, PinKind};
use crate::spki::Pin;

/// One platform's answer.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Verdict {
    /// `android`, `ios`, `okhttp`, `trustkit`.
    pub platform: &'static str,
    /// Whether it accepts the chain.
    pub accepts: bool,
    /// Why, in a sentence.
    pub reason: String,
}

/// Every platform's answer, and remarks on the chain itself.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CertCheck {
    /// The domain.
    pub domain: String,
    /// Per platform.
    pub verdicts: Vec<Verdict>,
    /// Remarks that do not decide (name, validity dates).
    pub warnings: Vec<String>,
}

impl CertCheck {
    /// Whether every platform accepts.
    pub fn accepted(&self) -> bool {
        self.verdicts.iter().all(|v| v.accepts)
    }
}

fn label_of(domain: &Domain, pin: Pin) -> String {
    domain
        .pins
        .iter()
        .find(|p| p.pin == pin)
        .map(|p| {
            if p.label.is_empty() {
                p.key_path.clone()
            } else {
                format!("{:?}", p.label)
            }
        })
        .unwrap_or_default()
}

/// Judges `chain` (leaf first) against `domain` as of `now` (Unix seconds).
pub fn check_cert(domain: &Domain, chain: &[ChainCert], now: i64) -> CertCheck {
    let expired = domain
        .expires
        .filter(|d| crate::clock::date_start(*d) <= now)
        .map(crate::clock::date_text);
    let anywhere = chain.iter().find_map(|c| {
        c.pin
            .filter(|p| domain.pin_values().any(|q| q == *p))
            .map(|p| (c.position, p))
    });
    let any_rule = |platform: &'static str, expires_off: bool| -> Verdict {
        match (&expired, anywhere) {
            (Some(day), _) if expires_off => Verdict {
                platform,
                accepts: true,
                reason: format!("the pin set expired on {day}: pins are no longer checked"),
            },
            (_, Some((pos, pin))) => Verdict {
                platform,
                accepts: true,
                reason: format!(
                    "certificate {pos} has pinned key {pin} ({})",
                    label_of(domain, pin)
                ),
            },
            (_, None) => Verdict {
                platform,
                accepts: false,
                reason: "no certificate of the chain has a pinned key".into(),
            },
        }
    };
    let verdicts = vec![
        any_rule("android", true),
        ios(domain, chain),
        any_rule("okhttp", false),
        any_rule("trustkit", true),
    ];
    let mut warnings = Vec::new();
    match chain.first().and_then(|c| c.info.as_ref()) {
        Some(leaf) => {
            if !leaf.covers(&domain.name) {
                warnings.push(format!(
                    "the leaf's names {:?} do not cover {}",
                    leaf.names, domain.name
                ));
            }
            if leaf.not_after <= now {
                warnings.push(format!("the leaf expired at {}", leaf.not_after_text));
            } else if leaf.not_before > now {
                warnings.push("the leaf is not valid yet".into());
            }
            if leaf.is_ca {
                warnings.push("the first certificate is a CA: give the leaf first".into());
            }
        }
        None => warnings.push("the first certificate does not parse".into()),
    }
    CertCheck {
        domain: domain.name.clone(),
        verdicts,
        warnings,
    }
}

fn ios(domain: &Domain, chain: &[ChainCert]) -> Verdict {
    let of_kind = |k: PinKind| -> Vec<Pin> {
        domain
            .pins
            .iter()
            .filter(|p| p.kind == k)
            .map(|p| p.pin)
            .collect()
    };
    let (leaf_pins, ca_pins) = (of_kind(PinKind::Leaf), of_kind(PinKind::Ca));
    let leaf = chain.first().and_then(|c| c.pin);
    let leaf_ok = leaf.is_some_and(|p| leaf_pins.contains(&p));
    let ca_hit = chain.iter().skip(1).find_map(|c| {
        c.pin
            .filter(|p| ca_pins.contains(p))
            .map(|p| (c.position, p))
    });
    let mut reasons = Vec::new();
    let mut accepts = true;
    if !leaf_pins.is_empty() {
        if leaf_ok {
            reasons.push("the leaf's key is a pinned leaf identity".to_owned());
        } else {
            accepts = false;
            reasons.push("the leaf's key is not among the leaf identities".to_owned());
        }
    }
    if !ca_pins.is_empty() {
        match ca_hit {
            Some((pos, _)) => reasons.push(format!("certificate {pos} is a pinned CA identity")),
            None => {
                accepts = false;
                reasons
                    .push("no CA certificate of the chain is among the CA identities".to_owned());
            }
        }
    }
    if leaf_pins.is_empty() && ca_pins.is_empty() {
        accepts = false;
        reasons.push("no pins".to_owned());
    }
    if !leaf_pins.is_empty() && !ca_pins.is_empty() {
        reasons.push("(both are given, so both must match)".to_owned());
    }
    Verdict {
        platform: "ios",
        accepts,
        reason: reasons.join("; "),
    }
}
