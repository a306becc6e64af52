//! Keys of the signed pin config: a signing key (PKCS#8, read from a file
//! by `pins sign` only, never by the proxy) and the public keys an app
//! embeds, each with the `kid` it answers to.

use std::fmt;
use std::path::Path;

use ring::signature::{self, KeyPair as _};

use crate::der::{self, tag};
use crate::spki::{self, Origin, SpkiError};

/// A signature algorithm of the signed config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigAlg {
    /// ECDSA P-256 with SHA-256, JWS `ES256` (64-byte `r || s`).
    Es256,
    /// Ed25519, JWS `EdDSA`.
    EdDsa,
}

impl SigAlg {
    /// The JWS `alg` value.
    pub fn as_str(self) -> &'static str {
        match self {
            SigAlg::Es256 => "ES256",
            SigAlg::EdDsa => "EdDSA",
        }
    }

    /// The algorithm whose JWS `alg` is `name`.
    pub fn from_name(name: &str) -> Option<SigAlg> {
        match name {
            "ES256" => Some(SigAlg::Es256),
            "EdDSA" => Some(SigAlg::EdDsa),
            _ => None,
        }
    }

    fn of_key_type(key: &str) -> Option<SigAlg> {
        match key {
            "EC P-256" => Some(SigAlg::Es256),
            "Ed25519" => Some(SigAlg::EdDsa),
            _ => None,
        }
    }
}

/// Why a key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file did not give a key.
    #[error("{0}")]
    File(#[from] SpkiError),
    /// A key of another algorithm.
    #[error("{0} keys cannot sign pin configs: use EC P-256 (ES256) or Ed25519 (EdDSA)")]
    Algorithm(String),
    /// The file holds no private key (signing) or more than one key.
    #[error("{0}")]
    Shape(&'static str),
    /// ring refused the key.
    #[error("the private key is not usable: {0}")]
    Rejected(String),
}

enum Pair {
    Es256(signature::EcdsaKeyPair),
    EdDsa(signature::Ed25519KeyPair),
}

/// A private signing key with its `kid`. Its Debug shows neither.
pub struct SigningKey {
    pair: Pair,
    /// The `kid` written into the header.
    pub kid: String,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({}, kid {:?})", self.alg().as_str(), self.kid)
    }
}

impl SigningKey {
    /// Reads a PKCS#8 private key (PEM or DER) of EC P-256 or Ed25519.
    pub fn from_file(path: &Path, kid: &str) -> Result<SigningKey, KeyError> {
        let bytes = spki::read_bounded(path)?;
        SigningKey::from_bytes(&bytes, kid)
    }

    /// As [`SigningKey::from_file`], from bytes.
    pub fn from_bytes(bytes: &[u8], kid: &str) -> Result<SigningKey, KeyError> {
        let found = spki::from_bytes(bytes)?;
        let [only] = found.as_slice() else {
            return Err(KeyError::Shape(
                "the key file must hold exactly one private key",
            ));
        };
        if only.origin != (Origin::PrivateKey { format: "pkcs8" }) {
            return Err(KeyError::Shape(
                "give the signing key as a PKCS#8 private key (`-----BEGIN PRIVATE KEY-----`)",
            ));
        }
        let alg =
            SigAlg::of_key_type(&only.key).ok_or_else(|| KeyError::Algorithm(only.key.clone()))?;
        let der = pkcs8_der(bytes)?;
        let rejected = |e: ring::error::KeyRejected| KeyError::Rejected(e.to_string());
        let pair = match alg {
            SigAlg::Es256 => Pair::Es256(
                signature::EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &der,
                    &ring::rand::SystemRandom::new(),
                )
                .map_err(rejected)?,
            ),
            SigAlg::EdDsa => Pair::EdDsa(
                signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).map_err(rejected)?,
            ),
        };
        Ok(SigningKey {
            pair,
            kid: kid.to_owned(),
        })
    }

    /// Its algorithm.
    pub fn alg(&self) -> SigAlg {
        match self.pair {
            Pair::Es256(_) => SigAlg::Es256,
            Pair::EdDsa(_) => SigAlg::EdDsa,
        }
    }

    /// The public key that verifies it, with the same `kid`.
    pub fn public(&self) -> PublicKey {
        let bytes = match &self.pair {
            Pair::Es256(p) => p.public_key().as_ref().to_vec(),
            Pair::EdDsa(p) => p.public_key().as_ref().to_vec(),
        };
        PublicKey {
            alg: self.alg(),
            kid: Some(self.kid.clone()),
            bytes,
        }
    }

    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.pair {
            Pair::Es256(p) => p
                .sign(&ring::rand::SystemRandom::new(), message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError::Rejected("signing failed".into())),
            Pair::EdDsa(p) => Ok(p.sign(message).as_ref().to_vec()),
        }
    }
}

