//! What a person needs to see of a certificate next to its pin.

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

use super::SpkiError;

/// A certificate, described.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CertInfo {
    /// Subject, RFC 4514 style (`CN=…, O=…`).
    pub subject: String,
    /// Issuer, same style.
    pub issuer: String,
    /// notBefore, Unix seconds.
    pub not_before: i64,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// notAfter as RFC 3339 (UTC).
    pub not_after_text: String,
    /// basicConstraints cA.
    pub is_ca: bool,
    /// DNS names and IP addresses of the subjectAltName.
    pub names: Vec<String>,
}

impl CertInfo {
    /// Whether one of its names covers `host` (exact, or a `*.` wildcard
    /// for one label, as RFC 6125 allows).
    pub fn covers(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.names.iter().any(|n| {
            let n = n.to_ascii_lowercase();
            match n.strip_prefix("*.") {
                Some(base) => host
                    .split_once('.')
                    .is_some_and(|(label, rest)| !label.is_empty() && rest == base),
                None => n == host,
            }
        })
    }
}

/// Describes a DER certificate and returns its SPKI DER too.
pub fn describe_cert(der: &[u8]) -> Result<(CertInfo, Vec<u8>), SpkiError> {
    let (rest, cert) = x509_parser::certificate::X509Certificate::from_der(der)
        .map_err(|_| SpkiError::Malformed("certificate"))?;
    if !rest.is_empty() {
        return Err(SpkiError::Malformed("certificate: trailing bytes"));
    }
    let validity = cert.validity();
    let not_after = validity.not_after.to_datetime();
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => names.push((*d).to_owned()),
                GeneralName::IPAddress(ip) => match ip.len() {
                    4 => names.push(
                        std::net::Ipv4Addr::from(<[u8; 4]>::try_from(*ip).unwrap_or_default())
                            .to_string(),
                    ),
                    16 => names.push(
                        std::net::Ipv6Addr::from(<[u8; 16]>::try_from(*ip).unwrap_or_default())
                            .to_string(),
                    ),
                    _ => {}
                },
                _ => {}
            }
        }
    }
    let info = CertInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_before: validity.not_before.timestamp(),
        not_after: not_after.unix_timestamp(),
        not_after_text: crate::clock::rfc3339(not_after.unix_timestamp()),
        is_ca: cert.is_ca(),
        names,
    };
    Ok((info, cert.public_key().raw.to_vec()))
}
