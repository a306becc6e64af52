//! Certificate Transparency watch: read CT logs for certificates of the
//! names in `pins.toml` and judge each against every pin set shipped apps
//! carry, before the certificate is served.
//!
//! How the parts fit, from the network in:
//!
//! - [`loglist`]: Chrome's and Apple's log lists (v3): which logs, their
//!   keys, their protocol.
//! - [`http`]: one bounded GET (hyper, rustls). [`tiles`] reads a
//!   static-ct-api log (checkpoint, hash and data tiles, issuers);
//!   [`rfc6962`] an RFC 6962 log (`get-sth`, `get-entries`).
//! - [`key`] checks a log's signatures; [`note`] opens signed-note
//!   checkpoints; [`merkle`] keeps the frontier every entry read is added
//!   to, so what was read must hash to the signed root.
//! - [`entry`] reads entries in place; [`matcher`] finds watched names,
//!   first with a cheap pre-filter over the entry's bytes, then in the
//!   parsed SAN; [`verdict`] judges a matching certificate with the
//!   platform rules of `check::platform`.
//! - [`state`] keeps, per log, position, frontier and verified head
//!   (written atomically), and what was reported; [`events`] writes JSON
//!   lines and runs hooks; [`metrics`] counts; [`watch`] runs it all, one
//!   task per log, each with its own backoff.

pub mod batch;
pub mod entry;
pub mod events;
pub mod http;
pub mod key;
pub mod loglist;
pub mod matcher;
pub mod merkle;
pub mod metrics;
pub mod note;
pub mod rfc6962;
pub mod setup;
pub mod source;
pub mod state;
pub mod tiles;
pub mod verdict;
pub mod watch;
