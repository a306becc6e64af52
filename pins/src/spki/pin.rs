//! The pin itself: SHA-256 of a DER SubjectPublicKeyInfo.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// An SPKI SHA-256 pin: what Android's `<pin digest="SHA-256">`, iOS's
/// `SPKI-SHA256-BASE64`, OkHttp's `sha256/…` and TrustKit all hold.
/// Displayed as standard base64 with padding (44 characters).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pin(pub [u8; 32]);

impl Pin {
    /// The pin of a DER SubjectPublicKeyInfo.
    pub fn of_spki(spki_der: &[u8]) -> Pin {
        let digest = ring::digest::digest(&ring::digest::SHA256, spki_der);
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        Pin(out)
    }

    /// Parses standard base64 (with or without padding; a `sha256/` prefix,
    /// as OkHttp writes it, is accepted). `None` unless it is 32 bytes.
    pub fn parse(text: &str) -> Option<Pin> {
        let text = text.trim();
        let text = text.strip_prefix("sha256/").unwrap_or(text);
        let bytes = STANDARD
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
            .ok()?;
        <[u8; 32]>::try_from(bytes.as_slice()).ok().map(Pin)
    }

    /// Standard base64 with padding.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }
}

impl fmt::Display for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pin({self})")
    }
}

impl serde::Serialize for Pin {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_its_own_output_and_refuses_other_lengths() {
        let pin = Pin::of_spki(b"anything");
        assert_eq!(Pin::parse(&pin.to_base64()), Some(pin));
        assert_eq!(Pin::parse(&format!("sha256/{pin}")), Some(pin));
        assert_eq!(Pin::parse(pin.to_base64().trim_end_matches('=')), Some(pin));
        assert_eq!(pin.to_base64().len(), 44);
        for bad in [
            "",
            "abc",
            "!!!!",
            &STANDARD.encode([0u8; 31]),
            &STANDARD.encode([0u8; 33]),
        ] {
            assert_eq!(Pin::parse(bad), None, "{bad}");
        }
    }
}
