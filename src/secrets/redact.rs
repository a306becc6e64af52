//! What a log line may show of a request, a URL or anything else a
//! library prints: never a token, a signature, a secret or a password.
//!
//! - [`target`]: a request target with every query value replaced (the
//!   token of a `query_param` route travels there, and so may a
//!   substituted secret); parameter names stay.
//! - [`url`]: a URL without its userinfo (`user:password@`), query values
//!   replaced.
//! - [`line`]: a whole log line as any library wrote it (Pingora's
//!   `Fail to proxy: … GET /ws?approov-token=eyJ…` among them): userinfo
//!   in URLs, query values of request targets, JWS-shaped tokens
//!   (`eyJ….….…`), RFC 9421 byte sequences (`:BASE64:`) and long random
//!   base64 runs (keys, secrets) are replaced by [`REDACTED`].
//!
//! Over-redaction is accepted (a long base64 path segment, a host that
//! looks like a token): a log line that hides too much costs a second
//! look, one that shows a token costs an account.

use std::borrow::Cow;

/// What a redacted value is replaced by.
pub const REDACTED: &str = "[redacted]";

/// A request target (`/path?query`) with every query value replaced.
pub fn target(path_and_query: &str) -> Cow<'_, str> {
    match path_and_query.split_once('?') {
        None => Cow::Borrowed(path_and_query),
        Some((path, query)) => {
            let mut out = String::with_capacity(path_and_query.len());
            out.push_str(path);
            out.push('?');
            redact_query(query, &mut out);
            Cow::Owned(out)
        }
    }
}

/// A URL without its userinfo and with its query values replaced.
pub fn url(text: &str) -> Cow<'_, str> {
    let stripped = userinfo(text);
    if !stripped.contains('?') {
        return stripped;
    }
    Cow::Owned(queries(&stripped).into_owned())
}

/// A whole log line with everything secret-shaped replaced.
pub fn line(text: &str) -> Cow<'_, str> {
    let passes: [fn(&str) -> Cow<'_, str>; 5] =
        [userinfo, queries, tokens, byte_sequences, long_runs];
    let mut out = Cow::Borrowed(text);
    for pass in passes {
        let changed = match pass(&out) {
            Cow::Owned(s) => Some(s),
            Cow::Borrowed(_) => None,
        };
        if let Some(s) = changed {
            out = Cow::Owned(s);
        }
    }
    out
}

fn redact_query(query: &str, out: &mut String) {
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((name, _)) => {
                out.push_str(name);
                out.push('=');
                out.push_str(REDACTED);
            }
            // A bare word is a name, unless it is long enough to be a value.
            None if pair.len() <= 32 => out.push_str(pair),
            None => out.push_str(REDACTED),
        }
    }
}

/// Characters that end a URL or target inside a line.
fn ends_url(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | ',' | '>' | '<' | '`' | '\\' | ')' | ']')
}

/// `scheme://user:pass@host` → `scheme://[redacted]@host`.
fn userinfo(text: &str) -> Cow<'_, str> {
    if !text.contains("://") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut changed = false;
    while let Some(i) = rest.find("://") {
        let (before, after) = rest.split_at(i + 3);
        out.push_str(before);
        let end = after
            .find(|c: char| ends_url(c) || matches!(c, '/' | '?' | '#'))
            .unwrap_or(after.len());
        let authority = &after[..end];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str(REDACTED);
                out.push_str(&authority[at..]);
                changed = true;
            }
            None => out.push_str(authority),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(text)
    }
}

/// Query values of every `…?query` in the line (a `?` right after a
/// non-space character starts one; it ends at a space, a quote or a
/// comma).
fn queries(text: &str) -> Cow<'_, str> {
    let mut out = String::new();
    let mut last = 0;
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(q) = text[i..].find('?').map(|q| q + i) {
        let starts = q > 0 && !(bytes[q - 1] as char).is_whitespace();
        let end = text[q + 1..]
            .find(ends_url)
            .map_or(text.len(), |e| e + q + 1);
        let query = &text[q + 1..end];
        if starts && query.contains('=') {
            out.push_str(&text[last..=q]);
            redact_query(query, &mut out);
            last = end;
        }
        i = end.max(q + 1);
        if i >= text.len() {
            break;
        }
    }
    if last == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[last..]);
    Cow::Owned(out)
}

fn b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Replaces every match of `find` (start, end) in `text`.
fn replace_spans(
    text: &str,
    mut find: impl FnMut(&[u8], usize) -> Option<(usize, usize)>,
) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out = String::new();
    let (mut last, mut i) = (0, 0);
    while i < bytes.len() {
        match find(bytes, i) {
            Some((start, end)) => {
                out.push_str(&text[last..start]);
                out.push_str(REDACTED);
                last = end;
                i = end;
            }
            None => i += 1,
        }
    }
    if last == 0 && out.is_empty() {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[last..]);
    Cow::Owned(out)
}

/// The end of a base64url run starting at `i`.
fn run_end(bytes: &[u8], i: usize) -> usize {
    bytes[i..]
        .iter()
        .position(|&b| !b64url(b))
        .map_or(bytes.len(), |n| n + i)
}

