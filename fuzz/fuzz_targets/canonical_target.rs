//! The request-target canonicaliser: never panics; its output is ASCII,
//! idempotent, free of `//` and dot segments; and it never routes
//! differently from its input: a normalising server reads the input and
//! its canonical form as the same path, and prefix matching on the
//! canonical path agrees with that server's reading.
#![no_main]

use attestgate::target::{TargetRules, canonical_target};
use libfuzzer_sys::fuzz_target;

#[path = "../../tests/support/src/reference.rs"]
#[allow(dead_code)]
mod reference;

fuzz_target!(|data: &[u8]| {
    let Some((&knobs, raw)) = data.split_first() else {
        return;
    };
    let rules = TargetRules {
        allow_encoded_slash: knobs & 1 != 0,
        allow_path_params: knobs & 2 != 0,
    };
    let options = knobs & 4 != 0;
    let Ok(c) = canonical_target(options, raw, rules) else {
        return;
    };
    let text = c.as_str();
    assert!(text.is_ascii());
    let again = canonical_target(options, text.as_bytes(), rules).expect("canonical form refused");
    assert_eq!(again.as_str(), text, "not idempotent");
    if c.is_asterisk() {
        return;
    }
    let path = c.path();
    assert!(path.starts_with('/'));
    assert!(!path.contains("//"), "{path}");
    for seg in path.split('/') {
        let name = seg.split(';').next().unwrap_or(seg);
        assert!(name != "." && name != "..", "{path}");
    }
    if rules.allow_encoded_slash || rules.allow_path_params || raw.first() != Some(&b'/') {
        return;
    }
    let from_input = reference::normalised_path(raw).expect("input accepted but unreadable");
    let from_canonical = reference::normalised_path(text.as_bytes()).expect("canonical unreadable");
    assert_eq!(from_input, from_canonical, "routes differently");
    for prefix in ["/api/", "/a", "/"] {
        assert_eq!(
            path.starts_with(prefix),
            from_canonical.starts_with(prefix.as_bytes()),
            "{prefix} on {path}"
        );
    }
});
