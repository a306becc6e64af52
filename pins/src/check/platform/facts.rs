//! What the platform rules read from one certificate beyond its pin:
//! validity, extended key usage, and where its issuer can be fetched
//! (AIA caIssuers).

use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::OID_PKIX_ACCESS_DESCRIPTOR_CA_ISSUERS;
use x509_parser::prelude::FromDer;

/// The extended key usage extension, as a TLS client reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Eku {
    /// No EKU extension (RFC 5280: any use; Apple since iOS 13: refused).
    Absent,
    /// Holds id-kp-serverAuth (or anyExtendedKeyUsage).
    ServerAuth,
    /// Present without serverAuth.
    Other,
}

/// One certificate's facts.
#[derive(Clone, Debug)]
pub(super) struct Facts {
    pub(super) subject: String,
    pub(super) not_before: i64,
    pub(super) not_after: i64,
    pub(super) eku: Eku,
    /// `http:` URIs of the caIssuers access descriptions.
    pub(super) ca_issuers: Vec<String>,
}

impl Facts {
    /// Parses a DER certificate; `None` when it does not parse.
    pub(super) fn of(der: &[u8]) -> Option<Facts> {
        let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der).ok()?;
        let validity = cert.validity();
        let eku = match cert.extended_key_usage() {
            Ok(Some(e)) if e.value.server_auth || e.value.any => Eku::ServerAuth,
            Ok(Some(_)) | Err(_) => Eku::Other,
            Ok(None) => Eku::Absent,
        };
        let mut ca_issuers = Vec::new();
        for ext in cert.extensions() {
            if let ParsedExtension::AuthorityInfoAccess(aia) = ext.parsed_extension() {
                for d in &aia.accessdescs {
                    if d.access_method == OID_PKIX_ACCESS_DESCRIPTOR_CA_ISSUERS
                        && let GeneralName::URI(uri) = &d.access_location
                        && uri.starts_with("http")
                    {
                        ca_issuers.push((*uri).to_owned());
                    }
                }
            }
        }
        Some(Facts {
            subject: cert.subject().to_string(),
            not_before: validity.not_before.timestamp(),
            not_after: validity.not_after.timestamp(),
            eku,
            ca_issuers,
        })
    }

    /// Why it is not valid at `t` (Unix seconds), or `None`.
    pub(super) fn invalid_at(&self, t: i64) -> Option<String> {
        if t > self.not_after {
            Some(format!(
                "{} expired at {}",
                self.subject,
                crate::clock::rfc3339(self.not_after)
            ))
        } else if t < self.not_before {
            Some(format!(
                "{} is not valid before {}",
                self.subject,
                crate::clock::rfc3339(self.not_before)
            ))
        } else {
            None
        }
    }
}

/// A trust anchor's subject, RFC 4514 style (webpki keeps it as the raw
/// contents of the Name SEQUENCE).
pub(super) fn anchor_subject(raw: &[u8]) -> String {
    let mut der = vec![0x30];
    let len = raw.len();
    if len < 0x80 {
        der.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        der.push(0x80 | bytes.len() as u8);
        der.extend(bytes);
    }
    der.extend_from_slice(raw);
    x509_parser::x509::X509Name::from_der(&der)
        .map(|(_, n)| n.to_string())
        .unwrap_or_else(|_| "(root)".into())
}
