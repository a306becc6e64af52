//! Parsing the two JSON parts of a compact JWS: the protected header and the
//! claims. Both refuse duplicate member names (RFC 7515 §4 / RFC 7519 §4 say a
//! parser must either reject them or take the last; taking any one of two
//! `alg` or `exp` values lets a token mean different things to different
//! parsers, so we reject).
//!
//! The parse borrows from the decoded bytes and allocates nothing for
//! members without escapes. Members we do not know are skipped, but still
//! take part in the duplicate check, must be UTF-8 and obey the nesting
//! limit.

pub mod alg;
pub(crate) mod b64;

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::reason::Reason;

/// A string that borrows from the input when it has no escapes.
struct Str<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Any JSON value, skipped. Unlike serde's `IgnoredAny` (which serde_json
/// skips iteratively, at any depth) this goes through `deserialize_any`, so
/// serde_json's nesting limit (128) applies to members we do not read as it
/// does to the rest: a token is never accepted whose claims
/// [`crate::VerifiedToken::claims`] could not parse.
struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Skip;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
                while seq.next_element::<Skip>()?.is_some() {}
                Ok(Skip)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
                while map.next_entry::<Skip, Skip>()?.is_some() {}
                Ok(Skip)
            }
        }
        d.deserialize_any(V)
    }
}

/// A JSON value of which we only want one kind; any other kind is recorded as
/// `Wrong` (a claims problem), not a syntax error (a malformed token).
enum Want<T> {
    Ok(T),
    Wrong,
}

/// Accepts any JSON value; keeps numbers.
struct Num(Want<f64>);

/// Accepts any JSON value; keeps strings.
struct Text<'de>(Want<Cow<'de, str>>);

/// Accepts any JSON value; keeps a string or an array of strings (`aud`).
struct Audience(Want<Vec<String>>);

