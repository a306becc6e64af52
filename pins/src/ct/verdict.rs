//! The verdict on a logged certificate of a watched name, from the
//! platform rules of [`crate::check::platform`] run against every pin set
//! shipped apps carry (`pins.toml`, older `pins.toml` files, signed pin
//! configs):
//!
//! | verdict | when |
//! |---|---|
//! | `would_break` | some shipped pin set, on some platform, refuses it |
//! | `unknown_issuer` | `would_break`, and its issuer's key was never seen for this domain (not a pin, not the issuer of a certificate judged known before) |
//! | `known_backup` | every set accepts, and its key is a backup pin (from a CSR or key file, or labelled backup) |
//! | `known_leaf` | every set accepts, and its key is pinned |
//! | `known_ca` | every set accepts through CA pins only |
//! | `malformed` | it holds a watched name but cannot be read or judged |
//!
//! A certificate is judged at an instant inside its validity (now, or its
//! middle when now is outside): the question is whether apps would take
//! it when it is served, not whether it is served today.

use std::collections::HashSet;

use ring::digest::{SHA256, digest};
use x509_parser::prelude::FromDer;

use super::matcher::{Hit, Matcher, dns_names};
use crate::check::platform::{PinSet, judge, judge_precert};
use crate::fetch::Roots;
use crate::spki::Pin;

/// A verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Its key is pinned.
    KnownLeaf,
    /// A backup pin went into service.
    KnownBackup,
    /// Only CA pins matched.
    KnownCa,
    /// Some shipped pin set refuses it.
    WouldBreak,
    /// Refused, and its issuer was never seen for the domain.
    UnknownIssuer,
    /// Holds a watched name, cannot be read.
    Malformed,
}

impl Verdict {
    /// Every verdict.
    pub const ALL: [Verdict; 6] = [
        Verdict::KnownLeaf,
        Verdict::KnownBackup,
        Verdict::KnownCa,
        Verdict::WouldBreak,
        Verdict::UnknownIssuer,
        Verdict::Malformed,
    ];

    /// Its name (JSON, metric label, `ATTESTGATE_VERDICT`).
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::KnownLeaf => "known_leaf",
            Verdict::KnownBackup => "known_backup",
            Verdict::KnownCa => "known_ca",
            Verdict::WouldBreak => "would_break",
            Verdict::UnknownIssuer => "unknown_issuer",
            Verdict::Malformed => "malformed",
        }
    }

    /// One byte, for the state.
    pub fn code(self) -> u8 {
        Verdict::ALL.iter().position(|v| *v == self).unwrap_or(0) as u8
    }

    /// Whether `--once` exits 1 for it.
    pub fn alerts(self) -> bool {
        matches!(self, Verdict::WouldBreak | Verdict::UnknownIssuer)
    }
}

/// The pin sets of one shipped file.
#[derive(Clone, Debug)]
pub struct Shipped {
    /// How events name it (the file).
    pub label: String,
    /// Its domains' pin sets.
    pub sets: Vec<PinSet>,
}

/// A platform's refusal, for the event.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Refusal {
    /// The shipped file.
    pub pin_set: String,
    /// The host judged.
    pub host: String,
    /// The platform.
    pub platform: &'static str,
    /// Why.
    pub reason: String,
}

/// What the logged certificate is: read from the entry.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Facts {
    /// Whether it is a precertificate.
    pub precert: bool,
    /// subjectAltName dNSNames.
    pub dns_names: Vec<String>,
    /// SHA-256 of the TBSCertificate without poison and SCT list, hex.
    pub tbs_sha256: String,
    /// SHA-256 of the certificate (or precertificate) DER, hex.
    pub cert_sha256: String,
    /// SHA-256 of its SubjectPublicKeyInfo: its pin.
    pub pubkey: Option<Pin>,
    /// Subject and issuer, RFC 4514.
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// Serial, hex.
    pub serial: String,
    /// Validity, Unix seconds.
    pub not_before: i64,
    /// notAfter.
    pub not_after: i64,
}

/// The verdict and why.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Finding {
    /// The verdict.
    pub verdict: Verdict,
    /// The watched domain it is reported under.
    pub domain: String,
    /// Every host of a watched domain it serves.
    pub hosts: Vec<String>,
    /// The refusals (for `would_break` and `unknown_issuer`).
    pub refusing: Vec<Refusal>,
    /// Its issuer's key, when known.
    pub issuer_pin: Option<Pin>,
    /// What was wrong (`malformed`), or the pin rule that accepted.
    pub detail: String,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Reads a certificate (DER) or, with `precert`, a precertificate's
