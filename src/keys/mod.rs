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
pub mod pem;
pub mod refresh;
pub(crate) mod store;

use std::collections::HashMap;
use std::fmt;

use ring::signature::{self, UnparsedPublicKey};

use crate::jose::alg::{Alg, AlgSet, Family};
use crate::jose::b64;
use crate::secrets::secret::Secret;

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

/// Parses a JWKS document. Returns the usable keys and a note for each key
/// skipped; fails only when the document is not a JWKS or has no usable key.
pub fn parse_jwks(json: &[u8]) -> Result<(Vec<Key>, Vec<Skipped>), JwksError> {
    let doc: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| JwksError::NotJwks(e.to_string()))?;
    let Some(entries) = doc.get("keys").and_then(|k| k.as_array()) else {
        return Err(JwksError::NotJwks("no \"keys\" array".into()));
    };
    let mut keys = Vec::with_capacity(entries.len());
    let mut skipped = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let kid = entry.get("kid").and_then(|k| k.as_str()).map(str::to_owned);
        match parse_jwk(entry) {
            Ok(key) => {
                if key.kid.is_some() && keys.iter().any(|k: &Key| k.kid == key.kid) {
                    skipped.push(Skipped {
                        kid,
                        index,
                        why: "duplicate kid; the first key with this kid is used".into(),
                    });
                } else {
                    keys.push(key);
                }
            }
            Err(why) => skipped.push(Skipped { kid, index, why }),
        }
    }
    if keys.is_empty() {
        return Err(JwksError::NoUsableKey {
            skipped: skipped.len(),
        });
    }
    Ok((keys, skipped))
}

fn member<'a>(jwk: &'a serde_json::Value, name: &str) -> Result<Option<&'a str>, String> {
    match jwk.get(name) {
        None => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("\"{name}\" is not a string")),
    }
}

fn required<'a>(jwk: &'a serde_json::Value, name: &str) -> Result<&'a str, String> {
    member(jwk, name)?.ok_or_else(|| format!("\"{name}\" is missing"))
}

fn bytes(jwk: &serde_json::Value, name: &str) -> Result<Vec<u8>, String> {
    b64::decode_lenient(required(jwk, name)?).map_err(|_| format!("\"{name}\" is not base64url"))
}

fn strip_leading_zeros(mut b: &[u8]) -> &[u8] {
    while let [0, rest @ ..] = b {
        b = rest;
    }
    b
}

fn bit_len(b: &[u8]) -> usize {
    match b.first() {
        None => 0,
        Some(first) => b.len() * 8 - first.leading_zeros() as usize,
    }
}

/// Left-pads a big-endian coordinate to 32 bytes (some encoders drop leading
/// zero bytes); refuses anything longer.
fn coordinate(jwk: &serde_json::Value, name: &str) -> Result<[u8; 32], String> {
    let raw = bytes(jwk, name)?;
    let raw = strip_leading_zeros(&raw);
    if raw.len() > 32 {
        return Err(format!("\"{name}\" is longer than 32 bytes"));
    }
    let mut out = [0u8; 32];
    out[32 - raw.len()..].copy_from_slice(raw);
    Ok(out)
}

/// Checks that a P-256 point is on the curve and not the point at infinity.
/// ring exposes no direct point check, but it validates a peer's public key
/// fully before any ECDH agreement, so an agreement with a fresh ephemeral
/// key succeeds exactly for valid points. Runs once per key, at load.
fn p256_point_is_valid(point: &[u8]) -> bool {
    use ring::agreement;
    let rng = ring::rand::SystemRandom::new();
    let Ok(mine) = agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &rng) else {
        return false;
    };
    let peer = agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, point);
    agreement::agree_ephemeral(mine, &peer, |_| ()).is_ok()
}

