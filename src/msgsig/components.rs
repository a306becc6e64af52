//! Component values (RFC 9421 §2.1, §2.2): the derived components of a
//! request and its header fields, with the `;sf`, `;key` and `;bs`
//! parameters. Each covered component gives the value of its line in the
//! signature base.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;

use super::error::SignatureError;
use super::structured::{
    self, BareItem, Item, param, write_dictionary, write_item, write_list, write_member,
};

/// The request as the front end checks and forwards it (the canonical request: the
/// canonical form built once). Borrowed; building one costs nothing.
#[derive(Clone, Copy)]
pub struct RequestParts<'a> {
    /// `GET`, `POST`, ... as sent (RFC 9421 keeps its case).
    pub method: &'a str,
    /// `http` or `https`: the scheme the client used to reach us.
    pub scheme: &'a str,
    /// `host[:port]` the client addressed (`Host` / `:authority`).
    pub authority: &'a str,
    /// Origin-form target, `/path?query` (canonical form).
    pub path_and_query: &'a str,
    /// The request header fields.
    pub headers: &'a HeaderMap,
}

/// Shows header names only: values hold the token.
impl std::fmt::Debug for RequestParts<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestParts")
            .field("method", &self.method)
            .field("scheme", &self.scheme)
            .field("authority", &self.authority)
            .field("path_and_query", &self.path_and_query)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl RequestParts<'_> {
    fn path(&self) -> &str {
        let p = self.path_and_query.split('?').next().unwrap_or_default();
        if p.is_empty() { "/" } else { p }
    }

    fn query(&self) -> Option<&str> {
        self.path_and_query.split_once('?').map(|(_, q)| q)
    }

    /// The authority, lower-cased, without the scheme's default port
    /// (RFC 9421 §2.2.3 normalises it per HTTP semantics).
    fn authority_normalised(&self) -> String {
        let a = self.authority.to_ascii_lowercase();
        let default = match self.scheme.to_ascii_lowercase().as_str() {
            "http" => Some(":80"),
            "https" => Some(":443"),
            _ => None,
        };
        match default {
            Some(port) if a.ends_with(port) => a[..a.len() - port.len()].to_owned(),
            _ => a,
        }
    }
}

const DERIVED: [&str; 8] = [
    "@method",
    "@target-uri",
    "@authority",
    "@scheme",
    "@request-target",
    "@path",
    "@query",
    "@query-param",
];

/// Checks a component name as `min_components` may list it: a derived
/// component (but not `@query-param`, which needs a name) or a lower-case
/// field name.
pub(crate) fn check_identifier(name: &str) -> Result<(), &'static str> {
    if name == "@query-param" {
        return Err("@query-param needs a name; cover @query or the field instead");
    }
    if name.starts_with('@') {
        return if DERIVED.contains(&name) {
            Ok(())
        } else {
            Err("not a request-derived component of RFC 9421")
        };
    }
    if name.is_empty() {
        return Err("empty");
    }
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err("field names are written in lower case");
    }
    http::HeaderName::from_bytes(name.as_bytes())
        .map(|_| ())
        .map_err(|_| "not a header field name")
}

/// The value lines of one covered component (`item` from the
/// `Signature-Input` inner list): one line each (a list, so a component
/// could yield several).
pub(crate) fn values(req: &RequestParts<'_>, item: &Item) -> Result<Vec<String>, SignatureError> {
    let BareItem::String(name) = &item.bare else {
        return Err(SignatureError::BadComponent);
    };
    if name.starts_with('@') {
        derived(req, name, item)
    } else {
        field(req, name, item).map(|v| vec![v])
    }
}

