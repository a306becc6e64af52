//! The core library (`attestgate`) against real servers on 127.0.0.1: one
//! test binary, a module per area.
//!
//! - `keys`: where keys come from: JWKS URLs (refresh, outages, egress
//!   through proxies and private CAs), files re-read while serving, a
//!   Kubernetes volume swap.
//! - `verify`: what a token must be: the rejection table, claims at the
//!   leeway edges, which key checks which token, binding, the cache, and
//!   properties over generated input.
//! - `msgsig`: message signing: Approov's published vectors, the table of
//!   altered requests, the replay cache in memory and in Redis.
//! - `ratelimit`: the rate limits' GCRA, memory store and keys.
//! - `target`: properties of the request-target canonicaliser.
//!
//! Run one area with `cargo test -p attestgate --test core -- verify::`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod keys;
mod msgsig;
mod ratelimit;
mod target;
mod verify;
