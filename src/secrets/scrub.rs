//! Finding a substituted secret that an upstream echoes back (in a response
//! header or reason phrase), in whatever encoding a client library or web
//! framework would have put it in: raw; percent-encoded with upper- or
//! lower-case hex (`%2F`, `%2f`); `+` for space (HTML forms, Python's
//! `quote_plus`); partly encoded (JavaScript's `encodeURI` leaves `/:@…`
//! alone, `encodeURIComponent` does not); encoded twice (`%252F`); and JSON
//! string escapes (`\/`, `\u002f`).
//!
//! The rule is "decode leniently, then compare": every decoding of the
//! haystack is searched for the raw secret. Only the headers of requests
//! that had a substitution are scanned, so the cost stays off every other
//! request.

use zeroize::Zeroizing;

use crate::secrets::secret::Secret;

/// How many rounds of percent-decoding are tried (an encoded, then
/// re-encoded value is the deepest a framework produces in practice).
const ROUNDS: usize = 3;

/// Whether `haystack` holds `secret` in any of the encodings above.
pub fn contains_secret(haystack: &[u8], secret: &Secret) -> bool {
    let s = secret.expose();
    if s.is_empty() {
        return false;
    }
    if find(haystack, s) {
        return true;
    }
    if !haystack.iter().any(|b| matches!(b, b'%' | b'+' | b'\\')) {
        return false;
    }
    let json = Zeroizing::new(json_unescape(haystack));
    for start in [haystack, &json[..]] {
        for plus_is_space in [false, true] {
            let mut current = Zeroizing::new(start.to_vec());
            for _ in 0..ROUNDS {
                let next = Zeroizing::new(percent_decode(&current, plus_is_space));
                if find(&next, s) {
                    return true;
                }
                if next.len() == current.len() {
                    break;
                }
                current = next;
            }
        }
    }
    false
}

fn find(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.len() >= needle.len() && haystack.windows(needle.len()).any(|w| w == needle)
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// `%XX` (either case) → the byte; a `%` that is not an escape stays; `+`
/// → space when `plus_is_space`.
fn percent_decode(text: &[u8], plus_is_space: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'%' => match (
                text.get(i + 1).copied().and_then(hex),
                text.get(i + 2).copied().and_then(hex),
            ) {
                (Some(h), Some(l)) => {
                    out.push((h << 4) | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// JSON string escapes (`\/`, `\"`, `\\`, `\uXXXX` for ASCII and Latin-1)
/// → the bytes they stand for (UTF-8); anything else stays.
fn json_unescape(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'\\' {
            match text.get(i + 1) {
                Some(&c @ (b'/' | b'"' | b'\\')) => {
                    out.push(c);
                    i += 2;
                    continue;
                }
                Some(b'u') => {
                    let code = text
                        .get(i + 2..i + 6)
                        .and_then(|h| std::str::from_utf8(h).ok())
                        .and_then(|h| u32::from_str_radix(h, 16).ok())
                        .and_then(char::from_u32);
                    if let Some(ch) = code {
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        i += 6;
                        continue;
                    }
                }
                _ => {}
            }
        }
        out.push(text[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_encoding_of_the_secret_is_found() {
        let secret = Secret::new(b"real key/1+x".to_vec());
        for hay in [
            "x-echo: real key/1+x",
            "real%20key%2F1%2Bx",
            "real%20key%2f1%2bx",
            "real+key%2F1%2Bx",
            "real%20key/1%2Bx",
            "real%2520key%252F1%252Bx",
            "real key\\/1+x",
            "real\\u0020key\\u002f1+x",
            "%72%65%61%6c%20%6b%65%79%2f%31%2b%78",
            "pre-real%20key%2F1%2Bx-post",
        ] {
            assert!(contains_secret(hay.as_bytes(), &secret), "{hay}");
        }
        for hay in [
            "",
            "real key",
            "real%20key%2F2",
            "real%2Xkey/1+x",
            "REAL KEY/1+X",
        ] {
            assert!(!contains_secret(hay.as_bytes(), &secret), "{hay}");
        }
    }

    #[test]
    fn a_lone_percent_or_a_short_haystack_is_harmless() {
        let secret = Secret::new(b"abc".to_vec());
        for hay in ["%", "%%", "%4", "+", "\\", "\\u", "\\u12", "ab"] {
            assert!(!contains_secret(hay.as_bytes(), &secret), "{hay}");
        }
        assert!(!contains_secret(b"anything", &Secret::new(Vec::new())));
    }
}
