//! The reference verifier: the client rules of docs/PINNING.md (dynamic pins), in order —
//! the JWS shape, `typ`, `alg` and `kid` against the embedded keys, the
//! signature, then (only on authenticated bytes) the payload: `aud`, `seq`
//! at least the minimum (rollback refused), `exp` in the future.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::format::{Header, Payload, TYP};
use super::keys::{PublicKey, SigAlg};

/// Largest signed config read (a config of thousands of pins fits).
pub const MAX_JWS_BYTES: usize = 256 * 1024;

/// Why a signed config is refused. `as_str` is the stable reason word the
/// test vectors use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reject {
    /// Not a compact JWS of three strict base64url parts with JSON header,
    /// or too large, or with `crit`.
    Malformed,
    /// `typ` is not `attestgate-pins+jwt`.
    Typ,
    /// `alg` is not ES256 or EdDSA, or not the key's algorithm.
    Algorithm,
    /// No embedded key answers to the `kid`.
    UnknownKey,
    /// The key exists but the last accepted config no longer names it
    /// (its own `kid` plus its `next_kids`).
    RetiredKey,
    /// The signature does not verify.
    BadSignature,
    /// The payload is not the documented shape (after the signature held).
    Claims,
    /// `aud` does not name this app.
    Audience,
    /// `seq` is lower than the last accepted.
    Rollback,
    /// `exp` is not in the future.
    Expired,
}

impl Reject {
    /// The reason word.
    pub fn as_str(self) -> &'static str {
        match self {
            Reject::Malformed => "malformed",
            Reject::Typ => "typ",
            Reject::Algorithm => "algorithm",
            Reject::UnknownKey => "unknown_key",
            Reject::RetiredKey => "retired_key",
            Reject::BadSignature => "bad_signature",
            Reject::Claims => "claims",
            Reject::Audience => "audience",
            Reject::Rollback => "rollback",
            Reject::Expired => "expired",
        }
    }

    /// A sentence for a terminal.
    pub fn explain(self) -> &'static str {
        match self {
            Reject::Malformed => {
                "not a compact JWS (three base64url parts, JSON header, no crit, at most 256 KiB)"
            }
            Reject::Typ => "the header's typ is not attestgate-pins+jwt",
            Reject::Algorithm => {
                "alg is not ES256 or EdDSA, or not the algorithm of the key for this kid"
            }
            Reject::UnknownKey => "no embedded public key answers to this kid",
            Reject::RetiredKey => {
                "this kid is neither the last accepted config's signer nor one of its next_kids"
            }
            Reject::BadSignature => "the signature does not verify",
            Reject::Claims => {
                "the payload is not a pin config (aud, seq, iat, exp, refresh, domains each with a name and at least one pin)"
            }
            Reject::Audience => "aud does not name this app",
            Reject::Rollback => "seq is lower than the last accepted config's (rollback)",
            Reject::Expired => "exp is not in the future",
        }
    }
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a verification is judged against.
#[derive(Clone, Debug)]
pub struct Rules<'a> {
    /// The public keys the app embeds.
    pub keys: &'a [PublicKey],
    /// This app's id.
    pub audience: &'a str,
    /// The lowest `seq` accepted (the last accepted config's).
    pub min_seq: u64,
    /// Now, Unix seconds.
    pub now: i64,
    /// When set, only these kids may sign (see [`Reject::RetiredKey`]).
    pub allowed_kids: Option<&'a [String]>,
}

/// An accepted config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The signer's `kid`.
    pub kid: Option<String>,
    /// The signer's algorithm.
    pub alg: SigAlg,
    /// The payload.
    pub payload: Payload,
    /// The payload as signed, as JSON (unknown members kept).
    pub payload_json: serde_json::Value,
}

fn part(text: &str) -> Result<Vec<u8>, Reject> {
    URL_SAFE_NO_PAD.decode(text).map_err(|_| Reject::Malformed)
}

