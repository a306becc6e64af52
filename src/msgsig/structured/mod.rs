//! RFC 8941 structured field values: a strict parser and the canonical
//! serializer, for the fields message signing reads (`Signature-Input`,
//! `Signature`, `Content-Digest`, and any field covered with `;sf`/`;key`).
//!
//! Stricter than the RFC in one way, on purpose: a key repeated in a
//! dictionary or in parameters is an error, where RFC 8941 says the last one
//! wins. Two `install` signatures in one header are an ambiguity (one
//! verifier takes the first, another the last); refusing it is the only
//! reading every verifier shares. Errors carry a position, never the input.

use crate::canonical::headers::is_tchar;
use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};

/// Padding optional (RFC 8941 §4.2.7: parsers SHOULD NOT fail without it),
/// trailing bits must be zero, so one value has one byte content.
const BYTES: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Most members of a list or dictionary, items of an inner list, or
/// parameters of one item we parse (bounds the work a hostile field causes).
pub(crate) const MAX_MEMBERS: usize = 64;

/// A bare item (RFC 8941 §3.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BareItem {
    /// `-?[0-9]{1,15}`
    Integer(i64),
    /// A decimal, held in thousandths (at most three fractional digits).
    Decimal(i64),
    /// `"..."`, printable ASCII.
    String(String),
    /// A token (`foo`, `*bar/baz:1`).
    Token(String),
    /// `:base64:`
    Bytes(Vec<u8>),
    /// `?1` / `?0`
    Boolean(bool),
}

/// Parameters in their order; keys are unique.
pub(crate) type Params = Vec<(String, BareItem)>;

/// An item with its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Item {
    pub(crate) bare: BareItem,
    pub(crate) params: Params,
}

/// `( item item ... );params`
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct InnerList {
    pub(crate) items: Vec<Item>,
    pub(crate) params: Params,
}

/// A member of a list or a dictionary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Member {
    Item(Item),
    Inner(InnerList),
}

/// A dictionary: members in order, keys unique.
pub(crate) type Dictionary = Vec<(String, Member)>;

/// Why a field did not parse: what, and at which byte. Never the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SfError {
    pub(crate) what: &'static str,
    pub(crate) at: usize,
}

/// Looks a parameter up by key.
pub(crate) fn param<'a>(params: &'a Params, key: &str) -> Option<&'a BareItem> {
    params.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

struct Input<'a> {
    b: &'a [u8],
    i: usize,
}

impl Input<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn err<T>(&self, what: &'static str) -> Result<T, SfError> {
        Err(SfError { what, at: self.i })
    }
    fn skip_sp(&mut self) {
        while self.peek() == Some(b' ') {
            self.i += 1;
        }
    }
    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }
    fn start(text: &str) -> Result<Input<'_>, SfError> {
        let b = text.as_bytes();
        if let Some(at) = b
            .iter()
            .position(|c| !(0x20..0x7f).contains(c) && *c != b'\t')
        {
            return Err(SfError {
                what: "a byte outside printable ASCII",
                at,
            });
        }
        let mut input = Input { b, i: 0 };
        input.skip_sp();
        Ok(input)
    }
    fn finish(&mut self) -> Result<(), SfError> {
        self.skip_sp();
        if self.i == self.b.len() {
            Ok(())
        } else {
            self.err("unexpected bytes after the value")
        }
    }
}

/// Parses a whole field as a dictionary (§4.2.2).
pub(crate) fn parse_dictionary(text: &str) -> Result<Dictionary, SfError> {
    let mut input = Input::start(text)?;
    let mut out: Dictionary = Vec::new();
    while input.i < input.b.len() {
        let at = input.i;
        let key = parse_key(&mut input)?;
        let member = if input.peek() == Some(b'=') {
            input.i += 1;
            parse_member(&mut input)?
        } else {
            Member::Item(Item {
                bare: BareItem::Boolean(true),
                params: parse_params(&mut input)?,
            })
        };
        if out.iter().any(|(k, _)| *k == key) {
            return Err(SfError {
                what: "a dictionary key repeated",
                at,
            });
        }
        if out.len() == MAX_MEMBERS {
            return input.err("too many members");
        }
        out.push((key, member));
        if separator(&mut input)? {
            break;
        }
    }
    input.finish()?;
    Ok(out)
}

