//! Warnings about an account secret's text that decodes but is probably
//! not what was meant: hex pasted where base64 is expected (hex digits are
//! base64 letters, so 64 hex digits decode to 48 wrong bytes and every
//! token then fails `bad_signature`), a UTF-8 byte-order mark (Windows
//! editors write one), a Windows line end. Never quotes the secret.

/// What looks wrong with a secret's text, one sentence each (empty: none).
pub fn secret_warnings(text: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    if text.starts_with(BOM) {
        out.push(
            "starts with a UTF-8 byte-order mark (BOM), which was skipped; save the file without it"
                .to_owned(),
        );
    }
    if text.contains(&b'\r') {
        out.push(
            "has a Windows line end (\\r), which was skipped; save the file with Unix line ends"
                .to_owned(),
        );
    }
    let line = std::str::from_utf8(text)
        .ok()
        .and_then(|t| super::secret_line(t).ok());
    if let Some(line) = line
        && line.len() >= 32
        && line.len() % 2 == 0
        && line.bytes().all(|b| b.is_ascii_hexdigit())
    {
        out.push(format!(
            "looks like hex ({} hex digits), but secrets are read as base64: it decodes to {} bytes that are not the secret, and every token would fail bad_signature; if it is hex, convert it with `xxd -r -p FILE | base64 -w0`",
            line.len(),
            line.len() / 4 * 3
        ));
    }
    out
}

/// A UTF-8 byte-order mark.
pub(crate) const BOM: &[u8] = b"\xEF\xBB\xBF";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_warning_says_which() {
        let b64 = "q2mO0A5wH1DbB1GzpNiTWq0nNS6M9FWE3cu8BjrPtg+bVVJdZWBzkx9l2lHwRLk0yMmVDnNqS4mLKYBTpCjWbw==";
        assert!(secret_warnings(b64.as_bytes()).is_empty());
        let hex = "9f".repeat(32);
        let w = secret_warnings(hex.as_bytes());
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("looks like hex (64 hex digits)") && w[0].contains("48 bytes"));
        assert!(!w[0].contains(&hex), "the secret is never quoted");
        let bom = [BOM, b64.as_bytes()].concat();
        assert!(secret_warnings(&bom)[0].contains("byte-order mark (BOM)"));
        let crlf = format!("{b64}\r\n");
        assert!(secret_warnings(crlf.as_bytes())[0].contains("Windows line end"));
    }
}