/// A signed config read without the client rules: the JWS shape, `typ`,
/// `alg`, the signature when `keys` are given, and the payload's shape —
/// but no `aud`, `seq` or `exp` check. What a server that publishes the
/// file (the proxy) checks before serving it; an expired config is
/// returned (the caller decides).
pub fn inspect(jws: &str, keys: Option<&[PublicKey]>) -> Result<Verified, Reject> {
    let (kid, alg, payload_bytes) = authenticate(jws, keys, None)?;
    let (payload, payload_json) = claims(&payload_bytes)?;
    Ok(Verified {
        kid,
        alg,
        payload,
        payload_json,
    })
}

/// The JWS shape, header, and (with `keys`) the signature; the payload bytes.
fn authenticate(
    jws: &str,
    keys: Option<&[PublicKey]>,
    allowed_kids: Option<&[String]>,
) -> Result<(Option<String>, SigAlg, Vec<u8>), Reject> {
    let jws = jws.trim();
    if jws.len() > MAX_JWS_BYTES {
        return Err(Reject::Malformed);
    }
    let mut parts = jws.split('.');
    let (Some(h64), Some(p64), Some(s64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Reject::Malformed);
    };
    let header_bytes = part(h64)?;
    let payload_bytes = part(p64)?;
    let sig = part(s64)?;
    let header: Header = serde_json::from_slice(&header_bytes).map_err(|_| Reject::Malformed)?;
    if header.crit.is_some() {
        return Err(Reject::Malformed);
    }
    if header.typ.as_deref() != Some(TYP) {
        return Err(Reject::Typ);
    }
    let alg = SigAlg::from_name(&header.alg).ok_or(Reject::Algorithm)?;
    let Some(keys) = keys else {
        return Ok((header.kid, alg, payload_bytes));
    };
    let answers = |k: &&PublicKey| match (&k.kid, &header.kid) {
        (None, _) => true,
        (Some(a), Some(b)) => a == b,
        (Some(_), None) => false,
    };
    let named: Vec<&PublicKey> = keys.iter().filter(answers).collect();
    if named.is_empty() {
        return Err(Reject::UnknownKey);
    }
    let candidates: Vec<&PublicKey> = named.iter().copied().filter(|k| k.alg == alg).collect();
    if candidates.is_empty() {
        return Err(Reject::Algorithm);
    }
    if let Some(allowed) = allowed_kids
        && !header.kid.as_ref().is_some_and(|k| allowed.contains(k))
    {
        return Err(Reject::RetiredKey);
    }
    let signed = &jws[..h64.len() + 1 + p64.len()];
    if !candidates
        .iter()
        .any(|k| k.verifies(signed.as_bytes(), &sig))
    {
        return Err(Reject::BadSignature);
    }
    Ok((header.kid, alg, payload_bytes))
}

/// The payload's shape: every domain named, with at least one valid pin.
fn claims(payload_bytes: &[u8]) -> Result<(Payload, serde_json::Value), Reject> {
    let payload: Payload = serde_json::from_slice(payload_bytes).map_err(|_| Reject::Claims)?;
    let payload_json: serde_json::Value =
        serde_json::from_slice(payload_bytes).map_err(|_| Reject::Claims)?;
    if payload.domains.iter().any(|d| {
        d.name.is_empty()
            || d.pins.is_empty()
            || d.pins.iter().any(|p| crate::Pin::parse(p).is_none())
    }) {
        return Err(Reject::Claims);
    }
    Ok((payload, payload_json))
}

/// Verifies a compact JWS against `rules`.
pub fn verify(jws: &str, rules: &Rules<'_>) -> Result<Verified, Reject> {
    let (kid, alg, payload_bytes) = authenticate(jws, Some(rules.keys), rules.allowed_kids)?;
    let (payload, payload_json) = claims(&payload_bytes)?;
    if !payload.aud.contains(rules.audience) {
        return Err(Reject::Audience);
    }
    if payload.seq < rules.min_seq {
        return Err(Reject::Rollback);
    }
    if payload.exp <= rules.now {
        return Err(Reject::Expired);
    }
    Ok(Verified {
        kid,
        alg,
        payload,
        payload_json,
    })
}
