//! The token parser and verifier: any bytes as an `Approov-Token`, against
//! an HS256 secret and a JWKS with keys of every family. Never panics; a
//! token that passes really was signed by one of the keys (it cannot be,
//! from random bytes, unless the fuzzer forges HMAC).
#![no_main]

use std::sync::OnceLock;

use attestgate::Verifier;
use libfuzzer_sys::fuzz_target;

fn verifier() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| {
        let jwks = include_str!("../../tests/fixtures/fuzz-jwks.json");
        Verifier::builder()
            .secret_base64("c2VjcmV0LWZvci10aGUtZnV6emVyLXdoaWNoLWlzLWxvbmctZW5vdWdo")
            .expect("secret")
            .jwks_json(jwks)
            .cache_capacity(64)
            .build()
            .expect("verifier")
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let r = verifier().verify_token_at(text, 1_700_000_000.0);
        assert!(r.is_err(), "a fuzzed token verified");
    }
});
