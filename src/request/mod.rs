//! The request path, one file per step, made once for both front ends:
//!
//! 1. [`extract`]: the token from the configured header (or query
//!    parameter);
//! 2. verify it (the JWS rules are in [`crate::token`]), through the
//!    verified-token cache;
//! 3. [`binding`]: the `pay` claim against the binding headers;
//! 4. [`decide`]: pass, anonymous, monitored or refused, counted and
//!    logged once; a refusal's whole answer is a [`refusal::Refusal`];
//! 5. [`signature`]: the message signature, where the route's policy asks
//!    for one.
//!
//! [`state`] is what a verifier handle holds for this path.

pub(crate) mod binding;
pub(crate) mod decide;
pub(crate) mod extract;
pub(crate) mod refusal;
pub(crate) mod signature;
pub(crate) mod state;
