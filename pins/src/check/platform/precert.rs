//! Judging a precertificate (RFC 6962 §3.1) as the certificate it
//! announces. The certificate does not exist yet, but its TBSCertificate
//! does: the precertificate's, without the critical poison extension (no
//! TLS stack accepts a certificate that carries it). Its issuer signed the
//! TBS *with* the poison, so the announced certificate is built from the
//! poison-free TBS and the precertificate's own signature, and the
//! signature check of exactly that (TBS, signature) pair is answered by
//! checking the signature over the TBS the issuer really signed. Every
//! other signature of the path is checked as usual, so the path, dates,
//! names and pins are judged by the same rules as any chain.

use rustls_pki_types::{AlgorithmIdentifier, InvalidSignature, SignatureVerificationAlgorithm};

use super::judging::judge_with;
use super::{Judgement, PinSet};
use crate::fetch::Roots;

/// One of ring's algorithms, answering for the announced certificate's
/// signature with the precertificate's.
#[derive(Debug)]
struct AsSigned<'a> {
    inner: &'static dyn SignatureVerificationAlgorithm,
    tbs: &'a [u8],
    signed_tbs: &'a [u8],
    signature: &'a [u8],
}

impl SignatureVerificationAlgorithm for AsSigned<'_> {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        if message == self.tbs && signature == self.signature {
            self.inner
                .verify_signature(public_key, self.signed_tbs, signature)
        } else {
            self.inner.verify_signature(public_key, message, signature)
        }
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        self.inner.public_key_alg_id()
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        self.inner.signature_alg_id()
    }

    fn fips(&self) -> bool {
        self.inner.fips()
    }
}

/// Judges `chain` — a precertificate (DER, with its poison) and its
/// issuers — as the certificate it announces would be judged by
/// [`super::judge`]. An error when the first certificate is not a
/// precertificate, or was signed by a Precertificate Signing Certificate
/// (whose certificate would carry another issuer: not judged).
pub fn judge_precert(
    chain: &[Vec<u8>],
    pins: &PinSet,
    host: &str,
    instants: &[i64],
    roots: &Roots,
    fetched: &[Vec<u8>],
) -> Result<Judgement, String> {
    let Some((first, issuers)) = chain.split_first() else {
        return Err("no certificate".into());
    };
    let a = crate::precert::announced(first)
        .ok_or("not a precertificate (no poison extension, or not DER)")?;
    if issuers.first().is_some_and(|i| signs_precertificates(i)) {
        return Err(
            "issued through a Precertificate Signing Certificate: the certificate will name another issuer, so it is judged when it is logged"
                .into(),
        );
    }
    let wrapped: Vec<AsSigned<'_>> = roots
        .algorithms()
        .iter()
        .map(|inner| AsSigned {
            inner: *inner,
            tbs: &a.tbs,
            signed_tbs: &a.signed_tbs,
            signature: &a.signature,
        })
        .collect();
    let algs: Vec<&dyn SignatureVerificationAlgorithm> = wrapped
        .iter()
        .map(|w| w as &dyn SignatureVerificationAlgorithm)
        .collect();
    let mut as_cert = Vec::with_capacity(chain.len());
    as_cert.push(a.cert.clone());
    as_cert.extend(issuers.iter().cloned());
    Ok(judge_with(
        &as_cert, pins, host, instants, roots, fetched, &algs,
    ))
}

/// Whether `der` holds the Precertificate Signing Certificate EKU.
fn signs_precertificates(der: &[u8]) -> bool {
    use x509_parser::prelude::FromDer;
    x509_parser::certificate::X509Certificate::from_der(der).is_ok_and(|(_, c)| {
        c.extended_key_usage().ok().flatten().is_some_and(|e| {
            e.value
                .other
                .iter()
                .any(|o| o.as_bytes() == crate::precert::PRECERT_SIGNING)
        })
    })
}
