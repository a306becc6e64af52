//! Property tests of the request-target canonicaliser (docs/DECISIONS.md, "The canonical
//! request"), the same
//! properties the `canonical_target` fuzz target checks, as a bounded loop
//! in `cargo test`: idempotent, ASCII, no `//` or dot segments, and never
//! routing differently from its input as a normalising server reads it
//! (`attestgate_testkit::reference`).

use attestgate::target::{TargetRules, canonical_host, canonical_target, path_has_prefix};
use attestgate_testkit::reference::normalised_path;
use proptest::prelude::*;

const PIECES: &[&str] = &[
    "/",
    "/",
    "//",
    ".",
    "..",
    "%2e",
    "%2E",
    "%2f",
    "%2F",
    "%5c",
    "\\",
    "api",
    "API",
    "%61pi",
    "a%70i",
    "%41",
    "x",
    ";",
    "%3b",
    "?",
    "#",
    "%",
    "%25",
    "%00",
    "%c0%ae",
    "%e2%82%ac",
    "\u{e9}",
    "+",
    "~",
    "%7e",
    "%7E",
    ":",
    "@",
    "%20",
    " ",
    "&",
    "=",
    "|",
    "{",
    "%ff",
    "\t",
];

fn target() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(prop::sample::select(PIECES), 0..16)
            .prop_map(|v| v.concat().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..64),
        prop::collection::vec(prop::sample::select(PIECES), 0..16).prop_map(|v| format!(
            "/{}",
            v.concat()
        )
        .into_bytes()),
    ]
}

fn rules() -> impl Strategy<Value = TargetRules> {
    (any::<bool>(), any::<bool>()).prop_map(|(s, p)| TargetRules {
        allow_encoded_slash: s,
        allow_path_params: p,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn canonical_forms_are_stable_and_route_like_their_input(raw in target(), rules in rules(), options in any::<bool>()) {
        let Ok(c) = canonical_target(options, &raw, rules) else { return Ok(()) };
        let text = c.as_str();
        prop_assert!(text.is_ascii());
        let again = canonical_target(options, text.as_bytes(), rules).unwrap();
        prop_assert_eq!(again.as_str(), text);
        if c.is_asterisk() { return Ok(()) }
        let path = c.path();
        prop_assert!(path.starts_with('/') && !path.contains("//"), "{}", path);
        for seg in path.split('/') {
            let name = seg.split(';').next().unwrap_or(seg);
            prop_assert!(name != "." && name != "..", "{}", path);
        }
        if rules == TargetRules::default() && raw.first() == Some(&b'/') {
            let from_input = normalised_path(&raw).unwrap();
            let from_canonical = normalised_path(text.as_bytes()).unwrap();
            prop_assert_eq!(&from_input, &from_canonical);
            for prefix in ["/api/", "/a", "/API/", "/"] {
                prop_assert_eq!(
                    path_has_prefix(path, prefix, false),
                    from_canonical.starts_with(prefix.as_bytes())
                );
            }
        }
    }

    #[test]
    fn hosts_are_stable(raw in prop::collection::vec(prop::sample::select(&["a", "B", ".", ":", "8", "[", "]", "::1", "-", "_", "%", "@", " ", "0"][..]), 0..12)) {
        let raw = raw.concat();
        if let Ok(h) = canonical_host(raw.as_bytes()) {
            let back = match (h.name().contains(':'), h.port()) {
                (true, Some(p)) => format!("[{}]:{p}", h.name()),
                (true, None) => format!("[{}]", h.name()),
                (false, Some(p)) => format!("{}:{p}", h.name()),
                (false, None) => h.name().to_owned(),
            };
            prop_assert_eq!(canonical_host(back.as_bytes()).unwrap(), h);
        }
    }
}

/// The oracle itself (`attestgate_testkit::reference`), on paths whose
/// reading every normalising server agrees on.
#[test]
fn the_reference_reads_paths_like_a_normalising_server() {
    for (raw, want) in [
        ("/", "/"),
        ("//api//x", "/api/x"),
        ("/%61pi/x", "/api/x"),
        ("/x/../api/x", "/api/x"),
        ("/x/%2e%2e/api/", "/api/"),
        ("/api%2Fx", "/api/x"),
        ("/a/.", "/a/"),
        ("/a/..", "/"),
        ("/../..", "/"),
        ("/a?b/../c", "/a"),
    ] {
        assert_eq!(
            normalised_path(raw.as_bytes()).as_deref(),
            Some(want.as_bytes()),
            "{raw}"
        );
    }
    assert_eq!(normalised_path(b"/%zz"), None);
    assert_eq!(normalised_path(b"api"), None);
}
