//! The installation public key: the token's `ipk` claim, base64 of a DER
//! SubjectPublicKeyInfo holding a P-256 point. Parsed once per verified
//! token (it belongs in the verified-token cache entry), used per request.

use std::fmt;

use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};

use crate::jose::b64;

/// The fixed DER prefix of a P-256 SubjectPublicKeyInfo with an
/// uncompressed point: SEQUENCE(89) { SEQUENCE(19) { OID id-ecPublicKey,
/// OID prime256v1 }, BIT STRING(66) 0x00 } — followed by the 65-byte point.
const SPKI_P256_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
/// Longest `ipk` text we decode (a P-256 SPKI is 124 base64 characters; an
/// RSA key, refused as not P-256, ~400).
const MAX_IPK_CHARS: usize = 1024;

/// Why an `ipk` claim is not a usable installation key. Never holds the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IpkError {
    /// Empty, too long, or not base64.
    #[error("ipk is not base64")]
    Encoding,
    /// Not a DER SubjectPublicKeyInfo of an uncompressed P-256 key (another
    /// curve, RSA, a compressed point, trailing bytes, ...).
    #[error("ipk is not a P-256 SubjectPublicKeyInfo")]
    NotP256,
}

/// A parsed installation public key (P-256). Cheap to clone; its `Debug`
/// shows a short fingerprint only.
#[derive(Clone, PartialEq, Eq)]
pub struct InstallKey {
    /// `04 || x || y`
    point: [u8; 65],
}

impl InstallKey {
    /// Parses the `ipk` claim: base64 (standard or url alphabet, padding
    /// optional) of the DER SubjectPublicKeyInfo. The point's presence on
    /// the curve is checked by ring on each verification (a point off the
    /// curve verifies nothing).
    pub fn from_ipk(ipk: &str) -> Result<InstallKey, IpkError> {
        if ipk.len() > MAX_IPK_CHARS {
            return Err(IpkError::Encoding);
        }
        let der = b64::decode_lenient(ipk).map_err(|_| IpkError::Encoding)?;
        InstallKey::from_spki_der(&der)
    }

    /// Parses a DER SubjectPublicKeyInfo.
    pub fn from_spki_der(der: &[u8]) -> Result<InstallKey, IpkError> {
        let point = der
            .strip_prefix(&SPKI_P256_PREFIX[..])
            .ok_or(IpkError::NotP256)?;
        let point: [u8; 65] = point.try_into().map_err(|_| IpkError::NotP256)?;
        if point[0] != 0x04 {
            return Err(IpkError::NotP256);
        }
        Ok(InstallKey { point })
    }

    /// The key from a token's claims: `None` without an `ipk` claim, an
    /// error when it is present but unusable (or not a string).
    pub fn from_claims(
        claims: &serde_json::Map<String, serde_json::Value>,
    ) -> Option<Result<InstallKey, IpkError>> {
        claims.get("ipk").map(|v| match v.as_str() {
            Some(text) => InstallKey::from_ipk(text),
            None => Err(IpkError::Encoding),
        })
    }

    /// Verifies a raw (IEEE P1363, `r || s`, 64 bytes) ECDSA P-256 SHA-256
    /// signature over `message`.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &self.point[..])
            .verify(message, signature)
            .is_ok()
    }

    /// The uncompressed point `04 || x || y`.
    pub fn point(&self) -> &[u8; 65] {
        &self.point
    }
}

