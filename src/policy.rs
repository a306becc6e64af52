//! A verifier's policy: everything about *how* a request is checked (where
//! the token is, which claims must hold, what binding, what a refusal
//! looks like), as opposed to the keys it is checked against.
//!
//! One [`crate::Verifier`] holds keys, refresher and cache; each
//! [`crate::Verifier::with_policy`] handle shares them and has a policy of
//! its own: the proxy makes one per route, the tower layer one per router.

use std::time::Duration;

use http::{HeaderName, Method, StatusCode};

use crate::jose::alg::AlgSet;
use crate::msgsig::MessageSigningPolicy;

/// Default cap on the token's size (after any prefix).
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Default name of the token header.
pub const DEFAULT_HEADER: &str = "approov-token";

/// What a front end does with a failing request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Refuse it.
    #[default]
    Enforce,
    /// Let it through (counted as `monitored`, logged), without secrets.
    Monitor,
}

/// One problem found while building a verifier, with the path of the setting
/// (as in the `[token]` section: `secret[0].base64`, `jwks.file`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildProblem {
    /// The setting, e.g. `secret[1].base64`.
    pub path: String,
    /// What is wrong and how to fix it. Never holds a secret value.
    pub message: String,
}

/// Whether a route checks tokens (`[[route]] token`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TokenRequirement {
    /// Every request needs a token that passes.
    #[default]
    Required,
    /// A request without a token passes (outcome `anonymous`, no secrets);
    /// one with a token must pass the check.
    Optional,
    /// No check (outcome `allowed`, no secrets).
    Off,
}

/// The name of the route label when none is given.
pub const DEFAULT_ROUTE_NAME: &str = "default";

/// The sizes [`Policy::max_token_bytes`] may take: an Approov token is a
/// few hundred bytes; below 256 real tokens fail as `malformed`, above
/// 64 KiB the limit no longer bounds anything a header could carry.
pub const MAX_TOKEN_BYTES_RANGE: std::ops::RangeInclusive<usize> = 256..=64 * 1024;

/// The largest [`Policy::leeway`]: leeway is for clock skew, a few
/// seconds is plenty; more would stretch every token's lifetime.
pub const MAX_LEEWAY: Duration = Duration::from_secs(300);

/// A policy: plain data, every field typed, defaults those of the configuration reference (README).
/// Start from [`Policy::default`] or a verifier's [`crate::Verifier::policy`]
/// and change what differs:
///
/// ```
/// # use attestgate::{Policy, TokenRequirement};
/// let login = Policy {
///     name: "login".into(),
///     token: TokenRequirement::Optional,
///     binding_headers: vec![http::HeaderName::from_static("x-device-id")],
///     ..Policy::default()
/// };
/// assert!(login.validate("route.policy").is_empty());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// The `route` label of its metrics and log lines (a config name, never
    /// request data).
    pub name: String,
    /// Required, optional or off.
    pub token: TokenRequirement,
    /// Methods that skip the check (CORS preflight `OPTIONS`): outcome
    /// `anonymous`, never given secrets.
    pub methods_without_token: Vec<Method>,
    /// Enforce, or monitor (failures let through without secrets).
    pub mode: Mode,
    /// HTTP status of a refusal (4xx or 5xx; `no_keys` is always 503).
    pub reject_status: StatusCode,
    /// The token header.
    pub header: HeaderName,
    /// Stripped before the token, matched ignoring ASCII case (`Bearer `).
    pub prefix: String,
    /// Also take the token from this query parameter (WebSocket clients);
    /// header and parameter both present is `malformed`.
    pub query_param: Option<String>,
    /// Largest token accepted (after the prefix).
    pub max_token_bytes: usize,
    /// Allowed algorithms; `None`: the verifier's (HS256 with secrets, the
    /// asymmetric ones with a JWKS).
    pub algorithms: Option<AlgSet>,
    /// Clock skew allowed on `exp` and `nbf`.
    pub leeway: Duration,
    /// Longest lifetime a token may have.
    pub max_lifetime: Option<Duration>,
    /// Required `iss`.
    pub issuer: Option<String>,
    /// Required member of `aud`.
    pub audience: Option<String>,
    /// Headers whose trimmed values `pay` binds, in order.
    pub binding_headers: Vec<HeaderName>,
    /// Accept a token without `pay` although binding headers are set.
    pub allow_missing_pay: bool,
    /// Approov installation message signing (docs/MESSAGE_SIGNING.md,
    /// `[route.policy.message_signing]`): checked after the token passed,
    /// by [`crate::Verifier::check_signature`] and
    /// [`crate::Verifier::check_replay`]. `None`: not checked.
    pub message_signing: Option<MessageSigningPolicy>,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            name: DEFAULT_ROUTE_NAME.to_owned(),
            token: TokenRequirement::Required,
            methods_without_token: Vec::new(),
            mode: Mode::Enforce,
            reject_status: StatusCode::UNAUTHORIZED,
            header: HeaderName::from_static(DEFAULT_HEADER),
            prefix: String::new(),
            query_param: None,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            algorithms: None,
            leeway: Duration::ZERO,
            max_lifetime: None,
            issuer: None,
            audience: None,
            binding_headers: Vec::new(),
            allow_missing_pay: false,
            message_signing: None,
        }
    }
}

