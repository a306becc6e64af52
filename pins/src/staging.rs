//! A staging CA for rehearsals: `pins staging-cert` makes a CA in a
//! directory on first use (`ca.pem`, `ca.key`) and issues server
//! certificates from it — for a new key, or for a key you already hold
//! (a backup key going into service). Certificates look like a public
//! CA's: subjectAltName, EKU serverAuth, 90 days by default (Apple
//! refuses more than 825 days even under a private root).
//!
//! Trust `ca.pem` only in tests (`ca_file`, `--ca-file`), never on a
//! device: its key sits on disk beside it.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

use crate::backup::{BackupError, write_new};
use crate::spki::Pin;

/// The staging CA's subject.
pub const CA_NAME: &str = "attestgate staging CA";

/// What `issue` wrote.
#[derive(Clone, Debug)]
pub struct Issued {
    /// The certificate (PEM).
    pub cert_file: PathBuf,
    /// The new private key, when one was made.
    pub key_file: Option<PathBuf>,
    /// The CA certificate (made now, or found).
    pub ca_file: PathBuf,
    /// Whether the CA was made by this call.
    pub new_ca: bool,
    /// The pin of the certificate's key.
    pub pin: Pin,
}

fn ca_params() -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, CA_NAME);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p
}

fn generated(e: impl std::fmt::Display) -> BackupError {
    BackupError::Generate(e.to_string())
}

fn read_key(path: &Path) -> Result<KeyPair, BackupError> {
    let pem = std::fs::read_to_string(path).map_err(|source| BackupError::Io {
        path: path.to_owned(),
        source,
    })?;
    KeyPair::from_pem(&pem)
        .or_else(|_| KeyPair::from_pem_and_sign_algo(&pem, &rcgen::PKCS_RSA_SHA256))
        .map_err(|e| {
            generated(format!(
                "{}: not a private key rcgen can sign with: {e}",
                path.display()
            ))
        })
}

/// The CA of `dir`, made when `dir/ca.pem` and `dir/ca.key` do not exist.
fn ca(dir: &Path) -> Result<(Issuer<'static, KeyPair>, PathBuf, bool), BackupError> {
    let (cert, key) = (dir.join("ca.pem"), dir.join("ca.key"));
    if cert.exists() && key.exists() {
        return Ok((Issuer::new(ca_params(), read_key(&key)?), cert, false));
    }
    for f in [&cert, &key] {
        if f.exists() {
            return Err(BackupError::Exists(f.clone()));
        }
    }
    let k = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(generated)?;
    let pem = ca_params().self_signed(&k).map_err(generated)?.pem();
    std::fs::create_dir_all(dir).map_err(|source| BackupError::Io {
        path: dir.to_owned(),
        source,
    })?;
    write_new(&key, k.serialize_pem().as_bytes(), true)?;
    write_new(&cert, pem.as_bytes(), false)?;
    Ok((Issuer::new(ca_params(), k), cert, true))
}

/// Issues a certificate for `names` (host names or IP addresses) from the
/// staging CA in `ca_dir`, valid from an hour ago for `days`, to
/// `out.pem`; with the key in `key` (PEM), or a new P-256 key written to
/// `out.key` (mode 0600). Never overwrites a file.
pub fn issue(
    ca_dir: &Path,
    names: &[String],
    key: Option<&Path>,
    out: &Path,
    days: u32,
) -> Result<Issued, BackupError> {
    let with = |ext: &str| {
        let mut p = out.as_os_str().to_owned();
        p.push(ext);
        PathBuf::from(p)
    };
    let (cert_file, new_key_file) = (with(".pem"), with(".key"));
    if cert_file.exists() {
        return Err(BackupError::Exists(cert_file));
    }
    if key.is_none() && new_key_file.exists() {
        return Err(BackupError::Exists(new_key_file));
    }
    if names.is_empty() {
        return Err(generated("give at least one --name"));
    }
    let leaf_key = match key {
        Some(path) => read_key(path)?,
        None => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(generated)?,
    };
    let mut p = CertificateParams::default();
    p.distinguished_name
        .push(DnType::CommonName, names[0].as_str());
    for n in names {
        p.subject_alt_names.push(match n.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(n.clone().try_into().map_err(generated)?),
        });
    }
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::hours(1);
    p.not_after = now + time::Duration::days(i64::from(days));
    let (issuer, ca_file, new_ca) = ca(ca_dir)?;
    let cert = p.signed_by(&leaf_key, &issuer).map_err(generated)?;
    if let Some(dir) = cert_file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| BackupError::Io {
            path: dir.to_owned(),
            source,
        })?;
    }
    let key_file = match key {
        Some(_) => None,
        None => {
            write_new(&new_key_file, leaf_key.serialize_pem().as_bytes(), true)?;
            Some(new_key_file)
        }
    };
    write_new(&cert_file, cert.pem().as_bytes(), false)?;
    Ok(Issued {
        cert_file,
        key_file,
        ca_file,
        new_ca,
        pin: Pin::of_spki(&rcgen::PublicKeyData::subject_public_key_info(&leaf_key)),
    })
}
