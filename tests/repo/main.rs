//! What the repository promises besides code, checked by the programs that
//! read it: the deploy/ manifests (kubectl, promtool, systemd-analyze,
//! attestgate-config) and the README's install command and links.
//!
//! Run one area with `cargo test -p attestgate --test repo -- deploy::`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod deploy;
mod readme;
