//! The `attestgate` command line, run as a user runs it: the real binary
//! as a child process, against real servers on 127.0.0.0/8 (port 0) and
//! real consumers of what it writes. One test binary, a module per area;
//! tests/README.md maps each behaviour to its module.
//!
//! - `verbs`: `secret`, `token mint/verify/jwks`, `check-config`, `serve`.
//! - `config_offline`: `check-config --offline` on every shipped config.
//! - `shell_docs`: `completions bash|zsh|fish` and `man`, read by the real
//!   shells and man/groff.
//! - `pins`: the pinning kit's verbs (`pins fetch/check/lint/from-file/
//!   render/sign/verify/check-cert/backup-key`, `ct-watch`), with real
//!   OkHttp, certspotter and the platforms' parsers as oracles.
//!
//! Run one area with `cargo test -p attestgate-proxy --test cli -- pins::`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod config_offline;
mod pins;
mod shell_docs;
mod verbs;
