//! The protected header of a compact JWS, parsed strictly.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};

use super::strict::{Seen, Skip, Str, Text, Want};
use crate::reason::Reason;

/// The protected header, as far as we read it.
pub(crate) struct Header<'a> {
    /// `alg`, unparsed (the caller maps unknown names to `algorithm`).
    pub(crate) alg: Cow<'a, str>,
    /// `kid`, if present.
    pub(crate) kid: Option<Cow<'a, str>>,
}

pub(super) struct RawHeader<'de> {
    pub(super) alg: Option<Want<Cow<'de, str>>>,
    pub(super) kid: Option<Want<Cow<'de, str>>>,
    pub(super) typ: Option<Want<Cow<'de, str>>>,
    pub(super) crit: bool,
    /// A member that only a JWE (or an unencoded-payload JWS) carries.
    pub(super) foreign: bool,
}

/// Header members that belong to JWE (RFC 7516 §4.1, RFC 7518 §4.6–4.8) or
/// change how a JWS payload is read (`b64`, RFC 7797). A token carrying one
/// is not the plain JWS we verify: two parsers could disagree on what it is.
const FOREIGN_MEMBERS: [&str; 10] = [
    "enc", "zip", "epk", "apu", "apv", "iv", "tag", "p2s", "p2c", "b64",
];

impl<'de> Deserialize<'de> for RawHeader<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawHeader<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut seen = Seen::new();
                let mut h = RawHeader {
                    alg: None,
                    kid: None,
                    typ: None,
                    crit: false,
                    foreign: false,
                };
                while let Some(Str(name)) = map.next_key::<Str<'de>>()? {
                    match &*name {
                        "alg" => {
                            seen.known(0)?;
                            h.alg = Some(map.next_value::<Text<'de>>()?.0);
                        }
                        "kid" => {
                            seen.known(1)?;
                            h.kid = Some(map.next_value::<Text<'de>>()?.0);
                        }
                        "typ" => {
                            seen.known(2)?;
                            h.typ = Some(map.next_value::<Text<'de>>()?.0);
                        }
                        "crit" => {
                            seen.known(3)?;
                            h.crit = true;
                            map.next_value::<Skip>()?;
                        }
                        _ => {
                            h.foreign |= FOREIGN_MEMBERS.contains(&&*name);
                            seen.other(name)?;
                            map.next_value::<Skip>()?;
                        }
                    }
                }
                Ok(h)
            }
        }
        d.deserialize_map(V)
    }
}

/// Headers recognised by their exact bytes, and their `alg`.
pub(super) const COMMON_HEADERS: [(&[u8], &str); 2] = [
    (br#"{"alg":"HS256","typ":"JWT"}"#, "HS256"),
    (br#"{"typ":"JWT","alg":"HS256"}"#, "HS256"),
];

/// The same common headers as they appear in a token (strict base64url), so
/// the verifier can skip decoding them at all.
const COMMON_HEADERS_B64: [(&str, &str); 2] = [
    ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9", "HS256"),
    ("eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9", "HS256"),
];

/// The header of a token whose header segment is one of the common ones.
pub(crate) fn common_header(segment: &str) -> Option<Header<'static>> {
    COMMON_HEADERS_B64
        .iter()
        .find(|(h, _)| *h == segment)
        .map(|(_, alg)| Header {
            alg: Cow::Borrowed(alg),
            kid: None,
        })
}

/// Parses and checks a decoded protected header.
///
/// Malformed: not a JSON object, duplicate members, `crit` present (we
/// understand no extension, so RFC 7515 §4.1.11 says reject), a JWE-only
/// member or `b64` ([`FOREIGN_MEMBERS`]), `typ` other
/// than `JWT`, `kid` not a string, `alg` missing or not a string.
pub(crate) fn parse_header(bytes: &[u8]) -> Result<Header<'_>, Reason> {
    // Fast path: the header nearly every Approov token carries, by its exact
    // bytes (the full parse gives the same result; a test checks).
    if let Some((_, alg)) = COMMON_HEADERS.iter().find(|(h, _)| *h == bytes) {
        return Ok(Header {
            alg: Cow::Borrowed(alg),
            kid: None,
        });
    }
    // serde_json checks UTF-8 only in strings it reads, not in those it
    // skips: check the whole text first (JSON text is UTF-8, RFC 8259 §8.1).
    let text = std::str::from_utf8(bytes).map_err(|_| Reason::Malformed)?;
    let raw: RawHeader<'_> = serde_json::from_str(text).map_err(|_| Reason::Malformed)?;
    if raw.crit || raw.foreign {
        return Err(Reason::Malformed);
    }
    match raw.typ {
        None => {}
        Some(Want::Ok(t)) if t.eq_ignore_ascii_case("JWT") => {}
        Some(_) => return Err(Reason::Malformed),
    }
    let kid = match raw.kid {
        None => None,
        Some(Want::Ok(k)) => Some(k),
        Some(Want::Wrong) => return Err(Reason::Malformed),
    };
    match raw.alg {
        Some(Want::Ok(alg)) => Ok(Header { alg, kid }),
        _ => Err(Reason::Malformed),
    }
}
