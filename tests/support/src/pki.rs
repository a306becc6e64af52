//! The one test PKI, made at run time with rcgen (nothing checked in that
//! expires or needs a kept key): private CAs (roots, intermediates,
//! cross-signed copies), leaves for any names, validity, extended key usage
//! and AIA, client certificates, the rustls server configurations that use
//! them, and pins computed independently of attestgate-pins (ring SHA-256
//! over rcgen's own SPKI DER).
//!
//! [`crate::tls`] builds the kit's HTTPS identity (`localhost`, `other`)
//! from it; the pinning tests build whole chains.

use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, CustomExtension, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, PublicKeyData, SanType,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use time::{Duration, OffsetDateTime};

/// base64(SHA-256(spki)).
pub fn pin_of(spki_der: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, spki_der);
    base64::engine::general_purpose::STANDARD.encode(d.as_ref())
}

/// The pin of a key, from rcgen's own SPKI.
pub fn key_pin(key: &KeyPair) -> String {
    pin_of(&key.subject_public_key_info())
}

/// A fresh ECDSA P-256 key pair.
pub fn p256() -> KeyPair {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap()
}

/// A copy of a key pair (rcgen's is not Clone).
pub fn copy(key: &KeyPair) -> KeyPair {
    KeyPair::try_from(key.serialize_der()).unwrap()
}

/// A CA (root or intermediate) that can sign, and the pin of its key.
pub struct Ca {
    pub issuer: CertifiedIssuer<'static, KeyPair>,
    pub pin: String,
}

/// The parameters of a CA certificate named `cn`.
pub fn ca_params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p
}

/// A self-signed root named `cn`, with a new key.
pub fn root(cn: &str) -> Ca {
    root_with(cn, p256())
}

/// A root whose key is `key` (so a cross-signed copy can share it).
pub fn root_with(cn: &str, key: KeyPair) -> Ca {
    let pin = key_pin(&key);
    Ca {
        issuer: CertifiedIssuer::self_signed(ca_params(cn), key).unwrap(),
        pin,
    }
}

/// An intermediate named `cn`, with a new key, signed by `parent`.
pub fn intermediate(cn: &str, parent: &Ca) -> Ca {
    cross_signed(cn, p256(), parent)
}

/// `cn`'s CA certificate with `key`, signed by `by`: an intermediate, or a
/// cross-signature (the same subject and key as the root `cn`, another
/// issuer).
pub fn cross_signed(cn: &str, key: KeyPair, by: &Ca) -> Ca {
    let pin = key_pin(&key);
    Ca {
        issuer: CertifiedIssuer::signed_by(ca_params(cn), key, &by.issuer).unwrap(),
        pin,
    }
}

/// A certificate and its key, PEM.
pub struct Leaf {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// Its private key, PEM (PKCS#8).
    pub key_pem: String,
}

impl Leaf {
    /// Writes `NAME.pem` and `NAME.key` into `dir`; returns their paths.
    pub fn write(&self, dir: &std::path::Path, name: &str) -> (PathBuf, PathBuf) {
        let cert = dir.join(format!("{name}.pem"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&cert, &self.cert_pem).unwrap();
        std::fs::write(&key, &self.key_pem).unwrap();
        (cert, key)
    }
}

impl Ca {
    pub fn der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// Writes the CA certificate as `NAME.pem` into `dir`.
    pub fn write(&self, dir: &std::path::Path, name: &str) -> PathBuf {
        let path = dir.join(format!("{name}.pem"));
        std::fs::write(&path, self.pem()).unwrap();
        path
    }

    /// Only this CA, as rustls trust anchors.
    pub fn roots(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.der()).unwrap();
        roots
    }

    fn leaf(&self, cn: &str, sans: Vec<SanType>, usage: ExtendedKeyUsagePurpose) -> Leaf {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.subject_alt_names = sans;
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        let key = p256();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// A server certificate for `127.0.0.1`, `::1` and `localhost`.
    pub fn server(&self) -> Leaf {
        self.leaf(
            "localhost",
            vec![
                SanType::DnsName("localhost".try_into().unwrap()),
                SanType::IpAddress("127.0.0.1".parse().unwrap()),
                SanType::IpAddress("::1".parse().unwrap()),
            ],
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    /// A server certificate for the DNS name `name` only.
    pub fn server_for(&self, cn: &str, name: &str) -> Leaf {
        self.leaf(
            cn,
            vec![SanType::DnsName(name.try_into().unwrap())],
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    /// A client certificate named `cn`.
    pub fn client(&self, cn: &str) -> Leaf {
        self.leaf(
            cn,
            vec![SanType::DnsName(cn.try_into().unwrap())],
            ExtendedKeyUsagePurpose::ClientAuth,
        )
    }
}

/// How a leaf for the pinning tests is made: as a public CA issues them
/// unless told otherwise.
pub struct LeafSpec<'a> {
    pub names: Vec<String>,
    pub key: &'a KeyPair,
    /// Days from now (negative: past).
    pub from_days: i64,
    pub to_days: i64,
    pub server_auth: bool,
    pub aia: Option<String>,
}

impl<'a> LeafSpec<'a> {
    /// A leaf for `names` like a public CA's: valid from yesterday for 90
    /// days, EKU serverAuth, no AIA.
    pub fn new(names: &[&str], key: &'a KeyPair) -> LeafSpec<'a> {
        LeafSpec {
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

/// A leaf for `names` with `key`, signed by `issuer`, valid from yesterday
/// until `days` from now, EKU serverAuth.
pub fn leaf(names: &[&str], key: &KeyPair, issuer: &Ca, days: i64) -> CertificateDer<'static> {
    LeafSpec::new(names, key).days(-1, days).signed_by(issuer)
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

/// An RSA-2048 key pair made by `attestgate pins backup-key --alg rsa2048`
/// (the binary `bin`) in `dir`, with the pin the kit printed for it (ring
/// cannot generate RSA keys).
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

/// PEM of DER bytes under `label`.
pub fn pem_of(der: &[u8], label: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// A chain as one PEM file.
pub fn chain_pem(chain: &[CertificateDer<'_>]) -> String {
    chain.iter().map(|c| pem_of(c, "CERTIFICATE")).collect()
}

/// A TLS server configuration with `leaf`; when `clients` is given, a
/// client certificate signed by it is required (the handshake fails
/// without one).
pub fn server_config(leaf: &Leaf, clients: Option<&Ca>) -> Arc<rustls::ServerConfig> {
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(leaf.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap();
    let builder = rustls::ServerConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match clients {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(ca.roots()),
                crate::tls::provider(),
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(chain, key).unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}
