//! SPKI SHA-256 pins of whatever holds a public key.
//!
//! [`read_file`] takes a path (refused by size and kind before it is read),
//! [`from_bytes`] takes PEM or DER: certificates and whole chains, CSRs
//! (PKCS#10), public keys (SPKI, PKCS#1) and private keys (PKCS#8, SEC1,
//! PKCS#1). Each gives one [`Found`] per key. `pem` reads the armour,
//! `keys` takes private keys apart, `cert` describes certificates.

mod cert;
mod keys;
mod pem;
mod pin;

use std::io::Read;
use std::path::Path;

pub use cert::{CertInfo, describe_cert};
pub use pin::Pin;

use crate::der::{self, oid, tag};

/// Largest file read for pins: bundles of every public CA fit in well under
/// this; anything bigger is not a key file.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Why no pin came out of an input. Never holds key material.
#[derive(Debug, thiserror::Error)]
pub enum SpkiError {
    /// Reading the file failed.
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    /// The path is a directory.
    #[error("is a directory, not a file")]
    Directory,
    /// The file is larger than [`MAX_FILE_BYTES`].
    #[error("is {0} bytes; a key or certificate file is at most {max} bytes", max = MAX_FILE_BYTES)]
    TooLarge(u64),
    /// Nothing in it.
    #[error("is empty")]
    Empty,
    /// PEM armour problem.
    #[error("PEM{}: {problem}", if *line > 0 { format!(" (line {line})") } else { String::new() })]
    Pem {
        /// 1-based line, or 0 for the whole input.
        line: usize,
        /// What is wrong.
        problem: String,
    },
    /// A PEM label we do not read.
    #[error("PEM block {0:?} holds no certificate or key we read")]
    Label(String),
    /// An encrypted private key.
    #[error(
        "the private key is encrypted; decrypt it first, or give its certificate, CSR or public key"
    )]
    Encrypted,
    /// DER that is none of the known structures.
    #[error("not a certificate, CSR, public key or private key (PEM or DER)")]
    Unrecognised,
    /// A certificate was expected.
    #[error("holds a {0}, not a certificate")]
    NotCertificate(String),
    /// A structure that is broken inside.
    #[error("malformed: {0}")]
    Malformed(&'static str),
    /// A private key that does not hold its public key.
    #[error(
        "the EC private key does not hold its public key; export it with the public key included"
    )]
    NoPublicKey,
    /// A key algorithm no TLS stack would present.
    #[error(
        "unsupported key algorithm (OID {0}): no platform's TLS accepts it, so a pin on it means nothing"
    )]
    UnknownKeyType(String),
}

/// What a pin came from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Origin {
    /// A certificate (one of a chain, in file order).
    Certificate(CertInfo),
    /// A PKCS#10 certificate signing request.
    Csr {
        /// Its subject, RFC 4514 style.
        subject: String,
    },
    /// A public key (SPKI, or PKCS#1 `RSA PUBLIC KEY`).
    PublicKey,
    /// A private key; only its public half was used.
    PrivateKey {
        /// `pkcs8`, `sec1` or `pkcs1`.
        format: &'static str,
    },
}

/// One key found in an input.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Found {
    /// Its pin.
    pub pin: Pin,
    /// Key type and size, e.g. `EC P-256`, `RSA 2048`.
    pub key: String,
    /// What held it.
    #[serde(flatten)]
    pub origin: Origin,
    /// The SubjectPublicKeyInfo, DER.
    #[serde(skip)]
    pub spki: Vec<u8>,
}

/// Reads `path` (at most [`MAX_FILE_BYTES`], checked before reading) and
/// returns every key in it.
pub fn read_file(path: &Path) -> Result<Vec<Found>, SpkiError> {
    let bytes = read_bounded(path)?;
    from_bytes(&bytes)
}

