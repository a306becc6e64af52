//! Minting tokens, for the `attestgate token mint` command, trials and tests.
//! Production tokens come from Approov; nothing here is on the request path.

use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};

use crate::jose::alg::{Alg, Family};
use crate::jose::b64;
use crate::keys::{self, SecretError};
use crate::secrets::secret::Secret;

/// A key to sign tokens with.
pub enum SigningKey {
    /// An HS256 secret.
    Hs256(Secret),
    /// A P-256 key pair.
    Es256(EcdsaKeyPair),
    /// An RSA key pair and the algorithm it signs with.
    Rsa(RsaKeyPair, Alg),
    /// An Ed25519 key pair.
    EdDsa(Ed25519KeyPair),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({}, <redacted>)", self.alg())
    }
}

/// Why a signing key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    /// The HS256 secret is not usable.
    #[error("secret {0}")]
    Secret(#[from] SecretError),
    /// The PEM text holds no key we can read.
    #[error("{0}")]
    Pem(String),
    /// The key does not fit the algorithm.
    #[error("the key does not fit {0}: {1}")]
    KeyAlg(Alg, String),
    /// The header or claims are not a JSON object.
    #[error("{0} must be a JSON object")]
    NotObject(&'static str),
    /// Signing failed.
    #[error("signing failed")]
    Sign,
}

/// Decodes the first PEM block: its label and DER bytes.
fn pem_block(pem: &str) -> Result<(String, Vec<u8>), MintError> {
    let begin = pem
        .find("-----BEGIN ")
        .ok_or_else(|| MintError::Pem("no \"-----BEGIN\" line: not a PEM file".into()))?;
    let rest = &pem[begin + 11..];
    let label_end = rest
        .find("-----")
        .ok_or_else(|| MintError::Pem("unterminated BEGIN line".into()))?;
    let label = rest[..label_end].to_owned();
    let body_start = label_end + 5;
    let end_marker = format!("-----END {label}-----");
    let body_end = rest
        .find(&end_marker)
        .ok_or_else(|| MintError::Pem(format!("no \"{end_marker}\" line")))?;
    let body: String = rest[body_start..body_end]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    use base64::Engine;
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|_| MintError::Pem(format!("the {label} block is not valid base64")))?;
    Ok((label, der))
}

impl SigningKey {
    /// An HS256 key from a base64 account secret.
    pub fn hs256_base64(base64: &str) -> Result<SigningKey, MintError> {
        Ok(SigningKey::Hs256(keys::decode_secret_base64(
            base64.as_bytes(),
        )?))
    }

    /// A key pair from PEM: PKCS#8 (`BEGIN PRIVATE KEY`, what `openssl
    /// genpkey` writes) for every algorithm, or PKCS#1 (`BEGIN RSA PRIVATE
    /// KEY`) for RSA.
    pub fn from_pem(pem: &str, alg: Alg) -> Result<SigningKey, MintError> {
        let (label, der) = pem_block(pem)?;
        match label.as_str() {
            "PRIVATE KEY" => SigningKey::from_pkcs8(&der, alg),
            "RSA PRIVATE KEY" if alg.family() == Family::Rsa => {
                let pair = RsaKeyPair::from_der(&der).map_err(|e| MintError::KeyAlg(alg, e.to_string()))?;
                Ok(SigningKey::Rsa(pair, alg))
            }
            "EC PRIVATE KEY" => Err(MintError::Pem(
                "SEC1 \"EC PRIVATE KEY\" is not supported; convert it: openssl pkcs8 -topk8 -nocrypt -in key.pem".into(),
            )),
            other => Err(MintError::Pem(format!("a {other:?} PEM block is not a private key for {alg}"))),
        }
    }