/// Parses a whole field as a list (§4.2.1).
pub(crate) fn parse_list(text: &str) -> Result<Vec<Member>, SfError> {
    let mut input = Input::start(text)?;
    let mut out = Vec::new();
    while input.i < input.b.len() {
        if out.len() == MAX_MEMBERS {
            return input.err("too many members");
        }
        out.push(parse_member(&mut input)?);
        if separator(&mut input)? {
            break;
        }
    }
    input.finish()?;
    Ok(out)
}

/// Parses a whole field as one item (§4.2.3).
pub(crate) fn parse_item(text: &str) -> Result<Item, SfError> {
    let mut input = Input::start(text)?;
    let item = parse_item_at(&mut input)?;
    input.finish()?;
    Ok(item)
}

/// After a member: `true` at the end, `false` after a `,` with more to come.
fn separator(input: &mut Input<'_>) -> Result<bool, SfError> {
    input.skip_ows();
    match input.peek() {
        None => Ok(true),
        Some(b',') => {
            input.i += 1;
            input.skip_ows();
            if input.peek().is_none() {
                input.err("a trailing comma")
            } else {
                Ok(false)
            }
        }
        Some(_) => input.err("expected a comma between members"),
    }
}

fn parse_member(input: &mut Input<'_>) -> Result<Member, SfError> {
    if input.peek() == Some(b'(') {
        parse_inner_list(input).map(Member::Inner)
    } else {
        parse_item_at(input).map(Member::Item)
    }
}

fn parse_inner_list(input: &mut Input<'_>) -> Result<InnerList, SfError> {
    input.i += 1; // '('
    let mut items = Vec::new();
    loop {
        input.skip_sp();
        match input.peek() {
            None => return input.err("an inner list not closed"),
            Some(b')') => {
                input.i += 1;
                let params = parse_params(input)?;
                return Ok(InnerList { items, params });
            }
            Some(_) => {
                if items.len() == MAX_MEMBERS {
                    return input.err("too many items in an inner list");
                }
                items.push(parse_item_at(input)?);
                if !matches!(input.peek(), Some(b' ' | b')')) {
                    return input.err("expected a space or ')' in an inner list");
                }
            }
        }
    }
}

fn parse_item_at(input: &mut Input<'_>) -> Result<Item, SfError> {
    let bare = parse_bare(input)?;
    let params = parse_params(input)?;
    Ok(Item { bare, params })
}

fn parse_params(input: &mut Input<'_>) -> Result<Params, SfError> {
    let mut params: Params = Vec::new();
    while input.peek() == Some(b';') {
        input.i += 1;
        input.skip_sp();
        let at = input.i;
        let key = parse_key(input)?;
        let value = if input.peek() == Some(b'=') {
            input.i += 1;
            parse_bare(input)?
        } else {
            BareItem::Boolean(true)
        };
        if params.iter().any(|(k, _)| *k == key) {
            return Err(SfError {
                what: "a parameter repeated",
                at,
            });
        }
        if params.len() == MAX_MEMBERS {
            return input.err("too many parameters");
        }
        params.push((key, value));
    }
    Ok(params)
}

fn parse_key(input: &mut Input<'_>) -> Result<String, SfError> {
    let start = input.i;
    match input.peek() {
        Some(c) if c.is_ascii_lowercase() || c == b'*' => {}
        _ => return input.err("expected a key (lower-case letter or '*')"),
    }
    while let Some(c) = input.peek() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-.*".contains(&c) {
            input.i += 1;
        } else {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&input.b[start..input.i]).into_owned())
}

