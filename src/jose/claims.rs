//! The claims of a compact JWS, parsed strictly.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};

use super::strict::{Audience, Num, Seen, Skip, Str, Text, Want};
use crate::reason::Reason;

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
