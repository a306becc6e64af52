//! A certificate verifier that records the chain as served, asks webpki
//! whether it validates, writes the answer down, and lets the handshake go
//! on either way (so an invalid chain is still seen whole).

use std::sync::{Arc, Mutex};

use rustls::DigitallySignedStruct;
use rustls::SignatureScheme;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

/// At most this many certificates of a chain are kept; longer chains are
/// reported with their length (no real chain is longer than 5 or 6).
pub const MAX_CHAIN: usize = 16;

/// What the verifier saw.
#[derive(Debug, Default, Clone)]
pub(crate) struct Seen {
    /// The first [`MAX_CHAIN`] certificates, leaf first.
    pub(crate) certs: Vec<CertificateDer<'static>>,
    /// How many the server sent.
    pub(crate) served: usize,
    /// webpki's answer: `None` when the chain validates.
    pub(crate) invalid: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Recorder {
    inner: Arc<WebPkiServerVerifier>,
    provider: Arc<CryptoProvider>,
    pub(crate) seen: Mutex<Option<Seen>>,
}

impl Recorder {
    pub(crate) fn new(inner: Arc<WebPkiServerVerifier>, provider: Arc<CryptoProvider>) -> Self {
        Recorder {
            inner,
            provider,
            seen: Mutex::new(None),
        }
    }

    pub(crate) fn take(&self) -> Option<Seen> {
        self.seen.lock().ok().and_then(|mut s| s.take())
    }
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let served = 1 + intermediates.len();
        let certs = std::iter::once(end_entity)
            .chain(intermediates)
            .take(MAX_CHAIN)
            .map(|c| c.clone().into_owned())
            .collect();
        let invalid = if served > MAX_CHAIN {
            Some(format!(
                "the chain has {served} certificates (more than {MAX_CHAIN})"
            ))
        } else {
            self.inner
                .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
                .err()
                .map(|e| e.to_string())
        };
        if let Ok(mut s) = self.seen.lock() {
            *s = Some(Seen {
                certs,
                served,
                invalid,
            });
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
