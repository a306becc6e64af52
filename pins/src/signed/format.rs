//! The signed pin config: a compact JWS with header
//! `{"alg": "ES256"|"EdDSA", "typ": "attestgate-pins+jwt", "kid": …}` and
//! this payload. Unknown payload members are ignored (for later
//! additions); a member given twice is refused.

use serde::{Deserialize, Serialize};

/// The JWS `typ`.
pub const TYP: &str = "attestgate-pins+jwt";

/// The JWS header as read.
#[derive(Debug, Deserialize)]
pub(crate) struct Header {
    pub(crate) alg: String,
    pub(crate) typ: Option<String>,
    pub(crate) kid: Option<String>,
    pub(crate) crit: Option<serde::de::IgnoredAny>,
}

/// The JWS header as written.
#[derive(Serialize)]
pub(crate) struct HeaderOut<'a> {
    pub(crate) alg: &'a str,
    pub(crate) typ: &'a str,
    pub(crate) kid: &'a str,
}

/// `aud`: one string, or several.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// One application id.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl Audience {
    /// Whether `app` is one of them.
    pub fn contains(&self, app: &str) -> bool {
        match self {
            Audience::One(a) => a == app,
            Audience::Many(list) => list.iter().any(|a| a == app),
        }
    }
}

/// The payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    /// Issuer (`attestgate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// The app(s) this config is for.
    pub aud: Audience,
    /// Sequence number: a client never accepts a lower one than it holds.
    pub seq: u64,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expiry, Unix seconds: never accepted at or after it.
    pub exp: i64,
    /// How often a client should fetch it again, seconds.
    pub refresh: u64,
    /// Key ids that will sign the next configs (key rotation).
    #[serde(default)]
    pub next_kids: Vec<String>,
    /// The pins, replacing the previous set whole.
    pub domains: Vec<SignedDomain>,
}

/// One domain of the payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedDomain {
    /// Host name.
    pub name: String,
    /// Whether the pins cover its subdomains.
    #[serde(default)]
    pub include_subdomains: bool,
    /// SPKI SHA-256 pins, base64.
    pub pins: Vec<String>,
}

impl Payload {
    /// The domain entry that covers `host` (exact name first, then the
    /// closest parent with `include_subdomains`).
    pub fn domain_for(&self, host: &str) -> Option<&SignedDomain> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if let Some(d) = self
            .domains
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(&host))
        {
            return Some(d);
        }
        let mut rest = host.as_str();
        while let Some((_, parent)) = rest.split_once('.') {
            if let Some(d) = self
                .domains
                .iter()
                .find(|d| d.include_subdomains && d.name.eq_ignore_ascii_case(parent))
            {
                return Some(d);
            }
            rest = parent;
        }
        None
    }
}

impl Payload {
    /// Whether a chain served for `host` holds a pin of this config (what
    /// `attestgate_listener_pinned` reports). `false` when no domain covers
    /// `host`.
    pub fn holds_pin(&self, host: &str, chain_pins: &[crate::Pin]) -> bool {
        self.domain_for(host).is_some_and(|d| {
            d.pins
                .iter()
                .filter_map(|p| crate::Pin::parse(p))
                .any(|p| chain_pins.contains(&p))
        })
    }
}
