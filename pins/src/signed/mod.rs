//! Signed pin configs: `format` is the JWS and its payload,
//! `keys` the signing and embedded public keys, `sign` makes one offline,
//! `verify` is the reference verifier, and [`Client`] keeps the state an
//! app keeps — the last good config, the lowest `seq` it will take next,
//! and which signing keys it still trusts.

mod format;
mod keys;
mod sign;
mod verify;

pub use format::{Audience, Payload, SignedDomain, TYP};
pub use keys::{KeyError, PublicKey, SigAlg, SigningKey, generate};
pub use sign::{SignOptions, payload_of, sign, sign_parts};
pub use verify::{MAX_JWS_BYTES, Reject, Rules, Verified, inspect, verify};

/// An app's view of the signed config, as the client rules say:
///
/// - a config is accepted only when it verifies with an embedded key whose
///   `kid` the last accepted config still names (its own signer or one of
///   its `next_kids`; before the first, any embedded key), its `aud` names
///   this app, its `seq` is at least the last accepted one and its `exp`
///   is in the future;
/// - an accepted config replaces the previous one whole (a pin the server
///   removed is gone at once);
/// - on any failure the last good config stays.
#[derive(Clone, Debug)]
pub struct Client {
    keys: Vec<PublicKey>,
    audience: String,
    min_seq: u64,
    current: Option<Verified>,
}

impl Client {
    /// A client with the embedded `keys`, for app `audience`, taking no
    /// `seq` below `min_seq` (the one the app shipped with, or 0).
    pub fn new(keys: Vec<PublicKey>, audience: &str, min_seq: u64) -> Client {
        Client {
            keys,
            audience: audience.to_owned(),
            min_seq,
            current: None,
        }
    }

    /// Offers a fetched config as of `now`: the new current config, or why
    /// it was refused (the current one stays).
    pub fn offer(&mut self, jws: &str, now: i64) -> Result<&Verified, Reject> {
        let allowed: Option<Vec<String>> = self.current.as_ref().map(|c| {
            let mut kids = c.payload.next_kids.clone();
            kids.extend(c.kid.clone());
            kids
        });
        let rules = Rules {
            keys: &self.keys,
            audience: &self.audience,
            min_seq: self.min_seq,
            now,
            allowed_kids: allowed.as_deref(),
        };
        let accepted = verify(jws, &rules)?;
        self.min_seq = accepted.payload.seq;
        Ok(self.current.insert(accepted))
    }

    /// The last good config.
    pub fn current(&self) -> Option<&Verified> {
        self.current.as_ref()
    }

    /// The last good config while it has not expired.
    pub fn current_valid(&self, now: i64) -> Option<&Verified> {
        self.current.as_ref().filter(|c| c.payload.exp > now)
    }

    /// The lowest `seq` the next config may carry.
    pub fn min_seq(&self) -> u64 {
        self.min_seq
    }
}