/// The DER of a PKCS#8 PEM block, or the bytes themselves when DER.
fn pkcs8_der(bytes: &[u8]) -> Result<Vec<u8>, KeyError> {
    if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return Ok(bytes.to_vec());
    }
    let text = std::str::from_utf8(bytes).map_err(|_| KeyError::Shape("not UTF-8 text"))?;
    let body: String = text
        .lines()
        .skip_while(|l| !l.trim().starts_with("-----BEGIN PRIVATE KEY-----"))
        .skip(1)
        .take_while(|l| !l.trim().starts_with("-----END"))
        .map(str::trim)
        .collect();
    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, body)
        .map_err(|_| KeyError::Shape("the PRIVATE KEY block is not base64"))
}

/// A public key an app embeds to verify signed configs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    /// ES256 or EdDSA.
    pub alg: SigAlg,
    /// The `kid` it answers to; `None` answers to any.
    pub kid: Option<String>,
    /// Uncompressed P-256 point (65 bytes) or Ed25519 key (32 bytes).
    pub bytes: Vec<u8>,
}

impl PublicKey {
    /// Reads a public key (SPKI PEM/DER; a certificate or private key gives
    /// its public half) of EC P-256 or Ed25519.
    pub fn from_file(path: &Path, kid: Option<&str>) -> Result<PublicKey, KeyError> {
        let bytes = spki::read_bounded(path)?;
        PublicKey::from_bytes(&bytes, kid)
    }

    /// As [`PublicKey::from_file`], from bytes.
    pub fn from_bytes(bytes: &[u8], kid: Option<&str>) -> Result<PublicKey, KeyError> {
        let found = spki::from_bytes(bytes)?;
        let [only] = found.as_slice() else {
            return Err(KeyError::Shape(
                "the public key file must hold exactly one key",
            ));
        };
        let alg =
            SigAlg::of_key_type(&only.key).ok_or_else(|| KeyError::Algorithm(only.key.clone()))?;
        let bits = der::whole(&only.spki, tag::SEQUENCE)
            .and_then(|s| der::expect(s.content, tag::SEQUENCE).map(|(_, rest)| rest))
            .and_then(|rest| der::whole(rest, tag::BIT_STRING))
            .and_then(|b| {
                b.content
                    .split_first()
                    .filter(|(u, _)| **u == 0)
                    .map(|(_, k)| k.to_vec())
            })
            .ok_or(KeyError::Shape("malformed public key"))?;
        Ok(PublicKey {
            alg,
            kid: kid.map(str::to_owned),
            bytes: bits,
        })
    }

    /// The public key as an SPKI PEM (what an app embeds).
    pub fn to_pem(&self) -> String {
        let spki = match self.alg {
            SigAlg::Es256 => der::spki(
                &der::algorithm_ec(&der::encode(
                    tag::OID,
                    &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
                )),
                &self.bytes,
            ),
            SigAlg::EdDsa => der::spki(&der::algorithm_bare(der::oid::ED25519), &self.bytes),
        };
        let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, spki);
        let mut out = String::from("-----BEGIN PUBLIC KEY-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(chunk));
            out.push('\n');
        }
        out.push_str("-----END PUBLIC KEY-----\n");
        out
    }

    pub(crate) fn verifies(&self, message: &[u8], sig: &[u8]) -> bool {
        let alg: &dyn signature::VerificationAlgorithm = match self.alg {
            SigAlg::Es256 => &signature::ECDSA_P256_SHA256_FIXED,
            SigAlg::EdDsa => &signature::ED25519,
        };
        signature::UnparsedPublicKey::new(alg, &self.bytes)
            .verify(message, sig)
            .is_ok()
    }
}

/// A new signing key pair: PKCS#8 PEM of the private key (for `pins sign`)
/// and SPKI PEM of the public key (for the app).
pub fn generate(alg: SigAlg) -> Result<(String, String), KeyError> {
    let rcgen_alg = match alg {
        SigAlg::Es256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        SigAlg::EdDsa => &rcgen::PKCS_ED25519,
    };
    let pair =
        rcgen::KeyPair::generate_for(rcgen_alg).map_err(|e| KeyError::Rejected(e.to_string()))?;
    Ok((pair.serialize_pem(), pair.public_key_pem()))
}
