//! The pins crate's API: the sample config loads and lints clean; lint's
//! clock is the one passed in; `evaluate` judges a report purely.

use std::path::Path;

use attestgate_pins::fetch::{AddressReport, Chain, ChainCert, Outcome, Report};
use attestgate_pins::lint::{Rule, lint};
use attestgate_pins::{PinKind, PinsFile, check};

fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn day(text: &str) -> time::Date {
    attestgate_pins::clock::parse_date(text).unwrap()
}

#[test]
fn the_sample_pins_toml_loads_and_lints_clean() {
    let file = PinsFile::load(&repo("config/pins.example.toml")).unwrap();
    assert_eq!(file.domains.len(), 2);
    let api = file.domain("API.example.com.").unwrap();
    assert_eq!(api.port, 443);
    assert_eq!(api.servername, "api.example.com");
    assert_eq!(api.expires, Some(day("2027-06-30")));
    assert!(api.pins.iter().all(|p| p.kind == PinKind::Leaf));
    let cdn = file.domain("cdn.example.com").unwrap();
    assert!(cdn.include_subdomains && cdn.pins.iter().all(|p| p.kind == PinKind::Ca));
    assert_eq!(lint(&file, day("2026-12-01"), None), vec![]);
}

#[test]
fn lint_judges_expiry_by_the_day_it_is_given() {
    let file = PinsFile::load(&repo("tests/fixtures/pins/pins.toml")).unwrap();
    assert_eq!(lint(&file, day("2027-06-29"), None), vec![]);
    for today in ["2027-06-30", "2031-01-01"] {
        let broken = lint(&file, day(today), None);
        assert_eq!(broken.len(), 1, "{today}: {broken:?}");
        assert_eq!(broken[0].rule, Rule::Expires);
        assert_eq!(broken[0].path, "domain[0].expires");
    }
}

#[test]
fn a_file_pin_on_a_ca_certificate_is_a_ca_identity() {
    let file = PinsFile::load(&repo("tests/fixtures/pins/pins.toml")).unwrap();
    let cdn = file.domain("cdn.example.com").unwrap();
    let kinds: Vec<PinKind> = cdn.pins.iter().map(|p| p.kind).collect();
    assert_eq!(kinds, [PinKind::Ca, PinKind::Leaf, PinKind::Leaf]);
}

#[test]
fn evaluate_is_pure_and_names_each_finding() {
    let file = PinsFile::load(&repo("tests/fixtures/pins/pins.toml")).unwrap();
    let api = file.domain("api.example.com").unwrap();
    let leaf_pem = std::fs::read_to_string(repo("tests/fixtures/pins/leaf.pem")).unwrap();
    let body: String = leaf_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, body).unwrap();
    let cert = ChainCert::from_der(0, &der);
    let chain = |invalid: Option<&str>| {
        Outcome::Chain(Chain {
            certs: vec![cert.clone()],
            served: 1,
            invalid: invalid.map(str::to_owned),
            handshake_error: None,
        })
    };
    let report = Report {
        host: api.name.clone(),
        servername: api.name.clone(),
        resolve_error: None,
        addresses: vec![
            AddressReport {
                address: "127.0.0.1:1".parse().unwrap(),
                outcome: chain(None),
                chain_group: Some(0),
            },
            AddressReport {
                address: "127.0.0.2:1".parse().unwrap(),
                outcome: chain(Some("unknown issuer")),
                chain_group: Some(0),
            },
            AddressReport {
                address: "127.0.0.3:1".parse().unwrap(),
                outcome: Outcome::Error("refused".into()),
                chain_group: None,
            },
        ],
        differs: false,
    };
    // As of a day in 2026: the leaf (valid to 2126) matches.
    let now = attestgate_pins::clock::date_start(day("2026-06-01"));
    let c = check::evaluate(api, &report, now);
    let results: Vec<&str> = c.addresses.iter().map(|a| a.result.as_str()).collect();
    assert_eq!(results, ["match", "mismatch", "error"]);
    assert_eq!(c.addresses[0].findings, vec![]);
    assert_eq!(
        c.addresses[1].findings,
        vec![check::Finding::NotValid {
            reason: "unknown issuer".into()
        }]
    );
    assert!(c.addresses[0].expiry_seconds.unwrap() > 99 * 365 * 86_400);
    assert!(!c.passed());
    // Two weeks before the pin set's expiry: a warning on each address.
    let late = attestgate_pins::clock::date_start(day("2027-06-16"));
    let c = check::evaluate(api, &report, late);
    assert!(
        c.addresses[0]
            .findings
            .contains(&check::Finding::PinSetExpires { days: 14 })
    );
    assert_eq!(c.addresses[0].result, check::PinResult::Match);
    // Flattened for the monitor's metrics: one row per address.
    let rows = check::statuses(&[c]);
    let summary: Vec<(Option<String>, &str)> = rows
        .iter()
        .map(|r| (r.address.map(|a| a.to_string()), r.result.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (Some("127.0.0.1:1".to_owned()), "match"),
            (Some("127.0.0.2:1".to_owned()), "mismatch"),
            (Some("127.0.0.3:1".to_owned()), "error")
        ]
    );
    assert!(rows.iter().all(|r| r.domain == "api.example.com"));
    assert_eq!(rows[2].expiry_seconds, None);
}
