//! # attestgate
//!
//! The core of attestgate: everything both front ends (the Pingora proxy and
//! the tower layer) share, so that they decide alike.
//!
//! 1. **Extract** the token from the configured header ([`Reason::Missing`],
//!    [`Reason::Malformed`], [`Reason::SdkStatus`]).
//! 2. **Verify** it: compact JWS, `alg` from the allow-list and of the key's
//!    family, signature, `exp`/`nbf` with leeway, `crit`, `iss`, `aud`,
//!    maximum lifetime.
//! 3. **Bind**: the `pay` claim against the binding headers.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use attestgate::{Verifier, mint};
//! let secret = mint::new_secret_base64()?;
//! let verifier = Verifier::builder().secret_base64(&secret)?.build()?;
//!
//! let key = mint::SigningKey::hs256_base64(&secret)?;
//! let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() + 300;
//! let token = mint::mint(&key, None, &serde_json::json!({ "exp": exp, "did": "device-1" }))?;
//!
//! let mut headers = http::HeaderMap::new();
//! headers.insert("approov-token", token.parse()?);
//! let verified = verifier.check(&headers)?;
//! assert_eq!(verified.did(), Some("device-1"));
//! # Ok(()) }
//! ```
//!
//! Keys live in one immutable [`KeySet`] behind one `ArcSwap`; a background
//! task ([`Verifier::spawn_refresher`]) builds the next set and swaps it
//! whole, so the request path never waits on I/O.

pub mod canonical;
mod clock;
mod jose;
pub mod keys;
pub mod metrics;
pub mod msgsig;
mod policy;
pub mod ratelimit;
mod reason;
mod request;
pub mod secrets;
mod token;
mod verifier;
pub mod watch;

// Public paths kept from before the core was split by concern.
/// The canonical request (the module's former name).
pub use canonical as target;
pub use canonical::query;
pub use jose::alg;
pub use keys::{egress, pem, refresh};
pub use secrets::{redact, secret, substitute};
pub use token::mint;

pub use alg::{Alg, AlgSet};
pub use egress::{EgressOptions, ProxySetting};
pub use keys::{Key, KeySet};
pub use metrics::{Metrics, Outcome, RouteMetrics, UpstreamErrorKind};
pub use policy::{
    DEFAULT_ROUTE_NAME, MAX_LEEWAY, MAX_TOKEN_BYTES_RANGE, Mode, Policy, TokenRequirement,
};
pub use reason::Reason;
pub use refresh::{JwksOptions, RefreshError, RefresherHandle};
pub use request::binding::pay_claim;
pub use request::decide::{Decision, RequestParts};
pub use request::refusal::{
    GRPC_RESOURCE_EXHAUSTED, GRPC_UNAUTHENTICATED, GRPC_UNAVAILABLE, GrpcKind, Refusal,
    grpc_content_type, grpc_kind, is_grpc,
};
pub use request::signature::{SignatureStep, SignedBody};

pub use secret::{Secret, SecretSource};
pub use token::VerifiedToken;
pub use verifier::builder::{
    BuildError, BuildProblem, DEFAULT_CACHE_CAPACITY, DEFAULT_HEADER, DEFAULT_MAX_TOKEN_BYTES,
    MAX_CACHE_CAPACITY, VerifierBuilder,
};
pub use verifier::{MAX_KEYS_TRIED, Verifier};
