//! A JWKS document read into keys, the keys it skips logged: one reading
//! for the inline JWKS, JWKS files and the JWKS URL.

use crate::keys::{self, Key};

/// Parses a JWKS document, logging the keys it skips.
pub(super) fn parse_jwks_doc(source: &str, bytes: &[u8]) -> Result<Vec<Key>, String> {
    let (found, skipped) = keys::parse_jwks(bytes).map_err(|e| e.to_string())?;
    log_skipped(source, &skipped);
    Ok(found)
}

fn log_skipped(source: &str, skipped: &[keys::Skipped]) {
    for s in skipped {
        tracing::warn!(source, "skipping JWK {s}");
    }
}
