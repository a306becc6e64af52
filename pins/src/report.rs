//! Pin-failure reports, parsed strictly and classified — the pure half of
//! the proxy's `report_path`: TrustKit's report and HPKP's
//! (RFC 7469 §3). The HTTP side (POST, size cap, rate limit, counting) is
//! the proxy's; nothing here logs or keeps a client's data.
//!
//! Classes:
//! - `known_pin`: the reported chain holds a pin we publish — the server is
//!   fine, the client's pins or its code are wrong;
//! - `unknown_key_trusted_ca`: no pin of ours, but the chain validates for
//!   the name against our roots — a possible MitM with a breached or rogue
//!   CA, or a certificate rotation whose pins were never shipped;
//! - `untrusted`: neither — typically an interception proxy with its own
//!   root (corporate, or a user-installed one).

use serde::Deserialize;

use crate::fetch::{ChainCert, Roots};
use crate::spki::{self, Pin};

/// Largest report body accepted.
pub const MAX_REPORT_BYTES: usize = 16 * 1024;
/// Most certificates read from a reported chain.
pub const MAX_REPORT_CHAIN: usize = 16;

/// Which format a report came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportFormat {
    /// TrustKit (`app-bundle-id`, `validated-certificate-chain`, …).
    Trustkit,
    /// RFC 7469 §3 (`served-certificate-chain`, `effective-expiration-date`).
    Hpkp,
}

/// A parsed report.
#[derive(Clone, Debug)]
pub struct PinReport {
    /// Its format.
    pub format: ReportFormat,
    /// The host the client connected to.
    pub hostname: String,
    /// Its port, when given.
    pub port: Option<u16>,
    /// The pinned name whose pins failed (may be a parent domain).
    pub noted_hostname: Option<String>,
    /// The chain the report holds: HPKP's served chain, else the
    /// validated one (leaf first), each certificate described.
    pub chain: Vec<ChainCert>,
    /// The pins the client held.
    pub known_pins: Vec<Pin>,
}

/// Why a report is refused (answered 400 by the proxy).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// Larger than [`MAX_REPORT_BYTES`] (answered 413).
    #[error("the report is larger than {MAX_REPORT_BYTES} bytes")]
    TooLarge,
    /// Not JSON, or not a report's shape.
    #[error("not a TrustKit or HPKP report: {0}")]
    Shape(String),
    /// A certificate of the chain is not a PEM certificate.
    #[error("certificate {0} of the chain does not parse")]
    Certificate(usize),
    /// A `known-pins` entry is not `pin-sha256="…"`.
    #[error("known-pins entry {0} is not pin-sha256=\"base64\"")]
    KnownPin(usize),
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Raw {
    hostname: String,
    port: Option<u16>,
    noted_hostname: Option<String>,
    #[serde(default)]
    served_certificate_chain: Option<Vec<String>>,
    #[serde(default)]
    validated_certificate_chain: Option<Vec<String>>,
    #[serde(default)]
    known_pins: Vec<String>,
    app_bundle_id: Option<serde::de::IgnoredAny>,
    trustkit_version: Option<serde::de::IgnoredAny>,
    effective_expiration_date: Option<serde::de::IgnoredAny>,
}

/// Parses a report body.
pub fn parse(body: &[u8]) -> Result<PinReport, ReportError> {
    if body.len() > MAX_REPORT_BYTES {
        return Err(ReportError::TooLarge);
    }
    let raw: Raw = serde_json::from_slice(body).map_err(|e| ReportError::Shape(shape_error(&e)))?;
    let format = if raw.app_bundle_id.is_some() || raw.trustkit_version.is_some() {
        ReportFormat::Trustkit
    } else if raw.effective_expiration_date.is_some() || raw.served_certificate_chain.is_some() {
        ReportFormat::Hpkp
    } else {
        return Err(ReportError::Shape(
            "neither TrustKit's nor HPKP's members".into(),
        ));
    };
    let hostname = raw
        .hostname
        .trim()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if hostname.is_empty()
        || hostname.len() > 253
        || !hostname
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return Err(ReportError::Shape("hostname is not a host name".into()));
    }
    let pems = raw
        .served_certificate_chain
        .filter(|c| !c.is_empty())
        .or(raw.validated_certificate_chain)
        .unwrap_or_default();
    if pems.is_empty() {
        return Err(ReportError::Shape("no certificate chain".into()));
    }
    if pems.len() > MAX_REPORT_CHAIN {
        return Err(ReportError::Shape(format!(
            "a chain of {} certificates",
            pems.len()
        )));
    }
    let mut chain = Vec::with_capacity(pems.len());
    for (i, pem) in pems.iter().enumerate() {
        let der = match spki::from_bytes(pem.as_bytes()) {
            Ok(found)
                if found.len() == 1 && matches!(found[0].origin, spki::Origin::Certificate(_)) =>
            {
                first_der(pem).ok_or(ReportError::Certificate(i))?
            }
            _ => return Err(ReportError::Certificate(i)),
        };
        chain.push(ChainCert::from_der(i, &der));
    }
    let mut known_pins = Vec::new();
    for (i, entry) in raw.known_pins.iter().enumerate() {
        let value = entry
            .trim()
            .strip_prefix("pin-sha256=")
            .map(|v| v.trim_matches('"'))
            .and_then(Pin::parse)
            .ok_or(ReportError::KnownPin(i))?;
        known_pins.push(value);
    }
    Ok(PinReport {
        format,
        hostname,
        port: raw.port,
        noted_hostname: raw.noted_hostname.map(|n| n.to_ascii_lowercase()),
        chain,
        known_pins,
    })
}

/// serde's message without any of the body's text.
fn shape_error(e: &serde_json::Error) -> String {
    match e.classify() {
        serde_json::error::Category::Data => "a member is missing or of the wrong type".into(),
        serde_json::error::Category::Eof => "the JSON ends early".into(),
        _ => "not JSON".into(),
    }
}

fn first_der(pem: &str) -> Option<Vec<u8>> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()?
        .ok()
        .map(|c| c.to_vec())
}

/// A report's class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportClass {
    /// The chain holds a pin we publish: a client-side problem.
    KnownPin,
    /// No pin of ours, but a chain our roots trust for the name.
    UnknownKeyTrustedCa,
    /// Neither.
    Untrusted,
}

impl ReportClass {
    /// The label.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportClass::KnownPin => "known_pin",
            ReportClass::UnknownKeyTrustedCa => "unknown_key_trusted_ca",
            ReportClass::Untrusted => "untrusted",
        }
    }
}

/// Classifies `report` against the pins we publish for its host, with
/// `roots` as the CAs we trust, at `now` (Unix seconds).
pub fn classify(report: &PinReport, our_pins: &[Pin], roots: &Roots, now: i64) -> ReportClass {
    if report
        .chain
        .iter()
        .filter_map(|c| c.pin)
        .any(|p| our_pins.contains(&p))
    {
        return ReportClass::KnownPin;
    }
    let ders: Vec<Vec<u8>> = report.chain.iter().map(|c| c.der.clone()).collect();
    match roots.invalid(&ders, &report.hostname, now) {
        None => ReportClass::UnknownKeyTrustedCa,
        Some(_) => ReportClass::Untrusted,
    }
}
