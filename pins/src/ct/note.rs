//! Signed notes (c2sp.org/signed-note) holding checkpoints
//! (c2sp.org/tlog-checkpoint), signed as static-ct-api says: a note
//! signature of type `0x05` whose bytes are an RFC 6962 tree head
//! signature with its timestamp in front.
//!
//! ```text
//! rome2026h1.example.org          <- origin
//! 300                             <- tree size
//! lCkHUpkm…u2v0=                  <- root hash, base64
//!                                 <- blank line
//! — rome2026h1.example.org kVB1Jg…   <- "— NAME base64(key ID ‖ signature)"
//! ```
//!
//! Signatures by other keys (witnesses, grease) are skipped; the log's
//! own must verify. Bounded: a note over [`MAX_NOTE`] bytes or with more
//! than [`MAX_SIGNATURES`] signature lines is refused unread.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::digest::{Context, SHA256};

use super::key::{LogKey, tree_head_input};
use super::merkle::Hash;

/// The largest note read.
pub const MAX_NOTE: usize = 64 * 1024;
/// The most signature lines read.
pub const MAX_SIGNATURES: usize = 100;

/// A verified checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// Its origin line.
    pub origin: String,
    /// The tree size.
    pub size: u64,
    /// The root hash.
    pub root: Hash,
    /// The log's signature timestamp, milliseconds.
    pub timestamp_ms: u64,
}

/// Why a note was refused: `Malformed` is the log's bad output, `Signature`
/// a head the log's key did not sign (misbehaviour, or the wrong key).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// Not a signed note or not a checkpoint.
    #[error("malformed checkpoint: {0}")]
    Malformed(String),
    /// No signature of the log's key verifies.
    #[error("bad checkpoint signature: {0}")]
    Signature(String),
}

/// The key ID of an RFC 6962 note signature: the first four bytes of
/// `SHA-256(name ‖ "\n" ‖ 0x05 ‖ log ID)`.
pub fn rfc6962_key_id(name: &str, key: &LogKey) -> [u8; 4] {
    let mut c = Context::new(&SHA256);
    c.update(name.as_bytes());
    c.update(b"\n\x05");
    c.update(&key.id);
    let d = c.finish();
    let mut id = [0u8; 4];
    id.copy_from_slice(&d.as_ref()[..4]);
    id
}

/// Reads a signed checkpoint of the log with `origin` and `key`.
pub fn open_checkpoint(bytes: &[u8], origin: &str, key: &LogKey) -> Result<Checkpoint, NoteError> {
    let bad = |m: &str| NoteError::Malformed(m.to_owned());
    if bytes.len() > MAX_NOTE {
        return Err(bad("larger than 64 KiB"));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8"))?;
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(bad("a control character"));
    }
    let split = text
        .rfind("\n\n")
        .ok_or_else(|| bad("no blank line before the signatures"))?;
    let (body, sigs) = (&text[..=split], &text[split + 2..]);
    if !sigs.ends_with('\n') {
        return Err(bad("the signatures do not end with a newline"));
    }
    let cp = parse_checkpoint(body)?;
    if cp.0 != origin {
        return Err(NoteError::Signature(format!(
            "origin {:?}, expected {origin:?}",
            cp.0
        )));
    }
    let want_id = rfc6962_key_id(origin, key);
    let mut tried = 0usize;
    let mut why = String::from("no signature by the log's key");
    for (n, line) in sigs.lines().enumerate() {
        if n >= MAX_SIGNATURES {
            return Err(bad("more than 100 signatures"));
        }
        let rest = line
            .strip_prefix("\u{2014} ")
            .ok_or_else(|| bad("a signature line without \"— \""))?;
        let (name, b64) = rest
            .rsplit_once(' ')
            .ok_or_else(|| bad("a signature line without a key name"))?;
        if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '+') {
            return Err(bad("a signature line with a bad key name"));
        }
        let raw = STANDARD
            .decode(b64)
            .map_err(|_| bad("a signature that is not base64"))?;
        if raw.len() < 5 {
            return Err(bad("a signature shorter than its key ID"));
        }
        if name != origin || raw[..4] != want_id {
            continue; // another key: a witness, a grease line
        }
        tried += 1;
        let sig = &raw[4..];
        if sig.len() < 8 {
            why = "the log's signature is too short".into();
            continue;
        }
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&sig[..8]);
        let timestamp_ms = u64::from_be_bytes(ts);
        match key.verify(&tree_head_input(timestamp_ms, cp.1, &cp.2), &sig[8..]) {
            Ok(()) => {
                return Ok(Checkpoint {
                    origin: cp.0,
                    size: cp.1,
                    root: cp.2,
                    timestamp_ms,
                });
            }
            Err(e) => why = e,
        }
    }
    Err(NoteError::Signature(if tried == 0 {
        why
    } else {
        format!("{why} ({tried} signature(s) by the log's key ID tried)")
    }))
}

