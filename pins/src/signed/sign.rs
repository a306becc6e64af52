//! Signing a pin config, offline: `pins.toml` → payload → compact JWS.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::format::{Audience, HeaderOut, Payload, SignedDomain, TYP};
use super::keys::{KeyError, SigningKey};
use crate::model::PinsFile;

/// What goes into the payload besides the domains.
#[derive(Clone, Debug)]
pub struct SignOptions {
    /// The app id (`aud`).
    pub audience: String,
    /// Sequence number.
    pub seq: u64,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Lifetime, seconds (`exp` = `iat` + this).
    pub ttl: i64,
    /// Refresh interval, seconds.
    pub refresh: u64,
    /// Kids of the keys that will sign next.
    pub next_kids: Vec<String>,
}

/// The payload for `file` with `options`: each domain's distinct pins.
pub fn payload_of(file: &PinsFile, options: &SignOptions) -> Payload {
    let domains = file
        .domains
        .iter()
        .map(|d| {
            let mut pins: Vec<String> = Vec::new();
            for p in d.pin_values() {
                let b64 = p.to_base64();
                if !pins.contains(&b64) {
                    pins.push(b64);
                }
            }
            SignedDomain {
                name: d.name.clone(),
                include_subdomains: d.include_subdomains,
                pins,
            }
        })
        .collect();
    Payload {
        iss: Some("attestgate".into()),
        aud: Audience::One(options.audience.clone()),
        seq: options.seq,
        iat: options.iat,
        exp: options.iat.saturating_add(options.ttl),
        refresh: options.refresh,
        next_kids: options.next_kids.clone(),
        domains,
    }
}

/// Signs `payload` with `key`: `base64url(header).base64url(payload).base64url(sig)`.
pub fn sign(payload: &Payload, key: &SigningKey) -> Result<String, KeyError> {
    if payload.domains.iter().any(|d| d.pins.is_empty()) {
        return Err(KeyError::Shape(
            "a domain without pins: clients refuse such a config",
        ));
    }
    let header = HeaderOut {
        alg: key.alg().as_str(),
        typ: TYP,
        kid: &key.kid,
    };
    let h = serde_json::to_vec(&header).map_err(|_| KeyError::Shape("header"))?;
    let p = serde_json::to_vec(payload).map_err(|_| KeyError::Shape("payload"))?;
    let mut out = URL_SAFE_NO_PAD.encode(h);
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(p));
    let sig = key.sign(out.as_bytes())?;
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(sig));
    Ok(out)
}

/// Signs arbitrary header and payload bytes with `key` (for test vectors
/// of malformed configs: real configs come from [`sign`]).
pub fn sign_parts(header: &[u8], payload: &[u8], key: &SigningKey) -> Result<String, KeyError> {
    let mut out = URL_SAFE_NO_PAD.encode(header);
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(payload));
    let sig = key.sign(out.as_bytes())?;
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(sig));
    Ok(out)
}
