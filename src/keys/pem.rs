//! PEM files: certificate chains and private keys, for the JWKS fetch's
//! client identity and CA file, and for the proxy's HTTPS listeners.
//! Errors name the setting and the file, never quote a key (the PEM
//! parser's own errors may quote a line, so they are not passed on).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

/// A problem with one file setting: which one, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {message}")]
pub struct FileError {
    /// The setting, as in the config: `cert`, `key`, `ca_file`, `client_key`.
    pub setting: &'static str,
    /// What is wrong.
    pub message: String,
}

fn err(setting: &'static str, message: String) -> FileError {
    FileError { setting, message }
}

/// Every certificate in the PEM file at `path` (at least one).
pub(crate) fn certs_in(
    setting: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, FileError> {
    let bytes = std::fs::read(path)
        .map_err(|e| err(setting, format!("cannot read {}: {e}", path.display())))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| err(setting, format!("{} is not valid PEM", path.display())))?;
    if certs.is_empty() {
        return Err(err(
            setting,
            format!("no CERTIFICATE block in {}", path.display()),
        ));
    }
    Ok(certs)
}

/// The first private key in the PEM file at `path`.
pub(crate) fn key_in(
    setting: &'static str,
    path: &Path,
) -> Result<PrivateKeyDer<'static>, FileError> {
    let bytes = zeroize::Zeroizing::new(
        std::fs::read(path)
            .map_err(|e| err(setting, format!("cannot read {}: {e}", path.display())))?,
    );
    if is_encrypted(&bytes) {
        return Err(err(
            setting,
            format!(
                "{} holds an encrypted private key; encrypted keys are not supported: write a decrypted copy readable only by attestgate (openssl pkey -in KEY -out KEY.plain)",
                path.display()
            ),
        ));
    }
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|_| {
        err(
            setting,
            format!(
                "no PEM private key (PKCS#8, PKCS#1 or SEC1) in {}",
                path.display()
            ),
        )
    })
}

/// A server's certificate chain (`cert`, leaf first) and its private key
/// (`key`), read once and checked to fit each other: what an HTTPS
/// listener presents. Settings in errors: `cert`, `key`.
pub fn server_identity(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, FileError> {
    let chain = certs_in("cert", cert)?;
    let der = key_in("key", key)?;
    let provider = rustls::crypto::ring::default_provider();
    CertifiedKey::from_der(chain, der, &provider)
        .map(Arc::new)
        .map_err(|e| {
            let why = match e {
                rustls::Error::InconsistentKeys(_) => {
                    "the private key is not the certificate's (their public keys differ); give the key the certificate was issued for".to_owned()
                }
                other => other.to_string(),
            };
            err(
                "key",
                format!(
                    "{} does not fit the certificate in {}: {why}",
                    key.display(),
                    cert.display()
                ),
            )
        })
}

/// An encrypted PEM key: PKCS#8 `ENCRYPTED PRIVATE KEY`, or OpenSSL's
/// legacy `Proc-Type: 4,ENCRYPTED` header.
fn is_encrypted(pem: &[u8]) -> bool {
    let has = |needle: &[u8]| pem.windows(needle.len()).any(|w| w == needle);
    has(b"-----BEGIN ENCRYPTED PRIVATE KEY-----") || has(b"Proc-Type: 4,ENCRYPTED")
}
