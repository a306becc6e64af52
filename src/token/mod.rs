//! [`VerifiedToken`]: the proof that a token passed every check.
//!
//! What a cached verification keeps is small on purpose (it is held for
//! every cached token, 100k by default): the token itself (the cache key),
//! the times checked on every request, the binding hash, and the algorithm.
//! The claims a handler may read (`ip`, `did`, ...) are decoded from the
//! token the first time one is asked for, and kept from then on.

pub(crate) mod cache;
pub mod mint;

use std::fmt;
use std::sync::{Arc, OnceLock};

use crate::jose::alg::Alg;
use crate::jose::b64;
use crate::jose::{self, Claims, KNOWN_CLAIMS};
use crate::msgsig::{InstallKey, IpkError};

/// A token that passed verification and binding. Only the verifier makes
/// one, so holding a `VerifiedToken` means the request was checked.
///
/// Cheap to clone (shared). Its `Debug` shows the claims, never the token.
#[derive(Clone)]
pub struct VerifiedToken {
    inner: Arc<Inner>,
}

/// The token's `pay` claim, as the binding check needs it. The hash is
/// boxed so that the many cached tokens without binding do not carry 32
/// empty bytes each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Pay {
    /// No `pay` claim.
    Absent,
    /// base64 of 32 bytes: the binding hash.
    Hash(Box<[u8; 32]>),
    /// Present but not base64 of 32 bytes: never matches.
    Invalid,
}

/// One verification, as cached.
pub(crate) struct Inner {
    /// The exact token (the cache key, and where the claims are decoded
    /// from).
    pub(crate) token: Box<str>,
    /// Key-set generation it was verified under (its low 32 bits: a
    /// repeat needs four billion key-set swaps while a token lives).
    pub(crate) generation: u32,
    /// Id of the verification rules it was verified under (a policy with
    /// other `iss`/`aud`/lifetime/algorithm rules verifies it again).
    pub(crate) rules: u16,
    pub(crate) exp: f64,
    /// `nbf`, or negative infinity when absent (kept unboxed: this struct is
    /// held for every cached token).
    nbf: f64,
    pub(crate) pay: Pay,
    pub(crate) alg: Alg,
    /// Claims and header members, decoded on first use.
    decoded: OnceLock<Box<Decoded>>,
    /// The `ipk` claim as an installation key (message signing), parsed on
    /// first use and kept with the cached verification: `None` inside when
    /// the token has no `ipk`.
    install_key: OnceLock<Option<Box<Result<InstallKey, IpkError>>>>,
}

struct Decoded {
    claims: Claims<'static>,
    json: Box<str>,
    kid: Option<Box<str>>,
}

impl Inner {
    /// A verification of `token`; its claims are decoded again from the
    /// token if ever asked for (most requests never ask).
    pub(crate) fn new(
        token: &str,
        generation: u64,
        rules: u16,
        claims: &Claims<'_>,
        alg: Alg,
        pay: Pay,
    ) -> Inner {
        Inner {
            token: token.into(),
            generation: generation as u32,
            rules,
            exp: claims.exp,
            nbf: claims.nbf.unwrap_or(f64::NEG_INFINITY),
            pay,
            alg,
            decoded: OnceLock::new(),
            install_key: OnceLock::new(),
        }
    }

    /// `nbf`, if the token has one.
    pub(crate) fn nbf(&self) -> Option<f64> {
        (self.nbf != f64::NEG_INFINITY).then_some(self.nbf)
    }

    fn decoded(&self) -> &Decoded {
        self.decoded.get_or_init(|| {
            // The token was verified: these parses succeeded once already.
            let mut parts = self.token.split('.');
            let header = parts
                .next()
                .and_then(b64::decode_segment)
                .unwrap_or_default();
            let payload = parts
                .next()
                .and_then(b64::decode_segment)
                .unwrap_or_default();
            let kid = jose::parse_header(&header)
                .ok()
                .and_then(|h| h.kid.map(|k| k.into()));
            let claims = jose::parse_claims(&payload)
                .map(Claims::into_owned)
                .unwrap_or_default();
            let json = String::from_utf8(payload)
                .unwrap_or_default()
                .into_boxed_str();
            Box::new(Decoded { claims, json, kid })
        })
    }
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
        self.inner.exp
    }

    /// `nbf`, if present.
    pub fn nbf(&self) -> Option<f64> {
        self.inner.nbf()
    }

    /// `iat`, if present.
    pub fn iat(&self) -> Option<f64> {
        self.inner.decoded().claims.iat
    }

    /// Approov's `ip` claim: the client IP address the token was issued to.
    pub fn ip(&self) -> Option<&str> {
        self.inner.decoded().claims.ip.as_deref()
    }

    /// Approov's `did` claim: the device id.
    pub fn did(&self) -> Option<&str> {
        self.inner.decoded().claims.did.as_deref()
    }

    /// Approov's `pay` claim: the token binding hash, base64.
    pub fn pay(&self) -> Option<&str> {
        self.inner.decoded().claims.pay.as_deref()
    }

    /// `iss`, if present.
    pub fn iss(&self) -> Option<&str> {
        self.inner.decoded().claims.iss.as_deref()
    }

    /// `aud`: empty when absent, one entry for a single string.
    pub fn aud(&self) -> &[String] {
        &self.inner.decoded().claims.aud
    }

    /// `sub`, if present.
    pub fn sub(&self) -> Option<&str> {
        self.inner.decoded().claims.sub.as_deref()
    }

    /// The token's `ipk` claim as an installation key (Approov message
    /// signing): `None` without an `ipk` claim, an error when it is present
    /// but not a base64 DER P-256 public key. Parsed once per cached
    /// verification, on first use.
    pub fn install_key(&self) -> Option<&Result<InstallKey, IpkError>> {
        self.inner
            .install_key
            .get_or_init(|| InstallKey::from_claims(&self.claims()).map(Box::new))
            .as_deref()
    }

    /// The algorithm that verified the token.
    pub fn alg(&self) -> Alg {
        self.inner.alg
    }

    /// The `kid` of the token's header, if any.
    pub fn kid(&self) -> Option<&str> {
        self.inner.decoded().kid.as_deref()
    }

    /// The whole claims set as signed (JSON text).
    pub fn claims_json(&self) -> &str {
        &self.inner.decoded().json
    }

    /// One claim by name, parsed from the signed JSON.
    pub fn claim(&self, name: &str) -> Option<serde_json::Value> {
        let mut all = self.claims();
        all.remove(name)
    }

    /// All claims as a JSON object.
    pub fn claims(&self) -> serde_json::Map<String, serde_json::Value> {
        serde_json::from_str(self.claims_json()).unwrap_or_default()
    }

    /// The claims `names` as header values for an upstream (per-route policy,
    /// `forward_claims`), in order: a string claim as is, any other JSON
    /// compact; `None` for a claim that is absent, or whose text cannot be
    /// a header value (control bytes). Parses the claims once.
    pub fn claims_as_headers(&self, names: &[&str]) -> Vec<Option<http::HeaderValue>> {
        let claims = self.claims();
        names
            .iter()
            .map(|n| {
                let text = match claims.get(*n)? {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                http::HeaderValue::from_str(&text).ok()
            })
            .collect()
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
        let d = self.inner.decoded();
        f.debug_struct("VerifiedToken")
            .field("alg", &self.inner.alg)
            .field("kid", &d.kid)
            .field("exp", &self.inner.exp)
            .field("iss", &d.claims.iss)
            .field("sub", &d.claims.sub)
            .field("aud", &d.claims.aud)
            .field("did", &d.claims.did)
            .finish_non_exhaustive()
    }
}
