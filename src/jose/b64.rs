//! Base64 in the two flavours we meet: strict base64url for JWS segments, and
//! the lenient forms account secrets and JWK members are written in.

use base64::Engine;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};

/// Strict base64url as RFC 7515 requires for compact JWS: no padding, no
/// whitespace, and canonical (the unused low bits of the last character are
/// zero), so one token has exactly one encoding.
pub(crate) const JWS: GeneralPurpose = URL_SAFE_NO_PAD;

const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
const URL_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

/// Standard base64 with padding (the `pay` claim's encoding).
pub(crate) const STANDARD: GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Why lenient base64 did not decode. Never holds the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LenientError {
    Empty,
    MixedAlphabets,
    Invalid,
}

/// Decodes base64 written in either alphabet, with or without padding,
/// ignoring surrounding white space (as `approov secret -get base64` and
/// copy-paste produce). Mixing `+`/`/` with `-`/`_` is refused.
pub(crate) fn decode_lenient(text: &str) -> Result<Vec<u8>, LenientError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(LenientError::Empty);
    }
    let standard = text.contains(['+', '/']);
    let url = text.contains(['-', '_']);
    let engine = match (standard, url) {
        (true, true) => return Err(LenientError::MixedAlphabets),
        (false, true) => &URL_LENIENT,
        _ => &STANDARD_LENIENT,
    };
    engine.decode(text).map_err(|_| LenientError::Invalid)
}

/// Strictly decodes one JWS segment into a new vector.
pub(crate) fn decode_segment(segment: &str) -> Option<Vec<u8>> {
    JWS.decode(segment).ok()
}

/// Strictly decodes one JWS segment into `out`, returning the length used.
pub(crate) fn decode_segment_into(segment: &str, out: &mut [u8]) -> Option<usize> {
    // decode_slice refuses (rather than truncates) when `out` is too small.
    JWS.decode_slice(segment, out).ok()
}

/// Encodes bytes as unpadded base64url.
pub(crate) fn encode_segment(bytes: &[u8]) -> String {
    JWS.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jws_segments_are_strict() {
        assert_eq!(decode_segment("YWJj").as_deref(), Some(&b"abc"[..]));
        assert_eq!(decode_segment("YWI").as_deref(), Some(&b"ab"[..]));
        // padding, other alphabet, non-canonical trailing bits, white space
        for bad in ["YWI=", "YW+/", "YWJ", "YWJ ", " YWJj", "YW\nJj"] {
            assert_eq!(decode_segment(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn lenient_takes_both_alphabets_and_padding() {
        let bytes: Vec<u8> = (0u8..=255).collect();
        let std_pad = base64::engine::general_purpose::STANDARD.encode(&bytes);
        let std_nopad = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&bytes);
        let url_pad = base64::engine::general_purpose::URL_SAFE.encode(&bytes);
        let url_nopad = URL_SAFE_NO_PAD.encode(&bytes);
        for text in [std_pad, std_nopad, url_pad, url_nopad] {
            assert_eq!(decode_lenient(&format!("  {text}\n")), Ok(bytes.clone()));
        }
        assert_eq!(decode_lenient("ab+_"), Err(LenientError::MixedAlphabets));
        assert_eq!(decode_lenient("  "), Err(LenientError::Empty));
        assert_eq!(decode_lenient("ab$c"), Err(LenientError::Invalid));
    }
}
