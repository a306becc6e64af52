//! A JWKS document read key by key: a key that is unknown, malformed, not
//! for signing or unsafe is skipped with a [`Skipped`] note.

use ring::signature;

use super::*;

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
