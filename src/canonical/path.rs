//! The request target's canonical form.
//!
//! Forms (RFC 9112 §3.2): origin-form `/path?query` as is; absolute-form
//! `http(s)://authority/path?query` reduced to its path and query (the
//! authority is returned for the caller to hold against `Host`); `*` only
//! for `OPTIONS`; anything else (`api/x`, `x:/y`, authority-form) refused.
//!
//! The path, segment by segment:
//! - `%XX` of an unreserved character (`A-Z a-z 0-9 - . _ ~`) is decoded
//!   (RFC 3986 §6.2.2.2); every other escape keeps its byte, upper-case hex.
//! - `//` runs are merged into one `/`.
//! - refused: a `.` or `..` segment (also encoded: it is decoded first), a
//!   `\` or `%5C`, `%2F` (unless `allow_encoded_slash`: then kept as `%2F`,
//!   never a separator), `%25` (a double encoding), `%00` and every other
//!   control byte raw or encoded, raw space and `#`, `;` and `%3B` (unless
//!   `allow_path_params`: then `;` is part of its segment, and a segment
//!   whose part before `;` is a dot segment is still refused), a `%` that is
//!   not followed by two hex digits, and a path whose bytes do not decode to
//!   UTF-8 (overlong forms of `.` and `/` such as `%C0%AE` are invalid
//!   UTF-8).
//! - other bytes outside RFC 3986's `pchar` (`" < > ^ \` { | }` and non-ASCII
//!   UTF-8) are percent-encoded, so the output is plain ASCII.
//!
//! The query keeps its bytes, except that non-ASCII and the same unsafe
//! printable characters are percent-encoded; controls, space and `#` are
//! refused. Its escapes are left as sent: a query's meaning is the
//! application's, and substitution reads it decoded.

use super::{Host, TargetRefusal, TargetRules, canonical_host};

/// A request target in canonical origin-form (or `*`), ASCII only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CanonicalTarget {
    text: String,
    path_len: usize,
    authority: Option<Host>,
}

impl CanonicalTarget {
    /// The whole target: `path[?query]`, or `*`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The path (or `*`).
    pub fn path(&self) -> &str {
        &self.text[..self.path_len]
    }

    /// The query, without `?`, if the target has one.
    pub fn query(&self) -> Option<&str> {
        self.text.get(self.path_len + 1..)
    }

    /// The authority of an absolute-form target.
    pub fn authority(&self) -> Option<&Host> {
        self.authority.as_ref()
    }

    /// Whether this is the asterisk-form target of `OPTIONS *`.
    pub fn is_asterisk(&self) -> bool {
        self.text == "*"
    }
}

const fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Bytes that stand for themselves in a path segment (RFC 3986 `pchar`
/// less `%`, and less `;`, which is handled on its own).
const fn plain_in_path(b: u8) -> bool {
    unreserved(b)
        || matches!(
            b,
            b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b'=' | b':' | b'@'
        )
}

/// Bytes refused wherever they appear raw.
const fn refused_raw(b: u8) -> bool {
    b <= b' ' || b == 0x7f || b == b'#'
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn push_escaped(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 15)]));
}

/// The canonical form of the target `raw` (bytes as sent), or why it is
/// refused. `options` says the method is `OPTIONS` (the only one `*` is for).
pub fn canonical_target(
    options: bool,
    raw: &[u8],
    rules: TargetRules,
) -> Result<CanonicalTarget, TargetRefusal> {
    if raw == b"*" {
        return if options {
            Ok(CanonicalTarget {
                text: "*".to_owned(),
                path_len: 1,
                authority: None,
            })
        } else {
            Err(TargetRefusal::Asterisk)
        };
    }
    let (authority, rest) = match raw.first() {
        Some(b'/') => (None, raw),
        _ => split_absolute(raw)?,
    };
    let (path, query) = match rest.iter().position(|&b| b == b'?') {
        Some(q) => (&rest[..q], Some(&rest[q + 1..])),
        None => (rest, None),
    };
    let mut text = String::with_capacity(raw.len() + 8);
    canonical_path(path, rules, &mut text)?;
    let path_len = text.len();
    if let Some(q) = query {
        text.push('?');
        canonical_query(q, &mut text)?;
    }
    Ok(CanonicalTarget {
        text,
        path_len,
        authority,
    })
}

