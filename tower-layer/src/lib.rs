#![doc = include_str!("../README.md")]

mod future;
mod layer;
mod ratelimit;
mod reject;
mod service;
mod signing;

#[cfg(feature = "axum")]
mod extract;

#[cfg(feature = "config")]
pub mod config;

pub use future::ResponseFuture;
pub use layer::{AttestLayer, DEFAULT_ROUTE};
pub use ratelimit::{ClientAddr, RateLimitFuture, RateLimitLayer, RateLimited};
pub use reject::{DefaultRejection, Reject, RejectBody, RejectContext, Rejection};
pub use service::Attest;

#[cfg(feature = "axum")]
pub use extract::{Verified, VerifiedRejection};