fn derived(req: &RequestParts<'_>, name: &str, item: &Item) -> Result<Vec<String>, SignatureError> {
    let only_name = name == "@query-param";
    for (k, v) in &item.params {
        let allowed = only_name && k == "name" && matches!(v, BareItem::String(_));
        if !allowed {
            return Err(SignatureError::BadComponent);
        }
    }
    let one = |s: String| Ok(vec![s]);
    // An empty authority binds nothing (`https:///path`): never signed over.
    if matches!(name, "@authority" | "@target-uri") && req.authority.is_empty() {
        return Err(SignatureError::AbsentComponent);
    }
    match name {
        "@method" => one(req.method.to_owned()),
        "@scheme" => one(req.scheme.to_ascii_lowercase()),
        "@authority" => one(req.authority_normalised()),
        "@target-uri" => one(format!(
            "{}://{}{}",
            req.scheme.to_ascii_lowercase(),
            req.authority_normalised(),
            req.path_and_query
        )),
        "@request-target" => one(req.path_and_query.to_owned()),
        "@path" => one(req.path().to_owned()),
        "@query" => one(format!("?{}", req.query().unwrap_or_default())),
        "@query-param" => {
            let Some(BareItem::String(wanted)) = param(&item.params, "name") else {
                return Err(SignatureError::BadComponent);
            };
            let wanted = reencode(&form_decode(wanted));
            let found: Vec<String> = req
                .query()
                .unwrap_or_default()
                .split('&')
                .filter(|p| !p.is_empty())
                .filter_map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    (reencode(&form_decode(k)) == wanted).then(|| reencode(&form_decode(v)))
                })
                .collect();
            match found.len() {
                0 => Err(SignatureError::AbsentComponent),
                // RFC 9421 §2.2.8: a name that occurs more than once MUST
                // NOT be covered (sign @query instead).
                1 => Ok(found),
                _ => Err(SignatureError::BadComponent),
            }
        }
        // @status is response-only; anything else is unknown.
        _ => Err(SignatureError::BadComponent),
    }
}

/// Decodes an `application/x-www-form-urlencoded` name or value: `+` is a
/// space, `%XX` a byte; a malformed escape stays as written.
fn form_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| char::from(c).to_digit(16);
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// Percent-encodes all but `ALPHA DIGIT * - . _`, space as `%20`
/// (RFC 9421 §2.2.8).
fn reencode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &c in bytes {
        if c.is_ascii_alphanumeric() || b"*-._".contains(&c) {
            out.push(char::from(c));
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

fn field(req: &RequestParts<'_>, name: &str, item: &Item) -> Result<String, SignatureError> {
    if check_identifier(name).is_err() {
        return Err(SignatureError::BadComponent);
    }
    let (mut sf, mut key, mut bs) = (false, None, false);
    for (k, v) in &item.params {
        match (k.as_str(), v) {
            ("sf", BareItem::Boolean(true)) => sf = true,
            ("key", BareItem::String(s)) => key = Some(s.as_str()),
            ("bs", BareItem::Boolean(true)) => bs = true,
            // `req` (a request component in a response signature), `tr`
            // (trailers) and anything else do not apply to a request.
            _ => return Err(SignatureError::BadComponent),
        }
    }
    if bs && (sf || key.is_some()) {
        return Err(SignatureError::BadComponent);
    }
    let mut raw = Vec::new();
    for v in req.headers.get_all(name) {
        let text = v.to_str().map_err(|_| SignatureError::NotAscii)?;
        raw.push(text.trim_matches([' ', '\t']));
    }
    if raw.is_empty() {
        return Err(SignatureError::AbsentComponent);
    }
    if bs {
        let wrapped: Vec<String> = raw
            .iter()
            .map(|v| format!(":{}:", STANDARD.encode(v.as_bytes())))
            .collect();
        return Ok(wrapped.join(", "));
    }
    let combined = raw.join(", ");
    if let Some(key) = key {
        let dict =
            structured::parse_dictionary(&combined).map_err(|_| SignatureError::AbsentComponent)?;
        let (_, member) = dict
            .iter()
            .find(|(k, _)| k == key)
            .ok_or(SignatureError::AbsentComponent)?;
        let mut out = String::new();
        write_member(&mut out, member);
        return Ok(out);
    }
    if sf {
        return reserialize(name, &combined).ok_or(SignatureError::AbsentComponent);
    }
    Ok(combined)
}

/// The canonical serialization of a structured field: as its known type,
/// else the first of dictionary, list, item that parses (as Approov's
/// reference verifier does).
fn reserialize(name: &str, value: &str) -> Option<String> {
    const DICTIONARIES: [&str; 5] = [
        "signature",
        "signature-input",
        "content-digest",
        "repr-digest",
        "want-content-digest",
    ];
    let mut out = String::new();
    if DICTIONARIES.contains(&name) {
        write_dictionary(&mut out, &structured::parse_dictionary(value).ok()?);
    } else if let Ok(d) = structured::parse_dictionary(value) {
        write_dictionary(&mut out, &d);
    } else if let Ok(l) = structured::parse_list(value) {
        write_list(&mut out, &l);
    } else {
        write_item(&mut out, &structured::parse_item(value).ok()?);
    }
    Some(out)
}

#[cfg(test)]
#[path = "components_tests.rs"]
mod tests;