/// `http(s)://authority[/path][?query]` → the authority and the rest
/// (`/`-rooted).
fn split_absolute(raw: &[u8]) -> Result<(Option<Host>, &[u8]), TargetRefusal> {
    let colon = raw
        .iter()
        .position(|&b| b == b':')
        .ok_or(TargetRefusal::Form)?;
    let scheme = &raw[..colon];
    if !(scheme.eq_ignore_ascii_case(b"http") || scheme.eq_ignore_ascii_case(b"https")) {
        return Err(TargetRefusal::Form);
    }
    let after = raw[colon..]
        .strip_prefix(b"://")
        .ok_or(TargetRefusal::Form)?;
    let end = after
        .iter()
        .position(|&b| matches!(b, b'/' | b'?' | b'#' | b'\\'))
        .unwrap_or(after.len());
    let authority = &after[..end];
    if authority.contains(&b'@') {
        return Err(TargetRefusal::Userinfo);
    }
    let host = canonical_host(authority)?;
    match after.get(end) {
        None => Ok((Some(host), b"/")),
        Some(b'/') => Ok((Some(host), &after[end..])),
        // `http://h?q`: RFC 9112 §3.2.2 roots it at `/`. The caller copies
        // the rest after a `/` of its own; only `?` gets here.
        Some(b'?') => Ok((Some(host), &after[end..])),
        Some(_) => Err(TargetRefusal::Byte),
    }
}

/// Appends the canonical form of `path` (which, if not empty, starts with
/// `/` or, for `http://h?q`, is empty) to `out`.
fn canonical_path(path: &[u8], rules: TargetRules, out: &mut String) -> Result<(), TargetRefusal> {
    let mut high = false;
    out.push('/');
    let mut i = 0;
    // Skip the leading `/` (the caller guarantees one, or nothing).
    if path.first() == Some(&b'/') {
        i = 1;
    }
    let mut seg_start = out.len();
    while i < path.len() {
        let b = path[i];
        match b {
            b'/' => {
                end_segment(out, seg_start, rules)?;
                if !out.ends_with('/') {
                    out.push('/');
                }
                seg_start = out.len();
            }
            b'%' => {
                let (Some(h), Some(l)) = (
                    path.get(i + 1).copied().and_then(hex),
                    path.get(i + 2).copied().and_then(hex),
                ) else {
                    return Err(TargetRefusal::Escape);
                };
                let d = (h << 4) | l;
                i += 2;
                match d {
                    _ if unreserved(d) => out.push(char::from(d)),
                    b'/' if rules.allow_encoded_slash => push_escaped(out, d),
                    b'/' => return Err(TargetRefusal::EncodedSlash),
                    b'\\' | b'%' | b';' => return Err(TargetRefusal::EncodedDelimiter),
                    0..=0x1f | 0x7f => return Err(TargetRefusal::EncodedDelimiter),
                    _ => {
                        high |= d >= 0x80;
                        push_escaped(out, d);
                    }
                }
            }
            b';' if rules.allow_path_params => out.push(';'),
            b';' => return Err(TargetRefusal::PathParam),
            b'\\' => return Err(TargetRefusal::Byte),
            _ if refused_raw(b) => return Err(TargetRefusal::Byte),
            _ if plain_in_path(b) => out.push(char::from(b)),
            _ => {
                high |= b >= 0x80;
                push_escaped(out, b);
            }
        }
        i += 1;
    }
    end_segment(out, seg_start, rules)?;
    if high && !decodes_to_utf8(out.as_bytes()) {
        return Err(TargetRefusal::Utf8);
    }
    Ok(())
}

/// Checks the segment that starts at `start` in `out` for dot segments.
fn end_segment(out: &str, start: usize, rules: TargetRules) -> Result<(), TargetRefusal> {
    let seg = &out[start..];
    let name = if rules.allow_path_params {
        seg.split(';').next().unwrap_or(seg)
    } else {
        seg
    };
    if name == "." || name == ".." {
        return Err(TargetRefusal::DotSegment);
    }
    Ok(())
}

/// Whether the bytes that `text`'s escapes stand for, with its other bytes,
/// are UTF-8.
fn decodes_to_utf8(text: &[u8]) -> bool {
    let mut bytes = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'%'
            && let (Some(h), Some(l)) = (
                text.get(i + 1).copied().and_then(hex),
                text.get(i + 2).copied().and_then(hex),
            )
        {
            bytes.push((h << 4) | l);
            i += 3;
        } else {
            bytes.push(text[i]);
            i += 1;
        }
    }
    std::str::from_utf8(&bytes).is_ok()
}

