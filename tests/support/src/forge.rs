//! Forging tokens byte by byte: what an attacker (or a buggy issuer) sends.
//!
//! [`crate::tokens`] mints well-formed tokens; this module builds the rest:
//! segments signed exactly as given (padded, non-canonical, other alphabet),
//! HMAC keyed with arbitrary bytes (a public key's PEM, DER or JWK text),
//! HS512, raw headers and payloads that are not JSON, and the public-key
//! encodings (SPKI DER, PEM) an algorithm-confusion attacker would use.

use attestgate::mint::SigningKey;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::Value;

/// Unpadded base64url, as JWS segments are written.
pub fn b64url(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes unpadded base64url (panics on bad input: test data only).
pub fn unb64url(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).unwrap()
}

/// The three segments of a compact JWS (panics unless there are three).
pub fn segments(token: &str) -> (String, String, String) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "not three segments");
    (
        parts[0].to_owned(),
        parts[1].to_owned(),
        parts[2].to_owned(),
    )
}

/// HMAC-SHA256 of `message` keyed with any bytes.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    ring::hmac::sign(&key, message).as_ref().to_vec()
}

/// HMAC-SHA512 of `message` keyed with any bytes.
pub fn hmac_sha512(key: &[u8], message: &[u8]) -> Vec<u8> {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA512, key);
    ring::hmac::sign(&key, message).as_ref().to_vec()
}

/// `h64.p64.` followed by the HMAC-SHA256 (keyed with `key`) of exactly the
/// text `h64.p64`, whatever that text is.
pub fn hmac_text(key: &[u8], h64: &str, p64: &str) -> String {
    let input = format!("{h64}.{p64}");
    let sig = hmac_sha256(key, input.as_bytes());
    format!("{input}.{}", b64url(sig))
}

/// Signs exactly the text `h64.p64` with `key` (any algorithm).
pub fn sign_text(key: &SigningKey, h64: &str, p64: &str) -> String {
    let input = format!("{h64}.{p64}");
    let sig = key.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", b64url(sig))
}

/// A token over raw header and payload bytes, HMAC-SHA256 keyed with `key`.
pub fn hmac_raw(key: &[u8], header: &[u8], payload: &[u8]) -> String {
    hmac_text(key, &b64url(header), &b64url(payload))
}

/// The raw bytes of a base64 account secret (any spelling).
pub fn secret_bytes(secret_b64: &str) -> Vec<u8> {
    STANDARD.decode(secret_b64.trim()).unwrap()
}

/// A header map from pairs, in order (a repeated name is appended).
pub fn header_map(pairs: &[(&str, &str)]) -> ::http::HeaderMap {
    let mut map = ::http::HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            ::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            ::http::HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

fn der_len(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
}

fn der(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    der_len(body.len(), &mut out);
    out.extend_from_slice(body);
    out
}

fn der_uint(be: &[u8]) -> Vec<u8> {
    let mut body: Vec<u8> = be.iter().copied().skip_while(|b| *b == 0).collect();
    if body.first().is_none_or(|b| b & 0x80 != 0) {
        body.insert(0, 0);
    }
    der(0x02, &body)
}

fn bit_string(bytes: &[u8]) -> Vec<u8> {
    let mut body = vec![0u8];
    body.extend_from_slice(bytes);
    der(0x03, &body)
}

/// DER `SubjectPublicKeyInfo` of an uncompressed P-256 point.
pub fn ec_p256_spki_der(point: &[u8]) -> Vec<u8> {
    // SEQUENCE { OID id-ecPublicKey, OID prime256v1 }
    let alg = hex("301306072a8648ce3d020106082a8648ce3d030107");
    let mut body = alg;
    body.extend(bit_string(point));
    der(0x30, &body)
}

/// DER PKCS#1 `RSAPublicKey` (`BEGIN RSA PUBLIC KEY`).
pub fn rsa_pkcs1_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    let mut body = der_uint(n);
    body.extend(der_uint(e));
    der(0x30, &body)
}

/// DER `SubjectPublicKeyInfo` of an RSA key (`BEGIN PUBLIC KEY`).
pub fn rsa_spki_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    // SEQUENCE { OID rsaEncryption, NULL }
    let mut body = hex("300d06092a864886f70d0101010500");
    body.extend(bit_string(&rsa_pkcs1_der(n, e)));
    der(0x30, &body)
}

/// PEM text with 64-character lines and a trailing newline, as openssl
/// writes it.
pub fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// An ECDSA `r || s` signature (64 bytes) as ASN.1 DER.
pub fn ecdsa_p1363_to_der(sig: &[u8]) -> Vec<u8> {
    assert_eq!(sig.len(), 64);
    let mut body = der_uint(&sig[..32]);
    body.extend(der_uint(&sig[32..]));
    der(0x30, &body)
}

/// Every byte string an algorithm-confusion attacker might use as the
/// "HMAC secret" for a published public key: the PEM text (with and
/// without the trailing newline, SPKI and PKCS#1 for RSA), the DER, the raw
/// key bytes, and the JWK as JSON text. `jwk` is one key of a JWKS.
pub fn public_key_spellings(jwk: &Value) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let field = |name: &str| unb64url(jwk[name].as_str().unwrap());
    let ders: Vec<(&str, &str, Vec<u8>)> = match jwk["kty"].as_str().unwrap() {
        "EC" => {
            let mut point = vec![4u8];
            point.extend(field("x"));
            point.extend(field("y"));
            out.push(("raw point".to_owned(), point.clone()));
            vec![("SPKI", "PUBLIC KEY", ec_p256_spki_der(&point))]
        }
        "RSA" => {
            let (n, e) = (field("n"), field("e"));
            out.push(("raw modulus".to_owned(), n.clone()));
            vec![
                ("SPKI", "PUBLIC KEY", rsa_spki_der(&n, &e)),
                ("PKCS#1", "RSA PUBLIC KEY", rsa_pkcs1_der(&n, &e)),
            ]
        }
        "OKP" => {
            let x = field("x");
            out.push(("raw key".to_owned(), x.clone()));
            // SEQUENCE { SEQUENCE { OID 1.3.101.112 }, BIT STRING x }
            let mut body = hex("300506032b6570");
            body.extend(bit_string(&x));
            vec![("SPKI", "PUBLIC KEY", der(0x30, &body))]
        }
        other => panic!("no public key spellings for kty {other}"),
    };
    for (what, label, der_bytes) in ders {
        let text = pem(label, &der_bytes);
        out.push((format!("{what} PEM"), text.clone().into_bytes()));
        out.push((
            format!("{what} PEM without final newline"),
            text.trim_end().as_bytes().to_vec(),
        ));
        out.push((format!("{what} DER"), der_bytes));
    }
    out.push(("JWK JSON".to_owned(), jwk.to_string().into_bytes()));
    let mut public_only = jwk.clone();
    if let Some(obj) = public_only.as_object_mut() {
        obj.retain(|k, _| matches!(k.as_str(), "kty" | "crv" | "x" | "y" | "n" | "e"));
    }
    out.push((
        "JWK JSON, key members only".to_owned(),
        public_only.to_string().into_bytes(),
    ));
    out
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}
