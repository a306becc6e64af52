//! Certificates the check-cert table and the OkHttp test need beyond
//! support.rs: a leaf with any validity, with or without the serverAuth
//! EKU, with an AIA caIssuers URL; self-signed leaves; a root
//! cross-signed by another; an RSA key (made by `pins backup-key`, since
//! ring cannot generate RSA keys).

#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use rcgen::{
    CertificateParams, CertifiedIssuer, CustomExtension, DnType, ExtendedKeyUsagePurpose, KeyPair,
};
use rustls_pki_types::CertificateDer;
use time::{Duration, OffsetDateTime};

use super::support::{Ca, ca_params, key_pin};

/// How a leaf is made.
pub struct Leaf<'a> {
    pub names: Vec<String>,
    pub key: &'a KeyPair,
    /// Days from now (negative: past).
    pub from_days: i64,
    pub to_days: i64,
    pub server_auth: bool,
    pub aia: Option<String>,
}

impl<'a> Leaf<'a> {
    /// A leaf for `names` like a public CA's: valid from yesterday for 90
    /// days, EKU serverAuth, no AIA.
    pub fn new(names: &[&str], key: &'a KeyPair) -> Leaf<'a> {
        Leaf {
            names: names.iter().map(|s| s.to_string()).collect(),
            key,
            from_days: -1,
            to_days: 89,
            server_auth: true,
            aia: None,
        }
    }

    pub fn days(mut self, from: i64, to: i64) -> Self {
        self.from_days = from;
        self.to_days = to;
        self
    }

    pub fn no_eku(mut self) -> Self {
        self.server_auth = false;
        self
    }

    pub fn aia(mut self, url: &str) -> Self {
        self.aia = Some(url.to_owned());
        self
    }

    fn params(&self) -> CertificateParams {
        let mut p = CertificateParams::new(self.names.clone()).unwrap();
        p.distinguished_name
            .push(DnType::CommonName, &self.names[0]);
        let now = OffsetDateTime::now_utc();
        p.not_before = now + Duration::days(self.from_days);
        p.not_after = now + Duration::days(self.to_days);
        if self.server_auth {
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        }
        if let Some(url) = &self.aia {
            p.custom_extensions.push(aia_ca_issuers(url));
        }
        p
    }

    /// Signed by `issuer`.
    pub fn signed_by(&self, issuer: &Ca) -> CertificateDer<'static> {
        self.params()
            .signed_by(self.key, &issuer.issuer)
            .unwrap()
            .der()
            .clone()
    }

    /// Self-signed.
    pub fn self_signed(&self) -> CertificateDer<'static> {
        self.params().self_signed(self.key).unwrap().der().clone()
    }
}

/// The AuthorityInfoAccess extension (RFC 5280 §4.2.2.1) with one
/// caIssuers URI, DER-encoded by hand (rcgen has no helper for it).
pub fn aia_ca_issuers(url: &str) -> CustomExtension {
    let ca_issuers = [0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x02];
    let mut uri = vec![0x86, url.len() as u8];
    uri.extend_from_slice(url.as_bytes());
    let mut desc = vec![0x30, (ca_issuers.len() + uri.len()) as u8];
    desc.extend_from_slice(&ca_issuers);
    desc.extend_from_slice(&uri);
    let mut seq = vec![0x30, desc.len() as u8];
    seq.extend_from_slice(&desc);
    CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 1], seq)
}

/// A root whose key is `key` (so a cross-signed copy can share it).
pub fn root_with(cn: &str, key: KeyPair) -> Ca {
    let pin = key_pin(&key);
    Ca {
        issuer: CertifiedIssuer::self_signed(ca_params(cn), key).unwrap(),
        pin,
    }
}

/// `cn`'s CA certificate with `key`, signed by `by`: a cross-signature
/// (the same subject and key as the root `cn`, another issuer).
pub fn cross_signed(cn: &str, key: KeyPair, by: &Ca) -> Ca {
    let pin = key_pin(&key);
    Ca {
        issuer: CertifiedIssuer::signed_by(ca_params(cn), key, &by.issuer).unwrap(),
        pin,
    }
}

/// An RSA-2048 key pair made by `attestgate pins backup-key --alg
/// rsa2048` in `dir`, with the pin the kit printed for it.
pub fn rsa_key(bin: &str, dir: &std::path::Path) -> (KeyPair, String) {
    let out = std::process::Command::new(bin)
        .args([
            "pins",
            "backup-key",
            "--alg",
            "rsa2048",
            "--name",
            "rsa",
            "--out",
        ])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pin = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let pem = std::fs::read_to_string(dir.join("rsa.key")).unwrap();
    let key = KeyPair::from_pem_and_sign_algo(&pem, &rcgen::PKCS_RSA_SHA256).unwrap();
    assert_eq!(key_pin(&key), pin, "the kit's pin of its own RSA key");
    (key, pin)
}
