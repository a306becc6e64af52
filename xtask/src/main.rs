//! Fixture generators for the tests, run by hand through
//! `scripts/gen-fixtures` (never by a test run: what they write is checked
//! in, and the tests read it back).
//!
//! - `pins-fixture-keys`: the pinning kit's fixture CA, leaf and backup key
//!   (tests/fixtures/pins: `ca.*`, `leaf.*`, `backup.*`). The golden renders
//!   made from them are rewritten by `scripts/update-pins-golden`.
//! - `pins-vectors`: the signed pin config's test vectors
//!   (tests/fixtures/pins/signed: `*.jws`, `vectors.json`, `config.json`),
//!   from the TEST signing keys there (made first if missing). ES256
//!   signatures are randomised, so a rerun changes every ES256 vector: the
//!   checked-in files are the reference.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

mod pins_fixture_keys;
mod pins_vectors;

/// `tests/fixtures/` of the repository.
fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

fn main() {
    let task = std::env::args().nth(1).unwrap_or_default();
    match task.as_str() {
        "pins-fixture-keys" => pins_fixture_keys::run(&fixtures().join("pins")),
        "pins-vectors" => pins_vectors::run(&fixtures().join("pins/signed")),
        _ => {
            eprintln!("usage: xtask pins-fixture-keys|pins-vectors");
            std::process::exit(2);
        }
    }
}
