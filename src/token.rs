//! [`VerifiedToken`]: the proof that a token passed every check.

use std::fmt;
use std::sync::Arc;

use crate::alg::Alg;
use crate::jose::{Claims, KNOWN_CLAIMS};

/// A token that passed verification and binding. Only the verifier makes
/// one, so holding a `VerifiedToken` means the request was checked.
///
/// Cheap to clone (shared). Its `Debug` shows the claims, never the token.
#[derive(Clone)]
pub struct VerifiedToken {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) claims: Claims,
    /// The decoded claims JSON, as signed.
    pub(crate) json: Box<str>,
    pub(crate) alg: Alg,
    pub(crate) kid: Option<Box<str>>,
    /// The decoded `pay` claim, when it is base64 of 32 bytes.
    pub(crate) pay_hash: Option<[u8; 32]>,
}

impl VerifiedToken {
    pub(crate) fn new(inner: Arc<Inner>) -> VerifiedToken {
        VerifiedToken { inner }
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    /// `exp`, seconds since the Unix epoch.
    pub fn exp(&self) -> f64 {
        self.inner.claims.exp
    }

    /// `nbf`, if present.
    pub fn nbf(&self) -> Option<f64> {
        self.inner.claims.nbf
    }

    /// `iat`, if present.
    pub fn iat(&self) -> Option<f64> {
        self.inner.claims.iat
    }

    /// Approov's `ip` claim: the client IP address the token was issued to.
    pub fn ip(&self) -> Option<&str> {
        self.inner.claims.ip.as_deref()
    }

    /// Approov's `did` claim: the device id.
    pub fn did(&self) -> Option<&str> {
        self.inner.claims.did.as_deref()
    }

    /// Approov's `pay` claim: the token binding hash, base64.
    pub fn pay(&self) -> Option<&str> {
        self.inner.claims.pay.as_deref()
    }

    /// `iss`, if present.
    pub fn iss(&self) -> Option<&str> {
        self.inner.claims.iss.as_deref()
    }

    /// `aud`: empty when absent, one entry for a single string.
    pub fn aud(&self) -> &[String] {
        &self.inner.claims.aud
    }

    /// `sub`, if present.
    pub fn sub(&self) -> Option<&str> {
        self.inner.claims.sub.as_deref()
    }

    /// The algorithm that verified the token.
    pub fn alg(&self) -> Alg {
        self.inner.alg
    }

    /// The `kid` of the token's header, if any.
    pub fn kid(&self) -> Option<&str> {
        self.inner.kid.as_deref()
    }

    /// The whole claims set as signed (JSON text).
    pub fn claims_json(&self) -> &str {
        &self.inner.json
    }

    /// One claim by name, parsed from the signed JSON.
    pub fn claim(&self, name: &str) -> Option<serde_json::Value> {
        let mut all: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&self.inner.json).ok()?;
        all.remove(name)
    }

    /// All claims as a JSON object.
    pub fn claims(&self) -> serde_json::Map<String, serde_json::Value> {
        serde_json::from_str(&self.inner.json).unwrap_or_default()
    }

    /// The claims other than `exp`, `nbf`, `iat`, `iss`, `sub`, `aud`, `ip`,
    /// `did` and `pay`.
    pub fn extra(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut all = self.claims();
        for known in KNOWN_CLAIMS {
            all.remove(known);
        }
        all
    }
}

impl fmt::Debug for VerifiedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.inner.claims;
        f.debug_struct("VerifiedToken")
            .field("alg", &self.inner.alg)
            .field("kid", &self.inner.kid)
            .field("exp", &c.exp)
            .field("iss", &c.iss)
            .field("sub", &c.sub)
            .field("aud", &c.aud)
            .field("did", &c.did)
            .finish_non_exhaustive()
    }
}
