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

mod admin;
pub mod cli;
pub mod cli_pins;
mod conns;
mod demo;
mod drain;
mod gateway;
mod health;
mod inbound;
mod log_guard;
pub mod logfilter;
mod pins;
mod ratelimit;
mod replay;
pub mod resolve;
mod respond;
mod routes;
mod server;
mod signing;
mod workers;

pub use conns::service::one_line_panics;
pub use drain::Draining;
pub use log_guard::PingoraFloodGuard;
pub use routes::RouteError;
pub use server::{Built, ServeOptions, StartError, build_server, check_serve, run, serve_problems};

/// Whether the process stopped serving because a listener was lost (the
/// binary then exits 1).
pub fn failed() -> bool {
    conns::listening::failure().is_some()
}
