//! `Content-Digest` (RFC 9530): the body against the digests the client
//! sent, sha-256 and sha-512.
//!
//! Two forms of the value are accepted, as Approov's test script sends
//! both: the RFC's byte sequence, `sha-256=:BASE64:`, and Approov's
//! "string form", `sha-256="BASE64"` (an sf-string holding the base64 of
//! the digest). Every algorithm listed must be one we compute and must
//! match; an unknown algorithm is refused rather than skipped, so a
//! digest we cannot check never stands for the body.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::digest;
use subtle::ConstantTimeEq;

use super::error::SignatureError;
use super::structured::{self, BareItem, Member};

/// The digest algorithms of RFC 9530 we check.
const ALGORITHMS: [(&str, &digest::Algorithm); 2] =
    [("sha-256", &digest::SHA256), ("sha-512", &digest::SHA512)];

/// Checks `body` against a `Content-Digest` value (the header's values
/// joined with `, `).
pub(crate) fn check(header: &str, body: &[u8]) -> Result<(), SignatureError> {
    let dict = structured::parse_dictionary(header).map_err(|_| SignatureError::DigestSyntax)?;
    if dict.is_empty() {
        return Err(SignatureError::DigestSyntax);
    }
    for (name, member) in &dict {
        let Some((_, alg)) = ALGORITHMS.iter().find(|(n, _)| n == name) else {
            return Err(SignatureError::DigestSyntax);
        };
        let Member::Item(item) = member else {
            return Err(SignatureError::DigestSyntax);
        };
        let sent = match &item.bare {
            BareItem::Bytes(b) => b.clone(),
            BareItem::String(s) => STANDARD
                .decode(s)
                .map_err(|_| SignatureError::DigestSyntax)?,
            _ => return Err(SignatureError::DigestSyntax),
        };
        if sent.len() != alg.output_len() {
            return Err(SignatureError::DigestSyntax);
        }
        let actual = digest::digest(alg, body);
        if !bool::from(actual.as_ref().ct_eq(&sent)) {
            return Err(SignatureError::DigestMismatch);
        }
    }
    Ok(())
}

/// The `Content-Digest` value of `body` for `alg` (`"sha-256"` or
/// `"sha-512"`), in byte-sequence form, as a client sends it.
pub fn content_digest(alg: &str, body: &[u8]) -> Option<String> {
    let (_, a) = ALGORITHMS.iter().find(|(n, _)| *n == alg)?;
    Some(format!(
        "{alg}=:{}:",
        STANDARD.encode(digest::digest(a, body).as_ref())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"My test message body";

    fn b64(alg: &'static digest::Algorithm, body: &[u8]) -> String {
        STANDARD.encode(digest::digest(alg, body).as_ref())
    }

    #[test]
    fn both_forms_and_both_algorithms_pass() {
        let s256 = b64(&digest::SHA256, BODY);
        let s512 = b64(&digest::SHA512, BODY);
        for header in [
            format!("sha-256=:{s256}:"),
            format!("sha-256=\"{s256}\""),
            format!("sha-512=:{s512}:"),
            format!("sha-512=\"{s512}\""),
            format!("sha-256=:{s256}:, sha-512=:{s512}:"),
            format!("sha-512=:{s512}:,sha-256=\"{s256}\""),
            content_digest("sha-256", BODY).unwrap(),
        ] {
            assert_eq!(check(&header, BODY), Ok(()), "{header}");
        }
        let empty = b64(&digest::SHA256, b"");
        assert_eq!(check(&format!("sha-256=:{empty}:"), b""), Ok(()));
    }

    #[test]
    fn mismatches_and_malformed_values_are_refused() {
        let s256 = b64(&digest::SHA256, BODY);
        let s512 = b64(&digest::SHA512, BODY);
        let other = b64(&digest::SHA256, b"My test message bodY");
        use SignatureError::{DigestMismatch as M, DigestSyntax as S};
        let cases: Vec<(String, SignatureError)> = vec![
            (format!("sha-256=:{other}:"), M),
            (format!("sha-256=\"{other}\""), M),
            // one good, one bad: every digest must match
            (
                format!("sha-256=:{s256}:, sha-512=:{}:", b64(&digest::SHA512, b"x")),
                M,
            ),
            // the sha-256 value under the sha-512 name: wrong length
            (format!("sha-512=:{s256}:"), S),
            (format!("sha-256=:{s512}:"), S),
            (format!("md5=:{s256}:"), S),
            (format!("sha=:{s256}:"), S),
            (format!("sha-256=:{s256}:, unixsum=:AAAA:"), S),
            (format!("SHA-256=:{s256}:"), S),
            (format!("sha-256={s256}"), S),
            ("sha-256".into(), S),
            ("sha-256=?1".into(), S),
            ("sha-256=42".into(), S),
            ("sha-256=(:AAAA:)".into(), S),
            ("sha-256=\"not base64!\"".into(), S),
            ("sha-256=:not base64!:".into(), S),
            (format!("sha-256=\":{s256}:\""), S),
            (format!("sha-256=:{s256}:, sha-256=:{s256}:"), S),
            ("".into(), S),
            (",".into(), S),
            (format!("sha-256=:{s256}:,"), S),
            (format!("sha-256=:{s256}: garbage"), S),
            (format!("sha-256=:{s256}:é"), S),
        ];
        for (header, want) in cases {
            assert_eq!(check(&header, BODY), Err(want), "{header}");
        }
        // one body byte changed
        let mut changed = BODY.to_vec();
        changed[3] ^= 1;
        assert_eq!(check(&format!("sha-256=:{s256}:"), &changed), Err(M));
        assert_eq!(check(&format!("sha-256=:{s256}:"), b""), Err(M));
    }
}
