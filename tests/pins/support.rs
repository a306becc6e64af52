//! Test kit for the pinning tests: a PKI made with rcgen at run time, real
//! rustls servers on loopback addresses, and pins computed independently
//! (ring SHA-256 over rcgen's own SPKI DER, never through attestgate-pins).

#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
    PublicKeyData,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// base64(SHA-256(spki)).
pub fn pin_of(spki_der: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, spki_der);
    base64::engine::general_purpose::STANDARD.encode(d.as_ref())
}

/// The pin of a key, from rcgen's own SPKI.
pub fn key_pin(key: &KeyPair) -> String {
    pin_of(&key.subject_public_key_info())
}

pub fn p256() -> KeyPair {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap()
}

/// A copy of a key pair (rcgen's is not Clone).
pub fn copy(key: &KeyPair) -> KeyPair {
    KeyPair::try_from(key.serialize_der()).unwrap()
}

/// A CA (root or intermediate) that can sign.
pub struct Ca {
    pub issuer: CertifiedIssuer<'static, KeyPair>,
    pub pin: String,
}

impl Ca {
    pub fn der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }
}

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

pub fn root(cn: &str) -> Ca {
    let key = p256();
    let pin = key_pin(&key);
    Ca {
        issuer: CertifiedIssuer::self_signed(ca_params(cn), key).unwrap(),
        pin,
    }
}

pub fn intermediate(cn: &str, parent: &Ca) -> Ca {
    let key = p256();
    let pin = key_pin(&key);
    Ca {
        issuer: CertifiedIssuer::signed_by(ca_params(cn), key, &parent.issuer).unwrap(),
        pin,
    }
}

/// A leaf for `names`, valid for `days` from now, with `key` (and the
/// extended key usage serverAuth, as public CAs issue them).
pub fn leaf(names: &[&str], key: &KeyPair, issuer: &Ca, days: i64) -> CertificateDer<'static> {
    let mut p =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name.push(DnType::CommonName, names[0]);
    p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    p.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    p.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(days);
    p.signed_by(key, &issuer.issuer).unwrap().der().clone()
}

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

pub fn chain_pem(chain: &[CertificateDer<'_>]) -> String {
    chain.iter().map(|c| pem_of(c, "CERTIFICATE")).collect()
}

/// A real TLS server on `ip` (port 0) serving `chain` with `key`; each
/// connection gets a handshake and a one-line answer.
pub async fn serve_tls(ip: &str, chain: Vec<CertificateDer<'static>>, key: &KeyPair) -> SocketAddr {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind(format!("{ip}:0"))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let _ = tls.write_all(b"hello\n").await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    addr
}

/// A server that accepts TCP and never answers the ClientHello.
pub async fn serve_stall(ip: &str) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind(format!("{ip}:0"))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else {
                return;
            };
            let mut buf = [0u8; 4096];
            let _ = tcp.read(&mut buf).await;
            held.push(tcp);
        }
    });
    addr
}

/// A fresh temporary directory under the target dir.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let base = std::env::temp_dir().join(format!(
        "attestgate-pins-{}-{name}-{}",
        std::process::id(),
        fastrand_u64()
    ));
    std::fs::create_dir_all(&base).unwrap();
    base
}

fn fastrand_u64() -> u64 {
    let mut b = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).unwrap();
    u64::from_le_bytes(b)
}

/// A certificate a running server can be switched to.
#[derive(Debug, Clone)]
pub struct Swap(Arc<std::sync::Mutex<Arc<rustls::sign::CertifiedKey>>>);

impl Swap {
    fn key(chain: Vec<CertificateDer<'static>>, key: &KeyPair) -> Arc<rustls::sign::CertifiedKey> {
        let provider = rustls::crypto::ring::default_provider();
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Arc::new(rustls::sign::CertifiedKey::from_der(chain, der, &provider).unwrap())
    }

    /// Serves `chain` with `key` from now on.
    pub fn set(&self, chain: Vec<CertificateDer<'static>>, key: &KeyPair) {
        *self.0.lock().unwrap() = Swap::key(chain, key);
    }
}

impl rustls::server::ResolvesServerCert for Swap {
    fn resolve(
        &self,
        _: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.lock().unwrap().clone())
    }
}

/// A TLS server on `ip` whose certificate can be swapped while it runs.
pub async fn serve_swappable(
    ip: &str,
    chain: Vec<CertificateDer<'static>>,
    key: &KeyPair,
) -> (SocketAddr, Swap) {
    let swap = Swap(Arc::new(std::sync::Mutex::new(Swap::key(chain, key))));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(swap.clone()));
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind(format!("{ip}:0"))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    (addr, swap)
}