/// JWS compact tokens: `ey…` (a JSON header), then at least one `.`
/// segment. Only at the start of a run.
fn tokens(text: &str) -> Cow<'_, str> {
    if !text.contains("ey") {
        return Cow::Borrowed(text);
    }
    replace_spans(text, |b, i| {
        if !b[i..].starts_with(b"ey") || (i > 0 && b64url(b[i - 1])) {
            return None;
        }
        let first = run_end(b, i);
        if first - i < 10 || b.get(first) != Some(&b'.') {
            return None;
        }
        let mut end = first;
        while b.get(end) == Some(&b'.') {
            end = run_end(b, end + 1);
        }
        Some((i, end))
    })
}

/// RFC 8941 byte sequences long enough to be a signature or a key:
/// `:BASE64:` with at least 20 characters inside.
fn byte_sequences(text: &str) -> Cow<'_, str> {
    if !text.contains(':') {
        return Cow::Borrowed(text);
    }
    replace_spans(text, |b, i| {
        if b[i] != b':' {
            return None;
        }
        let inner = b[i + 1..]
            .iter()
            .position(|&c| !(c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=')))?;
        (inner >= 20 && b.get(i + 1 + inner) == Some(&b':')).then_some((i + 1, i + 1 + inner))
    })
}

/// Runs of 64 or more base64 characters (either alphabet) holding upper-
/// and lower-case letters and digits: keys and secrets, not words or
/// paths.
fn long_runs(text: &str) -> Cow<'_, str> {
    let any = |b: u8| b64url(b) || matches!(b, b'+' | b'/' | b'=');
    replace_spans(text, |b, i| {
        if !any(b[i]) || (i > 0 && any(b[i - 1])) {
            return None;
        }
        let end = b[i..]
            .iter()
            .position(|&c| !any(c))
            .map_or(b.len(), |n| n + i);
        let run = &b[i..end];
        let mixed = run.iter().any(u8::is_ascii_uppercase)
            && run.iter().any(u8::is_ascii_lowercase)
            && run.iter().any(u8::is_ascii_digit);
        (run.len() >= 64 && mixed).then_some((i, end))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWT: &str =
        "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjE3OTk5OTk5OTl9.c2lnbmF0dXJlLWJ5dGVzLWhlcmUtMzItYnl0ZXM";

    #[test]
    fn targets_keep_names_only() {
        assert_eq!(target("/ws"), "/ws");
        assert_eq!(
            target("/ws?approov-token=abc&x=1&flag"),
            "/ws?approov-token=[redacted]&x=[redacted]&flag"
        );
        assert_eq!(target(&format!("/ws?{JWT}")), "/ws?[redacted]");
    }

    #[test]
    fn urls_lose_their_userinfo() {
        assert_eq!(
            url("https://user:s3cret@issuer.example/jwks?k=v"),
            "https://[redacted]@issuer.example/jwks?k=[redacted]"
        );
        assert_eq!(url("http://127.0.0.1:9/jwks"), "http://127.0.0.1:9/jwks");
        assert_eq!(url("http://a@b@c/x"), "http://[redacted]@c/x");
    }

    #[test]
    fn lines_hide_every_secret_shape() {
        let sig = "install=:dGhpcyBpcyBhIHNpZ25hdHVyZSBvZiA2NCBieXRlcyByICsgcyBjb25jYXRlbmF0ZWQgdG9nZXRoZXI=:";
        let secret =
            "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3ODk=";
        for (input, gone) in [
            (
                format!(
                    "Fail to proxy: Upstream ConnectRefused, status: 502, tries: 1, retry: false, GET /ws?approov-token={JWT}, Host: localhost:8080"
                ),
                JWT.to_owned(),
            ),
            (format!("token {JWT} seen"), JWT.to_owned()),
            (
                format!("header=\"Bearer {JWT}\""),
                "c2lnbmF0dXJl".to_owned(),
            ),
            (format!("signature: {sig}"), "dGhpcyBpcyBh".to_owned()),
            (format!("key {secret} loaded"), secret.to_owned()),
            (
                "fetch http://admin:hunter2@10.0.0.1/jwks failed".to_owned(),
                "hunter2".to_owned(),
            ),
            (
                "GET /p?api_key=sk_live_123&x=1 HTTP/1.1".to_owned(),
                "sk_live_123".to_owned(),
            ),
        ] {
            let out = line(&input);
            assert!(!out.contains(&gone), "{input} -> {out}");
            assert!(out.contains(REDACTED), "{out}");
        }
        for kept in [
            "listening on 127.0.0.1:8080",
            "route api: upstream http://api.example.com:9000/ resolved",
            "/tmp/attestgate-proxy-1234-0/attestgate.toml: server.listen[0]: in use",
            "what? nothing",
            "version 0.9.1 of pingora-core",
            "key ab12cd34 (fingerprint)",
        ] {
            assert_eq!(line(kept), kept);
        }
    }
}
