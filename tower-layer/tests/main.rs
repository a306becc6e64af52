//! The tower layer (`attestgate-tower`): the service in process, in front
//! of real axum and tonic servers on 127.0.0.1, message signing, and the
//! README's code built as shown. One test binary, a module per area; the
//! parity with the core and the proxy is tests/parity.
//!
//! Run one area with `cargo test -p attestgate-tower --test layer -- tonic_server::`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod axum_router;
mod common;
mod msgsig;
mod readme;
mod service;
mod tonic_server;