fn parse_bare(input: &mut Input<'_>) -> Result<BareItem, SfError> {
    match input.peek() {
        Some(b'-' | b'0'..=b'9') => parse_number(input),
        Some(b'"') => parse_string(input),
        Some(b':') => parse_bytes(input),
        Some(b'?') => {
            let v = match input.b.get(input.i + 1) {
                Some(b'1') => true,
                Some(b'0') => false,
                _ => return input.err("a boolean is ?0 or ?1"),
            };
            input.i += 2;
            Ok(BareItem::Boolean(v))
        }
        Some(c) if c.is_ascii_alphabetic() || c == b'*' => {
            let start = input.i;
            while let Some(c) = input.peek() {
                if is_tchar(c) || c == b':' || c == b'/' {
                    input.i += 1;
                } else {
                    break;
                }
            }
            Ok(BareItem::Token(
                String::from_utf8_lossy(&input.b[start..input.i]).into_owned(),
            ))
        }
        None => input.err("expected a value, found the end"),
        Some(_) => input.err("not the start of any value"),
    }
}

fn parse_number(input: &mut Input<'_>) -> Result<BareItem, SfError> {
    let negative = input.peek() == Some(b'-');
    if negative {
        input.i += 1;
    }
    let start = input.i;
    let mut dot = None;
    while let Some(c) = input.peek() {
        match c {
            b'0'..=b'9' => {}
            b'.' if dot.is_none() => dot = Some(input.i - start),
            _ => break,
        }
        input.i += 1;
        if input.i - start > 16 {
            return input.err("a number too long");
        }
    }
    let text = &input.b[start..input.i];
    let digits = |b: &[u8]| -> Option<i64> {
        if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
            return None;
        }
        b.iter().try_fold(0i64, |acc, d| {
            acc.checked_mul(10)?.checked_add(i64::from(d - b'0'))
        })
    };
    let sign = if negative { -1 } else { 1 };
    match dot {
        None if text.len() <= 15 => match digits(text) {
            Some(v) => Ok(BareItem::Integer(sign * v)),
            None => input.err("a number without digits"),
        },
        None => input.err("an integer longer than 15 digits"),
        Some(d) => {
            let (int, frac) = (&text[..d], &text[d + 1..]);
            if int.is_empty() || int.len() > 12 || !(1..=3).contains(&frac.len()) {
                return input.err("a decimal is 1-12 digits '.' 1-3 digits");
            }
            match (digits(int), digits(frac)) {
                (Some(i), Some(f)) => {
                    let scale = [100, 10, 1][frac.len() - 1];
                    Ok(BareItem::Decimal(sign * (i * 1000 + f * scale)))
                }
                _ => input.err("a bad decimal"),
            }
        }
    }
}

fn parse_string(input: &mut Input<'_>) -> Result<BareItem, SfError> {
    input.i += 1;
    let mut out = String::new();
    loop {
        match input.peek() {
            None => return input.err("a string not closed"),
            Some(b'"') => {
                input.i += 1;
                return Ok(BareItem::String(out));
            }
            Some(b'\\') => {
                match input.b.get(input.i + 1) {
                    Some(&c @ (b'"' | b'\\')) => out.push(char::from(c)),
                    _ => return input.err("a bad escape in a string"),
                }
                input.i += 2;
            }
            Some(c) if (0x20..0x7f).contains(&c) => {
                out.push(char::from(c));
                input.i += 1;
            }
            Some(_) => return input.err("a control character in a string"),
        }
    }
}

fn parse_bytes(input: &mut Input<'_>) -> Result<BareItem, SfError> {
    input.i += 1;
    let start = input.i;
    while let Some(c) = input.peek() {
        if c.is_ascii_alphanumeric() || c == b'+' || c == b'/' || c == b'=' {
            input.i += 1;
        } else {
            break;
        }
    }
    if input.peek() != Some(b':') {
        return input.err("a byte sequence not closed by ':'");
    }
    let body = &input.b[start..input.i];
    input.i += 1;
    match BYTES.decode(body) {
        Ok(bytes) => Ok(BareItem::Bytes(bytes)),
        Err(_) => Err(SfError {
            what: "bad base64 in a byte sequence",
            at: start,
        }),
    }
}

mod serialize;
pub(crate) use serialize::*;

#[cfg(test)]
mod tests;
