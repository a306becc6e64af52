//! Trust anchors for validating fetched chains: a `ca_file`, or the
//! system's roots (loaded once; Mozilla's bundled list when the system has
//! none).

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls_pki_types::{SignatureVerificationAlgorithm, TrustAnchor};

use super::verifier::Recorder;
use crate::spki::{self, Origin};

/// Roots and the validator built on them; cheap to clone.
#[derive(Clone, Debug)]
pub struct Roots {
    verifier: Arc<WebPkiServerVerifier>,
    provider: Arc<CryptoProvider>,
    anchors: Arc<[TrustAnchor<'static>]>,
    /// Where they came from, for messages.
    pub source: String,
    /// Whether these are the system's (public) roots rather than a
    /// `ca_file`: Apple applies some rules only to its preinstalled roots.
    pub public: bool,
}

impl Roots {
    pub(crate) fn provider(&self) -> Arc<CryptoProvider> {
        self.provider.clone()
    }

    /// The trust anchors, for building paths (`check::platform`).
    pub fn anchors(&self) -> &[TrustAnchor<'static>] {
        &self.anchors
    }

    /// The signature algorithms the platforms' TLS stacks verify (ring's,
    /// as rustls uses them).
    pub fn algorithms(&self) -> &[&'static dyn SignatureVerificationAlgorithm] {
        self.provider.signature_verification_algorithms.all
    }

    /// Roots made of these certificates (DER), for tests and callers that
    /// hold their roots in memory (a CT watch with a log's root list).
    pub fn from_certificates(ders: &[Vec<u8>], source: &str) -> Result<Roots, String> {
        let mut store = RootCertStore::empty();
        for der in ders {
            store
                .add(rustls_pki_types::CertificateDer::from(der.clone()))
                .map_err(|e| format!("{source}: {e}"))?;
        }
        build(store, source.to_owned(), false)
    }

    /// Whether `chain` (DER, leaf first) validates for `name` at `now`
    /// (Unix seconds): `None` when it does, otherwise why not.
    pub fn invalid(&self, chain: &[Vec<u8>], name: &str, now: i64) -> Option<String> {
        use rustls::client::danger::ServerCertVerifier;
        let Some((leaf, rest)) = chain.split_first() else {
            return Some("no certificate".into());
        };
        let Ok(server_name) = rustls_pki_types::ServerName::try_from(name.to_owned()) else {
            return Some(format!("{name:?} is not a server name"));
        };
        let leaf = rustls_pki_types::CertificateDer::from(leaf.as_slice());
        let rest: Vec<rustls_pki_types::CertificateDer<'_>> = rest
            .iter()
            .map(|c| rustls_pki_types::CertificateDer::from(c.as_slice()))
            .collect();
        let now = rustls_pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            u64::try_from(now).unwrap_or(0),
        ));
        self.verifier
            .verify_server_cert(&leaf, &rest, &server_name, &[], now)
            .err()
            .map(|e| e.to_string())
    }

    pub(crate) fn recorder(&self) -> Result<Recorder, String> {
        Ok(Recorder::new(self.verifier.clone(), self.provider.clone()))
    }
}

fn provider() -> Arc<CryptoProvider> {
    static P: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    P.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// Roots from `ca_file` (PEM or DER certificates), or the system's.
pub fn load_roots(ca_file: Option<&Path>) -> Result<Roots, String> {
    match ca_file {
        Some(path) => {
            let found =
                spki::read_file(path).map_err(|e| format!("ca_file {}: {e}", path.display()))?;
            let bytes =
                spki::read_bounded(path).map_err(|e| format!("ca_file {}: {e}", path.display()))?;
            let mut store = RootCertStore::empty();
            let ders = cert_ders(&bytes);
            if ders.is_empty()
                || found
                    .iter()
                    .any(|f| !matches!(f.origin, Origin::Certificate(_)))
            {
                return Err(format!(
                    "ca_file {}: holds something other than certificates",
                    path.display()
                ));
            }
            for der in ders {
                store
                    .add(der)
                    .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
            }
            build(store, format!("ca_file {}", path.display()), false)
        }
        None => {
            static SYSTEM: OnceLock<Result<Roots, String>> = OnceLock::new();
            SYSTEM
                .get_or_init(|| {
                    let mut store = RootCertStore::empty();
                    if let Ok(certs) = rustls_native_certs::load_native_certs() {
                        let _ = store.add_parsable_certificates(certs);
                    }
                    let source = if store.is_empty() {
                        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                        "the bundled Mozilla roots"
                    } else {
                        "the system's roots"
                    };
                    build(store, source.into(), true)
                })
                .clone()
        }
    }
}

fn build(store: RootCertStore, source: String, public: bool) -> Result<Roots, String> {
    let provider = provider();
    let anchors: Arc<[TrustAnchor<'static>]> = store.roots.clone().into();
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
        .build()
        .map_err(|e| format!("{source}: {e}"))?;
    Ok(Roots {
        verifier,
        provider,
        anchors,
        source,
        public,
    })
}

/// The DER of each certificate in PEM or DER bytes.
fn cert_ders(bytes: &[u8]) -> Vec<rustls_pki_types::CertificateDer<'static>> {
    use rustls_pki_types::pem::PemObject;
    if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        rustls_pki_types::CertificateDer::pem_slice_iter(bytes)
            .filter_map(Result::ok)
            .collect()
    } else {
        vec![rustls_pki_types::CertificateDer::from(bytes.to_vec())]
    }
}
