//! The configuration crate (`attestgate-config`): loading files, every
//! section's settings and the problems they name. One test binary, a module
//! per area.
//!
//! Run one area with `cargo test -p attestgate-config --test config -- signing::`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod egress;
mod limits;
mod load;
mod messages;
mod server;
mod signing;
