//! Query-parameter substitution: any query string. Never panics; a
//! replaced query holds the secret, percent-encoded, once more than the
//! input did (an input may carry that text in another parameter: the
//! fuzzer found one) and no longer holds the placeholder where the
//! parameter was.
#![no_main]

use std::sync::OnceLock;

use attestgate::substitute::{LiveSecret, Substitution, Target, check_any};
use attestgate::{Secret, SecretSource};
use libfuzzer_sys::fuzz_target;

fn sub() -> &'static Substitution {
    static S: OnceLock<Substitution> = OnceLock::new();
    S.get_or_init(|| {
        let secret = LiveSecret::load(
            SecretSource::Value(Secret::new(b"real key/&=1".to_vec())),
            check_any,
        )
        .expect("secret");
        Substitution::new(Target::Query("api_key".into()), "", "ph", secret)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(Some((new, _))) = sub().replace_in_query(query) {
        const ENCODED: &str = "real%20key%2F%26%3D1";
        assert_eq!(
            new.matches(ENCODED).count(),
            query.matches(ENCODED).count() + 1,
            "{}",
            new.as_str()
        );
        assert!(matches!(sub().replace_in_query(&new), Ok(None)));
    }
});
