//! Approov installation message signing: RFC 9421 HTTP Message Signatures
//! made with the per-install P-256 key whose public half is the token's
//! `ipk` claim, and a replay cache that a fleet can share (docs/MESSAGE_SIGNING.md).
//!
//! A token alone is reusable for its minutes of life; a signature over the
//! request (method, target, token, body digest), made on the device and
//! remembered once seen, makes a captured request useless to alter or to
//! send again.
//!
//! How the parts fit:
//!
//! - [`policy`]: `[route.policy.message_signing]` as plain data, with
//!   `validate()` listing every problem with its key path.
//! - `structured`: a strict RFC 8941 parser/serializer (a repeated
//!   dictionary key or parameter is refused: two `install` labels never
//!   pass).
//! - `components`: the value of each covered component of a
//!   [`RequestParts`]: `@method`, `@target-uri`, `@authority`, `@scheme`,
//!   `@request-target`, `@path`, `@query`, `@query-param;name=`, and header
//!   fields with `;sf`, `;key=` and `;bs`.
//! - `base`: the signature base of RFC 9421 §2.5, `@signature-params` last.
//! - [`InstallKey`]: the `ipk` claim parsed once (it belongs in the
//!   verified-token cache entry); verification is ring's ECDSA P-256
//!   SHA-256 over the raw 64-byte `r || s` signature Approov sends.
//! - `digest`: `Content-Digest` sha-256/sha-512, byte-sequence form and
//!   Approov's string form.
//! - [`replay`]: [`replay::ReplayStore`], the bounded [`replay::MemoryStore`]
//!   and (feature `redis`) the shared `RedisStore`.
//! - [`MessageSigning`]: the check a front end calls, in two steps:
//!
//! ```text
//! // once per route, at start-up:
//! let signing = MessageSigning::new(policy, store)?;       // store: None for "memory"
//! // per request, after the token check passed:
//! let parts = RequestParts { method, scheme, authority, path_and_query, headers };
//! match signing.verify(&parts, body, cached.install_key(), now) {   // sync
//!     Err(e)          => refuse(Reason::Signature),          // e.as_str() to the debug log
//!     Ok(None)        => forward(),                          // unsigned, not required
//!     Ok(Some(signed)) => match signing.check_replay(&signed, now).await {
//!         Ok(())  => forward(),
//!         Err(_)  => refuse(Reason::Replay),
//!     },
//! }
//! ```
//!
//! The body: a front end buffers it (at most `max_body_bytes`, else 413
//! without forwarding a byte) when the request has one and the route signs,
//! passes it as `body`, and forwards it only after both steps passed.

mod base;
mod components;
mod digest;
mod error;
mod key;
pub mod policy;
pub mod replay;
mod route;
mod structured;
mod verify;

pub use components::RequestParts;
pub use digest::content_digest;
pub use error::SignatureError;
pub use key::{InstallKey, IpkError};
pub use policy::{
    ContentDigestRule, MessageSigningPolicy, OnStoreError, PolicyProblem, ReplayMode,
};
pub(crate) use route::build as for_route;
pub use verify::{
    ALG, LABEL, MAX_COMPONENTS, MAX_FIELD_BYTES, MessageSigning, ReplayError, Signed,
};

/// The signature base (RFC 9421 §2.5) of the `install` member of a
/// `Signature-Input` value over `req`: what a client signs. For clients,
/// test kits and debugging; [`MessageSigning::verify`] builds it itself.
pub fn signature_base(
    req: &RequestParts<'_>,
    signature_input: &str,
) -> Result<String, SignatureError> {
    let dict = structured::parse_dictionary(signature_input).map_err(|_| SignatureError::Syntax)?;
    match dict.iter().find(|(k, _)| k == LABEL) {
        Some((_, structured::Member::Inner(inner))) => base::signature_base(req, inner),
        Some(_) => Err(SignatureError::WrongType),
        None => Err(SignatureError::NoInstallLabel),
    }
}