macro_rules! wrong_for_other_kinds {
    ($value:ty, $wrong:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<$value, E> {
            Ok($wrong)
        }
        fn visit_unit<E: de::Error>(self) -> Result<$value, E> {
            Ok($wrong)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<$value, A::Error> {
            while map.next_entry::<Skip, Skip>()?.is_some() {}
            Ok($wrong)
        }
    };
}

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Num;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Num, E> {
                Ok(Num(Want::Ok(v as f64)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Num, E> {
                Ok(Num(Want::Ok(v as f64)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Num, E> {
                Ok(Num(if v.is_finite() {
                    Want::Ok(v)
                } else {
                    Want::Wrong
                }))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Num, E> {
                Ok(Num(Want::Wrong))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Num, A::Error> {
                while seq.next_element::<Skip>()?.is_some() {}
                Ok(Num(Want::Wrong))
            }
            wrong_for_other_kinds!(Num, Num(Want::Wrong));
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Want::Ok(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Want::Ok(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Want::Ok(Cow::Owned(v))))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Text(Want::Wrong))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Text(Want::Wrong))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Text(Want::Wrong))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<Skip>()?.is_some() {}
                Ok(Text(Want::Wrong))
            }
            wrong_for_other_kinds!(Text<'de>, Text(Want::Wrong));
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Audience;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Audience, E> {
                Ok(Audience(Want::Ok(vec![v.to_owned()])))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Audience, A::Error> {
                let mut all = Vec::new();
                let mut wrong = false;
                while let Some(Text(item)) = seq.next_element::<Text<'de>>()? {
                    match item {
                        Want::Ok(s) => all.push(s.into_owned()),
                        Want::Wrong => wrong = true,
                    }
                }
                Ok(Audience(if wrong { Want::Wrong } else { Want::Ok(all) }))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Audience, E> {
                Ok(Audience(Want::Wrong))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Audience, E> {
                Ok(Audience(Want::Wrong))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Audience, E> {
                Ok(Audience(Want::Wrong))
            }
            wrong_for_other_kinds!(Audience, Audience(Want::Wrong));
        }
        d.deserialize_any(V)
    }
}

/// Member names seen so far in one object. Small objects (every real token)
/// stay on the stack and compare linearly; a hostile object with many
/// members spills into a hash set so the check stays linear overall.
struct Seen<'de> {
    /// The names the caller knows, one bit each (no string compare).
    known: u32,
    inline: [Option<Cow<'de, str>>; 12],
    len: usize,
    spill: Option<HashSet<Cow<'de, str>>>,
}

impl<'de> Seen<'de> {
    fn new() -> Self {
        Seen {
            known: 0,
            inline: Default::default(),
            len: 0,
            spill: None,
        }
    }

    /// Records the known name number `bit`; an error when seen before.
    /// Known names never reach [`Seen::other`], so the two never overlap.
    fn known<E: de::Error>(&mut self, bit: u32) -> Result<(), E> {
        let mask = 1 << bit;
        if self.known & mask != 0 {
            return Err(duplicate());
        }
        self.known |= mask;
        Ok(())
    }

    /// Records a name the caller does not know; an error when seen before.
    fn other<E: de::Error>(&mut self, name: Cow<'de, str>) -> Result<(), E> {
        if self.insert(name) {
            Ok(())
        } else {
            Err(duplicate())
        }
    }

    /// Records `name`; false when it was seen before.
    fn insert(&mut self, name: Cow<'de, str>) -> bool {
        if let Some(set) = &mut self.spill {
            return set.insert(name);
        }
        if self.inline[..self.len]
            .iter()
            .any(|n| n.as_deref() == Some(&*name))
        {
            return false;
        }
        if self.len < self.inline.len() {
            self.inline[self.len] = Some(name);
            self.len += 1;
        } else {
            let mut set: HashSet<Cow<'de, str>> =
                self.inline.iter_mut().flat_map(Option::take).collect();
            set.insert(name);
            self.spill = Some(set);
        }
        true
    }
}

fn duplicate<E: de::Error>() -> E {
    E::custom("duplicate member name")
}

/// The protected header, as far as we read it.
pub(crate) struct Header<'a> {
    /// `alg`, unparsed (the caller maps unknown names to `algorithm`).
    pub(crate) alg: Cow<'a, str>,
    /// `kid`, if present.
    pub(crate) kid: Option<Cow<'a, str>>,
}

struct RawHeader<'de> {
    alg: Option<Want<Cow<'de, str>>>,
    kid: Option<Want<Cow<'de, str>>>,
    typ: Option<Want<Cow<'de, str>>>,
    crit: bool,
    /// A member that only a JWE (or an unencoded-payload JWS) carries.
    foreign: bool,
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
const COMMON_HEADERS: [(&[u8], &str); 2] = [
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

/// The claims we read and check. Everything else stays in the raw JSON.
/// Strings borrow from the decoded payload where they have no escapes, so
/// checking a token allocates nothing for them.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Claims<'a> {
    pub(crate) exp: f64,
    pub(crate) nbf: Option<f64>,
    pub(crate) iat: Option<f64>,
    pub(crate) iss: Option<Cow<'a, str>>,
    pub(crate) sub: Option<Cow<'a, str>>,
    pub(crate) aud: Vec<String>,
    pub(crate) ip: Option<Cow<'a, str>>,
    pub(crate) did: Option<Cow<'a, str>>,
    pub(crate) pay: Option<Cow<'a, str>>,
}

impl Claims<'_> {
    /// The same claims, owning their strings.
    pub(crate) fn into_owned(self) -> Claims<'static> {
        let own = |s: Option<Cow<'_, str>>| s.map(|s| Cow::Owned(s.into_owned()));
        Claims {
            exp: self.exp,
            nbf: self.nbf,
            iat: self.iat,
            iss: own(self.iss),
            sub: own(self.sub),
            aud: self.aud,
            ip: own(self.ip),
            did: own(self.did),
            pay: own(self.pay),
        }
    }
}

/// Names of the claims [`Claims`] holds.
pub(crate) const KNOWN_CLAIMS: [&str; 9] =
    ["exp", "nbf", "iat", "iss", "sub", "aud", "ip", "did", "pay"];

struct RawClaims<'a> {
    claims: Claims<'a>,
    exp_seen: bool,
    wrong: bool,
}

fn text<'a>(w: Want<Cow<'a, str>>, wrong: &mut bool) -> Option<Cow<'a, str>> {
    match w {
        Want::Ok(s) => Some(s),
        Want::Wrong => {
            *wrong = true;
            None
        }
    }
}

fn num(w: Want<f64>, wrong: &mut bool) -> Option<f64> {
    match w {
        Want::Ok(n) => Some(n),
        Want::Wrong => {
            *wrong = true;
            None
        }
    }
}

