//! A secret reference as written (`{ env }`, `{ file }` or `{ value }`),
//! read without ever quoting it. A leaf: the raw model and the checker
//! both take it from here.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};

/// `{ env = "NAME" }`, `{ file = "path" }` or `{ value = "..." }`.
///
/// Deserialized by hand so that no error message ever quotes what was
/// written: a secret pasted as a bare string must not come back in an error.
pub(crate) enum RawSecretRef {
    Env(String),
    File(String),
    Value(zeroize::Zeroizing<String>),
}

const SECRET_SHAPE: &str = "a secret reference: { env = \"NAME\" }, { file = \"path\" } or { value = \"...\" } (demos only)";

impl<'de> Deserialize<'de> for RawSecretRef {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawSecretRef;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(SECRET_SHAPE)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Err(E::custom(format!(
                    "a bare string is not accepted here (and is not repeated in this message); write {SECRET_SHAPE}"
                )))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut found: Option<RawSecretRef> = None;
                while let Some(key) = map.next_key::<String>()? {
                    let value = map
                        .next_value::<Opaque>()
                        .map_err(|_| de::Error::custom(format!("`{key}` must be a string")))?
                        .0;
                    let next = match key.as_str() {
                        "env" => RawSecretRef::Env(value.to_string()),
                        "file" => RawSecretRef::File(value.to_string()),
                        "value" => RawSecretRef::Value(value),
                        other => {
                            return Err(de::Error::custom(format!(
                                "unknown key `{other}`; expected {SECRET_SHAPE}"
                            )));
                        }
                    };
                    if found.replace(next).is_some() {
                        return Err(de::Error::custom(format!(
                            "give exactly one of env, file, value: {SECRET_SHAPE}"
                        )));
                    }
                }
                found.ok_or_else(|| {
                    de::Error::custom(format!("empty table; expected {SECRET_SHAPE}"))
                })
            }
            // Any other kind of value: say what is expected, never what was found.
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Err(E::custom(format!("expected {SECRET_SHAPE}")))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Err(E::custom(format!("expected {SECRET_SHAPE}")))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Err(E::custom(format!("expected {SECRET_SHAPE}")))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Err(E::custom(format!("expected {SECRET_SHAPE}")))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
                Err(de::Error::custom(format!("expected {SECRET_SHAPE}")))
            }
        }
        d.deserialize_any(V)
    }
}

/// A string whose deserialization error never includes the value.
struct Opaque(zeroize::Zeroizing<String>);

impl<'de> Deserialize<'de> for Opaque {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Opaque;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Opaque(zeroize::Zeroizing::new(v.to_owned())))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Err(E::custom("expected a string"))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Err(E::custom("expected a string"))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Err(E::custom("expected a string"))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Err(E::custom("expected a string"))
            }
        }
        d.deserialize_any(V)
    }
}