/// Parses one JWK into a key, or says why it cannot be used.
fn parse_jwk(jwk: &serde_json::Value) -> Result<Key, String> {
    if !jwk.is_object() {
        return Err("not a JSON object".into());
    }
    if let Some(u) = member(jwk, "use")?
        && u != "sig"
    {
        return Err(format!("\"use\" is {u:?}, not \"sig\""));
    }
    if let Some(ops) = jwk.get("key_ops") {
        let ok = ops
            .as_array()
            .is_some_and(|ops| ops.iter().any(|o| o.as_str() == Some("verify")));
        if !ok {
            return Err("\"key_ops\" does not include \"verify\"".into());
        }
    }
    if jwk.get("d").is_some() {
        // A published private key means anyone can sign: refuse it.
        return Err("holds private key material (\"d\"): anyone could sign with it".into());
    }
    let kid = member(jwk, "kid")?;
    let alg = match member(jwk, "alg")? {
        None => None,
        Some(name) => {
            Some(Alg::from_name(name).ok_or_else(|| format!("\"alg\" {name:?} is not supported"))?)
        }
    };
    let kty = required(jwk, "kty")?;
    let (family, material) = match kty {
        "EC" => {
            let crv = required(jwk, "crv")?;
            if crv != "P-256" {
                return Err(format!("EC curve {crv:?} is not supported (P-256 only)"));
            }
            let x = coordinate(jwk, "x")?;
            let y = coordinate(jwk, "y")?;
            let mut point = Vec::with_capacity(65);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            if !p256_point_is_valid(&point) {
                return Err("EC point is not on the P-256 curve".into());
            }
            (Family::EcP256, Material::EcP256(point.into_boxed_slice()))
        }
        "OKP" => {
            let crv = required(jwk, "crv")?;
            if crv != "Ed25519" {
                return Err(format!("OKP curve {crv:?} is not supported (Ed25519 only)"));
            }
            let x = bytes(jwk, "x")?;
            let x: [u8; 32] = x
                .as_slice()
                .try_into()
                .map_err(|_| format!("Ed25519 \"x\" is {} bytes, not 32", x.len()))?;
            (Family::Ed25519, Material::Ed25519(x))
        }
        "RSA" => {
            let n = bytes(jwk, "n")?;
            let e = bytes(jwk, "e")?;
            let n = strip_leading_zeros(&n);
            let e = strip_leading_zeros(&e);
            let bits = bit_len(n);
            if bits < MIN_RSA_BITS {
                return Err(format!(
                    "RSA modulus is {bits} bits; at least {MIN_RSA_BITS} are required"
                ));
            }
            if bits > MAX_RSA_BITS {
                return Err(format!(
                    "RSA modulus is {bits} bits; at most {MAX_RSA_BITS} are supported"
                ));
            }
            if n.last().is_none_or(|b| b & 1 == 0) {
                return Err("RSA modulus is even".into());
            }
            // ring accepts 3 <= e < 2^33, odd.
            let e_ok = !e.is_empty()
                && bit_len(e) <= 33
                && e.last().is_some_and(|b| b & 1 == 1)
                && !(e.len() == 1 && e[0] < 3);
            if !e_ok {
                return Err("RSA exponent is not an odd number from 3 to 2^33".into());
            }
            (
                Family::Rsa,
                Material::Rsa(signature::RsaPublicKeyComponents {
                    n: n.into(),
                    e: e.into(),
                }),
            )
        }
        "oct" => {
            return Err("symmetric (\"oct\") keys are not taken from a JWKS; configure HS256 secrets as [[token.secret]]".into());
        }
        other => return Err(format!("key type {other:?} is not supported")),
    };
    let algs = match alg {
        None => family.algs(),
        Some(a) if a.family() == family => AlgSet::EMPTY.with(a),
        Some(a) => return Err(format!("\"alg\" {a} does not fit a {kty} key")),
    };
    Ok(Key {
        kid: kid.map(Into::into),
        algs,
        material,
        origin: KeyOrigin::Jwks,
    })
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
