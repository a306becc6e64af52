//! The proxy end to end: the real `attestgate` binary on loopback ports, in
//! front of real upstreams (recording HTTP servers, tonic, WebSocket, app
//! servers, nginx), driven by real clients. One test binary, a module per
//! area; tests/README.md maps each behaviour to its module.
//!
//! Run one area with `cargo test -p attestgate-proxy --test proxy -- grpc::`.
//!
//! Tests here share one process: nothing may set process-wide state (the
//! environment, the current directory, limits, signal handlers); the proxy
//! runs as a child process that gets what it needs through
//! `Command::env`, and every listener is on port 0 of 127.0.0.0/8.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod canonical;
mod drain;
mod e2e;
mod egress_env;
mod exempt;
mod fleet;
mod forgery;
mod framing;
mod grpc;
mod http2;
mod limits;
mod logscan;
mod msgsig;
mod pins;
mod policy;
mod ratelimit_fleet;
mod requests;
mod resolve;
mod systemd_unit;
mod upgrade;
mod websocket;