/// Reads a file, refusing directories and files larger than
/// [`MAX_FILE_BYTES`] before reading them (and never reading past it, for
/// files that grow or lie about their size).
pub fn read_bounded(path: &Path) -> Result<Vec<u8>, SpkiError> {
    let meta = std::fs::metadata(path)?;
    if meta.is_dir() {
        return Err(SpkiError::Directory);
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(SpkiError::TooLarge(meta.len()));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(SpkiError::TooLarge(bytes.len() as u64));
    }
    Ok(bytes)
}

/// The DER certificates of a file (PEM, any number, or one DER), in order;
/// anything else in it is an error.
pub fn read_certificates(path: &Path) -> Result<Vec<Vec<u8>>, SpkiError> {
    let bytes = read_bounded(path)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(SpkiError::Empty);
    }
    let ders = if pem::looks_like_pem(&bytes) {
        let mut out = Vec::new();
        for block in pem::blocks(&bytes)? {
            match block.label.as_str() {
                "CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE" => out.push(block.der),
                other => return Err(SpkiError::NotCertificate(other.to_owned())),
            }
        }
        out
    } else {
        vec![bytes]
    };
    for der in &ders {
        describe_cert(der)?;
    }
    Ok(ders)
}

/// Every key in `bytes`, PEM (any number of blocks) or DER (one structure).
pub fn from_bytes(bytes: &[u8]) -> Result<Vec<Found>, SpkiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(SpkiError::Empty);
    }
    if pem::looks_like_pem(bytes) {
        let mut out = Vec::new();
        for block in pem::blocks(bytes)? {
            if block.label == "EC PARAMETERS" {
                continue; // `openssl ecparam -genkey` writes it before the key
            }
            let found = from_pem_block(&block.label, &block.der).map_err(|e| match e {
                SpkiError::Malformed(m) => SpkiError::Pem {
                    line: block.line,
                    problem: format!("{} block: {m}", block.label),
                },
                SpkiError::Unrecognised => SpkiError::Pem {
                    line: block.line,
                    problem: format!("the {} block does not parse", block.label),
                },
                other => other,
            })?;
            out.push(found);
        }
        if out.is_empty() {
            return Err(SpkiError::Unrecognised);
        }
        return Ok(out);
    }
    from_der(bytes).map(|f| vec![f])
}

fn from_pem_block(label: &str, der: &[u8]) -> Result<Found, SpkiError> {
    match label {
        "CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE" => certificate(der),
        "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => csr(der),
        "PUBLIC KEY" => found(der.to_vec(), Origin::PublicKey),
        "RSA PUBLIC KEY" => found(keys::pkcs1_public_to_spki(der)?, Origin::PublicKey),
        "PRIVATE KEY" => private(keys::pkcs8_to_spki(der)?, "pkcs8"),
        "EC PRIVATE KEY" => private(keys::sec1_to_spki(der)?, "sec1"),
        "RSA PRIVATE KEY" => private(keys::pkcs1_private_to_spki(der)?, "pkcs1"),
        "ENCRYPTED PRIVATE KEY" => Err(SpkiError::Encrypted),
        other => Err(SpkiError::Label(other.to_owned())),
    }
}

/// DER: the first structure that parses whole wins.
fn from_der(der: &[u8]) -> Result<Found, SpkiError> {
    use x509_parser::prelude::FromDer;
    if x509_parser::certificate::X509Certificate::from_der(der).is_ok_and(|(r, _)| r.is_empty()) {
        return certificate(der);
    }
    if x509_parser::certification_request::X509CertificationRequest::from_der(der)
        .is_ok_and(|(r, _)| r.is_empty())
    {
        return csr(der);
    }
    if x509_parser::x509::SubjectPublicKeyInfo::from_der(der).is_ok_and(|(r, _)| r.is_empty()) {
        return found(der.to_vec(), Origin::PublicKey);
    }
    if let Ok(spki) = keys::pkcs8_to_spki(der) {
        return private(spki, "pkcs8");
    }
    if let Ok(spki) = keys::sec1_to_spki(der) {
        return private(spki, "sec1");
    }
    if let Ok(spki) = keys::pkcs1_private_to_spki(der) {
        return private(spki, "pkcs1");
    }
    if let Ok(spki) = keys::pkcs1_public_to_spki(der) {
        return found(spki, Origin::PublicKey);
    }
    // Name the key type when a PKCS#8 or certificate parsed but its
    // algorithm is one we refuse.
    if let Err(e @ SpkiError::UnknownKeyType(_)) = keys::pkcs8_to_spki(der) {
        return Err(e);
    }
    Err(SpkiError::Unrecognised)
}