impl fmt::Debug for InstallKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = ring::digest::digest(&ring::digest::SHA256, &self.point);
        let fp: String = d.as_ref()[..6].iter().map(|b| format!("{b:02x}")).collect();
        write!(f, "InstallKey(p256:{fp})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    /// The test key of Approov's ASP.NET quickstart.
    const APPROOV_IPK: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEJSm4DMcivAwvhM+KNce2C/X26cj3oGyUwWVUPuNuZHtd2qyVsM+0g7qX73Qh0Of6fn10AApLnl8vRQsvx94fZQ==";

    #[test]
    fn parses_approov_test_ipk_in_every_base64_flavour() {
        let key = InstallKey::from_ipk(APPROOV_IPK).unwrap();
        assert_eq!(key.point()[0], 4);
        let der = base64::engine::general_purpose::STANDARD
            .decode(APPROOV_IPK)
            .unwrap();
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&der);
        assert_eq!(InstallKey::from_ipk(&url).unwrap(), key);
        assert_eq!(
            InstallKey::from_ipk(APPROOV_IPK.trim_end_matches('=')).unwrap(),
            key
        );
        assert!(!format!("{key:?}").contains("MFkw"));
    }

    #[test]
    fn refuses_what_is_not_a_p256_spki() {
        let der = base64::engine::general_purpose::STANDARD
            .decode(APPROOV_IPK)
            .unwrap();
        let enc = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let mut compressed = der[..SPKI_P256_PREFIX.len()].to_vec();
        compressed[1] = 0x39;
        compressed.push(0x02);
        compressed.extend_from_slice(&der[27..59]);
        let mut secp256k1 = der.clone();
        secp256k1[17..23].copy_from_slice(&[0x2b, 0x81, 0x04, 0x00, 0x0a, 0x00]);
        let mut hybrid = der.clone();
        hybrid[26] = 0x06;
        let cases: Vec<(&str, String, IpkError)> = vec![
            ("empty", String::new(), IpkError::Encoding),
            ("blank", "   ".into(), IpkError::Encoding),
            ("not base64", "not*base64!".into(), IpkError::Encoding),
            ("mixed alphabets", "ab+_cd".into(), IpkError::Encoding),
            ("huge", "A".repeat(10_000), IpkError::Encoding),
            (
                "garbage bytes",
                enc(b"hello world, not a key"),
                IpkError::NotP256,
            ),
            ("truncated", enc(&der[..90]), IpkError::NotP256),
            (
                "trailing byte",
                enc(&[&der[..], &[0]].concat()),
                IpkError::NotP256,
            ),
            ("raw point only", enc(&der[26..]), IpkError::NotP256),
            ("compressed point", enc(&compressed), IpkError::NotP256),
            ("hybrid point tag", enc(&hybrid), IpkError::NotP256),
            ("other curve OID", enc(&secp256k1), IpkError::NotP256),
            ("rsa spki", enc(&rsa_spki()), IpkError::NotP256),
        ];
        for (name, ipk, want) in cases {
            assert_eq!(InstallKey::from_ipk(&ipk), Err(want), "{name}");
        }
    }

    #[test]
    fn claims_lookup() {
        let claims = |v: serde_json::Value| v.as_object().unwrap().clone();
        assert!(InstallKey::from_claims(&claims(serde_json::json!({"did": "x"}))).is_none());
        assert!(matches!(
            InstallKey::from_claims(&claims(serde_json::json!({"ipk": APPROOV_IPK}))),
            Some(Ok(_))
        ));
        assert_eq!(
            InstallKey::from_claims(&claims(serde_json::json!({"ipk": 42}))),
            Some(Err(IpkError::Encoding))
        );
    }

    /// A real RSA-2048 SubjectPublicKeyInfo, from the repo's PEM fixture.
    fn rsa_spki() -> Vec<u8> {
        let pem = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/rsa2048.pem"
        ))
        .unwrap();
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let pkcs8 = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let pair = ring::rsa::KeyPair::from_pkcs8(&pkcs8).unwrap();
        // SPKI = SEQUENCE { AlgorithmIdentifier rsaEncryption NULL, BIT STRING { RSAPublicKey } }
        let rsa_pub = ring::signature::KeyPair::public_key(&pair)
            .as_ref()
            .to_vec();
        let alg = [
            0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05,
            0x00,
        ];
        let mut bits = vec![0x00];
        bits.extend_from_slice(&rsa_pub);
        let bit_string = der_tlv(0x03, &bits);
        der_tlv(0x30, &[&alg[..], &bit_string].concat())
    }

    fn der_tlv(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let n = body.len();
        if n < 128 {
            out.push(n as u8);
        } else if n < 256 {
            out.extend([0x81, n as u8]);
        } else {
            out.extend([0x82, (n >> 8) as u8, n as u8]);
        }
        out.extend_from_slice(body);
        out
    }
}
