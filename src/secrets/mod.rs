//! Secrets: the values that must never leak, and the rules that keep them
//! in.
//!
//! - [`secret`]: a [`secret::Secret`] (zeroed on drop, redacted in
//!   `Debug`) and where one is read from;
//! - [`substitute`]: placeholders swapped for real secrets on passing
//!   requests only, a route's plan applied by [`apply`];
//! - `scrub`: a secret echoed back by an upstream, found in any encoding;
//! - [`redact`]: what a log line may show of a request, a URL or a token.

pub mod apply;
pub mod redact;
pub(crate) mod scrub;
pub mod secret;
pub mod substitute;