    /// A key pair from PKCS#8 DER.
    pub fn from_pkcs8(der: &[u8], alg: Alg) -> Result<SigningKey, MintError> {
        let bad = |e: ring::error::KeyRejected| MintError::KeyAlg(alg, e.to_string());
        match alg.family() {
            Family::Hmac => Err(MintError::KeyAlg(
                alg,
                "HS256 takes --secret-base64, not a PEM key".into(),
            )),
            Family::EcP256 => Ok(SigningKey::Es256(
                EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    der,
                    &SystemRandom::new(),
                )
                .map_err(bad)?,
            )),
            Family::Rsa => Ok(SigningKey::Rsa(
                RsaKeyPair::from_pkcs8(der).map_err(bad)?,
                alg,
            )),
            Family::Ed25519 => Ok(SigningKey::EdDsa(
                Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(bad)?,
            )),
        }
    }

    /// The algorithm this key signs with.
    pub fn alg(&self) -> Alg {
        match self {
            SigningKey::Hs256(_) => Alg::HS256,
            SigningKey::Es256(_) => Alg::ES256,
            SigningKey::Rsa(_, alg) => *alg,
            SigningKey::EdDsa(_) => Alg::EdDSA,
        }
    }

    /// The public key as a JWK (none for HS256: a secret is never published).
    pub fn public_jwk(&self, kid: Option<&str>) -> Option<serde_json::Value> {
        let mut jwk = match self {
            SigningKey::Hs256(_) => return None,
            SigningKey::Es256(pair) => {
                let p = pair.public_key().as_ref();
                serde_json::json!({"kty": "EC", "crv": "P-256",
                    "x": b64::encode_segment(&p[1..33]), "y": b64::encode_segment(&p[33..65])})
            }
            SigningKey::Rsa(pair, _) => {
                let public = signature::RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
                serde_json::json!({"kty": "RSA",
                    "n": b64::encode_segment(&public.n), "e": b64::encode_segment(&public.e)})
            }
            SigningKey::EdDsa(pair) => serde_json::json!({"kty": "OKP", "crv": "Ed25519",
                "x": b64::encode_segment(pair.public_key().as_ref())}),
        };
        jwk["alg"] = self.alg().as_str().into();
        jwk["use"] = "sig".into();
        if let Some(kid) = kid {
            jwk["kid"] = kid.into();
        }
        Some(jwk)
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, MintError> {
        let rng = SystemRandom::new();
        match self {
            SigningKey::Hs256(secret) => {
                let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.expose());
                Ok(ring::hmac::sign(&key, message).as_ref().to_vec())
            }
            SigningKey::Es256(pair) => pair
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| MintError::Sign),
            SigningKey::EdDsa(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            SigningKey::Rsa(pair, alg) => {
                let padding: &dyn signature::RsaEncoding = match alg {
                    Alg::RS256 => &signature::RSA_PKCS1_SHA256,
                    Alg::RS384 => &signature::RSA_PKCS1_SHA384,
                    Alg::RS512 => &signature::RSA_PKCS1_SHA512,
                    Alg::PS256 => &signature::RSA_PSS_SHA256,
                    Alg::PS384 => &signature::RSA_PSS_SHA384,
                    Alg::PS512 => &signature::RSA_PSS_SHA512,
                    _ => return Err(MintError::Sign),
                };
                let mut sig = vec![0u8; pair.public().modulus_len()];
                pair.sign(padding, &rng, message, &mut sig)
                    .map_err(|_| MintError::Sign)?;
                Ok(sig)
            }
        }
    }
}

/// Mints a compact JWS with header `{"alg":..,"typ":"JWT"[,"kid":..]}`.
pub fn mint(
    key: &SigningKey,
    kid: Option<&str>,
    claims: &serde_json::Value,
) -> Result<String, MintError> {
    let mut header = serde_json::json!({"alg": key.alg().as_str(), "typ": "JWT"});
    if let Some(kid) = kid {
        header["kid"] = kid.into();
    }
    mint_with_header(key, &header, claims)
}

/// Mints a compact JWS with the given header (which may lie about `alg`:
/// tests use that to forge tokens).
pub fn mint_with_header(
    key: &SigningKey,
    header: &serde_json::Value,
    claims: &serde_json::Value,
) -> Result<String, MintError> {
    if !header.is_object() {
        return Err(MintError::NotObject("the header"));
    }
    if !claims.is_object() {
        return Err(MintError::NotObject("the claims"));
    }
    sign_parts(
        key,
        header.to_string().as_bytes(),
        claims.to_string().as_bytes(),
    )
}

/// Signs raw header and payload bytes (which need not be JSON at all).
pub fn sign_parts(key: &SigningKey, header: &[u8], payload: &[u8]) -> Result<String, MintError> {
    let mut token = b64::encode_segment(header);
    token.push('.');
    token.push_str(&b64::encode_segment(payload));
    let sig = key.sign(token.as_bytes())?;
    token.push('.');
    token.push_str(&b64::encode_segment(&sig));
    Ok(token)
}

/// A fresh random 64-byte secret in standard base64 (`attestgate secret new`).
pub fn new_secret_base64() -> Result<String, MintError> {
    use base64::Engine;
    use ring::rand::SecureRandom;
    let mut bytes = zeroize::Zeroizing::new([0u8; 64]);
    SystemRandom::new()
        .fill(bytes.as_mut())
        .map_err(|_| MintError::Sign)?;
    Ok(b64::STANDARD.encode(bytes.as_ref()))
}

/// A fresh PKCS#8 key pair for ES256 or EdDSA, as PEM (for trials and tests;
/// ring cannot generate RSA keys: use `openssl genpkey -algorithm RSA`).
pub fn generate_pem(alg: Alg) -> Result<String, MintError> {
    let rng = SystemRandom::new();
    let der = match alg {
        Alg::ES256 => {
            EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        }
        Alg::EdDSA => Ed25519KeyPair::generate_pkcs8(&rng),
        other => {
            return Err(MintError::KeyAlg(
                other,
                "only ES256 and EdDSA keys can be generated here".into(),
            ));
        }
    }
    .map_err(|_| MintError::Sign)?;
    use base64::Engine;
    let body = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    Ok(pem)
}