impl Policy {
    /// Every problem with this policy, each with its key path under `at`
    /// (e.g. `route[2].policy`). Empty when it is usable.
    pub fn validate(&self, at: &str) -> Vec<BuildProblem> {
        let mut out = Vec::new();
        let mut problem = |key: &str, message: String| {
            out.push(BuildProblem {
                path: if at.is_empty() {
                    key.to_owned()
                } else {
                    format!("{at}.{key}")
                },
                message,
            });
        };
        let s = self.reject_status;
        if !(s.is_client_error() || s.is_server_error()) {
            problem(
                "reject_status",
                format!(
                    "{} is not an HTTP error status; use 4xx or 5xx (default 401)",
                    s.as_u16()
                ),
            );
        }
        if !MAX_TOKEN_BYTES_RANGE.contains(&self.max_token_bytes) {
            problem(
                "max_token_bytes",
                format!(
                    "{} is out of range; use {} to {} (default {DEFAULT_MAX_TOKEN_BYTES})",
                    self.max_token_bytes,
                    MAX_TOKEN_BYTES_RANGE.start(),
                    MAX_TOKEN_BYTES_RANGE.end()
                ),
            );
        }
        if self.leeway > MAX_LEEWAY {
            problem(
                "leeway",
                "more than 5m; leeway is for clock skew, a few seconds is plenty".into(),
            );
        }
        if let Some(q) = &self.query_param
            && (q.is_empty() || q.bytes().any(|b| b <= b' ' || b"&=#%+".contains(&b)))
        {
            problem(
                "query_param",
                format!("{q:?} is not a plain query parameter name (no space, &, =, #, %, +)"),
            );
        }
        if self.algorithms.is_some_and(AlgSet::is_empty) {
            problem(
                "algorithms",
                "no algorithm is allowed; list at least one, e.g. [\"HS256\"]".into(),
            );
        }
        if self.name.is_empty() {
            problem("name", "empty; it is the route metric label".into());
        }
        if let Some(ms) = &self.message_signing {
            for p in ms.validate() {
                problem(&format!("message_signing.{}", p.path), p.message);
            }
            if self.token == TokenRequirement::Off {
                problem(
                    "message_signing",
                    "the route has token = \"off\": the signature key is the token's ipk".into(),
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(p: &Policy) -> Vec<String> {
        p.validate("token").into_iter().map(|p| p.path).collect()
    }

    /// The token size and leeway ranges are the core's, so a builder (the
    /// tower layer's way in) gets the same answer as a TOML file: once the
    /// core took any size from 16 up while config took 256 to 65536.
    #[test]
    fn token_size_and_leeway_ranges_hold_for_every_front_end() {
        for (size, ok) in [
            (0, false),
            (16, false),
            (255, false),
            (256, true),
            (DEFAULT_MAX_TOKEN_BYTES, true),
            (65_536, true),
            (65_537, false),
            (10 << 20, false),
        ] {
            let p = Policy {
                max_token_bytes: size,
                ..Policy::default()
            };
            let want: Vec<String> = if ok {
                vec![]
            } else {
                vec!["token.max_token_bytes".into()]
            };
            assert_eq!(problems(&p), want, "{size}");
        }
        let secret = crate::token::mint::new_secret_base64().unwrap();
        let built = |size| {
            crate::Verifier::builder()
                .secret_base64(&secret)
                .unwrap()
                .max_token_bytes(size)
                .build()
        };
        assert!(built(16).is_err());
        assert!(built(10 << 20).is_err());
        assert!(built(256).is_ok());
        for (secs, ok) in [(0, true), (300, true), (301, false)] {
            let p = Policy {
                leeway: Duration::from_secs(secs),
                ..Policy::default()
            };
            assert_eq!(problems(&p).is_empty(), ok, "{secs}");
        }
    }
}
