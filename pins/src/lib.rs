//! # attestgate-pins
//!
//! The certificate pinning kit behind `attestgate pins`: SPKI SHA-256 pins
//! from certificates, chains, CSRs and keys ([`spki`]); the `pins.toml`
//! model ([`model`]); lint rules ([`lint`]); platform configs for Android,
//! iOS, OkHttp and TrustKit ([`render`]); a live chain fetcher that sees
//! every address of a host ([`fetch`]); and the checks that answer "would
//! the apps accept this chain?" ([`check`]). A new backup key and its CSR
//! come from [`backup`].
//!
//! For dynamic pins: [`signed`] makes and verifies the signed
//! pin config (compact JWS, ES256/EdDSA) and holds the client rules
//! ([`signed::Client`]); [`report`] parses and classifies TrustKit and HPKP
//! pin-failure reports; [`monitor`] has the pure parts of a background
//! monitor (jitter, one change per state change) around
//! [`check::check_domains`] and [`check::statuses`].
//!
//! [`ct`] watches Certificate Transparency logs (static-ct-api and RFC
//! 6962) for certificates of pinned names and judges each with the same
//! platform rules (`attestgate pins ct-watch`).
//!
//! It shares nothing with token checking and depends on no proxy or HTTP
//! framework: rustls (ring) for TLS, x509-parser for certificates.

mod der;

pub mod precert;

pub mod backup;
pub mod check;
pub mod clock;
pub mod ct;
pub mod fetch;
pub mod lint;
pub mod model;
pub mod monitor;
pub mod render;
pub mod report;
pub mod signed;
pub mod spki;
pub mod staging;

pub use model::{Domain, PinEntry, PinKind, PinsFile};
pub use spki::Pin;
