//! Verification keys: HS256 account secrets and public keys from a JWKS.
//!
//! Every key is prepared once, when it is loaded (decoded, size- and
//! curve-checked, wrapped in ring's key types), and fixes the one algorithm
//! family it verifies: an HMAC secret never checks an asymmetric `alg`, and a
//! public key is never used as an HMAC secret, whatever a token's header says.
//!
//! A JWKS is parsed key by key: a key that is unknown, malformed, not for
//! signing or unsafe is skipped with a [`Skipped`] note and never fails the
//! rest of the set.

pub mod egress;
pub(crate) mod fetch;
mod hygiene;
mod jwk;
pub mod pem;
pub mod refresh;
pub(crate) mod store;

use std::collections::HashMap;
use std::fmt;

use ring::signature::{self, UnparsedPublicKey};

use crate::jose::alg::{Alg, AlgSet, Family};
use crate::jose::b64;
use crate::secrets::secret::Secret;

pub use hygiene::secret_warnings;
pub use jwk::parse_jwks;

/// Shortest HS256 secret we accept: RFC 7518 §3.2 requires a key at least as
/// long as the hash output. Approov account secrets are 64 bytes.
pub const MIN_HMAC_SECRET_BYTES: usize = 32;
/// Smallest RSA modulus we accept, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus ring verifies, in bits.
pub const MAX_RSA_BITS: usize = 8192;

/// Where a key came from (for logs and metrics).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyOrigin {
    /// The `n`-th `[[token.secret]]`.
    Secret(usize),
    /// A JWKS document.
    Jwks,
}

/// One prepared verification key. Cloning shares nothing mutable (ring's
/// key types are cheap to clone).
#[derive(Clone)]
pub struct Key {
    kid: Option<Box<str>>,
    algs: AlgSet,
    material: Material,
    origin: KeyOrigin,
}

#[derive(Clone)]
enum Material {
    Hmac(ring::hmac::Key),
    /// Uncompressed SEC1 point, checked to be on the curve at load.
    EcP256(Box<[u8]>),
    /// Modulus and exponent, big-endian without leading zeros. ring 0.17
    /// re-derives its Montgomery form per verification; the verified-token
    /// cache makes that rare.
    Rsa(signature::RsaPublicKeyComponents<Box<[u8]>>),
    Ed25519([u8; 32]),
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key material: an HMAC key is a secret.
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("algs", &self.algs)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// Why an account secret was refused. Never holds the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The secret is not base64 in either alphabet.
    #[error("is not valid base64 (standard or url-safe alphabet, padding optional)")]
    NotBase64,
    /// The secret mixes the standard and the url-safe alphabet.
    #[error("mixes the standard (+ /) and url-safe (- _) base64 alphabets")]
    MixedAlphabets,
    /// The secret is empty.
    #[error("is empty")]
    Empty,
    /// More than one line is left once the CLI's remarks are skipped.
    #[error(
        "holds more than one line; put one secret in it (lines with a ':' are skipped as remarks)"
    )]
    SeveralLines,
    /// The secret is too short.
    #[error(
        "decodes to {0} bytes; an Approov secret is 64 bytes, at least {MIN_HMAC_SECRET_BYTES} are required"
    )]
    TooShort(usize),
}

/// Decodes an account secret written in base64 (either alphabet, padding
/// optional) into its raw bytes, refusing one shorter than 32 bytes.
pub fn decode_secret_base64(text: &[u8]) -> Result<Secret, SecretError> {
    let text = text.strip_prefix(hygiene::BOM).unwrap_or(text);
    let text = std::str::from_utf8(text).map_err(|_| SecretError::NotBase64)?;
    let text = secret_line(text)?;
    let bytes = b64::decode_lenient(text).map_err(|e| match e {
        b64::LenientError::Empty => SecretError::Empty,
        b64::LenientError::MixedAlphabets => SecretError::MixedAlphabets,
        b64::LenientError::Invalid => SecretError::NotBase64,
    })?;
    let secret = Secret::new(bytes);
    if secret.len() < MIN_HMAC_SECRET_BYTES {
        return Err(SecretError::TooShort(secret.len()));
    }
    Ok(secret)
}

/// The base64 line of a secret's text. `approov secret -get base64 >
/// file` can leave the CLI's own remarks in the file (a `note: ...` line
/// before the secret); base64 never holds a space or a `:`, so lines that
/// do are the CLI's, and are skipped. One line must remain.
fn secret_line(text: &str) -> Result<&str, SecretError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.contains(':'));
    match (lines.next(), lines.next()) {
        (Some(line), None) => Ok(line),
        (None, _) => Err(SecretError::Empty),
        (Some(_), Some(_)) => Err(SecretError::SeveralLines),
    }
}

/// Why one JWK was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The key's `kid`, if it had one.
    pub kid: Option<String>,
    /// Its position in `keys`.
    pub index: usize,
    /// What was wrong with it.
    pub why: String,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kid {
            Some(kid) => write!(f, "keys[{}] (kid {kid:?}): {}", self.index, self.why),
            None => write!(f, "keys[{}]: {}", self.index, self.why),
        }
    }
}

