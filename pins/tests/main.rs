//! The pinning kit as a library (`attestgate-pins`): one test binary, a
//! module per area. The verbs through the real binary are in tests/cli;
//! the proxy's `[pins]` section in tests/proxy/pins.
//!
//! Run one area with `cargo test -p attestgate-pins --test pins -- ct::`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod alerts;
mod api;
mod ct;
mod hostile;
mod inspect;
mod judge;
mod monitor;
mod render_consumers;
mod report;
mod signed;