fn canonical_query(query: &[u8], out: &mut String) -> Result<(), TargetRefusal> {
    for &b in query {
        match b {
            _ if refused_raw(b) => return Err(TargetRefusal::Byte),
            b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}' | 0x80..=0xff => {
                push_escaped(out, b);
            }
            _ => out.push(char::from(b)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(raw: &str) -> Result<String, TargetRefusal> {
        canonical_target(false, raw.as_bytes(), TargetRules::default()).map(|t| t.text)
    }

    #[test]
    fn canonical_forms() {
        for (raw, want) in [
            ("/", "/"),
            ("/api/x", "/api/x"),
            ("//api//x", "/api/x"),
            ("/api/x/", "/api/x/"),
            ("/api//", "/api/"),
            ("/%61pi/x", "/api/x"),
            ("/%7euser", "/~user"),
            ("/a%2db", "/a-b"),
            ("/a%3ab", "/a%3Ab"),
            ("/a%e2%82%ac", "/a%E2%82%AC"),
            ("/a\u{20ac}", "/a%E2%82%AC"),
            ("/a|b{c}", "/a%7Cb%7Bc%7D"),
            ("/x?a=1&b=%2f", "/x?a=1&b=%2f"),
            ("/x?", "/x?"),
            ("/x?q=a/../b", "/x?q=a/../b"),
            ("/x?q=\u{e9}", "/x?q=%C3%A9"),
            ("http://api.example/x?y", "/x?y"),
            ("HTTPS://api.example", "/"),
            ("http://api.example?q=1", "/?q=1"),
            ("/.well-known/x", "/.well-known/x"),
            ("/a..b/...", "/a..b/..."),
            ("/a:b@c!$&'()*+,=", "/a:b@c!$&'()*+,="),
        ] {
            assert_eq!(c(raw), Ok(want.to_owned()), "{raw}");
            assert_eq!(c(want), Ok(want.to_owned()), "idempotent: {want}");
        }
    }

    #[test]
    fn refusals() {
        use TargetRefusal as R;
        for (raw, want) in [
            ("api/x", R::Form),
            ("x:/api/x", R::Form),
            ("", R::Form),
            ("*", R::Asterisk),
            ("ftp://h/x", R::Form),
            ("http:/x", R::Form),
            ("http://u@h/x", R::Userinfo),
            ("http://h:abc/x", R::Host),
            ("http://h\\x", R::Byte),
            ("/a/../b", R::DotSegment),
            ("/a/./b", R::DotSegment),
            ("/a/%2e%2E/b", R::DotSegment),
            ("/a/.%2e", R::DotSegment),
            ("/..", R::DotSegment),
            ("/api%2Fx", R::EncodedSlash),
            ("/%2fapi/x", R::EncodedSlash),
            ("/a%5cb", R::EncodedDelimiter),
            ("/a%00b", R::EncodedDelimiter),
            ("/a%0ab", R::EncodedDelimiter),
            ("/a%252e%252e/b", R::EncodedDelimiter),
            ("/a%3bb", R::EncodedDelimiter),
            ("/a\\b", R::Byte),
            ("/a b", R::Byte),
            ("/a\tb", R::Byte),
            ("/a#b", R::Byte),
            ("/a\x7fb", R::Byte),
            ("/a;jsessionid=1", R::PathParam),
            ("/..;/api", R::PathParam),
            ("/a%", R::Escape),
            ("/a%4", R::Escape),
            ("/a%zz", R::Escape),
            ("/%c0%ae%c0%ae/x", R::Utf8),
            ("/%c0%af", R::Utf8),
            ("/%ed%a0%80", R::Utf8),
            ("/%ff", R::Utf8),
            ("/x?a b", R::Byte),
            ("/x?a#b", R::Byte),
        ] {
            assert_eq!(c(raw), Err(want), "{raw:?}");
        }
        assert_eq!(
            canonical_target(false, b"/a\xffb", TargetRules::default()).map(|t| t.text),
            Err(R::Utf8)
        );
    }

    #[test]
    fn knobs() {
        let r = TargetRules {
            allow_encoded_slash: true,
            allow_path_params: true,
        };
        let k = |raw: &str| canonical_target(false, raw.as_bytes(), r).map(|t| t.text);
        assert_eq!(k("/api%2fx"), Ok("/api%2Fx".to_owned()));
        assert_eq!(k("/a;jsessionid=1/b"), Ok("/a;jsessionid=1/b".to_owned()));
        assert_eq!(k("/..;/api"), Err(TargetRefusal::DotSegment));
        assert_eq!(k("/.;x/api"), Err(TargetRefusal::DotSegment));
        assert_eq!(k("/%2e%2e%2fapi"), Ok("/..%2Fapi".to_owned()));
    }

    #[test]
    fn asterisk_only_for_options() {
        let t = canonical_target(true, b"*", TargetRules::default()).unwrap();
        assert!(t.is_asterisk());
        assert_eq!(t.query(), None);
    }

    #[test]
    fn parts() {
        let t = canonical_target(
            false,
            b"http://H.example.:81//a?b=1",
            TargetRules::default(),
        )
        .unwrap();
        assert_eq!((t.path(), t.query()), ("/a", Some("b=1")));
        let host = t.authority().unwrap();
        assert_eq!((host.name(), host.port()), ("h.example", Some(81)));
    }
}