/// Why a JWKS document as a whole was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    /// Not JSON, or not an object with a `keys` array.
    #[error("not a JWKS document (a JSON object with a \"keys\" array): {0}")]
    NotJwks(String),
    /// No usable key in the document. A set that would leave no key is never
    /// swapped in over a good one.
    #[error("no usable key ({skipped} skipped)")]
    NoUsableKey {
        /// How many keys were skipped.
        skipped: usize,
    },
}

impl Key {
    /// An HS256 key from an account secret.
    pub fn hmac(secret: &Secret, kid: Option<&str>, index: usize) -> Result<Key, SecretError> {
        if secret.len() < MIN_HMAC_SECRET_BYTES {
            return Err(SecretError::TooShort(secret.len()));
        }
        Ok(Key {
            kid: kid.map(Into::into),
            algs: Family::Hmac.algs(),
            material: Material::Hmac(ring::hmac::Key::new(
                ring::hmac::HMAC_SHA256,
                secret.expose(),
            )),
            origin: KeyOrigin::Secret(index),
        })
    }

    /// The key id, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The algorithms this key verifies (one family, possibly narrowed by the
    /// JWK's `alg`).
    pub fn algs(&self) -> AlgSet {
        self.algs
    }

    /// Where the key came from.
    pub fn origin(&self) -> &KeyOrigin {
        &self.origin
    }

    /// Verifies `signature` over `message` with `alg`; false when `alg` is
    /// not this key's or the signature is wrong.
    pub(crate) fn verify(&self, alg: Alg, message: &[u8], sig: &[u8]) -> bool {
        if !self.algs.contains(alg) {
            return false;
        }
        match (&self.material, alg) {
            (Material::Hmac(key), Alg::HS256) => ring::hmac::verify(key, message, sig).is_ok(),
            (Material::EcP256(point), Alg::ES256) => {
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(message, sig)
                    .is_ok()
            }
            (Material::Ed25519(x), Alg::EdDSA) => UnparsedPublicKey::new(&signature::ED25519, x)
                .verify(message, sig)
                .is_ok(),
            (Material::Rsa(rsa), alg) => {
                let params: &signature::RsaParameters = match alg {
                    Alg::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                    Alg::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                    Alg::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                    Alg::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
                    Alg::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
                    Alg::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
                    _ => return false,
                };
                rsa.verify(params, message, sig).is_ok()
            }
            _ => false,
        }
    }
}

/// An immutable set of keys with the indices the verifier looks them up by.
/// A new set is built whole and swapped in; see [`crate::Verifier`].
pub struct KeySet {
    generation: u64,
    keys: Vec<Key>,
    all: Vec<u16>,
    anonymous: Vec<u16>,
    by_kid: HashMap<Box<str>, Vec<u16>, foldhash::fast::RandomState>,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field("generation", &self.generation)
            .field("keys", &self.keys)
            .finish()
    }
}

/// Where to look for the keys that may verify a token.
pub(crate) enum Lookup<'a> {
    /// Keys named by the token's `kid`.
    Named(&'a [u16]),
    /// The token names no key (or an unknown one): these keys may be tried.
    Pool(&'a [u16]),
}

impl KeySet {
    /// Builds a set. `generation` must grow with every new set.
    pub fn new(generation: u64, keys: Vec<Key>) -> KeySet {
        // More than u16::MAX keys is not a key set, it is an attack; keep
        // the first ones.
        let keys: Vec<Key> = keys.into_iter().take(usize::from(u16::MAX)).collect();
        let mut all = Vec::with_capacity(keys.len());
        let mut anonymous = Vec::new();
        let mut by_kid: HashMap<Box<str>, Vec<u16>, _> = HashMap::default();
        for (i, key) in keys.iter().enumerate() {
            let Ok(i) = u16::try_from(i) else { break };
            all.push(i);
            match &key.kid {
                Some(kid) => by_kid.entry(kid.clone()).or_default().push(i),
                None => anonymous.push(i),
            }
        }
        KeySet {
            generation,
            keys,
            all,
            anonymous,
            by_kid,
        }
    }

    /// An empty set (nothing loaded yet).
    pub fn empty() -> KeySet {
        KeySet::new(0, Vec::new())
    }

    /// The generation number: changes with every swap.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The keys.
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is loaded.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub(crate) fn key(&self, i: u16) -> &Key {
        &self.keys[usize::from(i)]
    }

    /// A `kid` names its keys; keys configured without a `kid` are the
    /// catch-all for tokens whose `kid` names nothing, and every key may be
    /// tried for a token without a `kid`.
    pub(crate) fn lookup(&self, kid: Option<&str>) -> Lookup<'_> {
        match kid {
            None => Lookup::Pool(&self.all),
            Some(kid) => match self.by_kid.get(kid) {
                Some(named) => Lookup::Named(named),
                None => Lookup::Pool(&self.anonymous),
            },
        }
    }
}

#[cfg(test)]
#[path = "keys_tests.rs"]
mod tests;
