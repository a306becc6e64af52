//! Path building as the platforms do it, by webpki (rustls' own
//! validator): from the leaf through the certificates given (and, for a
//! platform that fetches missing issuers, those fetched) to a trust
//! anchor, trying the anchors before the intermediates at each step — the
//! order of Android's TrustManagerImpl and OkHttp's chain cleaner, so a
//! cross-signed intermediate ends at the root a device trusts.
//!
//! Dates are judged apart from the rest: the path is first built at a
//! time when the leaf is valid, so "expired" is reported as a date, not
//! as a chain that does not build.

use rustls_pki_types::{CertificateDer, ServerName, SignatureVerificationAlgorithm, UnixTime};
use webpki::{EndEntityCert, Error, KeyUsage};

use super::facts::{Facts, anchor_subject};
use crate::fetch::Roots;
use crate::spki::Pin;

/// Where a certificate sits in a built path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The server's certificate.
    Leaf,
    /// A CA certificate between the leaf and the root.
    Intermediate,
    /// The trust anchor the path ends at (from the roots, whether or not
    /// the server sent it).
    Root,
}

impl Role {
    /// `leaf`, `intermediate` or `root`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Leaf => "leaf",
            Role::Intermediate => "intermediate",
            Role::Root => "root",
        }
    }
}

/// One certificate of the path a platform built.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PathCert {
    /// Subject, RFC 4514 style.
    pub subject: String,
    /// SPKI SHA-256 of its key.
    pub pin: Pin,
    /// Leaf, intermediate or root.
    pub role: Role,
}

/// A built path: its certificates (leaf first, root last) and the facts of
/// those that can expire (leaf and intermediates; anchors' dates are not
/// checked, as webpki and the platforms do not).
#[derive(Clone, Debug)]
pub(super) struct Built {
    pub(super) certs: Vec<PathCert>,
    pub(super) dated: Vec<Facts>,
}

fn unix(t: i64) -> UnixTime {
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        u64::try_from(t).unwrap_or(0),
    ))
}

/// Builds a path for `leaf` at `time` (Unix seconds) through `pool`,
/// checking signatures with `algs`.
pub(super) fn build(
    leaf: &[u8],
    pool: &[Vec<u8>],
    roots: &Roots,
    time: i64,
    algs: &[&dyn SignatureVerificationAlgorithm],
) -> Result<Built, Error> {
    let leaf_der = CertificateDer::from(leaf);
    let ee = EndEntityCert::try_from(&leaf_der)?;
    let pool: Vec<CertificateDer<'_>> = pool
        .iter()
        .map(|c| CertificateDer::from(c.as_slice()))
        .collect();
    let path = ee.verify_for_usage(
        algs,
        roots.anchors(),
        &pool,
        unix(time),
        KeyUsage::server_auth(),
        None,
        None,
    )?;
    let mut certs = vec![PathCert {
        subject: Facts::of(leaf).map_or_else(|| "(leaf)".into(), |f| f.subject),
        pin: Pin::of_spki(&path.end_entity().subject_public_key_info()),
        role: Role::Leaf,
    }];
    let mut dated: Vec<Facts> = Facts::of(leaf).into_iter().collect();
    for c in path.intermediate_certificates() {
        let facts = Facts::of(c.der().as_ref());
        certs.push(PathCert {
            subject: facts
                .as_ref()
                .map_or_else(|| "(intermediate)".into(), |f| f.subject.clone()),
            pin: Pin::of_spki(&c.subject_public_key_info()),
            role: Role::Intermediate,
        });
        dated.extend(facts);
    }
    let anchor = path.anchor();
    certs.push(PathCert {
        subject: anchor_subject(anchor.subject.as_ref()),
        pin: Pin::of_spki(&webpki::spki_for_anchor(anchor)),
        role: Role::Root,
    });
    Ok(Built { certs, dated })
}

/// Whether a webpki error is about dates only.
pub(super) fn is_time(e: &Error) -> bool {
    matches!(
        e,
        Error::CertExpired { .. } | Error::CertNotValidYet { .. } | Error::InvalidCertValidity
    )
}

/// A sentence for a webpki error, naming the roots when it is about them.
pub(super) fn describe(e: &Error, roots: &Roots) -> String {
    match e {
        Error::UnknownIssuer => format!(
            "no path to a trusted root: an issuer is neither in the chain nor among {}",
            roots.source
        ),
        Error::CertExpired { .. } | Error::CertNotValidYet { .. } => {
            "a certificate of the path is outside its validity".into()
        }
        Error::InvalidSignatureForPublicKey => {
            "a signature in the chain does not verify with its issuer's key".into()
        }
        Error::UnsupportedSignatureAlgorithmContext(_)
        | Error::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => {
            "a signature algorithm TLS stacks refuse (SHA-1, or RSA keys under 2048 bits)".into()
        }
        Error::CaUsedAsEndEntity => {
            "the first certificate is a CA certificate: give the server's certificate first".into()
        }
        Error::EndEntityUsedAsCa => "a certificate that is not a CA signed the next one".into(),
        Error::RequiredEkuNotFoundContext(_) => {
            "the leaf's extended key usage does not allow TLS server authentication".into()
        }
        Error::PathLenConstraintViolated => "a CA's path length constraint is exceeded".into(),
        Error::NameConstraintViolation => "a CA's name constraints exclude the leaf".into(),
        Error::CertDistrusted => "a key of the chain is distrusted by webpki".into(),
        Error::MaximumPathBuildCallsExceeded | Error::MaximumPathDepthExceeded => {
            "no path found within the path-building limits".into()
        }
        Error::BadDer | Error::BadDerTime => "a certificate does not parse (DER)".into(),
        other => format!("refused by the path validator: {other:?}"),
    }
}

/// Whether the leaf's names cover `host`: `None` when they do.
pub(super) fn name_problem(leaf: &[u8], host: &str) -> Option<String> {
    let der = CertificateDer::from(leaf);
    let ee = match EndEntityCert::try_from(&der) {
        Ok(ee) => ee,
        Err(e) => return Some(format!("the leaf does not parse: {e:?}")),
    };
    let name = match ServerName::try_from(host) {
        Ok(n) => n,
        Err(_) => return Some(format!("{host:?} is not a host name")),
    };
    match ee.verify_is_valid_for_subject_name(&name) {
        Ok(()) => None,
        Err(_) => {
            let names = crate::spki::describe_cert(leaf)
                .map(|(i, _)| i.names)
                .unwrap_or_default();
            Some(if names.is_empty() {
                format!(
                    "the leaf has no DNS name (subjectAltName); its common name is not read: it does not cover {host}"
                )
            } else {
                format!("the leaf's names {names:?} do not cover {host}")
            })
        }
    }
}
