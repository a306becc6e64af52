//! Step 1: finding the token in the request headers (and, where the
//! policy names one, a query parameter).

use std::borrow::Cow;

use http::Uri;
use http::header::{HeaderMap, HeaderName};

use crate::reason::Reason;

/// Where the token is and how it is written.
#[derive(Clone, Debug)]
pub(crate) struct Extractor {
    pub(crate) header: HeaderName,
    /// Stripped before the token (ASCII case-insensitive, like an HTTP auth
    /// scheme), e.g. `Bearer `. Empty for none.
    pub(crate) prefix: Box<str>,
    pub(crate) max_token_bytes: usize,
    /// A query parameter that may carry the token instead of the header.
    pub(crate) query_param: Option<Box<str>>,
}

/// Whether `value` is an Approov SDK status word (`NO_NETWORK`,
/// `MITM_DETECTED`, ...) sent instead of a token: upper-case letters and `_`.
fn is_sdk_status(value: &[u8]) -> bool {
    !value.is_empty() && value.iter().all(|b| b.is_ascii_uppercase() || *b == b'_')
}

/// Visible ASCII only (no space, tab, control or obs-text byte), and no
/// comma (a comma means a proxy joined two values).
///
/// Branch-free over the whole value so that it vectorises: every request
/// pays this on its ~250-byte token, an early-exit loop cost ~70 ns.
fn is_token_text(bytes: &[u8]) -> bool {
    bytes.iter().fold(true, |ok, &b| {
        ok & (b.wrapping_sub(0x21) < 0x7f - 0x21) & (b != b',')
    })
}

