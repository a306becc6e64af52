//! Strict JSON pieces shared by the header and the claims: borrowed
//! strings, skipped values, values of one wanted kind, and the
//! duplicate-member check.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A string that borrows from the input when it has no escapes.
pub(super) struct Str<'de>(pub(super) Cow<'de, str>);

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
pub(super) struct Skip;

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
pub(super) enum Want<T> {
    Ok(T),
    Wrong,
}

/// Accepts any JSON value; keeps numbers.
pub(super) struct Num(pub(super) Want<f64>);

/// Accepts any JSON value; keeps strings.
pub(super) struct Text<'de>(pub(super) Want<Cow<'de, str>>);

/// Accepts any JSON value; keeps a string or an array of strings (`aud`).
pub(super) struct Audience(pub(super) Want<Vec<String>>);

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
pub(super) struct Seen<'de> {
    /// The names the caller knows, one bit each (no string compare).
    known: u32,
    inline: [Option<Cow<'de, str>>; 12],
    len: usize,
    spill: Option<HashSet<Cow<'de, str>>>,
}

impl<'de> Seen<'de> {
    pub(super) fn new() -> Self {
        Seen {
            known: 0,
            inline: Default::default(),
            len: 0,
            spill: None,
        }
    }

    /// Records the known name number `bit`; an error when seen before.
    /// Known names never reach [`Seen::other`], so the two never overlap.
    pub(super) fn known<E: de::Error>(&mut self, bit: u32) -> Result<(), E> {
        let mask = 1 << bit;
        if self.known & mask != 0 {
            return Err(duplicate());
        }
        self.known |= mask;
        Ok(())
    }

    /// Records a name the caller does not know; an error when seen before.
    pub(super) fn other<E: de::Error>(&mut self, name: Cow<'de, str>) -> Result<(), E> {
        if self.insert(name) {
            Ok(())
        } else {
            Err(duplicate())
        }
    }

    /// Records `name`; false when it was seen before.
    pub(super) fn insert(&mut self, name: Cow<'de, str>) -> bool {
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

pub(super) fn duplicate<E: de::Error>() -> E {
    E::custom("duplicate member name")
}
