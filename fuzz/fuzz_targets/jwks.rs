//! The JWKS parser: any bytes. Never panics; every key it returns is usable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = attestgate::keys::parse_jwks(data);
});
