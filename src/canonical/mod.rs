//! The request that is checked is the request that is forwarded.
//!
//! A gateway that matches routes on one reading of a request target and
//! forwards another can be walked around: `//api/x`, `/%61pi/x`,
//! `/api%2Fx`, `x/../api/x` all reach `/api/x` on a normalising upstream
//! (nginx, Python's `http.server`, most frameworks) while a naive prefix
//! match sees something else. This module is the one place that decides
//! what a request target *is*: a pure function from the bytes a client sent
//! to a canonical origin-form target, or a refusal. The proxy calls it once,
//! before routing, and from then on routing, the token check, substitution
//! and the upstream see only its output.
//!
//! - [`canonical_target`]: the request target (origin-, absolute- or
//!   asterisk-form) → [`CanonicalTarget`], the rules in [`path`].
//! - [`canonical_host`]: a `Host` (or `:authority`) value → [`Host`].
//! - [`RequestView`]: scheme, authority, method and canonical target of a
//!   request, by one rule for HTTP/1 and HTTP/2 ([`view`]); what routing,
//!   the message signature and `X-Forwarded-Host` read.
//! - [`HeaderRules`]: client headers that never reach an upstream, in any
//!   spelling an upstream folds to a protected name ([`headers`]).
//! - [`intent`]: what a request asks beyond its method (upgrade, method
//!   override, body), which an exempt method may not carry.
//!
//! Both are idempotent: the canonical form of a canonical form is itself,
//! and a canonical form never routes differently from the input it came
//! from (a fuzz target and property tests hold them to that).

pub mod query;

pub mod headers;
mod host;
pub mod intent;
mod path;
pub mod view;

pub use headers::{HeaderRules, UnderscoreHeaders};
pub use host::{Host, canonical_host};
pub use intent::{BodyHint, upgrade_allowed};
pub use path::{CanonicalTarget, canonical_target};
pub use view::{RawRequest, RequestView, Scheme};

/// Knobs of the path rules (`[server]` keys of the proxy).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TargetRules {
    /// Keep `%2F` as an ordinary character of a segment (never a separator)
    /// instead of refusing it. Safe only for upstreams that never decode it.
    pub allow_encoded_slash: bool,
    /// Keep `;` path parameters (matched as part of their segment) instead
    /// of refusing them.
    pub allow_path_params: bool,
}

/// Why a request target or host was refused (always answered with 400).
/// `as_str` is for the debug log; nothing here reaches the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetRefusal {
    /// Not origin-, absolute- (`http`/`https`) or asterisk-form.
    Form,
    /// `*` with a method other than `OPTIONS`.
    Asterisk,
    /// A byte that may not appear in a target (control, space, `#`, `\`).
    Byte,
    /// `%` not followed by two hex digits.
    Escape,
    /// A `.` or `..` segment, in any spelling.
    DotSegment,
    /// `%2F` (unless allowed).
    EncodedSlash,
    /// An encoded `\`, `%`, `;`, NUL or control byte.
    EncodedDelimiter,
    /// A `;` path parameter (unless allowed).
    PathParam,
    /// The path does not decode to UTF-8 (overlong or broken sequences).
    Utf8,
    /// Userinfo in an absolute-form authority.
    Userinfo,
    /// Not a host, or a port that is not a number up to 65535.
    Host,
    /// No `Host`, or more than one.
    HostCount,
    /// The absolute-form authority names another host than `Host`.
    HostMismatch,
}

impl TargetRefusal {
    /// A short name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetRefusal::Form => "target_form",
            TargetRefusal::Asterisk => "asterisk",
            TargetRefusal::Byte => "byte",
            TargetRefusal::Escape => "escape",
            TargetRefusal::DotSegment => "dot_segment",
            TargetRefusal::EncodedSlash => "encoded_slash",
            TargetRefusal::EncodedDelimiter => "encoded_delimiter",
            TargetRefusal::PathParam => "path_param",
            TargetRefusal::Utf8 => "utf8",
            TargetRefusal::Userinfo => "userinfo",
            TargetRefusal::Host => "host",
            TargetRefusal::HostCount => "host_count",
            TargetRefusal::HostMismatch => "host_mismatch",
        }
    }
}

impl std::fmt::Display for TargetRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether `path` (canonical) starts with `prefix` (canonical), comparing
/// ASCII letters exactly or, for `insensitive`, ignoring their case.
pub fn path_has_prefix(path: &str, prefix: &str, insensitive: bool) -> bool {
    if insensitive {
        path.len() >= prefix.len()
            && path.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
    } else {
        path.starts_with(prefix)
    }
}

/// Whether a configured route prefix is itself canonical (so that it can
/// match canonical paths at all), and if not, what it should be written as.
pub fn check_prefix(prefix: &str, rules: TargetRules) -> Result<(), String> {
    match canonical_target(false, prefix.as_bytes(), rules) {
        Ok(t) if t.as_str() == prefix => Ok(()),
        Ok(t) => Err(format!(
            "{prefix:?} is not in canonical form, so no request would match it; write {:?}",
            t.as_str()
        )),
        Err(why) => Err(format!(
            "{prefix:?} is a path every request using it would be refused for ({why})"
        )),
    }
}
