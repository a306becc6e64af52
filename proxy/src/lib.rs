//! # attestgate-proxy
//!
//! The attestgate reverse proxy on [Pingora](https://github.com/cloudflare/pingora)
//! and the `attestgate` command line. Placed in front of an existing API, it
//! lets through only requests with a valid Approov token, swaps placeholder
//! API keys for real ones on those requests, and answers everything else
//! before the upstream sees a byte.
//!
//! [`build_server`] turns a checked [`attestgate_config::Config`] into a
//! Pingora server; [`run`] runs it until its shutdown signal.

pub mod cli;
mod clock;
mod conns;
mod gateway;
mod lean;
pub mod logs;
mod pins;
mod respond;
mod routes;
mod server;
mod shutdown;

pub use conns::service::one_line_panics;
pub use logs::PingoraFloodGuard;
pub use routes::RouteError;
/// Upstream names resolved now and again (`resolve_interval`, `hosts_file`).
pub use routes::resolve;
pub use server::{
    Built, Draining, ServeOptions, StartError, build_server, check_serve, run, serve_problems,
};

/// Whether the process stopped serving because a listener was lost (the
/// binary then exits 1).
pub fn failed() -> bool {
    conns::listening::failure().is_some()
}
