//! Why a request was rejected: one small `Copy` value per failed check.

use std::fmt;

use http::StatusCode;

/// The reason a token check failed.
///
/// [`Reason::as_str`] gives the exact string used as the `reason` metric label
/// and log field; [`Reason::status`] the default HTTP status. The reason is
/// never sent to the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// No token header, or an empty one.
    Missing,
    /// Not a compact JWS we accept: segments, encoding, JSON, size, header
    /// members, a repeated or comma-joined token header, a missing prefix.
    Malformed,
    /// The header carries an Approov SDK status word (`NO_NETWORK`,
    /// `MITM_DETECTED`, ...) instead of a token.
    SdkStatus,
    /// `alg` is `none`, unknown, not allowed, or not the algorithm of the key.
    Algorithm,
    /// No key matches the token's `kid`.
    UnknownKey,
    /// The signature does not verify.
    BadSignature,
    /// `exp` is in the past (beyond the leeway).
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// A claim is missing or has the wrong type or value (`exp`, `iss`,
    /// `aud`, maximum lifetime, ...).
    Claims,
    /// The `pay` claim does not match the binding headers, or a binding
    /// header is missing or repeated.
    Binding,
    /// No key has ever been loaded, so nothing can be verified (503).
    NoKeys,
    /// The RFC 9421 message signature (Approov installation message
    /// signing) is missing where required, malformed, outside its time
    /// window, does not cover what the policy requires, or does not verify;
    /// or the body does not match its `Content-Digest`.
    Signature,
    /// A message signature already seen within its validity window (or the
    /// shared replay store is unreachable and `on_redis_error = "refuse"`).
    Replay,
}

impl Reason {
    /// Every reason, in a fixed order (for pre-registering metric series).
    pub const ALL: [Reason; 13] = [
        Reason::Missing,
        Reason::Malformed,
        Reason::SdkStatus,
        Reason::Algorithm,
        Reason::UnknownKey,
        Reason::BadSignature,
        Reason::Expired,
        Reason::NotYetValid,
        Reason::Claims,
        Reason::Binding,
        Reason::NoKeys,
        Reason::Signature,
        Reason::Replay,
    ];

    /// The reason string of the product contract (metric label, log field).
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::Missing => "missing",
            Reason::Malformed => "malformed",
            Reason::SdkStatus => "sdk_status",
            Reason::Algorithm => "algorithm",
            Reason::UnknownKey => "unknown_key",
            Reason::BadSignature => "bad_signature",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::Claims => "claims",
            Reason::Binding => "binding",
            Reason::NoKeys => "no_keys",
            Reason::Signature => "signature",
            Reason::Replay => "replay",
        }
    }

    /// The default HTTP status: 503 for [`Reason::NoKeys`] (the service is
    /// not ready), 401 for everything else. Front ends replace 401 by the
    /// configured `reject_status`.
    pub const fn status(self) -> StatusCode {
        self.status_under(StatusCode::UNAUTHORIZED)
    }

    /// The HTTP status of a refusal for this reason under a policy
    /// refusing with `reject_status`: 503 for [`Reason::NoKeys`] whatever
    /// the policy says (the service is not ready; the client may retry),
    /// else `reject_status`. The one place this rule is written.
    pub const fn status_under(self, reject_status: StatusCode) -> StatusCode {
        match self {
            Reason::NoKeys => StatusCode::SERVICE_UNAVAILABLE,
            _ => reject_status,
        }
    }

    /// Position in [`Reason::ALL`], for arrays of pre-resolved metric handles.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Parses a reason string (the inverse of [`Reason::as_str`]).
    pub fn from_name(name: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for Reason {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_index_order_and_round_trips() {
        for (i, r) in Reason::ALL.into_iter().enumerate() {
            assert_eq!(r.index(), i);
            assert_eq!(Reason::from_name(r.as_str()), Some(r));
        }
    }

    #[test]
    fn only_no_keys_is_unavailable() {
        for r in Reason::ALL {
            let want = if r == Reason::NoKeys { 503 } else { 401 };
            assert_eq!(r.status().as_u16(), want, "{r}");
        }
    }
}
