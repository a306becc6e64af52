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

pub mod alg;
mod b64;
mod binding;
mod builder;
mod cache;
mod clock;
mod decide;
pub mod egress;
mod extract;
mod fetch;
mod jose;
pub mod keys;
pub mod metrics;
pub mod mint;
pub mod msgsig;
pub mod pem;
mod policy;
pub mod query;
mod reason;
pub mod redact;
pub mod refresh;
mod scrub;
pub mod secret;
mod signing;
mod state;
mod store;
pub mod substitute;
pub mod target;
mod token;
mod verify;
pub mod watch;

pub use alg::{Alg, AlgSet};
pub use binding::pay_claim;
pub use builder::{
    BuildError, BuildProblem, DEFAULT_CACHE_CAPACITY, DEFAULT_HEADER, DEFAULT_MAX_TOKEN_BYTES,
    VerifierBuilder,
};
pub use decide::{
    Decision, GRPC_UNAUTHENTICATED, GRPC_UNAVAILABLE, Refusal, RequestParts, grpc_content_type,
    is_grpc,
};
pub use egress::{EgressOptions, ProxySetting};
pub use keys::{Key, KeySet};
pub use metrics::{Metrics, Outcome, RouteMetrics, UpstreamErrorKind};
pub use policy::{DEFAULT_ROUTE_NAME, Policy, TokenRequirement};
pub use reason::Reason;
pub use refresh::{JwksOptions, RefreshError, RefresherHandle};
pub use secret::{Secret, SecretSource};
pub use state::Mode;
pub use token::VerifiedToken;
pub use verify::{MAX_KEYS_TRIED, Verifier};
