//! A reference reading of a request path, the way a normalising server
//! (nginx, Python's `http.server`, most frameworks) reads it: the path
//! before `?`, fully percent-decoded, `//` runs merged, dot segments
//! resolved (RFC 3986 §5.2.4). Independent of `attestgate::target` on
//! purpose: the fuzz target and the property tests hold the canonicaliser
//! to it ("a canonical form never routes differently from its input").
//!
//! Shared with `fuzz/` through `#[path]`, so it uses `std` only.

/// The path of an origin-form `target` as a normalising server reads it,
/// or `None` if it is not origin-form or has an escape that is not `%XX`.
pub fn normalised_path(target: &[u8]) -> Option<Vec<u8>> {
    if target.first() != Some(&b'/') {
        return None;
    }
    let path = target.split(|&b| b == b'?').next().unwrap_or(target);
    let mut decoded = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < path.len() {
        if path[i] == b'%' {
            let hex = std::str::from_utf8(path.get(i + 1..i + 3)?).ok()?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            decoded.push(path[i]);
            i += 1;
        }
    }
    let mut out: Vec<&[u8]> = Vec::new();
    let segments: Vec<&[u8]> = decoded.split(|&b| b == b'/').collect();
    let last = segments.len() - 1;
    let mut trailing = false;
    for (n, seg) in segments.iter().enumerate() {
        match *seg {
            b"" => trailing = n == last && n > 0,
            b"." => trailing = n == last,
            b".." => {
                out.pop();
                trailing = n == last;
            }
            s => {
                out.push(s);
                trailing = false;
            }
        }
    }
    let mut result = Vec::with_capacity(decoded.len());
    for s in &out {
        result.push(b'/');
        result.extend_from_slice(s);
    }
    if trailing || out.is_empty() {
        result.push(b'/');
    }
    Some(result)
}
