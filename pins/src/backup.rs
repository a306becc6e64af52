//! A backup key: a new key pair and a CSR for a certificate not yet in
//! service, whose pin ships in the apps now so the next certificate can
//! use it without an app update.
//!
//! P-256 keys come from rcgen (ring); RSA keys from the `rsa` crate (ring
//! cannot generate RSA keys), then rcgen signs the CSR with ring.

use std::io::Write;
use std::path::{Path, PathBuf};

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};

use crate::spki::Pin;

/// Key algorithm of a backup key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyAlg {
    /// ECDSA P-256 (default).
    P256,
    /// RSA 2048.
    Rsa2048,
}

impl KeyAlg {
    /// The algorithm named `name` (`p256`, `rsa2048`).
    pub fn from_name(name: &str) -> Option<KeyAlg> {
        match name {
            "p256" => Some(KeyAlg::P256),
            "rsa2048" => Some(KeyAlg::Rsa2048),
            _ => None,
        }
    }
}

/// What [`write_backup_key`] wrote.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BackupKey {
    /// The pin of the new key.
    pub pin: Pin,
    /// Private key, PKCS#8 PEM (mode 0600).
    pub key_file: PathBuf,
    /// CSR, PEM.
    pub csr_file: PathBuf,
}

/// Why no backup key was written.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Key generation or CSR signing failed.
    #[error("key generation: {0}")]
    Generate(String),
    /// A file exists already (never overwritten: it may be the only copy
    /// of a key whose pin is in shipped apps).
    #[error("{0} exists already; it is never overwritten (choose another --out or --name)")]
    Exists(PathBuf),
    /// Writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

fn generate(alg: KeyAlg) -> Result<KeyPair, BackupError> {
    let gen_err = |e: &dyn std::fmt::Display| BackupError::Generate(e.to_string());
    match alg {
        KeyAlg::P256 => {
            KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| gen_err(&e))
        }
        KeyAlg::Rsa2048 => {
            use rsa::pkcs8::EncodePrivateKey;
            let key =
                rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).map_err(|e| gen_err(&e))?;
            let der = key.to_pkcs8_der().map_err(|e| gen_err(&e))?;
            let der = rustls_pki_types::PrivatePkcs8KeyDer::from(der.as_bytes().to_vec());
            KeyPair::from_pkcs8_der_and_sign_algo(&der, &rcgen::PKCS_RSA_SHA256)
                .map_err(|e| gen_err(&e))
        }
    }
}

/// Generates a key and a CSR for `subject` (its CN, and a DNS SAN when it
/// looks like a host name), writes `DIR/NAME.key` and `DIR/NAME.csr`.
pub fn write_backup_key(
    dir: &Path,
    name: &str,
    alg: KeyAlg,
    subject: &str,
) -> Result<BackupKey, BackupError> {
    let key_file = dir.join(format!("{name}.key"));
    let csr_file = dir.join(format!("{name}.csr"));
    for f in [&key_file, &csr_file] {
        if f.exists() {
            return Err(BackupError::Exists(f.clone()));
        }
    }
    let key = generate(alg)?;
    let sans = if subject.contains('.') && !subject.contains(' ') {
        vec![subject.to_owned()]
    } else {
        Vec::new()
    };
    let mut params =
        CertificateParams::new(sans).map_err(|e| BackupError::Generate(e.to_string()))?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, subject);
    params.distinguished_name = dn;
    let csr = params
        .serialize_request(&key)
        .and_then(|c| c.pem())
        .map_err(|e| BackupError::Generate(e.to_string()))?;
    let pin = Pin::of_spki(&rcgen::PublicKeyData::subject_public_key_info(&key));
    std::fs::create_dir_all(dir).map_err(|source| BackupError::Io {
        path: dir.to_owned(),
        source,
    })?;
    write_new(&key_file, key.serialize_pem().as_bytes(), true)?;
    write_new(&csr_file, csr.as_bytes(), false)?;
    Ok(BackupKey {
        pin,
        key_file,
        csr_file,
    })
}

/// Writes a new signing key pair for the signed pin config:
/// `DIR/NAME.key` (PKCS#8, mode 0600, for `pins sign` on an offline
/// machine) and `DIR/NAME.pub.pem` (the public key the app embeds).
pub fn write_signing_key(
    dir: &Path,
    name: &str,
    alg: crate::signed::SigAlg,
) -> Result<(PathBuf, PathBuf), BackupError> {
    let key_file = dir.join(format!("{name}.key"));
    let pub_file = dir.join(format!("{name}.pub.pem"));
    for f in [&key_file, &pub_file] {
        if f.exists() {
            return Err(BackupError::Exists(f.clone()));
        }
    }
    let (private, public) =
        crate::signed::generate(alg).map_err(|e| BackupError::Generate(e.to_string()))?;
    std::fs::create_dir_all(dir).map_err(|source| BackupError::Io {
        path: dir.to_owned(),
        source,
    })?;
    write_new(&key_file, private.as_bytes(), true)?;
    write_new(&pub_file, public.as_bytes(), false)?;
    Ok((key_file, pub_file))
}

pub(crate) fn write_new(path: &Path, bytes: &[u8], private: bool) -> Result<(), BackupError> {
    let io = |source| BackupError::Io {
        path: path.to_owned(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut f = options.open(path).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}