impl<'de> Deserialize<'de> for RawClaims<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawClaims<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut seen = Seen::new();
                let mut c = Claims::default();
                let mut exp_seen = false;
                let mut wrong = false;
                while let Some(Str(name)) = map.next_key::<Str<'de>>()? {
                    match &*name {
                        "exp" => {
                            seen.known(0)?;
                            exp_seen = true;
                            c.exp = num(map.next_value::<Num>()?.0, &mut wrong).unwrap_or(0.0);
                        }
                        "nbf" => {
                            seen.known(1)?;
                            c.nbf = num(map.next_value::<Num>()?.0, &mut wrong);
                        }
                        "iat" => {
                            seen.known(2)?;
                            c.iat = num(map.next_value::<Num>()?.0, &mut wrong);
                        }
                        "iss" => {
                            seen.known(3)?;
                            c.iss = text(map.next_value::<Text<'de>>()?.0, &mut wrong);
                        }
                        "sub" => {
                            seen.known(4)?;
                            c.sub = text(map.next_value::<Text<'de>>()?.0, &mut wrong);
                        }
                        "ip" => {
                            seen.known(5)?;
                            c.ip = text(map.next_value::<Text<'de>>()?.0, &mut wrong);
                        }
                        "did" => {
                            seen.known(6)?;
                            c.did = text(map.next_value::<Text<'de>>()?.0, &mut wrong);
                        }
                        "pay" => {
                            seen.known(7)?;
                            c.pay = text(map.next_value::<Text<'de>>()?.0, &mut wrong);
                        }
                        "aud" => {
                            seen.known(8)?;
                            match map.next_value::<Audience>()?.0 {
                                Want::Ok(a) => c.aud = a,
                                Want::Wrong => wrong = true,
                            }
                        }
                        _ => {
                            seen.other(name)?;
                            map.next_value::<Skip>()?;
                        }
                    }
                }
                Ok(RawClaims {
                    claims: c,
                    exp_seen,
                    wrong,
                })
            }
        }
        d.deserialize_map(V)
    }
}