fn certificate(der: &[u8]) -> Result<Found, SpkiError> {
    let (info, spki) = describe_cert(der)?;
    found(spki, Origin::Certificate(info))
}

fn csr(der: &[u8]) -> Result<Found, SpkiError> {
    use x509_parser::prelude::FromDer;
    let (_, req) = x509_parser::certification_request::X509CertificationRequest::from_der(der)
        .map_err(|_| SpkiError::Malformed("certificate request"))?;
    let info = &req.certification_request_info;
    found(
        info.subject_pki.raw.to_vec(),
        Origin::Csr {
            subject: info.subject.to_string(),
        },
    )
}

fn private(spki: Vec<u8>, format: &'static str) -> Result<Found, SpkiError> {
    found(spki, Origin::PrivateKey { format })
}

fn found(spki: Vec<u8>, origin: Origin) -> Result<Found, SpkiError> {
    let key = key_type(&spki)?;
    Ok(Found {
        pin: Pin::of_spki(&spki),
        key,
        origin,
        spki,
    })
}

/// Key type and size of a DER SPKI, e.g. `RSA 2048`, `EC P-256`, `Ed25519`;
/// an algorithm no TLS stack uses is an error.
pub fn key_type(spki: &[u8]) -> Result<String, SpkiError> {
    let outer = der::whole(spki, tag::SEQUENCE).ok_or(SpkiError::Malformed("SPKI"))?;
    let (alg, rest) =
        der::expect(outer.content, tag::SEQUENCE).ok_or(SpkiError::Malformed("SPKI algorithm"))?;
    let (bits, _) = der::expect(rest, tag::BIT_STRING).ok_or(SpkiError::Malformed("SPKI key"))?;
    let (alg_oid, params) =
        der::expect(alg.content, tag::OID).ok_or(SpkiError::Malformed("SPKI algorithm"))?;
    let key_bits = bits.content.get(1..).unwrap_or_default();
    match alg_oid.content {
        oid::RSA | oid::RSA_PSS => {
            let n = der::whole(key_bits, tag::SEQUENCE)
                .and_then(|s| der::expect(s.content, tag::INTEGER))
                .map(|(n, _)| n.content)
                .ok_or(SpkiError::Malformed("RSA public key"))?;
            let n = n.strip_prefix(&[0]).unwrap_or(n);
            let name = if alg_oid.content == oid::RSA {
                "RSA"
            } else {
                "RSA-PSS"
            };
            Ok(format!("{name} {}", n.len() * 8))
        }
        oid::EC_PUBLIC_KEY => {
            let curve = der::expect(params, tag::OID).map(|(c, _)| c.content);
            match curve {
                Some([0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]) => Ok("EC P-256".into()),
                Some([0x2b, 0x81, 0x04, 0x00, 0x22]) => Ok("EC P-384".into()),
                Some([0x2b, 0x81, 0x04, 0x00, 0x23]) => Ok("EC P-521".into()),
                Some(other) => Err(SpkiError::UnknownKeyType(format!(
                    "1.2.840.10045.2.1 on curve {}",
                    keys::oid_text(other)
                ))),
                None => Err(SpkiError::Malformed("EC key without a named curve")),
            }
        }
        oid::ED25519 => Ok("Ed25519".into()),
        [0x2b, 0x65, 0x71] => Ok("Ed448".into()),
        other => Err(SpkiError::UnknownKeyType(keys::oid_text(other))),
    }
}
