//! The verifier from the `[token]` section of attestgate's TOML file
//! (feature `config`).
//!
//! TODO(config): once `attestgate-config` exposes
//! `TokenConfig::verifier_builder()`, add here
//! `AttestLayer::from_token_config(&TokenConfig) -> Result<AttestLayer, ...>`
//! (build the verifier, take its mode) and a README section. Until then,
//! build the verifier with `attestgate::Verifier::builder()`.

pub use attestgate_config;