/// Parses decoded claims. `Malformed` for what is not one JSON object with
/// unique member names; `Claims` for a known claim of the wrong type or a
/// missing `exp`.
pub(crate) fn parse_claims(bytes: &[u8]) -> Result<Claims<'_>, Reason> {
    // As in `parse_header`: UTF-8 everywhere, skipped members included.
    let text = std::str::from_utf8(bytes).map_err(|_| Reason::Malformed)?;
    let raw: RawClaims<'_> = serde_json::from_str(text).map_err(|_| Reason::Malformed)?;
    if raw.wrong || !raw.exp_seen {
        return Err(Reason::Claims);
    }
    Ok(raw.claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_rules() {
        let ok = |s: &str| {
            parse_header(s.as_bytes()).map(|h| (h.alg.into_owned(), h.kid.map(Cow::into_owned)))
        };
        assert_eq!(
            ok(r#"{"alg":"HS256","typ":"JWT"}"#),
            Ok(("HS256".into(), None))
        );
        assert_eq!(
            ok(r#"{"alg":"ES256","kid":"k1","typ":"jwt"}"#),
            Ok(("ES256".into(), Some("k1".into())))
        );
        assert_eq!(ok(r#"{"alg":"H\u0053256"}"#), Ok(("HS256".into(), None)));
        for bad in [
            r#"{"alg":"HS256","alg":"none"}"#,
            r#"{"alg":"HS256","a\u006cg":"none"}"#,
            r#"{"alg":"HS256","crit":["exp"]}"#,
            r#"{"alg":"HS256","enc":"A256GCM"}"#,
            r#"{"alg":"HS256","typ":"JWT","enc":"A128CBC-HS256"}"#,
            r#"{"alg":"HS256","\u0065nc":"A256GCM"}"#,
            r#"{"alg":"HS256","zip":"DEF"}"#,
            r#"{"alg":"HS256","epk":{"kty":"EC"}}"#,
            r#"{"alg":"HS256","apu":"x","apv":"y"}"#,
            r#"{"alg":"HS256","iv":"AAAA"}"#,
            r#"{"alg":"HS256","tag":"AAAA"}"#,
            r#"{"alg":"HS256","p2s":"AAAA","p2c":1000}"#,
            r#"{"alg":"HS256","b64":false}"#,
            r#"{"enc":null,"alg":"HS256"}"#,
            r#"{"alg":"HS256","typ":"JOSE+JSON"}"#,
            r#"{"alg":"HS256","kid":7}"#,
            r#"{"alg":null}"#,
            r#"{"typ":"JWT"}"#,
            r#"["alg","HS256"]"#,
            r#"{"alg":"HS256"} x"#,
            r#"{"alg":"HS256""#,
            "",
        ] {
            assert_eq!(ok(bad).err(), Some(Reason::Malformed), "{bad}");
        }
        assert_eq!(
            parse_header(b"{\"alg\":\"HS\xff256\"}").err(),
            Some(Reason::Malformed)
        );
    }

    #[test]
    fn common_headers_parse_alike_on_both_paths() {
        for (bytes, alg) in COMMON_HEADERS {
            let raw: RawHeader<'_> = serde_json::from_slice(bytes).unwrap();
            assert!(!raw.crit);
            assert!(matches!(raw.typ, Some(Want::Ok(t)) if t == "JWT"));
            assert!(raw.kid.is_none());
            assert!(matches!(raw.alg, Some(Want::Ok(a)) if a == alg));
            let fast = parse_header(bytes).unwrap();
            assert_eq!((&*fast.alg, fast.kid.is_none()), (alg, true));
            let encoded = crate::jose::b64::encode_segment(bytes);
            let from_segment = common_header(&encoded).unwrap();
            assert_eq!(
                (&*from_segment.alg, from_segment.kid.is_none()),
                (alg, true)
            );
            // One byte more or less takes the full parse, with its result.
            let spaced = [bytes, b" "].concat();
            let slow = parse_header(&spaced).unwrap();
            assert_eq!((&*slow.alg, slow.kid.is_none()), (alg, true));
        }
    }

    #[test]
    fn claims_rules() {
        let c = parse_claims(
            br#"{"exp":1700000000,"nbf":1.5,"ip":"1.2.3.4","aud":["a","b"],"x":{"y":[1,2]}}"#,
        )
        .unwrap();
        assert_eq!(c.exp, 1_700_000_000.0);
        assert_eq!(c.nbf, Some(1.5));
        assert_eq!(c.ip.as_deref(), Some("1.2.3.4"));
        assert_eq!(c.aud, vec!["a".to_owned(), "b".to_owned()]);
        assert_eq!(
            parse_claims(br#"{"exp":2.5e9,"aud":"x"}"#).unwrap().aud,
            vec!["x".to_owned()]
        );
        for (bad, why) in [
            (r#"{}"#, Reason::Claims),
            (r#"{"exp":"1700000000"}"#, Reason::Claims),
            (r#"{"exp":null}"#, Reason::Claims),
            (r#"{"exp":true}"#, Reason::Claims),
            (r#"{"exp":[1]}"#, Reason::Claims),
            (r#"{"exp":{"a":1}}"#, Reason::Claims),
            (r#"{"exp":1,"nbf":"0"}"#, Reason::Claims),
            (r#"{"exp":1,"aud":[1]}"#, Reason::Claims),
            (r#"{"exp":1,"iss":5}"#, Reason::Claims),
            (r#"{"exp":1,"pay":false}"#, Reason::Claims),
            (r#"{"exp":1,"exp":2}"#, Reason::Malformed),
            (r#"{"exp":1,"x":1,"x":2}"#, Reason::Malformed),
            (r#"[{"exp":1}]"#, Reason::Malformed),
            (r#"{"exp":1e999}"#, Reason::Malformed),
            (r#"{"exp":1}{"#, Reason::Malformed),
        ] {
            assert_eq!(parse_claims(bad.as_bytes()).err(), Some(why), "{bad}");
        }
        assert_eq!(
            parse_claims(b"{\"exp\":1,\"did\":\"\xc3\x28\"}").err(),
            Some(Reason::Malformed)
        );
    }

    #[test]
    fn skipped_members_are_utf8_and_depth_limited() {
        // Invalid UTF-8 in a member nobody reads: serde_json alone skips it.
        assert_eq!(
            parse_header(b"{\"alg\":\"HS256\",\"x\":\"\xff\"}").err(),
            Some(Reason::Malformed)
        );
        assert_eq!(
            parse_claims(b"{\"exp\":1,\"x\":\"\xff\xfe\"}").err(),
            Some(Reason::Malformed)
        );
        assert_eq!(
            parse_claims(b"{\"exp\":1,\"x\":{\"\xff\":1}}").err(),
            Some(Reason::Malformed)
        );
        // Nesting: what serde_json::Value (and so VerifiedToken::claims) can
        // read passes, deeper is malformed, in every position.
        let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let mut verdicts = HashSet::new();
        for depth in (120..=130).chain([1, 100, 5000]) {
            for json in [
                format!(r#"{{"exp":1,"x":{}}}"#, nested(depth)),
                format!(r#"{{"exp":1,"x":{{"y":{}}}}}"#, nested(depth - 1)),
                format!(r#"{{"exp":{},"x":1}}"#, nested(depth)),
                format!(r#"{{"alg":"HS256","x":{}}}"#, nested(depth)),
            ] {
                let ok = serde_json::from_str::<serde_json::Value>(&json).is_ok();
                verdicts.insert(ok);
                let claims = parse_claims(json.as_bytes()).err();
                assert_eq!(
                    claims != Some(Reason::Malformed),
                    ok,
                    "claims {depth}: {claims:?}"
                );
                if json.starts_with(r#"{"alg""#) {
                    assert_eq!(parse_header(json.as_bytes()).is_ok(), ok, "header {depth}");
                }
            }
        }
        assert_eq!(verdicts.len(), 2, "both sides of the limit were tried");
    }

    #[test]
    fn many_members_spill_and_still_catch_duplicates() {
        let mut members: Vec<String> = (0..40).map(|i| format!("\"m{i}\":{i}")).collect();
        members.push("\"exp\":1".into());
        let json = format!("{{{}}}", members.join(","));
        assert!(parse_claims(json.as_bytes()).is_ok());
        members.push("\"m3\":0".into());
        let json = format!("{{{}}}", members.join(","));
        assert_eq!(parse_claims(json.as_bytes()).err(), Some(Reason::Malformed));
    }
}