/// logged TBSCertificate and the precertificate itself.
pub fn facts(cert_or_tbs: &[u8], precert: Option<&[u8]>) -> Result<Facts, String> {
    let (tbs_der, tbs) = match precert {
        Some(_) => {
            let (_, t) = x509_parser::certificate::TbsCertificate::from_der(cert_or_tbs)
                .map_err(|e| format!("the TBSCertificate does not parse: {e}"))?;
            (cert_or_tbs.to_vec(), t)
        }
        None => {
            let (_, c) = x509_parser::certificate::X509Certificate::from_der(cert_or_tbs)
                .map_err(|e| format!("the certificate does not parse: {e}"))?;
            let raw = crate::precert::parts(cert_or_tbs)
                .map(|p| p.tbs.to_vec())
                .ok_or("the certificate is not DER")?;
            (raw, c.tbs_certificate)
        }
    };
    let ct_tbs = crate::precert::ct_tbs(&tbs_der).ok_or("the TBSCertificate is not DER")?;
    let whole = precert.unwrap_or(cert_or_tbs);
    Ok(Facts {
        precert: precert.is_some(),
        dns_names: dns_names(cert_or_tbs, precert.is_some())?,
        tbs_sha256: hex(digest(&SHA256, &ct_tbs).as_ref()),
        cert_sha256: hex(digest(&SHA256, whole).as_ref()),
        pubkey: Some(Pin::of_spki(tbs.subject_pki.raw)),
        subject: tbs.subject.to_string(),
        issuer: tbs.issuer.to_string(),
        serial: hex(tbs.raw_serial()),
        not_before: tbs.validity.not_before.timestamp(),
        not_after: tbs.validity.not_after.timestamp(),
    })
}

/// Everything the judging needs that does not change per certificate.
#[derive(Clone, Debug)]
pub struct Judge {
    /// The watched domains.
    pub matcher: Matcher,
    /// Every shipped file, `pins.toml` first.
    pub shipped: Vec<Shipped>,
    /// Trust anchors per watched domain (same order as the matcher's).
    pub roots: Vec<Roots>,
    /// Pins that are backups (keys not in service when pinned).
    pub backups: HashSet<Pin>,
}

impl Judge {
    fn pins_of(&self, domain: &str) -> impl Iterator<Item = Pin> + '_ {
        let domain = domain.to_owned();
        self.shipped
            .iter()
            .flat_map(|s| s.sets.iter())
            .filter(move |s| s.name == domain)
            .flat_map(|s| s.pins.iter().map(|p| p.pin))
    }

    /// Judges a certificate with `facts` and `hits`, whose chain as logged
    /// is `chain` (the certificate or precertificate first, then its
    /// issuers); `issuer_pin` is its issuer's key; `seen` tells whether an
    /// issuer key was seen for a domain before.
    pub fn judge(
        &self,
        facts: &Facts,
        hits: &[Hit],
        chain: &[Vec<u8>],
        issuer_pin: Option<Pin>,
        now: i64,
        seen: &dyn Fn(&str, &Pin) -> bool,
    ) -> Finding {
        let instant = if now >= facts.not_before && now <= facts.not_after {
            now
        } else {
            facts.not_before + (facts.not_after - facts.not_before) / 2
        };
        let mut refusing = Vec::new();
        let mut accepted = Vec::new();
        for hit in hits {
            let Some(watched) = self.matcher.domains().get(hit.domain) else {
                continue;
            };
            let roots = &self.roots[hit.domain.min(self.roots.len().saturating_sub(1))];
            for shipped in &self.shipped {
                for set in shipped.sets.iter().filter(|s| s.name == watched.name) {
                    let j = if facts.precert {
                        match judge_precert(chain, set, &hit.host, &[instant], roots, &[]) {
                            Ok(j) => j,
                            Err(e) => return malformed(&watched.name, hits, e),
                        }
                    } else {
                        judge(chain, set, &hit.host, &[instant], roots, &[])
                    };
                    for v in j.refusing() {
                        refusing.push(Refusal {
                            pin_set: shipped.label.clone(),
                            host: hit.host.clone(),
                            platform: v.platform.as_str(),
                            reason: v.reason.clone(),
                        });
                    }
                    accepted.extend(
                        j.verdicts
                            .iter()
                            .filter(|v| v.accepts)
                            .map(|v| v.reason.clone()),
                    );
                }
            }
        }
        let first = hits
            .first()
            .and_then(|h| self.matcher.domains().get(h.domain))
            .map(|d| d.name.clone())
            .unwrap_or_default();
        let domain = refusing
            .first()
            .and_then(|r| {
                hits.iter()
                    .find(|h| h.host == r.host)
                    .and_then(|h| self.matcher.domains().get(h.domain))
            })
            .map_or(first, |d| d.name.clone());
        let ours: HashSet<Pin> = self.pins_of(&domain).collect();
        let verdict = if !refusing.is_empty() {
            let known = issuer_pin.is_some_and(|p| ours.contains(&p) || seen(&domain, &p));
            if known {
                Verdict::WouldBreak
            } else {
                Verdict::UnknownIssuer
            }
        } else {
            match facts.pubkey {
                Some(p) if self.backups.contains(&p) && ours.contains(&p) => Verdict::KnownBackup,
                Some(p) if ours.contains(&p) => Verdict::KnownLeaf,
                _ => Verdict::KnownCa,
            }
        };
        Finding {
            verdict,
            domain,
            hosts: hits.iter().map(|h| h.host.clone()).collect(),
            refusing,
            issuer_pin,
            detail: accepted.first().cloned().unwrap_or_default(),
        }
    }
}

/// A `malformed` finding under `domain`.
pub fn malformed(domain: &str, hits: &[Hit], why: String) -> Finding {
    Finding {
        verdict: Verdict::Malformed,
        domain: domain.to_owned(),
        hosts: hits.iter().map(|h| h.host.clone()).collect(),
        refusing: Vec::new(),
        issuer_pin: None,
        detail: why,
    }
}
