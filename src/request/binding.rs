//! Step 3: token binding. Approov puts in `pay` the base64 of SHA-256 over
//! the values of the binding headers (trimmed, concatenated in order); the
//! request must carry exactly those values.

use http::header::{HeaderMap, HeaderName};
use ring::digest;
use subtle::ConstantTimeEq;

use crate::jose::b64;
use crate::reason::Reason;
use crate::token::{Inner, Pay};

/// The binding rule of a verifier.
#[derive(Clone, Debug, Default)]
pub(crate) struct Binding {
    pub(crate) headers: Box<[HeaderName]>,
    pub(crate) allow_missing_pay: bool,
}

/// The `pay` claim for these binding values: base64 (standard alphabet, with
/// padding, as Approov writes it) of SHA-256 over the trimmed values,
/// concatenated in order.
pub fn pay_claim<V: AsRef<[u8]>>(values: &[V]) -> String {
    use base64::Engine;
    b64::STANDARD.encode(pay_hash(values.iter().map(AsRef::as_ref)))
}

fn pay_hash<'a>(values: impl Iterator<Item = &'a [u8]>) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for v in values {
        ctx.update(v.trim_ascii());
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// Decodes a `pay` claim into its hash (either base64 alphabet, padding
/// optional); `None` when it is not 32 bytes of base64.
pub(crate) fn decode_pay(pay: &str) -> Option<[u8; 32]> {
    // Approov writes standard base64 with padding: decode that on the
    // stack, without the lenient path's allocation and alphabet scans.
    if pay.len() == 44 {
        use base64::Engine;
        // decode_slice wants room for the estimate (33 bytes for 44 chars).
        let mut buf = [0u8; 33];
        if let Ok(32) = b64::STANDARD.decode_slice(pay, &mut buf) {
            let mut out = [0u8; 32];
            out.copy_from_slice(&buf[..32]);
            return Some(out);
        }
    }
    let bytes = b64::decode_lenient(pay).ok()?;
    bytes.as_slice().try_into().ok()
}

impl Binding {
    pub(crate) fn is_active(&self) -> bool {
        !self.headers.is_empty()
    }

    /// Checks `token`'s `pay` against the binding headers of the request.
    pub(crate) fn check_headers(&self, headers: &HeaderMap, token: &Inner) -> Result<(), Reason> {
        if !self.is_active() {
            return Ok(());
        }
        let Some(want) = self.wanted(token)? else {
            return Ok(());
        };
        let mut ctx = digest::Context::new(&digest::SHA256);
        for name in self.headers.iter() {
            let mut values = headers.get_all(name).iter();
            let (Some(value), None) = (values.next(), values.next()) else {
                // missing or repeated
                return Err(Reason::Binding);
            };
            ctx.update(value.as_bytes().trim_ascii());
        }
        compare(&want, ctx.finish().as_ref())
    }

    /// Checks `token`'s `pay` against binding values given directly (the
    /// `token verify --bind` command).
    pub(crate) fn check_values(&self, values: &[&[u8]], token: &Inner) -> Result<(), Reason> {
        if values.is_empty() && !self.is_active() {
            return Ok(());
        }
        let Some(want) = self.wanted(token)? else {
            return Ok(());
        };
        compare(&want, &pay_hash(values.iter().copied()))
    }

    /// The hash the token binds to; `None` when the token has no `pay` and
    /// that is allowed.
    fn wanted(&self, token: &Inner) -> Result<Option<[u8; 32]>, Reason> {
        match &token.pay {
            Pay::Absent if self.allow_missing_pay => Ok(None),
            Pay::Hash(hash) => Ok(Some(**hash)),
            Pay::Absent | Pay::Invalid => Err(Reason::Binding),
        }
    }
}

fn compare(want: &[u8; 32], got: &[u8]) -> Result<(), Reason> {
    if bool::from(want.as_slice().ct_eq(got)) {
        Ok(())
    } else {
        Err(Reason::Binding)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pay_claim_matches_a_known_vector() {
        // echo -n "Bearer abc" | openssl dgst -sha256 -binary | base64
        assert_eq!(
            pay_claim(&["Bearer abc"]),
            "w1Xc6WwWEogNEZQP/dkBTThsJT4MNlKmzQanIm970rY="
        );
        // trimming, and concatenation in order
        assert_eq!(pay_claim(&["  Bearer abc \t"]), pay_claim(&["Bearer abc"]));
        assert_eq!(pay_claim(&["Bearer", " abc"]), pay_claim(&["Bearerabc"]));
        assert_ne!(pay_claim(&["a", "b"]), pay_claim(&["b", "a"]));
        assert_eq!(
            decode_pay(&pay_claim(&["x"])),
            Some(pay_hash([&b"x"[..]].into_iter()))
        );
        assert_eq!(decode_pay("AAAA"), None);
    }

    #[test]
    fn decode_pay_takes_every_spelling_of_32_bytes_only() {
        use base64::Engine;
        use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
        let hash = pay_hash([&b"Bearer abc"[..]].into_iter());
        for text in [
            b64::STANDARD.encode(hash),
            STANDARD_NO_PAD.encode(hash),
            URL_SAFE.encode(hash),
            URL_SAFE_NO_PAD.encode(hash),
            format!(" {} ", b64::STANDARD.encode(hash)),
        ] {
            assert_eq!(decode_pay(&text), Some(hash), "{text}");
        }
        for n in [0usize, 31, 33, 48] {
            let bytes = vec![0xabu8; n];
            assert_eq!(decode_pay(&b64::STANDARD.encode(&bytes)), None, "{n} bytes");
        }
        // 44 characters that are not 32 bytes of base64.
        assert_eq!(decode_pay(&"A".repeat(44)), None);
        assert_eq!(decode_pay(&format!("{}==", "A".repeat(42))), None);
        assert_eq!(
            decode_pay(&format!("{}!", &b64::STANDARD.encode(hash)[..43])),
            None
        );
    }
}