impl Extractor {
    /// The token from the header or, if configured, the query parameter of
    /// `uri` (percent-decoded). Both present, or the parameter repeated:
    /// `malformed`. The parameter's value obeys the header's rules (no
    /// prefix). Bytes, like [`Extractor::extract`]'s.
    pub(crate) fn extract_request<'h>(
        &self,
        headers: &'h HeaderMap,
        uri: &'h Uri,
    ) -> Result<Cow<'h, [u8]>, Reason> {
        let from_header = self.extract(headers);
        let Some(name) = self.query_param.as_deref() else {
            return from_header.map(Cow::Borrowed);
        };
        let from_query = match uri.query() {
            Some(q) => crate::canonical::query::value(q, name).map_err(|_| Reason::Malformed)?,
            None => None,
        };
        match (from_header, from_query) {
            (Err(Reason::Missing), None) => Err(Reason::Missing),
            (Err(Reason::Missing), Some(v)) => {
                if v.is_empty() {
                    return Err(Reason::Missing);
                }
                if v.len() > self.max_token_bytes {
                    return Err(Reason::Malformed);
                }
                if is_sdk_status(v.as_bytes()) {
                    return Err(Reason::SdkStatus);
                }
                if !is_token_text(v.as_bytes()) {
                    return Err(Reason::Malformed);
                }
                Ok(match v {
                    Cow::Borrowed(v) => Cow::Borrowed(v.as_bytes()),
                    Cow::Owned(v) => Cow::Owned(v.into_bytes()),
                })
            }
            // A header and a parameter: two tokens, which is confusion.
            (_, Some(_)) => Err(Reason::Malformed),
            (r, None) => r.map(Cow::Borrowed),
        }
    }

    /// Returns the token text, or why there is none.
    ///
    /// Missing or empty header: `missing`. Repeated header, a comma in the
    /// value (a proxy joined two headers), bytes outside visible ASCII, a
    /// missing prefix, an oversize value: `malformed`. A status word:
    /// `sdk_status`.
    ///
    /// The text is returned as bytes, all visible ASCII: a cached token is
    /// found by its bytes, and only a token that must be verified is read
    /// as a `str` (validating UTF-8 again cost ~240 instructions a
    /// request, a third of the extraction; docs/PERFORMANCE.md).
    pub(crate) fn extract<'h>(&self, headers: &'h HeaderMap) -> Result<&'h [u8], Reason> {
        let mut all = headers.get_all(&self.header).iter();
        let Some(value) = all.next() else {
            return Err(Reason::Missing);
        };
        if all.next().is_some() {
            return Err(Reason::Malformed);
        }
        let mut bytes = value.as_bytes();
        if bytes.is_empty() {
            return Err(Reason::Missing);
        }
        if bytes.len() > self.max_token_bytes + self.prefix.len() {
            return Err(Reason::Malformed);
        }
        if !self.prefix.is_empty() {
            let p = self.prefix.as_bytes();
            match bytes.get(..p.len()) {
                Some(head) if head.eq_ignore_ascii_case(p) => bytes = &bytes[p.len()..],
                _ => return Err(Reason::Malformed),
            }
            bytes = bytes.trim_ascii_start();
            if bytes.is_empty() {
                return Err(Reason::Missing);
            }
        }
        if is_sdk_status(bytes) {
            return Err(Reason::SdkStatus);
        }
        if !is_token_text(bytes) {
            return Err(Reason::Malformed);
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn ex(prefix: &str) -> Extractor {
        Extractor {
            header: HeaderName::from_static("approov-token"),
            prefix: prefix.into(),
            max_token_bytes: 64,
            query_param: None,
        }
    }

    #[test]
    fn a_query_parameter_is_a_second_source_never_a_second_token() {
        let e = Extractor {
            query_param: Some("approov-token".into()),
            ..ex("")
        };
        let uri = |q: &str| Uri::try_from(format!("/ws?{q}")).unwrap();
        let none = HeaderMap::new();
        let get = |h: &HeaderMap, q: &str| {
            e.extract_request(h, &uri(q))
                .map(|c| String::from_utf8(c.into_owned()).unwrap())
        };
        assert_eq!(
            get(&none, "approov-token=a.b.c&x=1"),
            Ok("a.b.c".to_owned())
        );
        assert_eq!(
            get(&none, "approov%2Dtoken=a%2Eb.c"),
            Ok("a.b.c".to_owned())
        );
        assert_eq!(get(&none, "x=1"), Err(Reason::Missing));
        assert_eq!(get(&none, "approov-token="), Err(Reason::Missing));
        assert_eq!(
            get(&none, "approov-token=NO_NETWORK"),
            Err(Reason::SdkStatus)
        );
        assert_eq!(get(&none, "approov-token=a+b"), Err(Reason::Malformed));
        assert_eq!(
            get(&none, "approov-token=a&approov-token=b"),
            Err(Reason::Malformed)
        );
        assert_eq!(get(&none, "approov-token=%zz"), Err(Reason::Malformed));
        let both = headers(&[b"a.b.c"]);
        assert_eq!(get(&both, "approov-token=a.b.c"), Err(Reason::Malformed));
        assert_eq!(get(&both, "x=1"), Ok("a.b.c".to_owned()));
        let long = format!("approov-token={}", "a".repeat(65));
        assert_eq!(get(&none, &long), Err(Reason::Malformed));
    }

    fn headers(values: &[&[u8]]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("approov-token", HeaderValue::from_bytes(v).unwrap());
        }
        h
    }

    #[test]
    fn token_text_is_visible_ascii_without_comma() {
        for b in 0u8..=255 {
            let want = (0x21..0x7f).contains(&b) && b != b',';
            assert_eq!(is_token_text(&[b'a', b, b'a']), want, "{b:#04x}");
            assert_eq!(is_token_text(&[b; 300]), want, "{b:#04x} x300");
        }
        assert!(is_token_text(b""));
    }

    #[test]
    fn table() {
        let cases: &[(&str, &[&[u8]], Result<&str, Reason>)] = &[
            ("", &[b"a.b.c"], Ok("a.b.c")),
            ("", &[], Err(Reason::Missing)),
            ("", &[b""], Err(Reason::Missing)),
            ("", &[b"a.b.c", b"a.b.c"], Err(Reason::Malformed)),
            ("", &[b"a.b.c, d.e.f"], Err(Reason::Malformed)),
            ("", &[b"a.b.c,d.e.f"], Err(Reason::Malformed)),
            ("", &[b"NO_NETWORK"], Err(Reason::SdkStatus)),
            ("", &[b"MITM_DETECTED"], Err(Reason::SdkStatus)),
            ("", &[b"UNKNOWN_URL"], Err(Reason::SdkStatus)),
            ("", &[b"NO.NETWORK"], Ok("NO.NETWORK")),
            ("", &[b"a.b \tc"], Err(Reason::Malformed)),
            ("", &[b"a.b.\xffc"], Err(Reason::Malformed)),
            ("", &[&[b'a'; 65]], Err(Reason::Malformed)),
            (
                "",
                &[&[b'a'; 64]],
                Ok(std::str::from_utf8(&[b'a'; 64]).unwrap()),
            ),
            ("Bearer ", &[b"Bearer a.b.c"], Ok("a.b.c")),
            ("Bearer ", &[b"bearer a.b.c"], Ok("a.b.c")),
            ("Bearer ", &[b"a.b.c"], Err(Reason::Malformed)),
            ("Bearer ", &[b"Bearer NO_NETWORK"], Err(Reason::SdkStatus)),
            ("Bearer ", &[b"Bearer"], Err(Reason::Malformed)),
        ];
        for (prefix, values, want) in cases {
            assert_eq!(
                ex(prefix).extract(&headers(values)),
                want.map(str::as_bytes),
                "{prefix:?} {values:?}"
            );
        }
    }
}
