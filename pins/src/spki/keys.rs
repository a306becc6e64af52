//! The public half (as an SPKI) of private keys: PKCS#8, SEC1, PKCS#1.
//!
//! Only the public parts are read; the private scalar is touched for
//! Ed25519 alone (PKCS#8 v1 holds no public key, so it is derived from the
//! seed with ring). Nothing here formats key bytes into an error.

use crate::der::{self, oid, tag};

use super::SpkiError;

fn bad(what: &'static str) -> SpkiError {
    SpkiError::Malformed(what)
}

/// PKCS#8 `PrivateKeyInfo` (RFC 5958, v1 or v2) → SPKI DER.
pub(crate) fn pkcs8_to_spki(input: &[u8]) -> Result<Vec<u8>, SpkiError> {
    let info = der::whole(input, tag::SEQUENCE).ok_or(bad("PKCS#8: not a SEQUENCE"))?;
    let (_version, rest) = der::expect(info.content, tag::INTEGER).ok_or(bad("PKCS#8 version"))?;
    let (algorithm, rest) = der::expect(rest, tag::SEQUENCE).ok_or(bad("PKCS#8 algorithm"))?;
    let (private, rest) = der::expect(rest, tag::OCTET_STRING).ok_or(bad("PKCS#8 private key"))?;
    let mut public_v2 = None;
    let mut rest = rest;
    while let Some((t, after)) = der::read(rest) {
        if t.tag == tag::CONTEXT_1_PRIMITIVE {
            public_v2 = Some(t.content);
        }
        rest = after;
    }
    if !rest.is_empty() {
        return Err(bad("PKCS#8: trailing bytes"));
    }
    let (alg_oid, params) =
        der::expect(algorithm.content, tag::OID).ok_or(bad("PKCS#8 algorithm OID"))?;
    match alg_oid.content {
        oid::RSA | oid::RSA_PSS => {
            let public = rsa_public_of_private(private.content)?;
            Ok(der::spki(algorithm.whole, &public))
        }
        oid::EC_PUBLIC_KEY => {
            let (curve, _) =
                der::expect(params, tag::OID).ok_or(bad("EC key without its curve"))?;
            let point = sec1_public(private.content)?.or(public_v2.and_then(bit_string_bytes));
            let point = point.ok_or(SpkiError::NoPublicKey)?;
            Ok(der::spki(&der::algorithm_ec(curve.whole), point))
        }
        oid::ED25519 => {
            let seed =
                der::whole(private.content, tag::OCTET_STRING).ok_or(bad("Ed25519 private key"))?;
            let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(seed.content)
                .map_err(|_| bad("Ed25519 private key"))?;
            let public = ring::signature::KeyPair::public_key(&pair);
            Ok(der::spki(
                &der::algorithm_bare(oid::ED25519),
                public.as_ref(),
            ))
        }
        other => Err(SpkiError::UnknownKeyType(oid_text(other))),
    }
}

/// SEC1 `ECPrivateKey` (RFC 5915, OpenSSL's `EC PRIVATE KEY`) → SPKI DER.
/// It must name its curve (`[0]`) and hold its public key (`[1]`).
pub(crate) fn sec1_to_spki(input: &[u8]) -> Result<Vec<u8>, SpkiError> {
    let key = der::whole(input, tag::SEQUENCE).ok_or(bad("SEC1: not a SEQUENCE"))?;
    let curve = context(key.content, tag::CONTEXT_0)
        .and_then(|c| der::whole(c, tag::OID))
        .ok_or(bad("SEC1 key without its curve"))?;
    let point = sec1_public(input)?.ok_or(SpkiError::NoPublicKey)?;
    Ok(der::spki(&der::algorithm_ec(curve.whole), point))
}

/// PKCS#1 `RSAPrivateKey` → SPKI DER.
pub(crate) fn pkcs1_private_to_spki(input: &[u8]) -> Result<Vec<u8>, SpkiError> {
    let public = rsa_public_of_private(input)?;
    Ok(der::spki(&der::algorithm_with_null(oid::RSA), &public))
}

/// PKCS#1 `RSAPublicKey` → SPKI DER.
pub(crate) fn pkcs1_public_to_spki(input: &[u8]) -> Result<Vec<u8>, SpkiError> {
    let key = der::whole(input, tag::SEQUENCE).ok_or(bad("RSA public key: not a SEQUENCE"))?;
    let (_n, rest) = der::expect(key.content, tag::INTEGER).ok_or(bad("RSA modulus"))?;
    let (_e, rest) = der::expect(rest, tag::INTEGER).ok_or(bad("RSA exponent"))?;
    if !rest.is_empty() {
        return Err(bad("RSA public key: trailing fields"));
    }
    Ok(der::spki(&der::algorithm_with_null(oid::RSA), input))
}

/// `RSAPublicKey { n, e }` from `RSAPrivateKey { version, n, e, d, … }`.
fn rsa_public_of_private(input: &[u8]) -> Result<Vec<u8>, SpkiError> {
    let key = der::whole(input, tag::SEQUENCE).ok_or(bad("RSA private key: not a SEQUENCE"))?;
    let (_version, rest) = der::expect(key.content, tag::INTEGER).ok_or(bad("RSA version"))?;
    let (n, rest) = der::expect(rest, tag::INTEGER).ok_or(bad("RSA modulus"))?;
    let (e, rest) = der::expect(rest, tag::INTEGER).ok_or(bad("RSA exponent"))?;
    // d, p, q, dp, dq, qinv must be there too, or it is no private key.
    let mut rest = rest;
    for _ in 0..6 {
        rest = der::expect(rest, tag::INTEGER)
            .ok_or(bad("RSA private key: missing fields"))?
            .1;
    }
    let mut content = n.whole.to_vec();
    content.extend_from_slice(e.whole);
    Ok(der::encode(tag::SEQUENCE, &content))
}

/// The public point of a SEC1 `ECPrivateKey`, if it holds one.
fn sec1_public(input: &[u8]) -> Result<Option<&[u8]>, SpkiError> {
    let key = der::whole(input, tag::SEQUENCE).ok_or(bad("EC private key: not a SEQUENCE"))?;
    let (_version, rest) = der::expect(key.content, tag::INTEGER).ok_or(bad("EC version"))?;
    let (_d, _) = der::expect(rest, tag::OCTET_STRING).ok_or(bad("EC private scalar"))?;
    Ok(context(key.content, tag::CONTEXT_1)
        .and_then(|c| der::whole(c, tag::BIT_STRING))
        .and_then(|b| bit_string_bytes(b.content)))
}

/// The content of the first `[n]` EXPLICIT field among `fields`.
fn context(fields: &[u8], want: u8) -> Option<&[u8]> {
    let mut rest = fields;
    while let Some((t, after)) = der::read(rest) {
        if t.tag == want {
            return Some(t.content);
        }
        rest = after;
    }
    None
}

/// A BIT STRING's bytes when it has no unused bits.
fn bit_string_bytes(content: &[u8]) -> Option<&[u8]> {
    match content.split_first() {
        Some((0, bits)) if !bits.is_empty() => Some(bits),
        _ => None,
    }
}

/// Dotted form of an OID's DER content, for error messages.
pub(crate) fn oid_text(content: &[u8]) -> String {
    let mut parts: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    for &b in content {
        value = (value << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if parts.is_empty() {
                let first = (value / 40).min(2);
                parts.push(first);
                parts.push(value - first * 40);
            } else {
                parts.push(value);
            }
            value = 0;
        }
        if parts.len() > 32 {
            break;
        }
    }
    parts
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}