/// Origin, size and root of a checkpoint body (extension lines allowed).
fn parse_checkpoint(body: &str) -> Result<(String, u64, Hash), NoteError> {
    let bad = |m: &str| NoteError::Malformed(m.to_owned());
    let mut lines = body.split_terminator('\n');
    let origin = lines
        .next()
        .filter(|l| !l.is_empty())
        .ok_or_else(|| bad("no origin line"))?;
    let size_text = lines.next().ok_or_else(|| bad("no tree size line"))?;
    if size_text.is_empty()
        || !size_text.bytes().all(|b| b.is_ascii_digit())
        || (size_text.len() > 1 && size_text.starts_with('0'))
    {
        return Err(bad("the tree size is not a decimal number"));
    }
    let size: u64 = size_text
        .parse()
        .map_err(|_| bad("the tree size is too large"))?;
    let root_text = lines.next().ok_or_else(|| bad("no root hash line"))?;
    let root = STANDARD
        .decode(root_text)
        .map_err(|_| bad("the root hash is not base64"))?;
    let root: Hash = root
        .try_into()
        .map_err(|_| bad("the root hash is not 32 bytes"))?;
    if lines.any(str::is_empty) {
        return Err(bad("an empty extension line"));
    }
    Ok((origin.to_owned(), size, root))
}

/// The origin of a static-ct-api log: its submission prefix without the
/// scheme and the trailing slash.
pub fn origin_of(submission_url: &str) -> String {
    let s = submission_url
        .strip_prefix("https://")
        .or_else(|| submission_url.strip_prefix("http://"))
        .unwrap_or(submission_url);
    s.trim_end_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_malformed_notes() {
        let key = LogKey::from_spki(&STANDARD.decode("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEPIcer7RB32jt4bTEbhgUKLKvOctFD+I2hoDItFxUBlJiGFvftBuRk3fO7e1T7gC2ekyfL7XoO2oN/ObcZyc4EA==").unwrap()).unwrap();
        let root = STANDARD.encode([7u8; 32]);
        for (text, want) in [
            ("o\n1\n", "no blank line"),
            (
                &format!("o\n01\n{root}\n\n— o AAAAAAA=\n") as &str,
                "decimal",
            ),
            (&format!("o\n1\n{root}\n\n— o AAAA\n"), "shorter"),
            ("o\n1\nAAAA\n\n— o AAAAAAA=\n", "32 bytes"),
            (&format!("o\n1\n{root}\n\n- o AAAAAAA=\n"), "without"),
            (&format!("o\n1\n{root}\n\n— o AAAAAAA="), "newline"),
            (&format!("o\n1\x07\n{root}\n\n— o AAAAAAA=\n"), "control"),
            (
                &format!("o\n99999999999999999999999\n{root}\n\n— o AAAAAAA=\n"),
                "too large",
            ),
        ] {
            let e = open_checkpoint(text.as_bytes(), "o", &key).unwrap_err();
            assert!(e.to_string().contains(want), "{text:?}: {e}");
        }
        // a well-formed note without the log's signature
        let other = format!("o\n1\n{root}\n\n— o AAAAAAAA\n");
        assert!(matches!(
            open_checkpoint(other.as_bytes(), "o", &key),
            Err(NoteError::Signature(_))
        ));
        let wrong_origin = format!("p\n1\n{root}\n\n— p AAAAAAAA\n");
        assert!(matches!(
            open_checkpoint(wrong_origin.as_bytes(), "o", &key),
            Err(NoteError::Signature(_))
        ));
        assert_eq!(
            origin_of("https://log.example/2026h1/"),
            "log.example/2026h1"
        );
    }
}
